"""GET /api/health/ through the whole middleware stack, with the real database and cache.

The database outage (503 and recovery) is tested against a real gunicorn in tests/deploy/test_health_outage.py.
"""

import socket
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from sync.models import SyncMode, SyncRun, SyncStatus

pytestmark = pytest.mark.django_db

URL = "/api/health/"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(*, mode: str, status: str, finished_ago: timedelta | None) -> SyncRun:
    now = timezone.now()
    finished_at = None if finished_ago is None else now - finished_ago
    started_at = (finished_at or now) - timedelta(minutes=5)
    return SyncRun.objects.create(mode=mode, status=status, started_at=started_at, finished_at=finished_at)


def test_health_is_200_with_database_and_cache_and_never_cached(client):
    response = client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["cache"]["ok"] is True
    assert "no-store" in response["Cache-Control"]
    assert set(body["sync"]) == {"stock", "products", "categories", "full"}
    assert "versions" not in body


def test_health_reports_the_last_successful_sync_per_mode_and_its_age(client):
    # given a recent stock success (and a newer failure and a running one, which do not count)
    _run(mode=SyncMode.STOCK, status=SyncStatus.SUCCEEDED, finished_ago=timedelta(hours=2))
    _run(mode=SyncMode.STOCK, status=SyncStatus.FAILED, finished_ago=timedelta(minutes=30))
    _run(mode=SyncMode.STOCK, status=SyncStatus.RUNNING, finished_ago=None)
    # a products success older than its weekly schedule allows, and a partial categories run
    _run(mode=SyncMode.PRODUCTS, status=SyncStatus.SUCCEEDED, finished_ago=timedelta(days=9))
    _run(mode=SyncMode.CATEGORIES, status=SyncStatus.PARTIAL, finished_ago=timedelta(days=1))

    body = client.get(URL).json()

    stock = body["sync"]["stock"]
    assert 2 * 3600 - 5 <= stock["age_seconds"] <= 2 * 3600 + 60
    assert stock["overdue"] is False
    assert stock["fresh_by"] == "stock"
    assert body["sync"]["products"]["overdue"] is True
    assert 9 * 86400 - 5 <= body["sync"]["products"]["age_seconds"] <= 9 * 86400 + 60
    assert body["sync"]["categories"] == {
        "last_success_at": None,
        "fresh_by": None,
        "age_seconds": None,
        "overdue": True,
    }
    # --full is never scheduled, so never overdue
    assert body["sync"]["full"] == {"last_success_at": None, "fresh_by": None, "age_seconds": None, "overdue": False}
    assert body["status"] == "degraded"


def test_a_newer_full_sync_counts_for_every_mode(client):
    # given an install: the first --full an hour ago, an old stock run, no products or categories run
    _run(mode=SyncMode.FULL, status=SyncStatus.SUCCEEDED, finished_ago=timedelta(hours=1))
    _run(mode=SyncMode.STOCK, status=SyncStatus.SUCCEEDED, finished_ago=timedelta(days=3))

    body = client.get(URL).json()

    for mode in ("stock", "products", "categories"):
        assert body["sync"][mode]["fresh_by"] == "full"
        assert body["sync"][mode]["overdue"] is False
        assert 3600 - 5 <= body["sync"][mode]["age_seconds"] <= 3600 + 60
    assert body["sync"]["stock"]["last_success_at"] is not None  # its own run is still reported
    assert body["sync"]["products"]["last_success_at"] is None
    assert body["status"] == "ok"


def test_health_is_ok_when_every_scheduled_sync_is_fresh(client):
    for mode in (SyncMode.STOCK, SyncMode.PRODUCTS, SyncMode.CATEGORIES):
        _run(mode=mode, status=SyncStatus.SUCCEEDED, finished_ago=timedelta(hours=1))

    response = client.get(URL)

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_cache_down_is_reported_but_not_fatal(client, settings):
    # given a Redis that refuses connections (a closed local port, not the shared server)
    for mode in (SyncMode.STOCK, SyncMode.PRODUCTS, SyncMode.CATEGORIES):
        _run(mode=mode, status=SyncStatus.SUCCEEDED, finished_ago=timedelta(hours=1))
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }

    response = client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["cache"]["ok"] is False
    assert body["checks"]["cache"]["error"]
    assert body["checks"]["database"]["ok"] is True
    assert body["status"] == "degraded"


def test_verbose_adds_versions_and_figures_for_staff_only(client):
    anonymous = client.get(URL + "?verbose").json()
    user = get_user_model().objects.create_user("shopper", password="x-long-password-1")
    client.force_login(user)
    customer = client.get(URL + "?verbose").json()
    staff = get_user_model().objects.create_user("ops", password="x-long-password-2", is_staff=True)
    client.force_login(staff)
    response = client.get(URL + "?verbose")

    assert "versions" not in anonymous and "figures" not in anonymous
    assert "versions" not in customer and "figures" not in customer
    body = response.json()
    assert response.status_code == 200
    assert body["versions"]["Django"].startswith("5.2")
    assert body["versions"]["python"].startswith("3.11")
    assert body["figures"]["rss_mb"] > 0
    assert body["figures"]["memory_alert_mb"] == django_settings.MEMORY_ALERT_MB
    assert "no-store" in response["Cache-Control"]


def test_health_is_never_throttled(client, settings):
    # given throttling so strict that a second anonymous request to an ordinary view is refused
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
        "DEFAULT_THROTTLE_RATES": {"anon": "1/min"},
    }

    class OrdinaryApi(APIView):  # defined now, so it takes the strict defaults above
        permission_classes = [AllowAny]

        def get(self, request):
            return Response({})

    factory = APIRequestFactory()
    control = [OrdinaryApi.as_view()(factory.get("/ordinary/", REMOTE_ADDR="10.9.8.7")).status_code for _ in range(2)]
    statuses = [client.get(URL, REMOTE_ADDR="10.9.8.7").status_code for _ in range(5)]

    assert control == [200, 429]
    assert statuses == [200] * 5
