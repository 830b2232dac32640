"""Test-only URLs: the production routes plus views that hold a database connection or tell the worker pid."""

import os

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from rest_framework.throttling import AnonRateThrottle

from crushme_project.urls import handler400, handler403, handler404, handler500  # noqa: F401
from crushme_project.urls import urlpatterns as production_urlpatterns


def pg_sleep_view(request: HttpRequest) -> HttpResponse:
    seconds = float(request.GET.get("s", "0.5"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])
    return JsonResponse({"slept": seconds, "pid": os.getpid()})


def pid_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"pid": os.getpid()})


def client_view(request: HttpRequest) -> HttpResponse:
    """What the app sees of the client behind nginx, including the address DRF's throttles key on."""
    return JsonResponse(
        {
            "throttle_ident": AnonRateThrottle().get_ident(request),
            "x_forwarded_for": request.META.get("HTTP_X_FORWARDED_FOR"),
            "x_forwarded_proto": request.META.get("HTTP_X_FORWARDED_PROTO"),
            "host": request.get_host(),
            "padding": "x" * int(request.GET.get("pad", "0")),
        }
    )


urlpatterns = [
    path("test/sleep/", pg_sleep_view),
    path("test/pid/", pid_view),
    path("test/client/", client_view),
    *production_urlpatterns,
]
