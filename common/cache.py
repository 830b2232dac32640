"""Cache calls that never break a request: the cross-cutting half of caching.

The cache is an accelerator, never a dependency: every helper here logs a cache error and
answers as if the key were missing (reads) or does nothing (writes). After an error the
process stops talking to the cache for ``CACHE_FAILURE_BACKOFF_SECONDS`` so that a dead or
hanging Redis costs one socket timeout per window, not one per cache call.

The catalog's version-keyed entries live in ``catalog.cache``, built on these helpers.

Keys (each under the cache's ``KEY_PREFIX`` from ``settings.CACHES``):

``throttle:<scope>:<ident>:<window>``
    Fixed-window request counters of ``common.throttling``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# What a broken or unreachable cache raises: django-redis wraps transport errors in
# ConnectionInterrupted; RedisError/OSError cover errors raised outside its wrappers.
CACHE_ERRORS: tuple[type[BaseException], ...] = (ConnectionInterrupted, RedisError, OSError)

# Process-local back-off: a hint to skip the cache for a while, never a source of truth.
_unavailable_until = 0.0


def cache_is_redis() -> bool:
    """Whether the cache is django-redis (scripts and one-round-trip lookups are possible)."""
    return hasattr(getattr(cache, "client", None), "get_client")


def cache_available() -> bool:
    return time.monotonic() >= _unavailable_until


def cache_failed(operation: str, key: str, exc: BaseException) -> None:
    global _unavailable_until
    backoff = float(getattr(settings, "CACHE_FAILURE_BACKOFF_SECONDS", 5.0))
    first = cache_available()
    _unavailable_until = time.monotonic() + backoff
    if first:
        # Redis error texts name host and port, never the password of REDIS_URL.
        logger.error(
            "cache %s failed for %r, answering without the cache for %.1fs: %s: %s",
            operation,
            key,
            backoff,
            type(exc).__name__,
            exc,
        )


def cache_reset_backoff() -> None:
    """Forget a previous cache failure (tests, and after an operator fixed Redis)."""
    global _unavailable_until
    _unavailable_until = 0.0


def cache_get(key: str) -> Any | None:
    """Return the cached value or None (missing, or the cache is unavailable)."""
    if not cache_available():
        return None
    try:
        return cache.get(key)
    except CACHE_ERRORS as exc:
        cache_failed("get", key, exc)
        return None


def cache_get_many(keys: Iterable[str]) -> dict[str, Any]:
    """Return the found keys; an unavailable cache finds nothing."""
    keys = list(keys)
    if not keys or not cache_available():
        return {}
    try:
        return cache.get_many(keys)
    except CACHE_ERRORS as exc:
        cache_failed("get_many", keys[0], exc)
        return {}


def cache_set(key: str, value: Any, timeout: float | None) -> bool:
    """Store a value; False when the cache is unavailable (the caller goes on without it)."""
    if not cache_available():
        return False
    try:
        cache.set(key, value, timeout)
    except CACHE_ERRORS as exc:
        cache_failed("set", key, exc)
        return False
    return True


def cache_set_many(values: Mapping[str, Any], timeout: float | None) -> bool:
    """Store many values in one round trip (a pipeline on Redis); False when unavailable."""
    if not values:
        return True
    if not cache_available():
        return False
    try:
        cache.set_many(dict(values), timeout)
    except CACHE_ERRORS as exc:
        cache_failed("set_many", next(iter(values)), exc)
        return False
    return True


def cache_incr(key: str, *, timeout: float) -> int | None:
    """Increment a counter that expires ``timeout`` seconds after its creation.

    Returns the new value, or None when the cache is unavailable. Atomic on Redis
    (INCRBY); a concurrent first increment is resolved by ``add``, never by check-then-set.
    """
    if not cache_available():
        return None
    if cache_is_redis():  # one EVALSHA, no EXISTS-then-INCRBY script text
        try:
            redis_client = cache.client.get_client(write=True)
            return int(
                redis_script(redis_client, "incr", _INCR_LUA)(
                    keys=[str(cache.make_key(key))], args=[max(1, math.ceil(timeout))], client=redis_client
                )
            )
        except CACHE_ERRORS as exc:
            cache_failed("incr", key, exc)
            return None
    try:
        try:
            return cache.incr(key)
        except ValueError:  # missing key
            if cache.add(key, 1, timeout):
                return 1
            return cache.incr(key)
    except CACHE_ERRORS as exc:
        cache_failed("incr", key, exc)
        return None


_INCR_LUA = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""

_scripts: dict[str, Any] = {}


def redis_script(redis_client: Any, name: str, body: str) -> Any:
    # A registered script runs by EVALSHA (the body is sent once, and again only after NOSCRIPT).
    if name not in _scripts:
        _scripts[name] = redis_client.register_script(body)
    return _scripts[name]
