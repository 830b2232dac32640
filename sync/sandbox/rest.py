"""The WooCommerce REST API v3 emulation's core: routing, the order of checks, authentication, paging.

Transport-free: :meth:`WooCommerceApi.handle` takes an :class:`ApiRequest` and returns an
:class:`ApiResponse`; ``transport.py`` does the HTTP. The order of checks is WordPress's:

1. authentication errors (401) for ``/wc/...`` routes (over https Basic or query-string keys first, then
   OAuth; over http OAuth only), then the key's read/write permission (401);
2. route and method (404 ``rest_no_route``);
3. argument validation (400 ``rest_invalid_param``);
4. the controller's permission callback: no credentials → 401 ``woocommerce_rest_cannot_*``
   (single items only when the object exists, as WooCommerce checks);
5. the handler.

The handlers are the subclasses' methods, named in their route tables: ``rest_catalog.CatalogRestApi``
(products, variations, categories) and ``rest_store.StoreApi`` (webhooks, orders, variation writes).
Request and response types, JSON encoding and ``_fields`` are in ``rest_wire.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from .catalog import SandboxCatalog
from .oauth import ApiKey, OAuthVerifier, WpError, php_build_query
from .rest_wire import (
    ApiRequest,
    ApiResponse,
    encode_json,
    encode_page,
    error_response,
    filter_fields,
    requested_fields,
)

NAMESPACE = "/wc/v3"
DEFAULT_BATCH_LIMIT = 100

CANNOT_LIST = ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
CANNOT_VIEW = ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
CANNOT_CREATE = ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources.")
CANNOT_EDIT = ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource.")
CANNOT_DELETE = ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource.")
CANNOT_BATCH = ("woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource.")


@dataclass(frozen=True)
class Route:
    name: str  # stats key, e.g. "products/<id>"
    pattern: re.Pattern[str]
    methods: dict[str, str]  # HTTP method -> handler name


def define_route(name: str, regex: str, **methods: str) -> Route:
    expanded: dict[str, str] = {}
    for method_group, handler in methods.items():
        for method in method_group.split("_"):
            expanded[method] = handler
    return Route(name, re.compile(f"^{NAMESPACE}/{regex}$", re.IGNORECASE), expanded)


class WooCommerceApi:
    """Answers WooCommerce REST v3 requests from a :class:`SandboxCatalog` with the routes a subclass lists."""

    routes: tuple[Route, ...] = ()  # each subclass lists its own (``rest_catalog``, ``rest_store``)

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

    def _match(self, request: ApiRequest) -> tuple[Route | None, dict[str, str]]:
        for route in self.routes:
            match = route.pattern.match(request.route)
            if match:
                if route.name == "variations" and not self._store_variations():
                    return None, {}
                return route, match.groupdict()
        return None, {}

    def handle(self, request: ApiRequest) -> ApiResponse:
        endpoint = f"{request.method} unknown"
        auth = "none"
        try:
            key = None
            if request.route.startswith(("/wc/", "/wc-")):
                key, auth = self._authenticate(request)
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
            response.auth = auth
            return response
        except WpError as error:
            response = error_response(error, endpoint)
            response.auth = auth
            return response

    # --- helpers ------------------------------------------------------------------------------------

    def _authenticate(self, request: ApiRequest) -> tuple[ApiKey | None, str]:
        """``WC_REST_Authentication::authenticate``: Basic when ``is_ssl()``, then OAuth unless Basic
        authenticated. The last error recorded wins, even over a later OAuth success (WooCommerce keeps
        the error it set and reports it). Returns the key (None: anonymous) and how it authenticated."""
        authorization = request.headers.get("authorization", "")
        error: WpError | None = None
        key = None
        if request.is_ssl:
            try:
                basic = self.verifier.authenticate_basic(get_params=request.query, authorization=authorization)
            except WpError as basic_error:
                error = basic_error
            else:
                if basic is not None:
                    return basic
        try:
            key = self.verifier.authenticate(
                method=request.method,
                raw_path=request.raw_path,
                get_params=request.query,
                post_params=request.post_params,
                authorization=authorization,
                is_ssl=request.is_ssl,
            )
        except WpError as oauth_error:
            error = oauth_error
        if error is not None:
            raise error
        return key, "oauth" if key is not None else "none"

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
        kind: str,
    ) -> ApiResponse:
        per_page: int = params["per_page"]
        page: int = params["page"]
        total = len(ids) if self.catalog.claimed_total is None else self.catalog.claimed_total
        max_pages = math.ceil(total / per_page)
        start = params["offset"] if params.get("offset") is not None else (page - 1) * per_page
        start = 0 if self.catalog.ignores_page else max(start, 0)
        page_ids = ids[start : start + per_page]
        items = [render(item_id) for item_id in page_ids]
        fields = requested_fields(request.query)
        if fields:
            items = [filter_fields(item, fields) for item in items]
        headers = [("X-WP-Total", str(total)), ("X-WP-TotalPages", str(max_pages))]
        link = self._link_header(request, base_route, page, max_pages)
        if link:
            headers.append(("Link", link))
        raw = [self.catalog.raw_items.get((kind, item_id)) for item_id in page_ids]
        return ApiResponse(status=200, body=encode_page(items, raw), headers=headers)

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
