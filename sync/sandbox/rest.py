"""The WooCommerce REST API v3 emulation: routing, authentication order, parameters, bodies, headers.

Transport-free: :meth:`WooCommerceApi.handle` takes an :class:`ApiRequest` and returns an
:class:`ApiResponse`; ``server.py`` does the HTTP. The order of checks is WordPress's:

1. OAuth errors (401) for ``/wc/...`` routes, then the key's read/write permission (401);
2. route and method (404 ``rest_no_route``);
3. argument validation (400 ``rest_invalid_param``);
4. the controller's permission callback: no credentials → 401 ``woocommerce_rest_cannot_*``
   (single items only when the object exists, as WooCommerce checks);
5. the handler.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from .catalog import ANY_STATUSES, CatalogError, CategoryQuery, ProductQuery, SandboxCatalog, UnknownObject
from .oauth import ApiKey, OAuthVerifier, PhpValue, WpError, php_build_query
from .params import (
    CATEGORY_LIST_ARGS,
    DELETE_ARGS,
    PRODUCT_LIST_ARGS,
    SINGLE_ARGS,
    VARIATION_LIST_ARGS,
    validate_params,
    wp_parse_list,
)
from .write_rules import write_fields

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
NAMESPACE = "/wc/v3"
DEFAULT_BATCH_LIMIT = 100

_CANNOT_LIST = ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
_CANNOT_VIEW = ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
_CANNOT_CREATE = ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources.")
_CANNOT_EDIT = ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource.")
_CANNOT_DELETE = ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource.")
_CANNOT_BATCH = ("woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource.")

_EDITABLE = ("POST", "PUT", "PATCH")


@dataclass
class ApiRequest:
    method: str
    raw_path: str  # the path as sent (percent-encoded), without the query string
    route: str  # the REST route: raw_path after "/wp-json", decoded, without trailing slash
    query: dict[str, PhpValue]
    post_params: dict[str, PhpValue] = field(default_factory=dict)
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names


@dataclass
class ApiResponse:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = JSON_CONTENT_TYPE
    endpoint: str = "unknown"


def encode_json(data: object) -> bytes:
    """JSON as PHP's ``wp_json_encode`` writes it: compact, ``\\uXXXX`` for non-ASCII, ``\\/`` for ``/``."""
    return json.dumps(data, separators=(",", ":")).replace("/", "\\/").encode("ascii")


def error_response(error: WpError, endpoint: str = "unknown") -> ApiResponse:
    return ApiResponse(status=error.status, body=encode_json(error.body()), endpoint=endpoint)


@dataclass(frozen=True)
class _Route:
    name: str  # stats key, e.g. "products/<id>"
    pattern: re.Pattern[str]
    methods: dict[str, str]  # HTTP method -> handler name


def _route(name: str, regex: str, **methods: str) -> _Route:
    expanded: dict[str, str] = {}
    for method_group, handler in methods.items():
        for method in method_group.split("_"):
            expanded[method] = handler
    return _Route(name, re.compile(f"^{NAMESPACE}/{regex}$", re.IGNORECASE), expanded)


_ROUTES = (
    _route("products", "products", GET="list_products", POST="create_product"),
    _route("products/batch", "products/batch", POST_PUT_PATCH="batch_products"),
    _route("products/categories", "products/categories", GET="list_categories"),
    _route("products/categories/<id>", r"products/categories/(?P<id>[\d]+)", GET="get_category"),
    _route(
        "products/<id>/variations/<id>",
        r"products/(?P<product_id>[\d]+)/variations/(?P<id>[\d]+)",
        GET="get_variation",
    ),
    _route("products/<id>/variations", r"products/(?P<product_id>[\d]+)/variations", GET="list_variations"),
    _route(
        "products/<id>",
        r"products/(?P<id>[\d]+)",
        GET="get_product",
        POST_PUT_PATCH="update_product",
        DELETE="delete_product",
    ),
    _route("variations", "variations", GET="list_store_variations"),
)


class WooCommerceApi:
    """Answers WooCommerce REST v3 requests from a :class:`SandboxCatalog`."""

    routes: tuple[_Route, ...] = _ROUTES  # a subclass adds its own (``rest_store.StoreApi``)

    def __init__(
        self,
        catalog: SandboxCatalog,
        verifier: OAuthVerifier,
        *,
        store_variations: Callable[[], bool],
        batch_limit: int = DEFAULT_BATCH_LIMIT,
    ) -> None:
        self.catalog = catalog
        self.verifier = verifier
        self._store_variations = store_variations
        self.batch_limit = batch_limit

    # --- entry point --------------------------------------------------------------------------------

    def endpoint_name(self, request: ApiRequest) -> str:
        route, _ = self._match(request)
        return f"{request.method} {route.name}" if route else f"{request.method} unknown"

    def _match(self, request: ApiRequest) -> tuple[_Route | None, dict[str, str]]:
        for route in self.routes:
            match = route.pattern.match(request.route)
            if match:
                if route.name == "variations" and not self._store_variations():
                    return None, {}
                return route, match.groupdict()
        return None, {}

    def handle(self, request: ApiRequest) -> ApiResponse:
        endpoint = f"{request.method} unknown"
        try:
            key = None
            if request.route.startswith(("/wc/", "/wc-")):
                key = self.verifier.authenticate(
                    method=request.method,
                    raw_path=request.raw_path,
                    get_params=request.query,
                    post_params=request.post_params,
                    authorization=request.headers.get("authorization", ""),
                )
                if key is not None:
                    self.verifier.check_permissions(key, request.method)
            route, url_params = self._match(request)
            method = "GET" if request.method == "HEAD" else request.method
            if route is None or method not in route.methods:
                raise WpError("rest_no_route", "No route was found matching the URL and request method", 404)
            endpoint = f"{request.method} {route.name}"
            handler = getattr(self, "_" + route.methods[method])
            # One lock around query + render: a list page is a consistent snapshot even while the
            # control interface mutates the catalog.
            with self.catalog.lock:
                response: ApiResponse = handler(request, key, {k: int(v) for k, v in url_params.items()})
            response.endpoint = endpoint
            return response
        except WpError as error:
            return error_response(error, endpoint)

    # --- helpers ------------------------------------------------------------------------------------

    @staticmethod
    def _require_key(key: ApiKey | None, denial: tuple[str, str]) -> None:
        if key is None:
            raise WpError(denial[0], denial[1], 401)

    def _json(self, data: object, status: int = 200, headers: list[tuple[str, str]] | None = None) -> ApiResponse:
        return ApiResponse(status=status, body=encode_json(data), headers=headers or [])

    def _rest_url(self, route: str) -> str:
        return f"{self.catalog.site_url}/wp-json{route}"

    def _paginate(
        self,
        request: ApiRequest,
        ids: list[int],
        params: dict,
        base_route: str,
        render: Callable[[int], dict],
    ) -> ApiResponse:
        per_page: int = params["per_page"]
        page: int = params["page"]
        total = len(ids)
        max_pages = math.ceil(total / per_page)
        start = params["offset"] if params.get("offset") is not None else (page - 1) * per_page
        start = max(start, 0)
        items = [render(item_id) for item_id in ids[start : start + per_page]]
        fields = _requested_fields(request.query)
        if fields:
            items = [_filter_fields(item, fields) for item in items]
        headers = [("X-WP-Total", str(total)), ("X-WP-TotalPages", str(max_pages))]
        link = self._link_header(request, base_route, page, max_pages)
        if link:
            headers.append(("Link", link))
        return self._json(items, headers=headers)

    def _link_header(self, request: ApiRequest, base_route: str, page: int, max_pages: int) -> str:
        # WC_REST_CRUD_Controller::get_items: add_query_arg( $request->get_query_params(), rest_url(...) ).
        links = []
        if page > 1:
            previous = min(page - 1, max_pages)
            links.append(f'<{self._page_url(request, base_route, previous)}>; rel="prev"')
        if max_pages > page:
            links.append(f'<{self._page_url(request, base_route, page + 1)}>; rel="next"')
        return ", ".join(links)

    def _page_url(self, request: ApiRequest, base_route: str, page: int) -> str:
        params = dict(request.query)
        params["page"] = str(page)
        return f"{self._rest_url(base_route)}?{php_build_query(params)}"

    def _product_query(self, params: dict, *, product_list: bool) -> ProductQuery:
        status = params["status"]
        statuses = tuple(sorted(ANY_STATUSES)) if status == "any" else (status,)
        tz_value = self.catalog.site_time
        return ProductQuery(
            status=statuses,
            include=tuple(params["include"]),
            exclude=tuple(params["exclude"]),
            search=params["search"] or "",
            after=tz_value(params["after"]) if params["after"] else None,
            before=tz_value(params["before"]) if params["before"] else None,
            modified_after=tz_value(params["modified_after"]) if params["modified_after"] else None,
            modified_before=tz_value(params["modified_before"]) if params["modified_before"] else None,
            dates_are_gmt=params["dates_are_gmt"],
            type=params.get("type") if product_list else None,
            featured=params.get("featured") if product_list else None,
            category=_id_list(params.get("category")) if product_list else (),
            tag=_id_list(params.get("tag")) if product_list else (),
            on_sale=params["on_sale"],
            stock_status=params["stock_status"],
            sku=_sku_list(params["sku"]),
            parent=tuple(params["parent"]),
            parent_exclude=tuple(params["parent_exclude"]),
            slug=tuple(s for s in params["slug"].split(",") if s) if params["slug"] else (),
            min_price=_decimal_or_none(params["min_price"]),
            max_price=_decimal_or_none(params["max_price"]),
            orderby=params["orderby"],
            order=params["order"],
        )

    # --- products -----------------------------------------------------------------------------------

    def _list_products(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        params = validate_params(request.query, PRODUCT_LIST_ARGS)
        self._require_key(key, _CANNOT_LIST)
        ids = self.catalog.query_products(self._product_query(params, product_list=True))
        return self._paginate(request, ids, params, f"{NAMESPACE}/products", self.catalog.product_dict)

    def _get_product(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        validate_params(request.query, SINGLE_ARGS)
        product_id = url["id"]
        exists = product_id in self.catalog.products or product_id in self.catalog.variations
        if exists:
            self._require_key(key, _CANNOT_VIEW)
        try:
            item = self.catalog.product_dict(product_id)
        except UnknownObject:
            raise WpError("woocommerce_rest_product_invalid_id", "Invalid ID.", 404) from None
        return self._json(_single_fields(item, request.query))

    def _create_product(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        self._require_key(key, _CANNOT_CREATE)
        return self._json(self._create_one(_json_body(request)), status=201)

    def _update_product(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        product_id = url["id"]
        if product_id in self.catalog.products:
            self._require_key(key, _CANNOT_EDIT)
        body = _json_body(request)
        return self._json(self._update_one(product_id, body, missing_status=400))

    def _delete_product(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        params = validate_params(request.query, DELETE_ARGS)
        product_id = url["id"]
        if product_id in self.catalog.products:
            self._require_key(key, _CANNOT_DELETE)
        return self._json(self._delete_one(product_id, force=bool(params["force"])))

    def _batch_products(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        self._require_key(key, _CANNOT_BATCH)
        body = _json_body(request)
        creates = body.get("create") or []
        updates = body.get("update") or []
        deletes = body.get("delete") or []
        if not all(isinstance(part, list) for part in (creates, updates, deletes)):
            raise WpError("rest_invalid_param", "Invalid parameter(s): create, update, delete", 400)
        if len(creates) + len(updates) + len(deletes) > self.batch_limit:
            raise WpError(
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {self.batch_limit} items for this request.",
                413,
            )
        result: dict[str, list] = {}
        if creates:
            result["create"] = [
                self._batch_item(lambda item=item: self._create_one(item, batch=True), 0) for item in creates
            ]
        if updates:
            result["update"] = [
                self._batch_item(
                    lambda item=item: self._update_one(_int_id(item), item, missing_status=400, batch=True),
                    _int_id(item),
                )
                for item in updates
            ]
        if deletes:
            result["delete"] = [
                self._batch_item(lambda item=item: self._delete_one(_int_id(item), force=True), _int_id(item))
                for item in deletes
            ]
        return self._json(result)

    @staticmethod
    def _batch_item(action: Callable[[], dict], item_id: int) -> dict:
        try:
            return action()
        except WpError as error:
            return {"id": item_id, "error": error.body()}

    def _create_one(self, body: dict, *, batch: bool = False) -> dict:
        if not isinstance(body, dict):
            raise WpError("rest_invalid_param", "Invalid parameter(s): body", 400)
        fields = write_fields(body, None, batch=batch)
        self._check_sku(fields.get("sku"), None)
        try:
            product_id = self.catalog.add_product(**fields)
        except (CatalogError, TypeError, ValueError) as error:
            raise WpError("rest_invalid_param", f"Invalid parameter(s): {error}", 400) from None
        return self.catalog.product_dict(product_id)

    def _update_one(self, product_id: int, body: dict, *, missing_status: int, batch: bool = False) -> dict:
        if product_id not in self.catalog.products:
            raise WpError("woocommerce_rest_product_invalid_id", "Invalid ID.", missing_status)
        if not isinstance(body, dict):
            raise WpError("rest_invalid_param", "Invalid parameter(s): body", 400)
        fields = write_fields(body, self.catalog.products[product_id], batch=batch)
        self._check_sku(fields.get("sku"), product_id)
        try:
            self.catalog.edit_product(product_id, **fields)
        except (CatalogError, TypeError, ValueError) as error:
            raise WpError("rest_invalid_param", f"Invalid parameter(s): {error}", 400) from None
        return self.catalog.product_dict(product_id)

    def _delete_one(self, product_id: int, *, force: bool) -> dict:
        product = self.catalog.products.get(product_id)
        if product is None:
            raise WpError("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
        if force:
            return self.catalog.delete_product(product_id)
        if product["status"] == "trash":
            raise WpError("woocommerce_rest_already_trashed", "The product has already been deleted.", 410)
        return self.catalog.trash_product(product_id)

    def _check_sku(self, sku: object, product_id: int | None) -> None:
        # New SKUs must be unique (wc_product_has_unique_sku); imported duplicates stay as they are.
        if not sku:
            return
        with self.catalog.lock:
            for item in (*self.catalog.products.values(), *self.catalog.variations.values()):
                if item["sku"] == sku and item["id"] != product_id and item["status"] != "trash":
                    raise WpError("product_invalid_sku", "Invalid or duplicated SKU.", 400)

    # --- variations ---------------------------------------------------------------------------------

    def _list_variations(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        params = validate_params(request.query, VARIATION_LIST_ARGS)
        self._require_key(key, _CANNOT_LIST)
        product_id = url["product_id"]
        params = {**params, "parent": [product_id]}
        ids = self.catalog.query_products(self._product_query(params, product_list=False), variations_only=True)
        return self._paginate(
            request,
            ids,
            params,
            f"{NAMESPACE}/products/{product_id}/variations",
            self.catalog.variation_dict,
        )

    def _get_variation(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        validate_params(request.query, SINGLE_ARGS)
        variation = self.catalog.variations.get(url["id"])
        if variation is None or variation["parent_id"] != url["product_id"]:
            raise WpError("woocommerce_rest_product_variation_invalid_id", "Invalid ID.", 404)
        self._require_key(key, _CANNOT_VIEW)
        return self._json(_single_fields(self.catalog.variation_dict(url["id"]), request.query))

    def _list_store_variations(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        params = validate_params(request.query, VARIATION_LIST_ARGS)
        self._require_key(key, _CANNOT_LIST)
        ids = self.catalog.query_products(self._product_query(params, product_list=False), variations_only=True)

        def render(variation_id: int) -> dict:
            return self.catalog.variation_dict(variation_id, with_parent_id=True)

        return self._paginate(request, ids, params, f"{NAMESPACE}/variations", render)

    # --- categories ---------------------------------------------------------------------------------

    def _list_categories(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        params = validate_params(request.query, CATEGORY_LIST_ARGS)
        self._require_key(key, _CANNOT_LIST)
        query = CategoryQuery(
            include=tuple(params["include"]),
            exclude=tuple(params["exclude"]),
            search=params["search"] or "",
            hide_empty=params["hide_empty"],
            parent=params["parent"],
            product=params["product"],
            slug=tuple(s for s in params["slug"].split(",") if s) if params["slug"] else (),
            orderby=params["orderby"],
            order=params["order"],
        )
        ids = self.catalog.query_categories(query)
        return self._paginate(request, ids, params, f"{NAMESPACE}/products/categories", self.catalog.category_dict)

    def _get_category(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        validate_params(request.query, SINGLE_ARGS)
        if url["id"] not in self.catalog.categories:
            raise WpError("woocommerce_rest_term_invalid", "Resource does not exist.", 404)
        self._require_key(key, _CANNOT_VIEW)
        try:
            category = self.catalog.category_dict(url["id"])
        except UnknownObject:
            raise WpError("woocommerce_rest_term_invalid", "Resource does not exist.", 404) from None
        return self._json(_single_fields(category, request.query))


# --- module helpers -----------------------------------------------------------------------------------


def _id_list(value: object) -> tuple[int, ...]:
    if not value:
        return ()
    ids = []
    for part in wp_parse_list(value):  # type: ignore[arg-type]
        try:
            ids.append(int(float(part)))
        except (TypeError, ValueError):
            ids.append(0)  # intval() of garbage: matches nothing
    return tuple(ids)


def _sku_list(value: object) -> tuple[str, ...]:
    # WooCommerce explodes on "," without trimming and also keeps the whole string as one SKU.
    if not value:
        return ()
    skus = str(value).split(",")
    if len(skus) > 1:
        skus.append(str(value))
    return tuple(skus)


def _decimal_or_none(value: object) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _int_id(item: object) -> int:
    raw = item.get("id") if isinstance(item, dict) else item
    try:
        return int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def _json_body(request: ApiRequest) -> dict:
    if request.post_params:
        return dict(request.post_params)
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except ValueError:
        raise WpError("rest_invalid_json", "Invalid JSON body passed.", 400) from None
    if not isinstance(data, dict):
        raise WpError("rest_invalid_json", "Invalid JSON body passed.", 400)
    return data


def _requested_fields(query: dict[str, PhpValue]) -> list[str]:
    raw = query.get("_fields")
    if raw is None or raw == "":
        return []
    return [part for part in wp_parse_list(raw) if part]


def _filter_fields(item: dict, fields: list[str]) -> dict:
    """``rest_filter_response_fields`` plus WooCommerce keeping ``id``: only the asked fields, nested
    ``a.b`` paths supported."""
    result: dict = {"id": item["id"]} if "id" in item else {}
    for name in fields:
        top, _, rest = name.partition(".")
        if top not in item:
            continue
        if not rest:
            result[top] = item[top]
        elif isinstance(item[top], dict):
            nested = _filter_fields_nested(item[top], rest)
            if nested is not None:
                existing = result.get(top)
                result[top] = {**existing, **nested} if isinstance(existing, dict) else nested
    if "id" in result and fields and "id" not in fields:
        result = {"id": result.pop("id"), **result}
    return result


def _filter_fields_nested(value: dict, path: str) -> dict | None:
    top, _, rest = path.partition(".")
    if top not in value:
        return None
    if not rest:
        return {top: value[top]}
    if isinstance(value[top], dict):
        nested = _filter_fields_nested(value[top], rest)
        return None if nested is None else {top: nested}
    return None


def _single_fields(item: dict, query: dict[str, PhpValue]) -> dict:
    fields = _requested_fields(query)
    if not fields:
        return item
    filtered = _filter_fields(item, fields)
    if "_links" in item:
        filtered["_links"] = item["_links"]  # single-item responses keep their links (observed)
    return filtered
