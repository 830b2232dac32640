"""The JSON error body every ``/api/`` answer uses: WooCommerce's ``{code, message, data: {status}}``.

Shared by Django's error views (``crushme_project.errors``), the database-outage middleware and the
webhook receiver, so the shape and the "never cache an error" header are written once.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

API_PREFIX = "/api/"


def is_api_request(request: HttpRequest) -> bool:
    # path_info, not get_host() or build_absolute_uri(): a 400 may be about the Host header itself.
    return request.path_info.startswith(API_PREFIX)


def json_error(*, status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse({"code": code, "message": message, "data": {"status": status}}, status=status)
    response["Cache-Control"] = "no-store"
    return response
