"""The catalog's REST routes: ``products`` (list, read, create, update, delete, batch), a product's
``variations`` (list, read), the store-wide ``variations`` listing and ``products/categories``.

:class:`CatalogRestApi` turns validated parameters into catalog queries and mutations and pages the results;
authentication, the order of checks and paging are :class:`~sync.sandbox.rest.WooCommerceApi`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from .oauth import ApiKey, WpError
from .params import (
    CATEGORY_LIST_ARGS,
    DELETE_ARGS,
    PRODUCT_LIST_ARGS,
    SINGLE_ARGS,
    VARIATION_LIST_ARGS,
    validate_params,
    wp_parse_list,
)
from .queries import CategoryQuery, ProductQuery
from .rest import (
    CANNOT_BATCH,
    CANNOT_CREATE,
    CANNOT_DELETE,
    CANNOT_EDIT,
    CANNOT_LIST,
    CANNOT_VIEW,
    NAMESPACE,
    WooCommerceApi,
    define_route,
)
from .rest_wire import ApiRequest, ApiResponse, int_id, json_body, single_fields
from .values import ANY_STATUSES, CatalogError, UnknownObject
from .write_rules import write_fields

CATALOG_ROUTES = (
    define_route("products", "products", GET="list_products", POST="create_product"),
    define_route("products/batch", "products/batch", POST_PUT_PATCH="batch_products"),
    define_route("products/categories", "products/categories", GET="list_categories"),
    define_route("products/categories/<id>", r"products/categories/(?P<id>[\d]+)", GET="get_category"),
    define_route(
        "products/<id>/variations/<id>",
        r"products/(?P<product_id>[\d]+)/variations/(?P<id>[\d]+)",
        GET="get_variation",
    ),
    define_route("products/<id>/variations", r"products/(?P<product_id>[\d]+)/variations", GET="list_variations"),
    define_route(
        "products/<id>",
        r"products/(?P<id>[\d]+)",
        GET="get_product",
        POST_PUT_PATCH="update_product",
        DELETE="delete_product",
    ),
    define_route("variations", "variations", GET="list_store_variations"),
)


class CatalogRestApi(WooCommerceApi):
    """Products, variations and categories as WooCommerce's REST controllers answer them."""

    routes = CATALOG_ROUTES

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
        self._require_key(key, CANNOT_LIST)
        ids = self.catalog.query_products(self._product_query(params, product_list=True))
        return self._paginate(request, ids, params, f"{NAMESPACE}/products", self.catalog.product_dict, "product")

    def _get_product(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        validate_params(request.query, SINGLE_ARGS)
        product_id = url["id"]
        exists = product_id in self.catalog.products or product_id in self.catalog.variations
        if exists:
            self._require_key(key, CANNOT_VIEW)
        try:
            item = self.catalog.product_dict(product_id)
        except UnknownObject:
            raise WpError("woocommerce_rest_product_invalid_id", "Invalid ID.", 404) from None
        raw = self.catalog.raw_items.get(("product", product_id))
        if raw is not None:
            return ApiResponse(status=200, body=raw.encode())
        return self._json(single_fields(item, request.query))

    def _create_product(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        self._require_key(key, CANNOT_CREATE)
        return self._json(self._create_one(json_body(request)), status=201)

    def _update_product(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        product_id = url["id"]
        if product_id in self.catalog.products:
            self._require_key(key, CANNOT_EDIT)
        body = json_body(request)
        return self._json(self._update_one(product_id, body, missing_status=400))

    def _delete_product(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        params = validate_params(request.query, DELETE_ARGS)
        product_id = url["id"]
        if product_id in self.catalog.products:
            self._require_key(key, CANNOT_DELETE)
        return self._json(self._delete_one(product_id, force=bool(params["force"])))

    def _batch_products(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        self._require_key(key, CANNOT_BATCH)
        body = json_body(request)
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
                    lambda item=item: self._update_one(int_id(item), item, missing_status=400, batch=True),
                    int_id(item),
                )
                for item in updates
            ]
        if deletes:
            result["delete"] = [
                self._batch_item(lambda item=item: self._delete_one(int_id(item), force=True), int_id(item))
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
        self._require_key(key, CANNOT_LIST)
        product_id = url["product_id"]
        params = {**params, "parent": [product_id]}
        ids = self.catalog.query_products(self._product_query(params, product_list=False), variations_only=True)
        return self._paginate(
            request,
            ids,
            params,
            f"{NAMESPACE}/products/{product_id}/variations",
            self.catalog.variation_dict,
            "variation",
        )

    def _get_variation(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        validate_params(request.query, SINGLE_ARGS)
        variation = self.catalog.variations.get(url["id"])
        if variation is None or variation["parent_id"] != url["product_id"]:
            raise WpError("woocommerce_rest_product_variation_invalid_id", "Invalid ID.", 404)
        self._require_key(key, CANNOT_VIEW)
        return self._json(single_fields(self.catalog.variation_dict(url["id"]), request.query))

    def _list_store_variations(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        params = validate_params(request.query, VARIATION_LIST_ARGS)
        self._require_key(key, CANNOT_LIST)
        ids = self.catalog.query_products(self._product_query(params, product_list=False), variations_only=True)

        def render(variation_id: int) -> dict:
            return self.catalog.variation_dict(variation_id, with_parent_id=True)

        return self._paginate(request, ids, params, f"{NAMESPACE}/variations", render, "variation")

    # --- categories ---------------------------------------------------------------------------------

    def _list_categories(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        params = validate_params(request.query, CATEGORY_LIST_ARGS)
        self._require_key(key, CANNOT_LIST)
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
        return self._paginate(
            request, ids, params, f"{NAMESPACE}/products/categories", self.catalog.category_dict, "category"
        )

    def _get_category(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        validate_params(request.query, SINGLE_ARGS)
        if url["id"] not in self.catalog.categories:
            raise WpError("woocommerce_rest_term_invalid", "Resource does not exist.", 404)
        self._require_key(key, CANNOT_VIEW)
        try:
            category = self.catalog.category_dict(url["id"])
        except UnknownObject:
            raise WpError("woocommerce_rest_term_invalid", "Resource does not exist.", 404) from None
        return self._json(single_fields(category, request.query))


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
