"""Cache helpers: the catalog version, version-keyed entries, and cache calls that never break a request.

The cache is an accelerator, never a dependency: every helper here logs a cache error and
answers as if the key were missing (reads) or does nothing (writes). After an error the
process stops talking to the cache for ``CACHE_FAILURE_BACKOFF_SECONDS`` so that a dead or
hanging Redis costs one socket timeout per window, not one per cache call.

Keys (each under the cache's ``KEY_PREFIX`` from ``settings.CACHES``):

``catalog:version``
    Integer, no expiry. Starts at the current time in milliseconds (so a lost key never
    restarts at a number whose entries may still be cached) and is incremented by
    ``catalog_version_bump()``, which the sync calls after every run that changed something.
``catalog:v<version>:<name>:<digest>``
    One cached value (an API response, the category tree…). ``<digest>`` is the SHA-1 of the
    normalised parameters. A bump orphans every entry at once; orphans expire by their TTL.
``throttle:<scope>:<ident>:<window>``
    Fixed-window request counters of ``common.throttling``.
``catalog:warmup:state``
    When ``warmup_cache`` last ran, for ``--incremental``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, TypeVar

from django.conf import settings
from django.core.cache import cache
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

T = TypeVar("T")

CATALOG_VERSION_KEY = "catalog:version"
VERSION_UNAVAILABLE = 0  # never a real version: real ones start at a millisecond timestamp

# What a broken or unreachable cache raises: django-redis wraps transport errors in
# ConnectionInterrupted; RedisError/OSError cover errors raised outside its wrappers.
CACHE_ERRORS: tuple[type[BaseException], ...] = (ConnectionInterrupted, RedisError, OSError)

# Process-local back-off: a hint to skip the cache for a while, never a source of truth.
_unavailable_until = 0.0


def _available() -> bool:
    return time.monotonic() >= _unavailable_until


def _failed(operation: str, key: str, exc: BaseException) -> None:
    global _unavailable_until
    backoff = float(getattr(settings, "CACHE_FAILURE_BACKOFF_SECONDS", 5.0))
    first = _available()
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
    if not _available():
        return None
    try:
        return cache.get(key)
    except CACHE_ERRORS as exc:
        _failed("get", key, exc)
        return None


def cache_get_many(keys: Iterable[str]) -> dict[str, Any]:
    """Return the found keys; an unavailable cache finds nothing."""
    keys = list(keys)
    if not keys or not _available():
        return {}
    try:
        return cache.get_many(keys)
    except CACHE_ERRORS as exc:
        _failed("get_many", keys[0], exc)
        return {}


def cache_set(key: str, value: Any, timeout: float | None) -> bool:
    """Store a value; False when the cache is unavailable (the caller goes on without it)."""
    if not _available():
        return False
    try:
        cache.set(key, value, timeout)
    except CACHE_ERRORS as exc:
        _failed("set", key, exc)
        return False
    return True


def cache_set_many(values: Mapping[str, Any], timeout: float | None) -> bool:
    """Store many values in one round trip (a pipeline on Redis); False when unavailable."""
    if not values:
        return True
    if not _available():
        return False
    try:
        cache.set_many(dict(values), timeout)
    except CACHE_ERRORS as exc:
        _failed("set_many", next(iter(values)), exc)
        return False
    return True


def cache_incr(key: str, *, timeout: float) -> int | None:
    """Increment a counter that expires ``timeout`` seconds after its creation.

    Returns the new value, or None when the cache is unavailable. Atomic on Redis
    (INCRBY); a concurrent first increment is resolved by ``add``, never by check-then-set.
    """
    if not _available():
        return None
    client = getattr(cache, "client", None)
    if hasattr(client, "get_client"):  # django-redis: one EVALSHA, no EXISTS-then-INCRBY script text
        try:
            redis_client = client.get_client(write=True)
            return int(
                _script(redis_client, "incr", _INCR_LUA)(
                    keys=[str(cache.make_key(key))], args=[max(1, math.ceil(timeout))], client=redis_client
                )
            )
        except CACHE_ERRORS as exc:
            _failed("incr", key, exc)
            return None
    try:
        try:
            return cache.incr(key)
        except ValueError:  # missing key
            if cache.add(key, 1, timeout):
                return 1
            return cache.incr(key)
    except CACHE_ERRORS as exc:
        _failed("incr", key, exc)
        return None


def catalog_version_get() -> int:
    """Return the current catalog version, creating it if missing.

    Returns ``VERSION_UNAVAILABLE`` (0) when the cache cannot be reached; callers must then
    neither read nor write version-keyed entries (``catalog_cached`` does exactly that).
    """
    if not _available():
        return VERSION_UNAVAILABLE
    try:
        version = cache.get(CATALOG_VERSION_KEY)
        if version is None:
            cache.add(CATALOG_VERSION_KEY, _initial_version(), None)
            version = cache.get(CATALOG_VERSION_KEY)
    except CACHE_ERRORS as exc:
        _failed("version get", CATALOG_VERSION_KEY, exc)
        return VERSION_UNAVAILABLE
    return int(version) if version is not None else VERSION_UNAVAILABLE


def catalog_version_bump() -> int:
    """Invalidate every cached catalog entry at once by incrementing the catalog version.

    Call it after a sync run that changed something, once its transaction has committed
    (``transaction.on_commit``), so no reader can cache pre-commit data under the new version.
    Returns the new version, or ``VERSION_UNAVAILABLE`` (0) when the cache cannot be reached
    (logged; never raises). It always tries, even inside a back-off window: a missed bump leaves
    entries up to their TTL old, which matters more than one extra socket timeout.
    """
    try:
        try:
            version = int(cache.incr(CATALOG_VERSION_KEY))
        except ValueError:  # no version yet (first run, or Redis lost it)
            if cache.add(CATALOG_VERSION_KEY, _initial_version(), None):
                version = int(cache.get(CATALOG_VERSION_KEY))
            else:
                version = int(cache.incr(CATALOG_VERSION_KEY))
    except CACHE_ERRORS as exc:
        _failed("version bump", CATALOG_VERSION_KEY, exc)
        return VERSION_UNAVAILABLE
    cache_reset_backoff()
    logger.info("catalog cache version bumped to %d", version)
    return version


def _initial_version() -> int:
    return int(time.time() * 1000)


def catalog_key(*, version: int, name: str, params: Mapping[str, Any] | None = None) -> str:
    """Key of a version-scoped catalog entry; ``params`` must already be normalised (validated)."""
    digest = hashlib.sha1(
        json.dumps(params or {}, sort_keys=True, default=str, separators=(",", ":")).encode(),
        usedforsecurity=False,
    ).hexdigest()
    return f"catalog:v{version}:{name}:{digest}"


def catalog_cached(*, name: str, params: Mapping[str, Any] | None, timeout: float, build: Callable[[], T]) -> T:
    """Return the entry for (current version, name, params), building and storing it on a miss.

    ``build`` runs against the database; with the cache unavailable it runs every time and its
    result is returned as is. ``build`` must not return None (None means "missing" in the cache).
    On Redis the version and the entry are read in one round trip (a Lua script).
    """
    version, value = _versioned_get(name, params)
    if version == VERSION_UNAVAILABLE:
        return build()
    if value is None:
        value = build()
        cache_set(catalog_key(version=version, name=name, params=params), value, timeout)
    return value


# KEYS[1]: the version key; ARGV: the entry key around the version ("<prefix>catalog:v", ":<name>:<digest>").
_VERSIONED_GET_LUA = """
local version = redis.call('GET', KEYS[1])
if not version then return {'', ''} end
return {version, redis.call('GET', ARGV[1] .. version .. ARGV[2]) or ''}
"""


_INCR_LUA = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""

_scripts: dict[str, Any] = {}


def _script(redis_client: Any, name: str, body: str) -> Any:
    # A registered script runs by EVALSHA (the body is sent once, and again only after NOSCRIPT).
    if name not in _scripts:
        _scripts[name] = redis_client.register_script(body)
    return _scripts[name]


def _versioned_get(name: str, params: Mapping[str, Any] | None) -> tuple[int, Any | None]:
    """(version, entry or None); ``VERSION_UNAVAILABLE`` when the cache cannot be reached."""
    client = getattr(cache, "client", None)
    if not hasattr(client, "get_client") or not _available():  # not django-redis: two plain gets
        version = catalog_version_get()
        if version == VERSION_UNAVAILABLE:
            return version, None
        return version, cache_get(catalog_key(version=version, name=name, params=params))
    key = catalog_key(version=0, name=name, params=params)
    before, after = str(cache.make_key("catalog:v")), key.removeprefix("catalog:v0")
    try:
        redis_client = client.get_client(write=False)
        raw_version, raw_entry = _script(redis_client, "versioned_get", _VERSIONED_GET_LUA)(
            keys=[str(cache.make_key(CATALOG_VERSION_KEY))], args=[before, after], client=redis_client
        )
    except CACHE_ERRORS as exc:
        _failed("versioned get", key, exc)
        return VERSION_UNAVAILABLE, None
    if not raw_version:  # no version yet: create it (one-off)
        return catalog_version_get(), None
    return int(raw_version), (client.decode(raw_entry) if raw_entry else None)


class CachedResponse(NamedTuple):
    """A rendered response as stored in the cache: exact bytes, their ETag and extra headers."""

    status: int
    body: bytes
    etag: str
    headers: tuple[tuple[str, str], ...] = ()


def etag_for(body: bytes) -> str:
    """Strong ETag of exact response bytes (nginx's gzip turns it into W/"…"; matching is weak)."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
