"""The REST routes of a store that sells and notifies: ``webhooks``, ``orders`` and variation writes.

:class:`StoreApi` extends :class:`~sync.sandbox.rest.WooCommerceApi` (same authentication, order of
checks and error bodies) with what ``WC_REST_Webhooks_Controller``, ``WC_REST_Orders_Controller`` and
the variations controller do on WooCommerce 11 (``shared/woocommerce-api-notes.md`` §11):

- ``POST webhooks`` creates the webhook ``active`` whatever ``status`` says, pings it synchronously
  (after the catalog's lock is released, before the 201 is sent) and never shows the secret;
  ``DELETE webhooks/<id>`` needs ``force=true`` (else 501);
- ``POST orders`` sells the stock of a paid order (:mod:`sync.sandbox.orders`);
- ``POST products/<p>/variations``, ``PUT products/<p>/variations/<v>`` and
  ``POST products/<p>/variations/batch`` (≤ 100 items, per-item errors, delete permanent) write variations.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .catalog import CatalogError, SandboxCatalog, UnknownObject
from .oauth import ApiKey, OAuthVerifier, WpError
from .orders import OrderError
from .params import DELETE_ARGS, SINGLE_ARGS, Arg, validate_params
from .rest import (
    DEFAULT_BATCH_LIMIT,
    ApiRequest,
    ApiResponse,
    WooCommerceApi,
    _int_id,
    _json_body,
    _Route,
    _route,
    _single_fields,
)
from .webhooks import Webhook, WebhookDispatcher, valid_topic
from .write_rules import write_fields

_CANNOT_LIST = ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
_CANNOT_VIEW = ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
_CANNOT_CREATE = ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources.")
_CANNOT_EDIT = ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource.")
_CANNOT_DELETE = ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource.")
_CANNOT_BATCH = ("woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource.")

_INVALID_WEBHOOK = ("woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.")
_INVALID_TOPIC = ("woocommerce_rest_shop_webhook_invalid_topic", "Webhook topic is required and must be valid.")
_INVALID_URL = (
    "woocommerce_rest_shop_webhook_invalid_delivery_url",
    "Webhook delivery URL must be a valid URL starting with http:// or https://.",
)
_INVALID_VARIATION = ("woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
_MAX_TEXT = 2000

WEBHOOK_LIST_ARGS: dict[str, Arg] = {
    "context": Arg("string", default="view", enum=("view", "edit")),
    "page": Arg("integer", default=1, minimum=1),
    "per_page": Arg("integer", default=10, minimum=1, maximum=100),
    "search": Arg("string"),
    "exclude": Arg("array", default=[]),
    "include": Arg("array", default=[]),
    "offset": Arg("integer"),
    "order": Arg("string", default="desc", enum=("asc", "desc")),
    "orderby": Arg("string", default="date", enum=("date", "id", "title")),
    "status": Arg("string", default="all", enum=("all", "active", "paused", "disabled")),
}

STORE_ROUTES = (
    _route("webhooks", "webhooks", GET="list_webhooks", POST="create_webhook"),
    _route(
        "webhooks/<id>",
        r"webhooks/(?P<id>[\d]+)",
        GET="get_webhook",
        POST_PUT_PATCH="update_webhook",
        DELETE="delete_webhook",
    ),
    _route("orders", "orders", POST="create_order"),
    _route("orders/<id>", r"orders/(?P<id>[\d]+)", GET="get_order"),
    _route(
        "products/<id>/variations/batch",
        r"products/(?P<product_id>[\d]+)/variations/batch",
        POST_PUT_PATCH="batch_variations",
    ),
)


def _store_routes() -> tuple[_Route, ...]:
    # The base table answers GET on a variation; the same route learns its write methods here.
    routes = []
    for route in WooCommerceApi.routes:
        if route.name == "products/<id>/variations/<id>":
            methods = {**route.methods, "POST": "update_variation", "PUT": "update_variation"}
            route = _Route(route.name, route.pattern, {**methods, "PATCH": "update_variation"})
        elif route.name == "products/<id>/variations":
            route = _Route(route.name, route.pattern, {**route.methods, "POST": "create_variation"})
        routes.append(route)
    return (*routes, *STORE_ROUTES)


@dataclass
class DeferredResponse(ApiResponse):
    """A response with work to do once the catalog's lock is released (the webhook's ping)."""

    after: Callable[[], object] | None = None


class StoreApi(WooCommerceApi):
    """:class:`WooCommerceApi` plus webhooks, orders and variation writes."""

    routes = _store_routes()

    def __init__(
        self,
        catalog: SandboxCatalog,
        verifier: OAuthVerifier,
        *,
        store_variations: Callable[[], bool],
        webhooks: WebhookDispatcher,
        batch_limit: int = DEFAULT_BATCH_LIMIT,
    ) -> None:
        super().__init__(catalog, verifier, store_variations=store_variations, batch_limit=batch_limit)
        self.webhooks = webhooks

    def handle(self, request: ApiRequest) -> ApiResponse:
        response = super().handle(request)
        if isinstance(response, DeferredResponse) and response.after is not None:
            response.after()
        return response

    # --- webhooks -----------------------------------------------------------------------------------

    def _webhook_or_404(self, webhook_id: int) -> Webhook:
        try:
            return self.webhooks.get(webhook_id)
        except UnknownObject:
            raise WpError(*_INVALID_WEBHOOK, 404) from None

    def _list_webhooks(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        params = validate_params(request.query, WEBHOOK_LIST_ARGS)
        self._require_key(key, _CANNOT_LIST)
        webhooks = self.webhooks.all()
        if params["status"] != "all":
            webhooks = [w for w in webhooks if w.status == params["status"]]
        if params["include"]:
            webhooks = [w for w in webhooks if w.id in params["include"]]
        if params["exclude"]:
            webhooks = [w for w in webhooks if w.id not in params["exclude"]]
        if params["search"]:
            webhooks = [w for w in webhooks if str(params["search"]).lower() in w.name.lower()]
        sort_keys: dict[str, Callable[[Webhook], tuple]] = {
            "date": lambda w: (w.created, w.id),
            "id": lambda w: (w.id,),
            "title": lambda w: (w.name.lower(), w.id),
        }
        webhooks.sort(key=sort_keys[str(params["orderby"])], reverse=params["order"] == "desc")
        by_id = {w.id: w for w in webhooks}
        return self._paginate(
            request, list(by_id), params, "/wc/v3/webhooks", lambda i: self.webhooks.webhook_json(by_id[i])
        )

    def _get_webhook(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        validate_params(request.query, SINGLE_ARGS)
        webhook = self._webhook_or_404(url["id"])
        self._require_key(key, _CANNOT_VIEW)
        return self._json(_single_fields(self.webhooks.webhook_json(webhook), request.query))

    def _create_webhook(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        self._require_key(key, _CANNOT_CREATE)
        body = _json_body(request)
        fields = _webhook_fields(body, creating=True)
        if "name" not in fields:
            local, _ = self.catalog._dates(int(time.time()))
            fields["name"] = f"Webhook created on {local}"
        webhook = self.webhooks.create(
            name=fields["name"],
            topic=fields["topic"],
            delivery_url=fields["delivery_url"],
            secret=fields.get("secret") or secrets.token_hex(20),
        )
        data = self.webhooks.webhook_json(webhook)
        headers = [("Location", data["_links"]["self"][0]["href"])]
        return DeferredResponse(
            status=201, body=self._json(data).body, headers=headers, after=lambda: self.webhooks.ping(webhook)
        )

    def _update_webhook(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        self._webhook_or_404(url["id"])
        self._require_key(key, _CANNOT_EDIT)
        fields = _webhook_fields(_json_body(request), creating=False)
        webhook = self.webhooks.update(url["id"], **fields)
        return self._json(self.webhooks.webhook_json(webhook))

    def _delete_webhook(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        params = validate_params(request.query, DELETE_ARGS)
        self._webhook_or_404(url["id"])
        self._require_key(key, _CANNOT_DELETE)
        if not params["force"]:
            raise WpError("woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.", 501)
        return self._json(self.webhooks.webhook_json(self.webhooks.delete(url["id"])))

    # --- orders -------------------------------------------------------------------------------------

    def _create_order(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        self._require_key(key, _CANNOT_CREATE)
        body = _json_body(request)
        set_paid = body.get("set_paid", False)
        if set_paid in ("true", "1", 1):
            set_paid = True
        elif set_paid in ("false", "0", 0, ""):
            set_paid = False
        if not isinstance(set_paid, bool):
            raise WpError("rest_invalid_param", "Invalid parameter(s): set_paid", 400)
        status = body.get("status", "pending")
        line_items = body.get("line_items")
        if isinstance(line_items, dict):  # a form body's line_items[0][product_id]=...
            line_items = list(line_items.values())
        meta_data = body.get("meta_data")
        try:
            order = self.catalog.create_order(
                line_items=line_items,
                status=status if isinstance(status, str) else "",
                set_paid=set_paid,
                meta_data=meta_data if isinstance(meta_data, list) else None,
            )
        except OrderError as error:
            raise WpError(error.code, error.message, error.status) from None
        return self._json(order, status=201)

    def _get_order(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        validate_params(request.query, SINGLE_ARGS)
        try:
            order = self.catalog.orders.order_payload(url["id"])
        except UnknownObject:
            raise WpError("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404) from None
        self._require_key(key, _CANNOT_VIEW)
        return self._json(_single_fields(order, request.query))

    # --- variation writes ---------------------------------------------------------------------------

    def _create_variation(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        self._require_key(key, _CANNOT_CREATE)
        if url["product_id"] not in self.catalog.products:
            raise WpError("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
        return self._json(self._create_variation_one(url["product_id"], _json_body(request), batch=False), status=201)

    def _update_variation(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        if self._variation_of(url["product_id"], url["id"]) is not None:
            self._require_key(key, _CANNOT_EDIT)
        return self._json(self._update_variation_one(url["product_id"], url["id"], _json_body(request), batch=False))

    def _batch_variations(self, request: ApiRequest, key: ApiKey | None, url: dict[str, int]) -> ApiResponse:
        self._require_key(key, _CANNOT_BATCH)
        parent_id = url["product_id"]
        body = _json_body(request)
        creates, updates, deletes = (body.get(part) or [] for part in ("create", "update", "delete"))
        if not all(isinstance(part, list) for part in (creates, updates, deletes)):
            raise WpError("rest_invalid_param", "Invalid parameter(s): create, update, delete", 400)
        if len(creates) + len(updates) + len(deletes) > self.batch_limit:
            raise WpError(
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {self.batch_limit} items for this request.",
                413,
            )
        if parent_id not in self.catalog.products:
            raise WpError("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
        result: dict[str, list] = {}
        if creates:
            create = self._create_variation_one
            result["create"] = [
                self._batch_item(lambda item=item: create(parent_id, item, batch=True), 0) for item in creates
            ]
        if updates:
            result["update"] = [
                self._batch_item(
                    lambda item=item: self._update_variation_one(parent_id, _int_id(item), item, batch=True),
                    _int_id(item),
                )
                for item in updates
            ]
        if deletes:
            result["delete"] = [
                self._batch_item(lambda item=item: self._delete_variation_one(parent_id, _int_id(item)), _int_id(item))
                for item in deletes
            ]
        return self._json(result)

    def _variation_of(self, parent_id: int, variation_id: int) -> dict | None:
        variation = self.catalog.variations.get(variation_id)
        if variation is None or variation["parent_id"] != parent_id:
            return None
        return variation

    def _update_variation_one(self, parent_id: int, variation_id: int, body: object, *, batch: bool) -> dict:
        if not isinstance(body, dict):
            raise WpError("rest_invalid_param", "Invalid parameter(s): body", 400)
        variation = self._variation_of(parent_id, variation_id)
        if variation is None:
            raise WpError(*_INVALID_VARIATION, 404)
        fields = write_fields(body, variation, batch=batch)
        try:
            self.catalog.edit_variation(variation_id, **fields)
        except (CatalogError, TypeError, ValueError) as error:
            raise WpError("rest_invalid_param", f"Invalid parameter(s): {error}", 400) from None
        return self.catalog.variation_dict(variation_id)

    def _create_variation_one(self, parent_id: int, body: object, *, batch: bool) -> dict:
        if not isinstance(body, dict):
            raise WpError("rest_invalid_param", "Invalid parameter(s): body", 400)
        fields = write_fields(body, None, batch=batch)
        try:
            variation_id = self.catalog.add_variation(parent_id, **fields)
        except (CatalogError, TypeError, ValueError) as error:
            raise WpError("rest_invalid_param", f"Invalid parameter(s): {error}", 400) from None
        return self.catalog.variation_dict(variation_id)

    def _delete_variation_one(self, parent_id: int, variation_id: int) -> dict:
        if self._variation_of(parent_id, variation_id) is None:
            raise WpError(*_INVALID_VARIATION, 404)
        payload = self.catalog.variation_dict(variation_id)
        self.catalog.delete_variation(variation_id)
        return payload


def _webhook_fields(body: dict, *, creating: bool) -> dict:
    """The writable fields of a webhook body, checked as ``WC_REST_Webhooks_Controller`` checks them."""
    fields: dict = {}
    for name in ("name", "secret"):
        if name in body:
            value = body[name]
            if not isinstance(value, str) or len(value) > _MAX_TEXT:
                raise WpError("rest_invalid_param", f"Invalid parameter(s): {name}", 400, params={name: "string"})
            fields[name] = value
    if creating or "topic" in body:
        topic = body.get("topic")
        if not isinstance(topic, str) or not valid_topic(topic.lower()):
            raise WpError(*_INVALID_TOPIC, 400)
        fields["topic"] = topic.lower()
    if creating or "delivery_url" in body:
        delivery_url = body.get("delivery_url")
        if not _valid_url(delivery_url):
            raise WpError(*_INVALID_URL, 400)
        fields["delivery_url"] = delivery_url
    if not creating and "status" in body:  # on create, status is ignored: always active (§11)
        status = body["status"]
        if status not in ("active", "paused", "disabled"):
            raise WpError(
                "rest_invalid_param",
                "Invalid parameter(s): status",
                400,
                params={"status": "status is not one of active, paused, and disabled."},
            )
        fields["status"] = status
    return fields


def _valid_url(value: object) -> bool:
    if not isinstance(value, str) or len(value) > _MAX_TEXT or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and (port is None or 0 < port < 65536)
