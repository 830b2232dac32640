"""Catalog operations behind the API: the product detail (with its two hooks), the cached
responses of every public endpoint, and the cache warmup.

``product_detail_get`` is the single entry point of the product detail, with two hooks that
read WooCommerce through the sync's bounded live services (``sync.services.live``):

* ``product_fetch_missing`` — the on-demand product: a product unknown locally is fetched from
  WooCommerce, stored and returned (a WooCommerce 404 is remembered briefly).
* ``product_stock_live_refresh`` — ``?real_time_stock=true``: fetch the current stock within a
  short time budget, store it, and say where the figures come from.
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from catalog import selectors
from catalog.models import Product
from catalog.selectors import CategoryListing, product_get
from catalog.serializers import (
    CategoryListQuerySerializer,
    PaginationQuerySerializer,
    ProductDetailSerializer,
    ProductFilterQuerySerializer,
    ProductListQuerySerializer,
    ProductSerializer,
    VariationSerializer,
    category_representation,
    facets_representation,
)
from common.cache import (
    VERSION_UNAVAILABLE,
    CachedResponse,
    cache_get,
    cache_get_many,
    cache_set,
    cache_set_many,
    catalog_cached,
    catalog_key,
    catalog_version_get,
    etag_for,
)
from sync.services.live import WooCommerceUnreachable, product_fetch_on_demand, product_stock_live_fetch


@dataclass(frozen=True)
class ProductDetail:
    product: Product  # with ``categories`` and ``public_variations`` prefetched
    stock_source: Literal["live", "local"]
    synced_at: datetime.datetime | None  # when WooCommerce answered (live), or when the sync wrote the row (local)
    stock_note: str = ""  # why the figures are local: "timeout", "circuit open", "error", "not found"


class CatalogUnavailable(Exception):
    """A product the mirror lacks could not be looked up in WooCommerce (slow, failing, circuit open)."""


def product_detail_get(
    *, product_id: int | None = None, slug: str | None = None, real_time_stock: bool = False
) -> ProductDetail | None:
    """Return a public product by id or slug, or None when it does not exist (the API's 404).

    Inputs: exactly one of ``product_id`` / ``slug``. With ``real_time_stock`` the stock figures
    are refreshed through ``product_stock_live_refresh``. Raises nothing of its own; 3 queries when
    the product exists locally.
    """
    product = product_get(product_id=product_id, slug=slug)
    if product is None:
        product = product_fetch_missing(product_id=product_id, slug=slug)
        if product is None:
            return None
    if real_time_stock:
        return product_stock_live_refresh(product=product)
    return ProductDetail(product=product, stock_source="local", synced_at=product.synced_at)


def product_fetch_missing(*, product_id: int | None, slug: str | None) -> Product | None:
    """The on-demand product: one the mirror does not have at all is fetched from WooCommerce.

    A product the mirror knows but does not publish (draft, trash, deleted) is not asked for:
    the scheduled sync keeps it current. Returns the stored product if it is public, else None
    (a WooCommerce 404 is remembered for ``ON_DEMAND_NOT_FOUND_CACHE_SECONDS``). Raises
    CatalogUnavailable when WooCommerce cannot be asked (our 503, never cached).
    """
    if selectors.product_known(product_id=product_id, slug=slug):
        return None
    try:
        stored_id = product_fetch_on_demand(product_id=product_id, slug=slug)
    except WooCommerceUnreachable as exc:
        raise CatalogUnavailable(str(exc)) from None
    return None if stored_id is None else product_get(product_id=stored_id)


def product_stock_live_refresh(*, product: Product) -> ProductDetail:
    """``real_time_stock=true``: the product's and its variations' stock read from WooCommerce
    within ``LIVE_STOCK_TIMEOUT_SECONDS``, stored, and marked ``live``; when WooCommerce is slow,
    failing or its circuit is open, the local figures marked ``local`` with the reason.
    """
    live = product_stock_live_fetch(product_id=product.id, variable=product.type == "variable")
    if live.source == "live":
        refreshed = product_get(product_id=product.id) or product
        return ProductDetail(product=refreshed, stock_source="live", synced_at=live.fetched_at)
    return ProductDetail(product=product, stock_source="local", synced_at=product.synced_at, stock_note=live.reason)


# --- Cached API responses -------------------------------------------------------------------
#
# Each public endpoint's body is built here from validated, normalised parameters (the output
# of its query serializer, defaults filled in), rendered once to bytes with an ETag and cached
# under (catalog version, endpoint, parameters). The API views and warmup_cache share these
# builders, so a warmed entry is byte for byte what a request would have built.


class CatalogNotFound(Exception):
    """The product or category asked for does not exist or is not public (the API's 404)."""

    def __init__(self, kind: Literal["product", "category"]) -> None:
        super().__init__(kind)
        self.kind = kind


_renderer = JSONRenderer()


def render_json(data: Any, *, headers: tuple[tuple[str, str], ...] = ()) -> CachedResponse:
    body = _renderer.render(data)
    return CachedResponse(status=200, body=body, etag=etag_for(body), headers=headers)


def _page(results: list[Any], *, total: int, total_pages: int, page: int, per_page: int) -> CachedResponse:
    body = {"total": total, "total_pages": total_pages, "page": page, "per_page": per_page, "results": results}
    return render_json(body, headers=(("X-WP-Total", str(total)), ("X-WP-TotalPages", str(total_pages))))


def _categories_build(params: dict[str, Any], listing: CategoryListing | None = None) -> CachedResponse:
    listing = listing or selectors.category_listing()
    tree = listing.tree
    ids = [
        i
        for i in tree.order
        if (params["parent"] is None or (tree.nodes[i].parent or 0) == params["parent"])
        and (not params["hide_empty"] or listing.counts.get(i))
    ]
    per_page = params["per_page"] or max(len(ids), 1)
    start = (params["page"] - 1) * per_page
    results = [category_representation(listing, i) for i in ids[start : start + per_page]]
    return _page(
        results, total=len(ids), total_pages=math.ceil(len(ids) / per_page), page=params["page"], per_page=per_page
    )


def _category_build(params: dict[str, Any], listing: CategoryListing | None = None) -> CachedResponse:
    listing = listing or selectors.category_listing()
    found = params["id"] if params["id"] in listing.categories else listing.tree.by_slug.get(params["slug"] or "")
    if found is None:
        raise CatalogNotFound("category")
    return render_json(category_representation(listing, found, detail=True))


def _products_build(params: dict[str, Any]) -> CachedResponse:
    page = selectors.product_list(
        filters=ProductFilterQuerySerializer.to_filters(params),
        orderby=params["orderby"],
        order=params["order"],
        page=params["page"],
        per_page=params["per_page"],
    )
    results = ProductSerializer(page.items, many=True).data
    return _page(
        results, total=page.total, total_pages=page.total_pages, page=params["page"], per_page=params["per_page"]
    )


def _facets_build(params: dict[str, Any]) -> CachedResponse:
    return render_json(
        facets_representation(selectors.product_facets(filters=ProductFilterQuerySerializer.to_filters(params)))
    )


def _product_build(params: dict[str, Any]) -> CachedResponse:
    detail = product_detail_get(product_id=params["id"], slug=params["slug"])
    if detail is None:
        raise CatalogNotFound("product")
    return render_json(ProductDetailSerializer(detail.product).data)


def _variations_build(params: dict[str, Any]) -> CachedResponse:
    found = selectors.product_id_public(product_id=params["id"], slug=params["slug"])
    if found is None:
        raise CatalogNotFound("product")
    page = selectors.variation_list(product_id=found, page=params["page"], per_page=params["per_page"])
    results = VariationSerializer(page.items, many=True).data
    return _page(
        results, total=page.total, total_pages=page.total_pages, page=params["page"], per_page=params["per_page"]
    )


# endpoint name → (builder, TTL setting)
_ENDPOINTS: dict[str, tuple[Callable[[dict[str, Any]], CachedResponse], str]] = {
    "categories": (_categories_build, "CATALOG_CACHE_TTL_CATEGORIES"),
    "category": (_category_build, "CATALOG_CACHE_TTL_CATEGORIES"),
    "products": (_products_build, "CATALOG_CACHE_TTL_PRODUCT_LIST"),
    "facets": (_facets_build, "CATALOG_CACHE_TTL_PRODUCT_LIST"),
    "product": (_product_build, "CATALOG_CACHE_TTL_PRODUCT_DETAIL"),
    "variations": (_variations_build, "CATALOG_CACHE_TTL_PRODUCT_DETAIL"),
}


def catalog_response_get(*, endpoint: str, params: dict[str, Any]) -> CachedResponse:
    """The rendered response of ``endpoint`` for validated ``params``, from the cache or built.

    Raises ``CatalogNotFound`` (never cached) for an unknown product or category. With the cache
    unavailable the response is built from the database every time.
    """
    build, ttl_setting = _ENDPOINTS[endpoint]
    return catalog_cached(
        name=endpoint, params=params, timeout=getattr(settings, ttl_setting), build=lambda: build(params)
    )


def query_defaults(serializer_class: type[serializers.Serializer], **values: Any) -> dict[str, Any]:
    """Normalised parameters as a request with these query values would have them (for warmup)."""
    serializer = serializer_class(data={k: str(v) for k, v in values.items()})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- Cache warmup ---------------------------------------------------------------------------

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
    keys = {catalog_key(version=version, name=e, params=p): (e, p, pid) for e, p, pid in plan.entries}
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
    for key, (endpoint, params, _product_id) in keys.items():
        try:
            if endpoint in ("categories", "category") and listing is not None:
                build = _categories_build if endpoint == "categories" else _category_build
                entry = build(params, listing)
            else:
                entry = _ENDPOINTS[endpoint][0](params)
        except CatalogNotFound:
            continue
        batch.setdefault(_ENDPOINTS[endpoint][1], {})[key] = entry
        written += 1
        details += endpoint == "product"
        if sum(len(b) for b in batch.values()) >= _WARMUP_BATCH:
            _flush(batch)
    _flush(batch)
    cache_set(WARMUP_STATE_KEY, {"version": version, "at": started_at}, None)
    return WarmupResult(version, incremental, written, skipped, details, time.monotonic() - started)


def _flush(batch: dict[str, dict[str, CachedResponse]]) -> None:
    for ttl_setting, entries in batch.items():
        if not cache_set_many(entries, getattr(settings, ttl_setting)):
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
