"""The rendered responses of the public catalog endpoints, shared by the views and the warmup.

Each public endpoint's body is built here from validated, normalised parameters (the output
of its query serializer, defaults filled in), rendered once to bytes with an ETag and cached
under (the counters it depends on, endpoint, parameters; see ``catalog.cache``). The API views
(``catalog.apis``) and the warmup (``catalog.warmup``) share these builders, so a warmed entry is
byte for byte what a request would have built. This is the presentation layer: it reads through
selectors and services and renders with the serializers; services and selectors never import it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from catalog import fast_render, selectors, services
from catalog.cache import (
    CATEGORIES_SCOPE,
    CachedResponse,
    Scope,
    catalog_cached,
    etag_for,
    product_detail_scope,
    product_list_scope,
)
from catalog.selectors import CategoryListing
from catalog.serializers import (
    CategoryDetailSerializer,
    CategorySerializer,
    FacetsSerializer,
    ProductDetailSerializer,
    ProductFilterQuerySerializer,
    ProductSerializer,
    VariationSerializer,
)
from catalog.services import CatalogNotFound, product_detail_get
from common.throttling import ThrottleWindow

_renderer = JSONRenderer()


def render_json(
    data: Any, *, headers: tuple[tuple[str, str], ...] = (), render: Callable[[Any], bytes] = _renderer.render
) -> CachedResponse:
    body = render(data)
    return CachedResponse(status=200, body=body, etag=etag_for(body), headers=headers)


def _page(
    results: list[Any],
    *,
    total: int,
    total_pages: int,
    page: int,
    per_page: int,
    render: Callable[[Any], bytes] = _renderer.render,
) -> CachedResponse:
    body = {"total": total, "total_pages": total_pages, "page": page, "per_page": per_page, "results": results}
    headers = (("X-WP-Total", str(total)), ("X-WP-TotalPages", str(total_pages)))
    return render_json(body, headers=headers, render=render)


def categories_build(params: dict[str, Any], listing: CategoryListing | None = None) -> CachedResponse:
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
    page = [listing.categories[i] for i in ids[start : start + per_page]]
    # The fast renderer over the listing's rows: DRF's per-field calls were most of an uncached answer.
    results = fast_render.rows_represent(CategorySerializer(context={"listing": listing}), page)
    return _page(
        results,
        total=len(ids),
        total_pages=math.ceil(len(ids) / per_page),
        page=params["page"],
        per_page=per_page,
        render=fast_render.render_bytes,
    )


def category_build(params: dict[str, Any], listing: CategoryListing | None = None) -> CachedResponse:
    listing = listing or selectors.category_listing()
    found = params["id"] if params["id"] in listing.categories else listing.tree.by_slug.get(params["slug"] or "")
    if found is None:
        raise CatalogNotFound("category")
    return render_json(CategoryDetailSerializer(listing.categories[found], context={"listing": listing}).data)


def _products_build(params: dict[str, Any]) -> CachedResponse:
    if selectors.catalog_triggers_supported():
        return _products_build_from_fragments(params)
    return _products_build_rows(params)


def _products_build_rows(params: dict[str, Any]) -> CachedResponse:
    # Rows and orjson, not instances and DRF: the same bytes as ProductSerializer's (catalog.fast_render).
    page = selectors.product_list_rows(
        filters=ProductFilterQuerySerializer.to_filters(params),
        orderby=params["orderby"],
        order=params["order"],
        page=params["page"],
        per_page=params["per_page"],
    )
    return _page(
        fast_render.products_represent(page.items),
        total=page.total,
        total_pages=page.total_pages,
        page=params["page"],
        per_page=params["per_page"],
        render=fast_render.render_bytes,
    )


def _products_build_from_fragments(params: dict[str, Any]) -> CachedResponse:
    """The list as the concatenation of each product's stored bytes (PostgreSQL; docs/performance.md).

    A product without a current fragment is rendered by the fast path and stored (read-through): a warm
    page is one query and a join of bytes, with no per-field work in Python.
    """
    shape = fast_render.fragment_shape()
    per_page = params["per_page"]
    page = selectors.product_list_fragments(
        filters=ProductFilterQuerySerializer.to_filters(params),
        orderby=params["orderby"],
        order=params["order"],
        page=params["page"],
        per_page=per_page,
        shape=shape,
    )
    bodies = {product_id: body for product_id, _, body in page.items if body is not None}
    missing = [product_id for product_id, _, body in page.items if body is None]
    if missing:
        rendered = _fragments_render_store(ids=missing, shape=shape)
        bodies.update((product_id, body) for product_id, _, body in rendered)
        if len(bodies) < len(page.items):  # a product deleted between the two reads: render the page whole
            return _products_build_rows(params)
    head = {"total": page.total, "total_pages": page.total_pages, "page": params["page"], "per_page": per_page}
    body = fast_render.render_page_bytes(head, (bodies[product_id] for product_id, _, _ in page.items))
    headers = (("X-WP-Total", str(page.total)), ("X-WP-TotalPages", str(page.total_pages)))
    return CachedResponse(status=200, body=body, etag=etag_for(body), headers=headers)


def _fragments_render_store(*, ids: list[int], shape: str) -> list[tuple[int, int, str]]:
    """Render the list fragments of these products (one query) and store them; returns (id, version, body)."""
    fragments = [
        (row["id"], row["list_version"], fast_render.product_fragment(row))
        for row in selectors.product_list_rows_by_id(ids=ids)
    ]
    services.product_list_fragments_store(fragments=fragments, shape=shape)
    return fragments


@dataclass(frozen=True)
class FragmentFill:
    rendered: int
    pruned: int
    seconds: float


def product_list_fragments_fill(*, batch_size: int = 500, dry_run: bool = False) -> FragmentFill:
    """Render and store the list fragment of every public product that lacks a current one, ``batch_size``
    products per batch (3 queries each: ids, rows, store), then prune the ones that can no longer be
    served. What a list request would do for its page, done ahead (after a deploy: new code, new shape).
    With ``dry_run`` nothing is written and ``rendered`` counts what would be. PostgreSQL only: elsewhere
    there is nothing to fill (0, 0)."""
    started = time.monotonic()
    if not selectors.catalog_triggers_supported():
        return FragmentFill(rendered=0, pruned=0, seconds=0.0)
    shape = fast_render.fragment_shape()
    rendered, after_id = 0, 0
    while ids := selectors.product_ids_without_fragment(shape=shape, after_id=after_id, limit=batch_size):
        after_id = ids[-1]
        rendered += len(ids)
        if dry_run:
            continue
        _fragments_render_store(ids=ids, shape=shape)
    pruned = 0 if dry_run else services.product_list_fragments_prune(shape=shape)
    return FragmentFill(rendered=rendered, pruned=pruned, seconds=time.monotonic() - started)


def products_build_serialized(params: dict[str, Any]) -> CachedResponse:
    """The product list through model instances and ``ProductSerializer``: the shape the schema documents,
    which ``_products_build`` must reproduce byte for byte (``tests/catalog/test_fast_render.py``)."""
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
    facets = selectors.product_facets(filters=ProductFilterQuerySerializer.to_filters(params))
    return render_json(FacetsSerializer(facets).data)


def _product_build(params: dict[str, Any]) -> CachedResponse:
    if selectors.catalog_triggers_supported():
        # Rows and the fast renderer: the serializer's bytes without building model instances (most of an
        # uncached detail's time). A product the mirror lacks goes to the on-demand fetch, as in the service.
        row = selectors.product_detail_row(product_id=params["id"], slug=params["slug"])
        if row is not None:
            return render_json(fast_render.product_detail_represent(row), render=fast_render.render_bytes)
        product = services.product_fetch_missing(product_id=params["id"], slug=params["slug"])
    else:
        detail = product_detail_get(product_id=params["id"], slug=params["slug"])
        product = detail.product if detail is not None else None
    if product is None:
        raise CatalogNotFound("product")
    return render_json(ProductDetailSerializer(product).data)


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
ENDPOINTS: dict[str, tuple[Callable[[dict[str, Any]], CachedResponse], str]] = {
    "categories": (categories_build, "CATALOG_CACHE_TTL_CATEGORIES"),
    "category": (category_build, "CATALOG_CACHE_TTL_CATEGORIES"),
    "products": (_products_build, "CATALOG_CACHE_TTL_PRODUCT_LIST"),
    "facets": (_facets_build, "CATALOG_CACHE_TTL_PRODUCT_LIST"),
    "product": (_product_build, "CATALOG_CACHE_TTL_PRODUCT_DETAIL"),
    "variations": (_variations_build, "CATALOG_CACHE_TTL_PRODUCT_DETAIL"),
}
# Answers that show stock and prices of products whose change does not orphan them (catalog.cache).
STALENESS_CAPPED = frozenset({"products", "facets"})


def endpoint_scope(endpoint: str, params: dict[str, Any]) -> Scope:
    """The cache counters ``endpoint``'s answer for ``params`` depends on (besides the global version)."""
    if endpoint in ("products", "facets"):
        return product_list_scope(
            filters=ProductFilterQuerySerializer.to_filters(params), orderby=params.get("orderby")
        )
    if endpoint in ("product", "variations"):
        return product_detail_scope(product_id=params["id"], slug=params["slug"])
    return CATEGORIES_SCOPE


def endpoint_timeout(endpoint: str) -> float:
    """How long ``endpoint``'s answers are cached at most: its TTL setting, capped at
    ``CATALOG_MAX_STALENESS_SECONDS`` for the answers that show what does not orphan them."""
    ttl = float(getattr(settings, ENDPOINTS[endpoint][1]))
    return min(ttl, settings.CATALOG_MAX_STALENESS_SECONDS) if endpoint in STALENESS_CAPPED else ttl


def catalog_response_get(
    *, endpoint: str, params: dict[str, Any], throttle: ThrottleWindow | None = None
) -> CachedResponse:
    """The rendered response of ``endpoint`` for validated ``params``, from the cache or built.

    Raises ``CatalogNotFound`` (never cached) for an unknown product or category, and
    ``ThrottleExceeded`` when ``throttle`` (counted in the same cache round trip) is over its limit.
    With the cache unavailable the response is built from the database every time.
    """
    build = ENDPOINTS[endpoint][0]
    capped = endpoint in STALENESS_CAPPED

    def stamped_build() -> CachedResponse:
        looked_up_at = time.time()  # the staleness of what the answer shows counts from here
        return build(params)._replace(built_at=looked_up_at)

    return catalog_cached(
        name=endpoint,
        params=params,
        timeout=endpoint_timeout(endpoint),
        build=stamped_build if capped else lambda: build(params),
        scope=endpoint_scope(endpoint, params),
        max_age=settings.CATALOG_MAX_STALENESS_SECONDS if capped else None,
        throttle=throttle,
    )


def client_max_age(endpoint: str, entry: CachedResponse) -> int | None:
    """The most seconds a browser or proxy may keep ``entry`` so that what it shows of stock and
    prices is never older than ``CATALOG_MAX_STALENESS_SECONDS`` counted from the mirror's change:
    a capped answer's remaining share of the bound (it may already be that old in our cache), a
    product's own answers the whole bound (ours are orphaned at once). None: no cap (categories)."""
    bound = settings.CATALOG_MAX_STALENESS_SECONDS
    if endpoint in STALENESS_CAPPED:
        if not entry.built_at:  # built before the stamp existed: its age is unknown
            return 0
        return max(0, math.floor(bound - (time.time() - entry.built_at)))
    if endpoint in ("product", "variations"):
        return bound
    return None


def query_defaults(serializer_class: type[serializers.Serializer], **values: Any) -> dict[str, Any]:
    """Normalised parameters as a request with these query values would have them (for warmup)."""
    serializer = serializer_class(data={k: str(v) for k, v in values.items()})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
