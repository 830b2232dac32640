"""Orders in the sandbox store: the way stock is sold on a real WooCommerce 11 store.

``SandboxOrders.create`` is what ``POST orders`` with ``set_paid: true`` does there: the stock of every
line item with managed stock goes down in one step (all or nothing, under the catalog's lock, as paid
orders decrement atomically), each product or variation sold gets its ``date_modified`` bumped, and the
webhook events go out in the order WooCommerce queues them: ``order.created``, ``order.updated``, then
one ``product.updated`` per item whose stock changed (a variation as itself, not its parent).
An unpaid ``pending`` order reserves nothing and sends ``order.created`` only.
"""

from __future__ import annotations

import secrets
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from .catalog import CatalogError, UnknownObject

if TYPE_CHECKING:
    from .catalog import SandboxCatalog

ORDER_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed")
# wc_maybe_reduce_stock_levels runs on payment and on these transitions out of "pending".
_STOCK_REDUCING = frozenset({"processing", "on-hold", "completed"})
WC_VERSION = "11.0.1"
_MAX_LINE_ITEMS = 100
_MAX_QUANTITY = 1_000_000


class OrderError(CatalogError):
    """A bad order: ``code`` and ``status`` are what WooCommerce answers."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class SandboxOrders:
    """The store's orders, held in memory next to the catalog (ids from the catalog's post sequence)."""

    def __init__(self, catalog: SandboxCatalog) -> None:
        self.catalog = catalog
        self.orders: dict[int, dict] = {}
        self._last_item_id = 0

    def create(
        self,
        *,
        line_items: list[dict],
        status: str = "processing",
        set_paid: bool = True,
        meta_data: list | None = None,
    ) -> dict:
        """Create an order and return it as ``GET orders/<id>`` shows it.

        ``line_items``: ``[{"product_id": p, "variation_id": v?, "quantity": n}]`` (a variation id alone
        in ``product_id`` works too, as WooCommerce resolves it). Raises :class:`OrderError` (nothing
        sold, nothing queued) for an unknown product, a variable parent without a variation, or a
        quantity that is not a positive integer.
        """
        if status not in ORDER_STATUSES:
            raise OrderError("rest_invalid_param", f"Invalid parameter(s): status is not one of {ORDER_STATUSES}.")
        if not isinstance(line_items, list) or not line_items:
            raise OrderError("rest_invalid_param", "Invalid parameter(s): line_items must be a non-empty list.")
        if len(line_items) > _MAX_LINE_ITEMS:
            raise OrderError("rest_invalid_param", f"Invalid parameter(s): at most {_MAX_LINE_ITEMS} line items.")
        catalog = self.catalog
        with catalog.lock:
            resolved = [self._resolve(item) for item in line_items]
            paid = bool(set_paid)
            if paid and status == "pending":
                status = "processing"
            reduces_stock = paid or status in _STOCK_REDUCING
            now = catalog._now()
            order_id = catalog._next_post_id()
            sold: list[int] = []
            items = []
            for product_id, variation_id, quantity in resolved:
                sold_id = variation_id or product_id
                reduced = False
                if reduces_stock and self._stock_holder(sold_id)["manage_stock"] is True:
                    catalog.sell_silently(sold_id, quantity, touch_modified=True)
                    reduced = True
                    if sold_id not in sold:
                        sold.append(sold_id)
                items.append(self._line_item(product_id, variation_id, quantity, reduced))
            order = self._order_dict(order_id, status, paid, now, items, meta_data)
            self.orders[order_id] = order
            catalog._emit("order.created", order_id)
            if reduces_stock:
                catalog._emit("order.updated", order_id)
            for item_id in sold:
                catalog._emit("product.updated", item_id)
            return self.order_payload(order_id)

    def order_payload(self, order_id: int) -> dict:
        """``GET orders/<id>``: the order with its ``_links`` (raises :class:`UnknownObject`)."""
        with self.catalog.lock:
            order = self.orders.get(order_id)
            if order is None:
                raise UnknownObject(f"no order {order_id}")
            api = f"{self.catalog.site_url}/wp-json/wc/v3/orders"
            return {
                **order,
                "payment_url": f"{self.catalog.site_url}/checkout/order-pay/{order_id}/"
                f"?pay_for_order=true&key={order['order_key']}",
                "_links": {"self": [{"href": f"{api}/{order_id}"}], "collection": [{"href": api}]},
            }

    # --- helpers ------------------------------------------------------------------------------------

    def _resolve(self, item: object) -> tuple[int, int, int]:
        """(product id, variation id or 0, quantity) of a posted line item."""
        if not isinstance(item, dict):
            raise OrderError("rest_invalid_param", "Invalid parameter(s): line_items[] must be objects.")
        product_id = _positive_int(item.get("product_id", 0), "product_id", allow_zero=True)
        variation_id = _positive_int(item.get("variation_id", 0), "variation_id", allow_zero=True)
        quantity = _positive_int(item.get("quantity", 1), "quantity", allow_zero=False)
        if quantity > _MAX_QUANTITY:
            raise OrderError("rest_invalid_param", "Invalid parameter(s): quantity is too large.")
        catalog = self.catalog
        if not variation_id and product_id in catalog.variations:
            product_id, variation_id = catalog.variations[product_id]["parent_id"], product_id
        if variation_id:
            variation = catalog.variations.get(variation_id)
            if variation is None or (product_id and variation["parent_id"] != product_id):
                raise OrderError("woocommerce_rest_invalid_variation_id", "Invalid variation ID.")
            product_id = variation["parent_id"]
        if not product_id:
            raise OrderError("woocommerce_rest_required_product_reference", "Product ID or SKU is required.")
        product = catalog.products.get(product_id)
        if product is None:
            raise OrderError("woocommerce_rest_invalid_product_id", "Invalid product ID.")
        if product["type"] == "variable" and not variation_id:
            raise OrderError("woocommerce_rest_invalid_variation_id", "A variable product needs a variation_id.")
        return product_id, variation_id, quantity

    def _stock_holder(self, item_id: int) -> dict:
        catalog = self.catalog
        if item_id in catalog.products:
            return catalog.products[item_id]
        variation = catalog.variations[item_id]
        if variation["manage_stock"] == "parent":
            return catalog.products[variation["parent_id"]]
        return variation

    def _line_item(self, product_id: int, variation_id: int, quantity: int, reduced: bool) -> dict:
        catalog = self.catalog
        self._last_item_id += 1
        product = catalog.products[product_id]
        source = catalog.variations[variation_id] if variation_id else product
        price = _decimal(source["price"])
        total = f"{price * quantity:.2f}"
        meta = []
        if variation_id:
            meta = [
                {"id": self._last_item_id * 10 + n, "key": a["name"].lower(), "value": a["option"],
                 "display_key": a["name"], "display_value": a["option"]}
                for n, a in enumerate(_attributes(source))
            ]  # fmt: skip
        if reduced:
            meta.append(
                {"id": self._last_item_id * 10 + 9, "key": "_reduced_stock", "value": str(quantity),
                 "display_key": "_reduced_stock", "display_value": str(quantity)}
            )  # fmt: skip
        options = ", ".join(a["option"] for a in _attributes(source)) if variation_id else ""
        return {
            "id": self._last_item_id,
            "name": f"{product['name']} - {options}" if options else product["name"],
            "product_id": product_id,
            "variation_id": variation_id,
            "quantity": quantity,
            "tax_class": "",
            "subtotal": total,
            "subtotal_tax": "0.00",
            "total": total,
            "total_tax": "0.00",
            "taxes": [],
            "meta_data": meta,
            "sku": source["sku"],
            "global_unique_id": "",
            "price": float(price),
            "image": {"id": "", "src": ""},
            "parent_name": product["name"] if variation_id else None,
        }

    def _order_dict(
        self, order_id: int, status: str, paid: bool, now: int, items: list[dict], meta_data: list | None
    ) -> dict:
        local, gmt = self.catalog._dates(now)
        total = sum((Decimal(item["total"]) for item in items), Decimal(0))
        address = {k: "" for k in ("first_name", "last_name", "company", "address_1", "address_2", "city", "state",
                                   "postcode", "country")}  # fmt: skip
        return {
            "id": order_id,
            "parent_id": 0,
            "status": status,
            "currency": "USD",
            "version": WC_VERSION,
            "prices_include_tax": False,
            "date_created": local,
            "date_modified": local,
            "discount_total": "0.00",
            "discount_tax": "0.00",
            "shipping_total": "0.00",
            "shipping_tax": "0.00",
            "cart_tax": "0.00",
            "total": f"{total:.2f}",
            "total_tax": "0.00",
            "customer_id": 0,
            "order_key": f"wc_order_{secrets.token_urlsafe(10)[:13]}",
            "billing": {**address, "email": "", "phone": ""},
            "shipping": {**address, "phone": ""},
            "payment_method": "",
            "payment_method_title": "",
            "transaction_id": "",
            "customer_ip_address": "",
            "customer_user_agent": "",
            "created_via": "rest-api",
            "customer_note": "",
            "date_completed": local if status == "completed" else None,
            "date_paid": local if paid else None,
            "cart_hash": "",
            "number": str(order_id),
            "meta_data": list(meta_data) if isinstance(meta_data, list) else [],
            "line_items": items,
            "tax_lines": [],
            "shipping_lines": [],
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [],
            "is_editable": status in ("pending", "on-hold"),
            "needs_payment": not paid and status == "pending",
            "needs_processing": True,
            "date_created_gmt": gmt,
            "date_modified_gmt": gmt,
            "date_completed_gmt": gmt if status == "completed" else None,
            "date_paid_gmt": gmt if paid else None,
            "currency_symbol": "$",
        }


def _positive_int(value: object, name: str, *, allow_zero: bool) -> int:
    if isinstance(value, bool):
        raise OrderError("rest_invalid_param", f"Invalid parameter(s): {name} is not of type integer.")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value < 0 or (value == 0 and not allow_zero):
        raise OrderError("rest_invalid_param", f"Invalid parameter(s): {name} must be a positive integer.")
    return value


def _attributes(item: dict) -> list[dict]:
    """A variation's attributes with a name and an option (whatever a write stored there)."""
    attributes = item.get("attributes")
    if not isinstance(attributes, list):
        return []
    return [
        {"name": str(a.get("name", "")), "option": str(a.get("option", ""))} for a in attributes if isinstance(a, dict)
    ]


def _decimal(value: object) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)
