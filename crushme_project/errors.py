"""Django's error views (``handler400/403/404/500``): JSON under ``/api/``, Django's pages elsewhere.

DRF shapes the errors its views raise (``catalog.apis.catalog_exception_handler``); these cover what
happens outside them: a URL no route matches, a Host header not in ``ALLOWED_HOSTS``, an exception no
view handled. The body has WooCommerce's shape, ``{code, message, data: {status}}``, and never a trace.
With ``DJANGO_DEBUG=true`` Django shows its technical pages instead, as for every other URL.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views import defaults

from common.errors import is_api_request as _is_api
from common.errors import json_error


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return json_error(status=400, code="rest_bad_request", message="Bad request.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return json_error(status=403, code="rest_forbidden", message="Sorry, you are not allowed to do that.")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        # WordPress's answer to a URL under /wp-json/ that no route matches.
        return json_error(
            status=404, code="rest_no_route", message="No route was found matching the URL and request method."
        )
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return json_error(status=500, code="internal_server_error", message="Internal server error.")
    return defaults.server_error(request)
