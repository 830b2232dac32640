"""The cache warmup: fill the response cache for the current cache counters (``warmup_cache``).

It writes exactly what a request would have built, through the builders of
``catalog.presentation``; the parameters are normalised by the endpoints' query serializers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from catalog import selectors
from catalog.cache import (
    VERSION_UNAVAILABLE,
    CachedResponse,
    Scope,
    catalog_counters_get,
    catalog_key,
    catalog_version_get,
)
from catalog.presentation import (
    ENDPOINTS,
    STALENESS_CAPPED,
    categories_build,
    category_build,
    endpoint_scope,
    endpoint_timeout,
    query_defaults,
)
from catalog.serializers import (
    CategoryListQuerySerializer,
    PaginationQuerySerializer,
    ProductFilterQuerySerializer,
    ProductListQuerySerializer,
)
from catalog.services import CatalogNotFound
from common.cache import cache_get, cache_get_many, cache_set, cache_set_many

WARMUP_STATE_KEY = "catalog:warmup:state"
# The listings most storefronts open first; each is warmed for CATALOG_WARMUP_LIST_PAGES pages.
COMMON_LISTINGS: tuple[dict[str, str], ...] = (
    {},
    {"orderby": "popularity"},
    {"orderby": "price", "order": "asc"},
    {"orderby": "price", "order": "desc"},
)
_WARMUP_BATCH = 100


class CacheUnavailable(Exception):
    """The cache cannot be reached: there is nothing to warm."""


@dataclass(frozen=True)
class WarmupResult:
    version: int
    incremental: bool
    written: int  # cache entries written
    skipped: int  # entries already present (incremental only)
    products: int  # product details written
    seconds: float


def catalog_cache_warmup(
    *, list_pages: int, products: int, incremental: bool = False, dry_run: bool = False
) -> WarmupResult:
    """Fill the response cache for the current catalog version with batched ``set_many`` writes.

    Warms: the category list and every category detail (and the category tree), the facets, the
    first ``list_pages`` pages of ``COMMON_LISTINGS`` and of each root category's default listing,
    and the detail (by id and by slug) and variations of the ``products`` best-selling products.

    ``incremental``: when the catalog version is the one of the last run, only entries missing
    from the cache (a Redis restart) and products written since the last run (``synced_at`` or
    ``updated_at``) are rebuilt; after a version bump every entry is new, so it warms everything. ``dry_run`` builds
    nothing and writes nothing, and reports what it would write. Raises ``CacheUnavailable``.
    """
    started = time.monotonic()
    started_at = timezone.now()
    version = catalog_version_get()
    if version == VERSION_UNAVAILABLE:
        raise CacheUnavailable("the cache cannot be reached (see the log for the error)")
    state = cache_get(WARMUP_STATE_KEY) or {}
    incremental = incremental and state.get("version") == version
    changed_since = state.get("at") if incremental else None

    plan = _warmup_plan(list_pages=list_pages, products=products)
    counters: dict[Scope, str | None] = {}
    keys: dict[str, tuple[str, dict[str, Any], int | None]] = {}
    for e, p, pid in plan.entries:
        scope = endpoint_scope(e, p)
        if scope not in counters:
            counters[scope] = catalog_counters_get(scope)
        if counters[scope] is None:
            raise CacheUnavailable("the cache failed while reading its counters (see the log for the error)")
        keys[catalog_key(counters=counters[scope], name=e, params=p)] = (e, p, pid)
    skipped = 0
    if incremental:
        present = set(cache_get_many(keys))
        changed = set(
            selectors.product_public_queryset()
            .filter(Q(updated_at__gt=changed_since) | Q(synced_at__gt=changed_since), id__in=plan.product_ids)
            .values_list("id", flat=True)
        )
        keep = {
            k: v for k, v in keys.items() if k not in present or (v[0] in ("product", "variations") and v[2] in changed)
        }
        skipped = len(keys) - len(keep)
        keys = keep
    if dry_run:
        detail_count = sum(1 for e, *_ in keys.values() if e == "product")
        return WarmupResult(version, incremental, len(keys), skipped, detail_count, time.monotonic() - started)

    selectors.category_tree_get()  # cached by itself under the version
    listing = selectors.category_listing() if any(e in ("categories", "category") for e, *_ in keys.values()) else None
    written = 0
    details = 0
    batch: dict[str, dict[str, CachedResponse]] = {}
    batch_started = time.monotonic()
    for key, (endpoint, params, _product_id) in keys.items():
        if not batch:
            batch_started = time.monotonic()
        try:
            if endpoint in ("categories", "category") and listing is not None:
                build = categories_build if endpoint == "categories" else category_build
                entry = build(params, listing)
            else:
                entry = ENDPOINTS[endpoint][0](params)
        except CatalogNotFound:
            continue
        batch.setdefault(endpoint, {})[key] = entry
        written += 1
        details += endpoint == "product"
        if sum(len(b) for b in batch.values()) >= _WARMUP_BATCH:
            _flush(batch, started=batch_started)
    _flush(batch, started=batch_started)
    cache_set(WARMUP_STATE_KEY, {"version": version, "at": started_at}, None)
    return WarmupResult(version, incremental, written, skipped, details, time.monotonic() - started)


def _flush(batch: dict[str, dict[str, CachedResponse]], *, started: float) -> None:
    # A capped answer's staleness counts from its build: the batch's first build bounds them all.
    capped = settings.CATALOG_MAX_STALENESS_SECONDS - (time.monotonic() - started)
    for endpoint, entries in batch.items():
        timeout = endpoint_timeout(endpoint)
        if endpoint in STALENESS_CAPPED:
            timeout = min(timeout, capped)
        if timeout <= 0:
            continue
        if not cache_set_many(entries, timeout):
            raise CacheUnavailable("the cache failed while warming (see the log for the error)")
    batch.clear()


@dataclass(frozen=True)
class _Plan:
    entries: list[tuple[str, dict[str, Any], int | None]]  # (endpoint, params, product id)
    product_ids: list[int]


def _warmup_plan(*, list_pages: int, products: int) -> _Plan:
    # Each entry: (endpoint, params, product id or None) — params normalised like a request's.
    entries: list[tuple[str, dict[str, Any], int | None]] = [
        ("categories", query_defaults(CategoryListQuerySerializer), None),
        ("facets", query_defaults(ProductFilterQuerySerializer), None),
    ]
    tree = selectors.category_tree_get()
    for category_id in tree.order:
        entries.append(("category", {"id": category_id, "slug": None}, None))
        if tree.nodes[category_id].slug:
            entries.append(("category", {"id": None, "slug": tree.nodes[category_id].slug}, None))
    listings = [*COMMON_LISTINGS, *({"category": str(i)} for i in tree.order if tree.depth[i] == 0)]
    for listing in listings:
        for page in range(1, list_pages + 1):
            entries.append(("products", query_defaults(ProductListQuerySerializer, page=page, **listing), None))
    top = list(selectors.product_public_queryset().order_by("-total_sales", "id").values_list("id", "slug")[:products])
    paging = query_defaults(PaginationQuerySerializer)
    for product_id, slug in top:
        entries.append(("product", {"id": product_id, "slug": None}, product_id))
        entries.append(("variations", {"id": product_id, "slug": None, **paging}, product_id))
        if slug:
            entries.append(("product", {"id": None, "slug": slug}, product_id))
    return _Plan(entries=entries, product_ids=[i for i, _ in top])
