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
from collections.abc import Callable
from typing import Any

from django.conf import settings
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from catalog import fast_render, selectors
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
    results = CategorySerializer(page, many=True, context={"listing": listing}).data
    return _page(
        results, total=len(ids), total_pages=math.ceil(len(ids) / per_page), page=params["page"], per_page=per_page
    )


def category_build(params: dict[str, Any], listing: CategoryListing | None = None) -> CachedResponse:
    listing = listing or selectors.category_listing()
    found = params["id"] if params["id"] in listing.categories else listing.tree.by_slug.get(params["slug"] or "")
    if found is None:
        raise CatalogNotFound("category")
    return render_json(CategoryDetailSerializer(listing.categories[found], context={"listing": listing}).data)


def _products_build(params: dict[str, Any]) -> CachedResponse:
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
    return catalog_cached(
        name=endpoint,
        params=params,
        timeout=endpoint_timeout(endpoint),
        build=lambda: build(params),
        scope=endpoint_scope(endpoint, params),
        max_age=settings.CATALOG_MAX_STALENESS_SECONDS if capped else None,
        throttle=throttle,
    )


def query_defaults(serializer_class: type[serializers.Serializer], **values: Any) -> dict[str, Any]:
    """Normalised parameters as a request with these query values would have them (for warmup)."""
    serializer = serializer_class(data={k: str(v) for k, v in values.items()})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
