"""The catalog's cache: every cached answer is keyed under the counters of what it depends on.

Keys (each under the cache's ``KEY_PREFIX`` from ``settings.CACHES``):

``catalog:version``
    The global version, no expiry: every entry depends on it. ``catalog_version_bump()``
    increments it (``--full``, ``--categories``, anything that touches categories), orphaning
    every entry at once.
``catalog:gen:<group>``
    The generation of one group of product columns that product lists filter or sort on
    (``LIST_GROUPS``), plus ``catalog:gen:slugs`` for every detail looked up by slug.
``catalog:product:<id>``
    The version of one product's detail and variations (looked up by id).
``catalog:slug:<sha1 of the slug, 16 hex>``
    The version of the detail and variations looked up by that slug.
``catalog:v<counters>:<name>:<digest>``
    One cached value (an API response, the category tree…). ``<counters>`` are the values of the
    counters the entry depends on (its scope), dot-separated; ``<digest>`` is the SHA-1 of the
    normalised parameters. Incrementing any counter of the scope orphans the entry; orphans
    expire by their TTL.
``catalog:warmup:state``
    When ``warmup_cache`` last ran, for ``--incremental``.

Every counter starts at the current time in milliseconds when first read or bumped, so a lost
counter never restarts at a number whose entries may still be cached.

Invalidation (``catalog_products_changed``): a change of some products' columns increments the
generations of the groups holding those columns, the products' own versions and the slug-detail
generation. So a stock change orphans at once the details of that product and the lists that
filter on stock status, and nothing else. Lists and facets also *show* stock and prices of
products whose change did not orphan them: those answers are kept at most
``CATALOG_MAX_STALENESS_SECONDS`` (their TTL is capped, counted from before the build), so no
answer shows stock or a price older than that bound after the mirror changed
(docs/performance.md, "Invalidation").

On Redis, the throttle counter, the scope's counters and the entry are read in one round trip
(one EVALSHA). Built on ``common.cache``, whose helpers never let a cache failure break a request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from django.core.cache import cache

from catalog.models import Product
from common.cache import (
    CACHE_ERRORS,
    cache_available,
    cache_failed,
    cache_get,
    cache_get_many,
    cache_is_redis,
    cache_reset_backoff,
    cache_set,
    redis_script,
)
from common.throttling import ThrottleExceeded, ThrottleWindow

if TYPE_CHECKING:
    from catalog.selectors import ProductFilters

logger = logging.getLogger(__name__)

T = TypeVar("T")

CATALOG_VERSION_KEY = "catalog:version"
VERSION_UNAVAILABLE = 0  # never a real version: real ones start at a millisecond timestamp

# The product columns that lists filter or sort on, in groups (a list answer depends on the groups its
# query uses, see product_list_scope). A column in no group is only shown: its change orphans details,
# and lists show it within CATALOG_MAX_STALENESS_SECONDS.
LIST_GROUPS: dict[str, frozenset[str]] = {
    "visibility": frozenset({"status", "catalog_visibility", "deleted_at"}),  # who is listed at all: every list
    "name": frozenset({"name", "sku"}),  # search=, sku=, orderby=title|menu_order
    "category": frozenset({"categories"}),  # category=, and the category endpoints' counts
    "price": frozenset({"price", "on_sale"}),  # min_price=, max_price=, on_sale=, orderby=price
    "stock": frozenset({"stock_status"}),  # stock_status=
    "featured": frozenset({"featured"}),
    "popularity": frozenset({"total_sales"}),
    "date": frozenset({"date_created_gmt"}),
    "modified": frozenset({"date_modified_gmt"}),
    "menu_order": frozenset({"menu_order"}),
}
_ORDERBY_GROUPS: dict[str, tuple[str, ...]] = {
    "date": ("date",),
    "price": ("price",),
    "popularity": ("popularity",),
    "title": ("name",),
    "menu_order": ("menu_order", "name"),
    "modified": ("modified",),
    "id": (),
}
SLUGS_KEY = "catalog:gen:slugs"
# Beyond this many products in one change, one global bump is cheaper than a counter per product.
MAX_PRODUCTS_PER_CHANGE = 1000

Scope = tuple[str, ...]  # counter keys an entry depends on, besides the global version


def group_key(group: str) -> str:
    return f"catalog:gen:{group}"


def product_key(product_id: int) -> str:
    return f"catalog:product:{product_id}"


ALL_GROUPS_SCOPE: Scope = tuple(group_key(group) for group in LIST_GROUPS)
CATEGORIES_SCOPE: Scope = (group_key("category"), group_key("visibility"))


def product_list_scope(*, filters: ProductFilters, orderby: str | None = None) -> Scope:
    """The counters a product list (or its count, or its facets: ``orderby=None``) depends on: the
    groups of the columns its query filters or sorts on."""
    groups = {"visibility"}
    if filters.search or filters.skus:
        groups.add("name")
    if filters.categories:
        groups.add("category")
    if filters.min_price is not None or filters.max_price is not None or filters.on_sale is not None:
        groups.add("price")
    if filters.stock_statuses:
        groups.add("stock")
    if filters.featured is not None:
        groups.add("featured")
    groups.update(_ORDERBY_GROUPS.get(orderby or "id", tuple(LIST_GROUPS)))
    return tuple(group_key(group) for group in LIST_GROUPS if group in groups)


def slug_key(slug: str) -> str:
    return "catalog:slug:" + hashlib.sha1(slug.encode(), usedforsecurity=False).hexdigest()[:16]


def product_detail_scope(*, product_id: int | None, slug: str | None = None) -> Scope:
    """A product's detail and variations: its own version when looked up by id; by slug (the id is not
    known before the query), that slug's version and the generation of all slugs (a renamed slug)."""
    if product_id is not None:
        return (product_key(product_id),)
    return (SLUGS_KEY, slug_key(slug or ""))


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- invalidation --------------------------------------------------------------------------

# KEYS: the counters to increment; ARGV[1]: the start value of a missing one (now, in ms).
_BUMP_LUA = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('INCR', key) else redis.call('SET', key, ARGV[1]) end
end
return #KEYS
"""


def _counters_bump(keys: Collection[str], operation: str) -> bool:
    """Increment ``keys`` (creating a missing one at now-in-ms) in one round trip; False when the cache
    failed (logged). It always tries, even inside a back-off window: a missed bump leaves entries up
    to their TTL old, which matters more than one extra socket timeout."""
    if not keys:
        return True
    try:
        if cache_is_redis():
            redis_client = cache.client.get_client(write=True)
            redis_script(redis_client, "counters_bump", _BUMP_LUA)(
                keys=[str(cache.make_key(key)) for key in keys], args=[_now_ms()], client=redis_client
            )
        else:  # not Redis (local memory): one call per counter
            for key in keys:
                try:
                    cache.incr(key)
                except ValueError:
                    if not cache.add(key, _now_ms(), None):
                        cache.incr(key)
    except CACHE_ERRORS as exc:
        cache_failed(operation, next(iter(keys)), exc)
        return False
    cache_reset_backoff()
    return True


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
            cache.add(CATALOG_VERSION_KEY, _now_ms(), None)
            version = cache.get(CATALOG_VERSION_KEY)
    except CACHE_ERRORS as exc:
        cache_failed("version get", CATALOG_VERSION_KEY, exc)
        return VERSION_UNAVAILABLE
    return int(version) if version is not None else VERSION_UNAVAILABLE


def catalog_version_bump() -> int:
    """Invalidate every cached catalog entry at once by incrementing the catalog version.

    For changes that are not a few products' columns: the category tree (``--full``,
    ``--categories``), deletions, or more products than ``MAX_PRODUCTS_PER_CHANGE``. Call it once
    the transaction has committed (``transaction.on_commit``), so no reader can cache pre-commit
    data under the new version. Returns the new version, or ``VERSION_UNAVAILABLE`` (0) when the
    cache cannot be reached (logged; never raises).
    """
    if not _counters_bump([CATALOG_VERSION_KEY], "version bump"):
        return VERSION_UNAVAILABLE
    version = catalog_version_get()
    logger.info("catalog cache version bumped to %d", version)
    return version


def changed_groups(fields: Iterable[str] | None) -> set[str]:
    """The list groups that hold any of ``fields`` (every group when ``fields`` is None: unknown)."""
    if fields is None:
        return set(LIST_GROUPS)
    fields = set(fields)
    return {group for group, columns in LIST_GROUPS.items() if columns & fields}


def catalog_products_changed(*, product_ids: Iterable[int], fields: Iterable[str] | None) -> bool:
    """Invalidate what a change of these products can make stale, in one cache round trip.

    ``product_ids``: the products whose row, category links or variations changed (a variation's
    change is its product's). ``fields``: the ``Product`` columns that changed (``"categories"`` for
    the links; empty when only variations changed), or None when unknown (every list group).
    Increments the products' detail versions, the versions of their slugs (one query reads them;
    when the slug itself may have changed, the generation of all slugs instead, so the old one
    cannot answer) and the generations of the list groups holding ``fields``; more than
    ``MAX_PRODUCTS_PER_CHANGE`` products bump the global version instead. Call it once the write
    has committed (``transaction.on_commit``). Returns False when the cache cannot be reached
    (logged; never raises for the cache).
    """
    ids = set(product_ids)
    if not ids:
        return True
    if len(ids) > MAX_PRODUCTS_PER_CHANGE:
        return catalog_version_bump() != VERSION_UNAVAILABLE
    fields = None if fields is None else set(fields)
    groups = changed_groups(fields)
    keys = [group_key(g) for g in LIST_GROUPS if g in groups]
    keys += [product_key(product_id) for product_id in sorted(ids)]
    if fields is None or "slug" in fields:
        keys.append(SLUGS_KEY)
    else:
        keys += sorted({slug_key(slug) for slug in Product.objects.filter(id__in=ids).values_list("slug", flat=True)})
    done = _counters_bump(keys, "products changed")
    if done:
        logger.debug("catalog cache: %d products changed (groups: %s)", len(ids), ",".join(sorted(groups)) or "-")
    return done


# --- lookups -------------------------------------------------------------------------------


def _digest(params: Mapping[str, Any] | None) -> str:
    return hashlib.sha1(
        json.dumps(params or {}, sort_keys=True, default=str, separators=(",", ":")).encode(),
        usedforsecurity=False,
    ).hexdigest()


def catalog_key(*, counters: str, name: str, params: Mapping[str, Any] | None = None) -> str:
    """Key of a catalog entry; ``counters`` from ``catalog_counters_get``; ``params`` normalised."""
    return f"catalog:v{counters}:{name}:{_digest(params)}"


def catalog_counters_get(scope: Scope) -> str | None:
    """The current values of the global version and ``scope``'s counters, dot-separated (what an
    entry key holds), creating missing ones; None when the cache cannot be reached."""
    keys = (CATALOG_VERSION_KEY, *scope)
    if not cache_available():
        return None
    found = cache_get_many(keys)
    if not cache_available():
        return None
    missing = [key for key in keys if key not in found]
    if missing:
        try:
            for key in missing:
                cache.add(key, _now_ms(), None)
            found.update(cache.get_many(missing))
        except CACHE_ERRORS as exc:
            cache_failed("counters get", missing[0], exc)
            return None
    if any(key not in found for key in keys):
        return None
    return ".".join(str(int(found[key])) for key in keys)


@dataclass(frozen=True, slots=True)
class _Lookup:
    counters: str | None  # None: the cache is unavailable
    value: Any | None
    throttle_count: int | None = None  # None: not counted here (no throttle, or no Redis)


# KEYS[1]: the throttle counter when ARGV[2] > 0; then the version and the scope's counters.
# ARGV: now (ms, a missing counter's start), the throttle window (s, 0: none), its limit, and the entry key
# around the counters ("<prefix>catalog:v", ":<name>:<digest>"). Returns {throttle count, counters, entry};
# an over-limit request gets no entry.
_LOOKUP_LUA = """
local first, count = 1, 0
local window = tonumber(ARGV[2])
if window > 0 then
  count = redis.call('INCR', KEYS[1])
  if count == 1 then redis.call('EXPIRE', KEYS[1], window) end
  if count > tonumber(ARGV[3]) then return {count, '', ''} end
  first = 2
end
local values = {}
for i = first, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if not value then
    redis.call('SET', KEYS[i], ARGV[1], 'NX')
    value = redis.call('GET', KEYS[i])
  end
  values[#values + 1] = value
end
local counters = table.concat(values, '.')
return {count, counters, redis.call('GET', ARGV[4] .. counters .. ARGV[5]) or ''}
"""


def _lookup(name: str, params: Mapping[str, Any] | None, scope: Scope, throttle: ThrottleWindow | None) -> _Lookup:
    if not cache_is_redis() or not cache_available():  # local memory (or in back-off): plain calls
        counters = catalog_counters_get(scope)
        if counters is None:
            return _Lookup(None, None)
        return _Lookup(counters, cache_get(catalog_key(counters=counters, name=name, params=params)))
    key = catalog_key(counters="", name=name, params=params)
    before, after = str(cache.make_key("catalog:v")), key.removeprefix("catalog:v")
    keys = [str(cache.make_key(k)) for k in (CATALOG_VERSION_KEY, *scope)]
    args: list[Any] = [_now_ms(), 0, 0, before, after]
    if throttle is not None:
        keys.insert(0, str(cache.make_key(throttle.key)))
        args[1:3] = [max(1, int(throttle.duration) + 1), throttle.limit]
    try:
        redis_client = cache.client.get_client(write=True)
        count, counters, raw_entry = redis_script(redis_client, "catalog_lookup", _LOOKUP_LUA)(
            keys=keys, args=args, client=redis_client
        )
    except CACHE_ERRORS as exc:
        cache_failed("catalog lookup", key, exc)
        return _Lookup(None, None)
    value = cache.client.decode(raw_entry) if raw_entry else None
    return _Lookup(counters.decode() if counters else None, value, int(count) if throttle is not None else None)


def catalog_cached(
    *,
    name: str,
    params: Mapping[str, Any] | None,
    timeout: float,
    build: Callable[[], T],
    scope: Scope = ALL_GROUPS_SCOPE,
    max_age: float | None = None,
    throttle: ThrottleWindow | None = None,
) -> T:
    """Return the entry for (``scope``'s counters, name, params), building and storing it on a miss.

    ``scope``: the counters the entry depends on besides the global version (default: every list
    group). ``max_age``: the entry is kept at most that long after the lookup that preceded its
    build (the staleness bound of what it shows but does not depend on). ``throttle``: the
    request's throttle window, counted in the same round trip on Redis; over its limit this raises
    ``ThrottleExceeded`` before building anything.

    ``build`` runs against the database; with the cache unavailable it runs every time and its
    result is returned as is (the throttle fails open). ``build`` must not return None.
    """
    started = time.monotonic()
    found = _lookup(name, params, scope, throttle)
    if throttle is not None:
        if found.throttle_count is None and found.counters is not None:  # no Redis: count it on its own
            throttle.check()
        elif found.throttle_count is not None and found.throttle_count > throttle.limit:
            raise ThrottleExceeded(throttle.left)
    if found.counters is None:
        return build()
    if found.value is not None:
        return found.value
    value = build()
    if max_age is not None:
        timeout = min(timeout, max_age - (time.monotonic() - started))
    if timeout > 0:
        cache_set(catalog_key(counters=found.counters, name=name, params=params), value, timeout)
    return value


class CachedResponse(NamedTuple):
    """A rendered response as stored in the cache: exact bytes, their ETag and extra headers.

    ``built_at``: the wall-clock time (epoch seconds) of the lookup that preceded the build, for the
    answers whose staleness is capped (0: not recorded)."""

    status: int
    body: bytes
    etag: str
    headers: tuple[tuple[str, str], ...] = ()
    built_at: float = 0.0


def etag_for(body: bytes) -> str:
    """Strong ETag of exact response bytes (nginx's gzip turns it into W/"…"; matching is weak).

    SHA-256 cut to 128 bits: CPUs hash it in hardware, 61 µs for a 50-product page where BLAKE2b took
    139 µs, on every uncached answer (docs/performance.md, "Prepared catalog statements")."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
