"""The catalog's cache: one version number that every cached catalog answer is keyed under.

Keys (each under the cache's ``KEY_PREFIX`` from ``settings.CACHES``):

``catalog:version``
    Integer, no expiry. Starts at the current time in milliseconds (so a lost key never
    restarts at a number whose entries may still be cached) and is incremented by
    ``catalog_version_bump()``, which the sync and the queue processor call after writes that
    changed something.
``catalog:v<version>:<name>:<digest>``
    One cached value (an API response, the category tree…). ``<digest>`` is the SHA-1 of the
    normalised parameters. A bump orphans every entry at once; orphans expire by their TTL.
``catalog:warmup:state``
    When ``warmup_cache`` last ran, for ``--incremental``.

Built on ``common.cache``, whose helpers never let a cache failure break a request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

from django.core.cache import cache

from common.cache import (
    CACHE_ERRORS,
    cache_available,
    cache_failed,
    cache_get,
    cache_reset_backoff,
    cache_set,
    redis_script,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

CATALOG_VERSION_KEY = "catalog:version"
VERSION_UNAVAILABLE = 0  # never a real version: real ones start at a millisecond timestamp


def catalog_version_get() -> int:
    """Return the current catalog version, creating it if missing.

    Returns ``VERSION_UNAVAILABLE`` (0) when the cache cannot be reached; callers must then
    neither read nor write version-keyed entries (``catalog_cached`` does exactly that).
    """
    if not cache_available():
        return VERSION_UNAVAILABLE
    try:
        version = cache.get(CATALOG_VERSION_KEY)
        if version is None:
            cache.add(CATALOG_VERSION_KEY, _initial_version(), None)
            version = cache.get(CATALOG_VERSION_KEY)
    except CACHE_ERRORS as exc:
        cache_failed("version get", CATALOG_VERSION_KEY, exc)
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
        cache_failed("version bump", CATALOG_VERSION_KEY, exc)
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


def _versioned_get(name: str, params: Mapping[str, Any] | None) -> tuple[int, Any | None]:
    """(version, entry or None); ``VERSION_UNAVAILABLE`` when the cache cannot be reached."""
    client = getattr(cache, "client", None)
    if not hasattr(client, "get_client") or not cache_available():  # not django-redis: two plain gets
        version = catalog_version_get()
        if version == VERSION_UNAVAILABLE:
            return version, None
        return version, cache_get(catalog_key(version=version, name=name, params=params))
    key = catalog_key(version=0, name=name, params=params)
    before, after = str(cache.make_key("catalog:v")), key.removeprefix("catalog:v0")
    try:
        redis_client = client.get_client(write=False)
        raw_version, raw_entry = redis_script(redis_client, "versioned_get", _VERSIONED_GET_LUA)(
            keys=[str(cache.make_key(CATALOG_VERSION_KEY))], args=[before, after], client=redis_client
        )
    except CACHE_ERRORS as exc:
        cache_failed("versioned get", key, exc)
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
