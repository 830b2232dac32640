"""``/api/`` answers 503 JSON, not an HTML 500, while the database is unavailable.

An uncached catalog request needs PostgreSQL. When it is down (or restarting) the pool raises
``PoolTimeout`` after ``DB_POOL_TIMEOUT`` seconds (a plain connection: the connect timeout), which Django
wraps in ``OperationalError``. That is an outage, not a bug: the client gets the WooCommerce-shaped body
the rest of the API uses, ``{code, message, data: {status}}``, and ``Retry-After``. Cached responses
never reach the database and keep answering 200.

Other database errors (a bad query, a value PostgreSQL refuses) are not caught here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.utils.cache import add_never_cache_headers

from common.db import DATABASE_UNAVAILABLE_ERRORS, database_pool_discard_idle
from common.errors import is_api_request, json_error

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
CODE = "database_unavailable"
MESSAGE = "The catalog database is unavailable; try again shortly."


def database_unavailable_response() -> JsonResponse:
    response = json_error(status=503, code=CODE, message=MESSAGE)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    add_never_cache_headers(response)
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponseBase | None:
        if not is_api_request(request) or not isinstance(exception, DATABASE_UNAVAILABLE_ERRORS):
            return None
        # Error text names host and port, never the password of DATABASE_URL.
        logger.warning("database unavailable for %s %s: %s", request.method, request.path, exception)
        database_pool_discard_idle()
        return database_unavailable_response()
