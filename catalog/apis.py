"""Public, read-only catalog API (plus the staff CSV export).

Every view: validate the query (400 with the field and the reason), fetch the response bytes
from the cache under (the counters it depends on, endpoint, normalised query) or build them from
one selector/service call, and answer them with an ``ETag`` (304 on a matching ``If-None-Match``).
On Redis the request's throttle is counted in the same round trip as the cache lookup.
``Cache-Control`` is set by ``common.middleware.cache_control``; errors are WooCommerce-shaped
(``{code, message, data: {status}}``).
"""

from __future__ import annotations

import csv
import functools
import operator
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.db import models
from django.http import HttpResponse, HttpResponseBase, HttpResponseNotModified, QueryDict, StreamingHttpResponse
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from catalog import presentation, selectors, services
from catalog.cache import CachedResponse
from catalog.fields import mirror_of, mirrored_fields
from catalog.models import Product
from catalog.serializers import (
    MAX_ID,
    SLUG_PATTERN,
    CategoryDetailSerializer,
    CategoryListQuerySerializer,
    CategorySerializer,
    ErrorSerializer,
    FacetsSerializer,
    PaginationQuerySerializer,
    ProductDetailQuerySerializer,
    ProductFilterQuerySerializer,
    ProductListQuerySerializer,
    ProductLiveDetailSerializer,
    ProductSerializer,
    VariationSerializer,
    format_price,
    format_quantity,
    lookup_parse,
)
from common.cache import cache_is_redis
from common.throttling import RoleRateThrottle, ThrottleExceeded, ThrottleWindow

_renderer = JSONRenderer()


# --- Errors -------------------------------------------------------------------------


class ProductNotFound(exceptions.NotFound):
    default_detail = "Invalid ID."
    default_code = "woocommerce_rest_product_invalid_id"


class ProductUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "The product is not mirrored yet and WooCommerce cannot be reached; try again later."
    default_code = "product_unavailable"


class CategoryNotFound(exceptions.NotFound):
    default_detail = "Resource does not exist."
    default_code = "woocommerce_rest_term_invalid"


def catalog_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (status, Retry-After, WWW-Authenticate) with a WooCommerce-shaped body."""
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    data: dict[str, Any] = {"status": response.status_code}
    if isinstance(exc, exceptions.ValidationError):
        params = _flatten_errors(exc.detail)
        code = "rest_invalid_param"
        message = "Invalid parameter(s): " + ", ".join(params)
        data["params"] = params
    else:
        code = exc.default_code if isinstance(exc, ProductNotFound | CategoryNotFound) else f"rest_{exc.default_code}"
        message = str(exc.detail)
    response.data = {"code": code, "message": message, "data": data}
    return response


def _flatten_errors(detail: Any) -> dict[str, str]:
    if isinstance(detail, dict):
        return {
            field: " ".join(str(m) for m in (msgs if isinstance(msgs, list) else [msgs]))
            for field, msgs in detail.items()
        }
    return {"non_field_errors": " ".join(str(m) for m in detail)}


# --- Building and answering cached responses ---------------------------------------------


def etag_matches(request: Request, etag: str) -> bool:
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    # Weak comparison (RFC 9110 §13.1.2): nginx's gzip turns our strong ETags into W/"…".
    wanted = etag.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == wanted for tag in parse_etags(header))


def respond(request: Request, entry: CachedResponse) -> HttpResponseBase:
    if etag_matches(request, entry.etag):
        response: HttpResponseBase = HttpResponseNotModified()
    else:
        response = HttpResponse(entry.body, status=entry.status, content_type="application/json")
        for name, value in entry.headers:
            response[name] = value
    response["ETag"] = entry.etag
    return response


def validated_query(request: Request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    """The validated, normalised query of ``request``; raises ValidationError (our 400)."""
    # The bytes the client sent (WSGI hands them over decoded as latin-1): raw UTF-8, as curl and some HTTP
    # libraries send it, is then read as UTF-8 like its percent-encoded form, as Django's request.GET does.
    return dict(_validated(serializer_class, get_bytes_from_wsgi(request.META, "QUERY_STRING", "")))


@functools.lru_cache(maxsize=4096)
def _validated(serializer_class: type[serializers.Serializer], query_string: bytes) -> tuple[tuple[str, Any], ...]:
    # Validation is a pure function of the query string, and building a DRF serializer costs about
    # as much as answering a cached response: memoise the valid ones (errors are raised, not kept).
    # .dict() keeps the last value of a repeated key, as PHP (and so WooCommerce) does.
    serializer = serializer_class(data=QueryDict(query_string).dict())
    serializer.is_valid(raise_exception=True)
    return tuple(serializer.validated_data.items())


class AnyAcceptedNegotiation(DefaultContentNegotiation):
    """DRF's content negotiation, skipped when its answer cannot differ: no format suffix or ``format`` in the
    query string, and an ``Accept`` that takes anything (none, or ``*/*``: what ``fetch()`` and most HTTP
    clients send). DRF then picks the first renderer with its own media type; this does the same without
    parsing the query string and the header, which cost 2.8% of a worker's CPU on uncached lists
    (docs/performance.md, "Prepared catalog statements"). Anything else goes through DRF's negotiation."""

    def select_renderer(
        self, request: Request, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        query = request.META.get("QUERY_STRING", "")
        accept = request.META.get("HTTP_ACCEPT", "*/*").strip()
        if format_suffix is None and accept == "*/*" and "format" not in query and "%" not in query:
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)


class CatalogApi(APIView):
    # Base of the catalog endpoints: JSON only, public, WooCommerce-shaped errors. A comment, not a
    # docstring: drf-spectacular would print an inherited docstring as every operation's description.

    renderer_classes = [JSONRenderer]
    content_negotiation_class = AnyAcceptedNegotiation
    permission_classes = [AllowAny]

    _throttle: ThrottleWindow | None = None  # counted by the cache lookup, or by throttle_check

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response | None]:
        return catalog_exception_handler

    def check_throttles(self, request: Request) -> None:
        # On Redis the throttle is counted in the cache lookup's round trip (one instead of two).
        throttles = self.get_throttles()
        if cache_is_redis() and len(throttles) == 1 and type(throttles[0]) is RoleRateThrottle:
            self._throttle = throttles[0].window(request)
            return
        super().check_throttles(request)

    def throttle_check(self) -> None:
        """Count a deferred throttle now (a path that does work without the cache lookup)."""
        window, self._throttle = self._throttle, None
        if window is not None:
            try:
                window.check()
            except ThrottleExceeded as exc:
                self.throttled(self.request, exc.wait)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if self._throttle is not None:  # never reached the lookup (a 400, a 404 before it): count it here
            try:
                self.throttle_check()
            except exceptions.Throttled as exc:
                response = self.handle_exception(exc)
        return super().finalize_response(request, response, *args, **kwargs)

    def cached(self, request: Request, endpoint: str, params: dict[str, Any]) -> HttpResponseBase:
        window, self._throttle = self._throttle, None
        try:
            entry = presentation.catalog_response_get(endpoint=endpoint, params=params, throttle=window)
        except ThrottleExceeded as exc:
            self.throttled(request, exc.wait)
        except services.CatalogNotFound as exc:
            raise (ProductNotFound() if exc.kind == "product" else CategoryNotFound()) from exc
        except services.CatalogUnavailable as exc:
            raise ProductUnavailable() from exc
        response = respond(request, entry)
        response.max_age_cap = presentation.client_max_age(endpoint, entry)  # type: ignore[attr-defined]
        return response


# --- Schema helpers ------------------------------------------------------------------------

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid parameter: `data.params` names each field and why."),
    414: OpenApiResponse(
        ErrorSerializer,
        description="Request line too long (over about 4 KB): answered by nginx (JSON) before the API sees it.",
    ),
    429: OpenApiResponse(ErrorSerializer, description="Throttled; `Retry-After` says when to come back."),
}
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="Unknown or not public.")}
UNAVAILABLE = {
    503: OpenApiResponse(
        ErrorSerializer, description="Not mirrored yet and WooCommerce could not be asked (slow, failing); retry later."
    )
}
ETAG_HEADERS = [
    OpenApiParameter("ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200, 304]),
    OpenApiParameter(
        "If-None-Match",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        description="ETag of a previous answer: 304 when unchanged.",
    ),
]
PAGE_HEADERS = [
    OpenApiParameter("X-WP-Total", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[200]),
    OpenApiParameter("X-WP-TotalPages", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[200]),
]
NOT_MODIFIED = {304: OpenApiResponse(description="Not modified (If-None-Match matched the ETag).")}


def _lookup_param(what: str) -> OpenApiParameter:
    return OpenApiParameter(
        "lookup",
        {"type": "string", "pattern": f"^{SLUG_PATTERN}$"},
        OpenApiParameter.PATH,
        description=(
            f"{what} WooCommerce id (ASCII digits, at most {MAX_ID}: larger is a 400), or its slug "
            "(letters, digits, `-`, `_`, or WordPress's percent-encoding)."
        ),
    )


def _page_of(name: str, item: serializers.Serializer) -> serializers.Serializer:
    return inline_serializer(
        name=name,
        fields={
            "total": serializers.IntegerField(),
            "total_pages": serializers.IntegerField(),
            "page": serializers.IntegerField(),
            "per_page": serializers.IntegerField(),
            "results": item,
        },
    )


# --- Categories ----------------------------------------------------------------------------


class CategoryListApi(CatalogApi):
    @extend_schema(
        operation_id="categories_list",
        summary="Every category in tree order (depth-first), with parent, depth, children and product counts.",
        parameters=[CategoryListQuerySerializer, *ETAG_HEADERS, *PAGE_HEADERS],
        responses={200: _page_of("CategoryPage", CategorySerializer(many=True)), **NOT_MODIFIED, **ERRORS},
    )
    def get(self, request: Request) -> HttpResponseBase:
        return self.cached(request, "categories", validated_query(request, CategoryListQuerySerializer))


class CategoryDetailApi(CatalogApi):
    @extend_schema(
        operation_id="categories_retrieve",
        summary="One category with its ancestors (breadcrumbs).",
        parameters=[_lookup_param("Category"), *ETAG_HEADERS],
        responses={200: CategoryDetailSerializer, **NOT_MODIFIED, **ERRORS, **NOT_FOUND},
    )
    def get(self, request: Request, lookup: str) -> HttpResponseBase:
        category_id, slug = lookup_parse(lookup)
        return self.cached(request, "category", {"id": category_id, "slug": slug})


# --- Products ------------------------------------------------------------------------------


class ProductListApi(CatalogApi):
    @extend_schema(
        operation_id="products_list",
        summary="Public products, filtered and sorted with WooCommerce Store API parameters.",
        description=(
            "A page past the end is an empty `results` with the totals still set (as WooCommerce). "
            "Products with `catalog_visibility` hidden are never listed; `search`-only ones only with `search`; "
            "`catalog`-only ones only without it."
        ),
        parameters=[ProductListQuerySerializer, *ETAG_HEADERS, *PAGE_HEADERS],
        responses={200: _page_of("ProductPage", ProductSerializer(many=True)), **NOT_MODIFIED, **ERRORS},
    )
    def get(self, request: Request) -> HttpResponseBase:
        return self.cached(request, "products", validated_query(request, ProductListQuerySerializer))


class ProductFacetsApi(CatalogApi):
    @extend_schema(
        operation_id="products_facets",
        summary="Price range and counts per category and per stock status for the current filter.",
        parameters=[ProductFilterQuerySerializer, *ETAG_HEADERS],
        responses={200: FacetsSerializer, **NOT_MODIFIED, **ERRORS},
    )
    def get(self, request: Request) -> HttpResponseBase:
        return self.cached(request, "facets", validated_query(request, ProductFilterQuerySerializer))


class ProductDetailApi(CatalogApi):
    @extend_schema(
        operation_id="products_retrieve",
        summary="One public product with its variations in full (`variation_details`).",
        description="Hidden products are reachable here by id or slug. `real_time_stock=true` is never cached.",
        parameters=[_lookup_param("Product"), ProductDetailQuerySerializer, *ETAG_HEADERS],
        responses={200: ProductLiveDetailSerializer, **NOT_MODIFIED, **ERRORS, **NOT_FOUND, **UNAVAILABLE},
    )
    def get(self, request: Request, lookup: str) -> HttpResponseBase:
        product_id, slug = lookup_parse(lookup)
        query = validated_query(request, ProductDetailQuerySerializer)
        if not query["real_time_stock"]:
            return self.cached(request, "product", {"id": product_id, "slug": slug})

        # Live stock: never cached, private; the service hook says where the figures come from.
        self.throttle_check()  # before asking WooCommerce
        try:
            detail = services.product_detail_get(product_id=product_id, slug=slug, real_time_stock=True)
        except services.CatalogUnavailable as exc:
            raise ProductUnavailable() from exc
        if detail is None:
            raise ProductNotFound()
        data = ProductLiveDetailSerializer(detail.product, context={"detail": detail}).data
        response = respond(request, presentation.render_json(data))
        response.cache_private = True  # type: ignore[attr-defined]
        return response


class ProductVariationListApi(CatalogApi):
    @extend_schema(
        operation_id="products_variations_list",
        summary="A public product's public variations by (menu_order, id).",
        parameters=[
            _lookup_param("Product"),
            PaginationQuerySerializer,
            *ETAG_HEADERS,
            *PAGE_HEADERS,
        ],
        responses={
            200: _page_of("VariationPage", VariationSerializer(many=True)),
            **NOT_MODIFIED,
            **ERRORS,
            **NOT_FOUND,
        },
    )
    def get(self, request: Request, lookup: str) -> HttpResponseBase:
        product_id, slug = lookup_parse(lookup)
        query = validated_query(request, PaginationQuerySerializer)
        return self.cached(request, "variations", {"id": product_id, "slug": slug, **query})


# --- Staff CSV export ----------------------------------------------------------------------

# The staff export's columns: the fields declared ``exported`` on the model (catalog.fields), plus the
# id, the category slugs and when the sync last wrote the row. _EXPORT_ORDER keeps the order staff
# know; a column it does not name comes last, in model order.
_EXPORT_ORDER = (
    "id", "sku", "name", "slug", "type", "status", "catalog_visibility", "price", "regular_price", "sale_price",
    "on_sale", "manage_stock", "stock_quantity", "stock_status", "categories", "date_modified_gmt", "synced_at",
)  # fmt: skip
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """csv.writer target that hands each row back instead of buffering it."""

    def write(self, value: str) -> str:
        return value


def _cell(value: str) -> str:
    # A spreadsheet would run "=HYPERLINK(…)" from any text the store sent (name, slug, even status:
    # the mirror stores what WooCommerce says): neutralise formulas in every text column. Numbers are
    # formatted by us and left alone, so a negative stock stays a number.
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def _timestamp(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S") if value else ""


def _quantity(value: Any) -> Any:
    quantity = format_quantity(value)
    return "" if quantity is None else quantity


def _export_cell(model_field: models.Field) -> Callable[[Any], Any]:
    """How the export prints a column, from its declaration and type."""
    mirror = mirror_of(model_field)
    kind = mirror.kind if mirror else ""
    if kind == "price":
        return format_price
    if kind == "quantity":
        return _quantity
    if isinstance(model_field, models.BooleanField):
        return int
    if isinstance(model_field, models.DateTimeField):
        return _timestamp
    if isinstance(model_field, models.CharField | models.TextField):
        return _cell
    return lambda value: value


def _export_columns() -> tuple[tuple[str, Callable[[Product], Any]], ...]:
    """(header, value of a product) of every export column, in order."""
    columns: dict[str, Callable[[Product], Any]] = {"id": operator.attrgetter("id")}
    for model_field in (
        *(f for f in mirrored_fields(Product) if mirror_of(f).exported),  # type: ignore[union-attr]
        Product._meta.get_field("synced_at"),
    ):
        cell, get = _export_cell(model_field), operator.attrgetter(model_field.attname)
        columns[model_field.name] = lambda p, cell=cell, get=get: cell(get(p))
    columns["categories"] = lambda p: _cell("|".join(c.slug for c in p.categories.all()))
    position = {name: n for n, name in enumerate(_EXPORT_ORDER)}
    return tuple(sorted(columns.items(), key=lambda column: position.get(column[0], len(position))))


EXPORT_COLUMNS: tuple[tuple[str, Callable[[Product], Any]], ...] = _export_columns()


def export_rows(chunk_size: int) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(name for name, _value in EXPORT_COLUMNS)
    fields = [name for name, _value in EXPORT_COLUMNS if name != "categories"]
    for p in selectors.product_export_iter(fields=fields, chunk_size=chunk_size):
        yield writer.writerow(value(p) for _name, value in EXPORT_COLUMNS)


class ProductExportApi(APIView):
    renderer_classes = [JSONRenderer]  # for errors; the export itself is a StreamingHttpResponse
    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="products_export_csv",
        summary="Staff only: every product not deleted (any status) as CSV, streamed.",
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, one row per product, by id."),
            # 403, never 401: the first authenticator is the session, which sends no WWW-Authenticate challenge.
            403: OpenApiResponse(ErrorSerializer, description="Not signed in as staff (anonymous or not staff)."),
            414: ERRORS[414],
            429: ERRORS[429],
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        response = StreamingHttpResponse(export_rows(settings.CATALOG_EXPORT_CHUNK_SIZE), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="products.csv"'
        response.cache_private = True  # type: ignore[attr-defined]
        return response

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response | None]:
        return catalog_exception_handler
