"""Test-only URLs: the production routes plus views that hold a database connection or tell the worker pid."""

import os

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from crushme_project.urls import urlpatterns as production_urlpatterns


def pg_sleep_view(request: HttpRequest) -> HttpResponse:
    seconds = float(request.GET.get("s", "0.5"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])
    return JsonResponse({"slept": seconds, "pid": os.getpid()})


def pid_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"pid": os.getpid()})


urlpatterns = [
    path("test/sleep/", pg_sleep_view),
    path("test/pid/", pid_view),
    *production_urlpatterns,
]
