"""Log requests that run too many SQL queries (DEBUG only).

An N+1 regression shows up in the development log with its path, query count and time
before it reaches production. Counting uses ``connection.execute_wrapper`` (no need for
``DEBUG`` cursors or ``connection.queries``); in production the middleware removes itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db import connection
from django.http import HttpRequest, HttpResponseBase

logger = logging.getLogger(__name__)


class QueryCountDebugMiddleware:
    """Warn about every request running more than ``QUERY_COUNT_WARNING_THRESHOLD`` (10) queries."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        if not settings.DEBUG:
            raise MiddlewareNotUsed("QueryCountDebugMiddleware runs only with DEBUG")
        self.get_response = get_response
        self.threshold = int(getattr(settings, "QUERY_COUNT_WARNING_THRESHOLD", 10))

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        counter = _Counter()
        started = time.perf_counter()
        with connection.execute_wrapper(counter):
            response = self.get_response(request)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if counter.count > self.threshold:
            logger.warning(
                "%d queries (threshold %d) in %.1f ms for %s %s",
                counter.count,
                self.threshold,
                elapsed_ms,
                request.method,
                request.get_full_path(),
                extra={"path": request.path, "query_count": counter.count, "duration_ms": round(elapsed_ms, 1)},
            )
        return response


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)
