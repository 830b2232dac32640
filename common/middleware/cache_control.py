"""One place that decides ``Cache-Control`` for every endpoint.

Rules, first match wins:

1. A response marked ``response.cache_private = True`` (live-stock answers, the CSV export), and
   a response to a staff user on a URL named in ``CACHE_CONTROL_MAX_AGE``: ``private, no-store`` —
   nothing in between may keep it.
2. A GET/HEAD on a URL named in ``CACHE_CONTROL_MAX_AGE`` (``"namespace:url-name": seconds``)
   answering 200 or 304: ``public, max-age=<seconds>``. Browsers and nginx keep it that long;
   after that they revalidate with ``If-None-Match`` and get a cheap 304. A response carrying
   ``max_age_cap`` gets at most that: the catalog's answers that show stock and prices leave the
   client only what is left of ``CATALOG_MAX_STALENESS_SECONDS`` (catalog.presentation.client_max_age).
3. Any other response from those URLs (400, 404, 429, 5xx…): ``no-store``; a 5xx is decided
   without looking at the user, whose session may live in the database that just failed.

Other URLs are left alone. The max-ages are short on purpose: a catalog version bump
invalidates the server cache at once but cannot reach copies already held by browsers.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

PRIVATE = "private, no-store"


class CacheControlMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        policy = cache_control_for(request, response)
        if policy is not None:
            response["Cache-Control"] = policy
        return response


def cache_control_for(request: HttpRequest, response: HttpResponseBase) -> str | None:
    if getattr(response, "cache_private", False):
        return PRIVATE
    match = request.resolver_match
    if match is None:
        return None
    max_age = getattr(settings, "CACHE_CONTROL_MAX_AGE", {}).get(match.view_name)
    if max_age is None:
        return None
    if response.status_code >= 500:
        # Decided before request.user: a 503 may mean the database (and so the session table) is down.
        return "no-store"
    # Only now: request.user is lazy and loading it reads the session table, which on another URL
    # (the health check during a database outage) would turn an answer into a 500.
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return PRIVATE
    if request.method in ("GET", "HEAD") and response.status_code in (200, 304):
        cap = getattr(response, "max_age_cap", None)  # the staleness bound's share left to the client
        return f"public, max-age={int(max_age if cap is None else min(max_age, cap))}"
    return "no-store"
