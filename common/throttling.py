"""Request throttling by role: anonymous clients by IP, users and staff by account.

DRF's ``SimpleRateThrottle`` stores every request's timestamp in one cache value and rewrites
the whole list on each request, so its cost grows with the rate (5,000/hour for staff means a
5,000-item list unpickled and pickled per request). This throttle keeps one counter per fixed
window instead: one atomic ``INCR`` per request whatever the rate. A fixed window lets a client
burst up to twice the rate across a window boundary, an accepted trade for O(1).

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (scopes ``anon``, ``user``,
``staff``; set from ``THROTTLE_RATE_ANON/USER/STAFF``); ``None`` disables a scope. The client IP
is DRF's ``get_ident``, which honours ``NUM_PROXIES`` (the proxies in front of gunicorn: nginx
is 1). When the cache is unavailable the request is allowed: throttling must not take the API
down with Redis.

Failed authentications have their own per-client counter (scope ``auth_failure``,
``THROTTLE_RATE_AUTH_FAILURES``): DRF authenticates before it throttles, so a request with a wrong
credential never reaches ``RoleRateThrottle``. ``common.authentication`` reads and feeds it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from common.cache import cache_get, cache_incr

_DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
AUTH_FAILURE_SCOPE = "auth_failure"


def parse_rate(rate: str) -> tuple[int, int]:
    """``"100/hour"`` → ``(100, 3600)``; the period is the first letter of s/sec/m/min/h/hour/d/day."""
    num, _, period = rate.partition("/")
    try:
        return int(num), _DURATIONS[period.strip()[0].lower()]
    except (ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"invalid throttle rate {rate!r}: expected '<number>/<s|m|h|d>'") from exc


def client_ident(request: Any) -> str:
    """The client address the throttles (and the admin login's lockout) key on.

    DRF's ``get_ident``: with ``NUM_PROXIES`` = N it is the N-th address from the end of
    ``X-Forwarded-For``, else ``REMOTE_ADDR``. Trust comes from the deployment, not from here:
    gunicorn listens on a unix socket only nginx can reach, and nginx sets ``X-Forwarded-For`` to
    the address it saw, so a client cannot choose it. Works for DRF and plain Django requests.
    """
    return BaseThrottle().get_ident(request)


def _rate_window(scope: str, ident: Any) -> tuple[str, int, int, float] | None:
    """The current fixed window of ``scope``'s rate for ``ident``: (counter key, limit, window length,
    seconds left in it), or None when the scope has no rate."""
    rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
    if rate is None:
        return None
    limit, duration = parse_rate(rate)
    now = time.time()
    window = int(now // duration)
    return f"throttle:{scope}:{ident}:{window}", limit, duration, (window + 1) * duration - now


class ThrottleExceeded(Exception):
    """A request over its throttle rate, counted outside ``RoleRateThrottle.allow_request`` (the
    catalog's combined cache lookup); ``wait`` is the seconds left in the window."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"throttled for {wait:.0f}s")
        self.wait = wait


@dataclass(frozen=True, slots=True)
class ThrottleWindow:
    """One request's fixed throttle window, to be counted once: by ``check`` (its own cache call) or
    by a caller that increments ``key`` in a round trip it makes anyway (``catalog.cache``)."""

    key: str
    limit: int
    duration: int
    left: float

    def check(self) -> None:
        """Count the request; raises ThrottleExceeded over the limit. Fails open without the cache."""
        count = cache_incr(self.key, timeout=self.duration + 1)
        if count is not None and count > self.limit:
            raise ThrottleExceeded(self.left)


def _auth_failure_window(request: Any) -> tuple[str, int, int, float] | None:
    return _rate_window(AUTH_FAILURE_SCOPE, client_ident(request))


def auth_failure_wait(request: Any) -> int | None:
    """Seconds until this client may try to authenticate again, or None when it may now.

    Read before a credential is checked, so a throttled client costs one cache read. Like the
    request throttles it fails open: with the cache down every attempt is checked.
    """
    window = _auth_failure_window(request)
    if window is None:
        return None
    key, limit, _, left = window
    count = cache_get(key)
    if count is None or int(count) < limit:
        return None
    return max(1, math.ceil(left))


def auth_failure_record(request: Any) -> None:
    """Count one failed authentication for this client in the current window."""
    window = _auth_failure_window(request)
    if window is not None:
        key, _, _, left = window
        cache_incr(key, timeout=left + 1)


class RoleRateThrottle(BaseThrottle):
    """Throttle by role: ``staff`` and ``user`` per account, ``anon`` per client IP."""

    def __init__(self) -> None:
        self._wait: float | None = None

    @staticmethod
    def scope_for(request: Any) -> str:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return "staff" if user.is_staff else "user"
        return "anon"

    def window(self, request: Any) -> ThrottleWindow | None:
        """This request's window, not counted yet; None when its scope has no rate."""
        scope = self.scope_for(request)
        window = _rate_window(scope, request.user.pk if scope != "anon" else self.get_ident(request))
        return None if window is None else ThrottleWindow(*window)

    def allow_request(self, request: Any, view: Any) -> bool:
        window = self.window(request)
        if window is None:
            return True
        try:
            window.check()
        except ThrottleExceeded as exc:
            self._wait = exc.wait
            return False
        return True

    def wait(self) -> float | None:
        # DRF turns this into the Retry-After header (whole seconds, at least 1).
        return None if self._wait is None else max(1, math.ceil(self._wait))
