"""A circuit breaker shared by every web process through the cache.

After ``failure_threshold`` failures within ``open_seconds``, calls are refused for
``open_seconds`` without trying, so a slow or failing upstream is not hit by every
request while it is down. State lives in the cache (Redis in production, so all
gunicorn workers agree); with the cache unavailable the breaker stays closed and
callers rely on their own timeouts.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.cache import cache_get, cache_incr, cache_set


@dataclass(frozen=True, slots=True)
class CircuitBreaker:
    name: str
    failure_threshold: int
    open_seconds: float

    @property
    def _open_key(self) -> str:
        return f"circuit:{self.name}:open"

    @property
    def _failures_key(self) -> str:
        return f"circuit:{self.name}:failures"

    def is_open(self) -> bool:
        return cache_get(self._open_key) is not None

    def record_failure(self) -> None:
        failures = cache_incr(self._failures_key, timeout=self.open_seconds)
        if failures is not None and failures >= self.failure_threshold:
            cache_set(self._open_key, True, self.open_seconds)
            cache_set(self._failures_key, 0, self.open_seconds)

    def record_success(self) -> None:
        cache_set(self._failures_key, 0, self.open_seconds)
