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
"""

from __future__ import annotations

import math
import time
from typing import Any

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from common.cache import cache_incr

_DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"100/hour"`` → ``(100, 3600)``; the period is the first letter of s/sec/m/min/h/hour/d/day."""
    num, _, period = rate.partition("/")
    try:
        return int(num), _DURATIONS[period.strip()[0].lower()]
    except (ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"invalid throttle rate {rate!r}: expected '<number>/<s|m|h|d>'") from exc


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

    def allow_request(self, request: Any, view: Any) -> bool:
        scope = self.scope_for(request)
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        if rate is None:
            return True
        limit, duration = parse_rate(rate)
        ident = request.user.pk if scope != "anon" else self.get_ident(request)
        now = time.time()
        window = int(now // duration)
        count = cache_incr(f"throttle:{scope}:{ident}:{window}", timeout=duration + 1)
        if count is None or count <= limit:
            return True
        self._wait = (window + 1) * duration - now
        return False

    def wait(self) -> float | None:
        # DRF turns this into the Retry-After header (whole seconds, at least 1).
        return None if self._wait is None else max(1, math.ceil(self._wait))
