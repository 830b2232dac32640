"""``GET /api/health/``: is this deployment able to serve the catalog, and how fresh is the mirror?

Lives in the project package (not ``common``) because it reads the sync history: ``common`` imports no app.

- 200 when the database answers; the cache being down is reported (``status: degraded``) but not
  fatal, because the API falls back to the database. A scheduled sync that is overdue is reported
  the same way.
- 503 when the database does not answer: nothing can be served.
- The sync queue (webhooks) is reported the same way: ``degraded`` when its depth, the age of its
  oldest waiting operation or its dead operations reach ``SYNC_QUEUE_DEGRADED_*``.
- Never cached (``Cache-Control: no-store``), never throttled: monitors poll it.
- ``?verbose`` adds versions and process figures, for staff sessions only; anyone else gets the plain answer.
"""

import os
import platform
import time
from datetime import timedelta
from importlib import metadata
from typing import Any

import psutil
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.cache import CACHE_ERRORS
from common.db import database_pool_discard_idle
from sync.models import SyncMode
from sync.selectors import sync_queue_stats, sync_run_last_succeeded_by_mode

# How old the last success of a scheduled mode may be before it counts as overdue: the timer's
# period plus slack for the randomized delay and a long run. --full is never scheduled.
SYNC_MAX_AGE = {
    SyncMode.STOCK.value: timedelta(hours=26),
    SyncMode.PRODUCTS.value: timedelta(days=8),
    SyncMode.CATEGORIES.value: timedelta(days=32),
}

_PROBE_KEY = "health:probe"


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def _check_database() -> dict[str, Any]:
    start = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        database_pool_discard_idle()  # after a restart, the next request gets a live connection at once
        return {"ok": False, "error": type(exc).__name__, "latency_ms": _ms_since(start)}
    return {"ok": True, "latency_ms": _ms_since(start)}


def _check_cache() -> dict[str, Any]:
    start = time.perf_counter()
    token = f"{os.getpid()}:{time.monotonic_ns()}"
    try:
        cache.set(_PROBE_KEY, token, timeout=30)
        read_back = cache.get(_PROBE_KEY)
    except CACHE_ERRORS as exc:
        return {"ok": False, "error": type(exc).__name__, "latency_ms": _ms_since(start)}
    # Another worker may have written its own token in between: any token proves a round trip.
    if read_back is None:
        return {"ok": False, "error": "write not readable", "latency_ms": _ms_since(start)}
    return {"ok": True, "latency_ms": _ms_since(start)}


def _sync_freshness() -> dict[str, dict[str, Any]]:
    """Per mode: its last success, and whether the mirror it keeps is overdue.

    A --full run refreshes everything the other modes do, so a newer full success counts for them
    (``fresh_by`` says which run the age is measured from): right after an install's first --full
    nothing is overdue.
    """
    now = timezone.now()
    last = sync_run_last_succeeded_by_mode()
    full = last.get(SyncMode.FULL.value)
    freshness: dict[str, dict[str, Any]] = {}
    for mode, run in last.items():
        max_age = SYNC_MAX_AGE.get(mode)
        newest = run
        if mode != SyncMode.FULL.value and full is not None and (run is None or full.finished_at > run.finished_at):
            newest = full
        age = None if newest is None else now - newest.finished_at
        freshness[mode] = {
            "last_success_at": None if run is None else run.finished_at.isoformat(),
            "fresh_by": None if newest is None else newest.mode,
            "age_seconds": None if age is None else int(age.total_seconds()),
            "overdue": max_age is not None and (age is None or age > max_age),
        }
    return freshness


def _queue() -> dict[str, Any]:
    """The sync queue: depth, oldest waiting operation, dead ones, and whether any is past its threshold."""
    stats = sync_queue_stats(now=timezone.now())
    age = stats.oldest_pending_age_seconds
    problems = []
    if stats.depth >= settings.SYNC_QUEUE_DEGRADED_DEPTH:
        problems.append("depth")
    if age is not None and age >= settings.SYNC_QUEUE_DEGRADED_AGE_SECONDS:
        problems.append("oldest_pending_age")
    if stats.dead >= settings.SYNC_QUEUE_DEGRADED_DEAD:
        problems.append("dead")
    return {
        "depth": stats.depth,
        "processing": stats.processing,
        "failed": stats.failed,
        "dead": stats.dead,
        "oldest_pending_age_seconds": age,
        "degraded": problems,
    }


def _verbose_figures() -> dict[str, Any]:
    process = psutil.Process()
    memory = process.memory_info()
    versions = {"python": platform.python_version()}
    for package in ("Django", "djangorestframework", "psycopg", "gunicorn", "gevent", "redis"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    versions["database"] = f"{connection.vendor} {connection.Database.__name__}"
    if connection.vendor == "postgresql":
        versions["database"] = f"postgresql {connection.pg_version}"
    figures: dict[str, Any] = {
        "pid": process.pid,
        "rss_mb": round(memory.rss / 1024 / 1024, 1),
        "vms_mb": round(memory.vms / 1024 / 1024, 1),
        "process_uptime_seconds": int(time.time() - process.create_time()),
        "memory_alert_mb": settings.MEMORY_ALERT_MB,
    }
    pool = getattr(connection, "pool", None)
    if pool is not None:
        stats = pool.get_stats()
        figures["db_pool"] = {
            "min_size": pool.min_size,
            "max_size": pool.max_size,
            "size": stats.get("pool_size"),
            "available": stats.get("pool_available"),
            "waiting": stats.get("requests_waiting"),
        }
    return {"versions": versions, "figures": figures}


class HealthApi(APIView):
    """Database, cache and sync freshness; 503 when the database is down."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [AllowAny]
    throttle_classes: list = []
    renderer_classes = [JSONRenderer]

    def perform_authentication(self, request: Request) -> None:
        # DRF authenticates eagerly, which reads the session table: a database outage would become
        # a 500 here instead of the 503 below. Authenticate only for ?verbose, after the database check.
        return None

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT}, auth=[])
    def get(self, request: Request) -> Response:
        database = _check_database()
        cache_check = _check_cache()
        body: dict[str, Any] = {"status": "ok", "time": timezone.now().isoformat()}
        body["checks"] = {"database": database, "cache": cache_check}
        if not database["ok"]:
            body["status"] = "unavailable"
            return self._no_store(Response(body, status=503))
        try:
            body["sync"] = _sync_freshness()
            body["queue"] = _queue()
        except DatabaseError as exc:  # the database went away between the two queries
            body["checks"]["database"] = {"ok": False, "error": type(exc).__name__}
            body["status"] = "unavailable"
            return self._no_store(Response(body, status=503))
        overdue = any(mode["overdue"] for mode in body["sync"].values())
        if not cache_check["ok"] or overdue or body["queue"]["degraded"]:
            body["status"] = "degraded"
        if "verbose" in request.query_params and request.user.is_staff:
            body.update(_verbose_figures())
        return self._no_store(Response(body, status=200))

    @staticmethod
    def _no_store(response: Response) -> Response:
        add_never_cache_headers(response)
        return response
