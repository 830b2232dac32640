"""Staff edits of prices and stock: validated here, queued as ``SyncOperation`` rows, pushed by the processor.

The mirror is never written here: what the catalog shows stays WooCommerce's confirmed values, and an
edit appears there once the processor has pushed it and WooCommerce has answered. This module owns the
validation that every entry point shares (the PATCH endpoints, the admin form, the stock import), so a
value WooCommerce would silently coerce (``"abc"`` becomes an empty price, ``"x"`` a stock of 0) is
refused before anything is queued.

The row shape (one operation per object and edit): ``origin`` ``local_edit`` or ``stock_import``,
``action`` ``update``, ``new_values`` only the fields the edit changes (prices as WooCommerce strings
with the store's decimals, ``""`` clears the sale price; ``stock_quantity`` an int; ``manage_stock`` a
bool), ``base_values`` the mirror's values of the same fields when the edit was accepted (what the
staff member saw; stock deltas are ``new - base``), ``payload`` null.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from catalog.models import Product, ProductStatus, ProductType, ProductVariation
from sync.models import OperationAction, OperationObject, OperationOrigin, OperationState, SyncOperation
from sync.services.queue import priority_for_change

EDITABLE_FIELDS = ("regular_price", "sale_price", "stock_quantity", "manage_stock")
PRICE_FIELDS = ("regular_price", "sale_price")
# The mirror's columns hold 14 integer digits; WooCommerce keeps stock in a float. A figure past
# these is a typo (or an attack on a float), not a stock level.
MAX_STOCK = 999_999_999
_INTEGER = re.compile(r"[+-]?[0-9]{1,12}")
_DECIMAL = re.compile(r"[0-9]{1,14}(\.[0-9]+)?")  # ASCII digits only: str.isdigit() takes "²" and "٣"


class EditInvalid(Exception):
    """The edit is refused (400): ``errors`` maps each bad field to why. Nothing was queued."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class EditTargetMissing(Exception):
    """The product or variation is not in the mirror, or was deleted in WooCommerce (404)."""


class EditTargetTrashed(Exception):
    """The product is in WooCommerce's trash (409): restore it there first, then edit it."""


@dataclass(frozen=True, slots=True)
class EditTarget:
    """One mirrored product or variation as an edit sees it."""

    kind: str  # OperationObject.PRODUCT or VARIATION
    object_id: int
    parent_id: int | None
    product_type: str  # the product's type (a variation's parent's)
    stock_managed_by_parent: bool
    values: dict[str, Any]  # the mirror's editable values, in the row's types


# --- values -----------------------------------------------------------------------------------------------


def price_text(value: Decimal | None) -> str:
    """A mirror price as WooCommerce writes it: ``""`` for none, at least the store's decimals."""
    if value is None:
        return ""
    decimals = settings.CATALOG_PRICE_DECIMALS
    text = format(value, "f")
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(decimals, "0")
    return f"{whole}.{frac}" if frac else whole


def stock_value(value: Decimal | None) -> int | str | None:
    """A mirror stock figure as an int (a store with decimal stock keeps its exact text)."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else format(value.normalize(), "f")


def price_parse(value: Any, *, allow_blank: bool) -> str:
    """A price as WooCommerce should receive it (``"12.50"``); raises ValueError with the reason.

    Accepts a string or a JSON number (never a bool), ``≥ 0``, with at most the store's decimals
    (``CATALOG_PRICE_DECIMALS``). ``""`` or null clears it when ``allow_blank``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if allow_blank:
            return ""
        raise ValueError("A price is required.")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError('A price must be a decimal number in a string, e.g. "12.50".')
    text = value.strip() if isinstance(value, str) else repr(value)
    if text.startswith("-") and _DECIMAL.fullmatch(text[1:]):
        raise ValueError("A price cannot be negative.")
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"{text[:40]!r} is not a decimal number (digits, one '.', no exponent).")
    number = Decimal(text)
    decimals = settings.CATALOG_PRICE_DECIMALS
    if -number.as_tuple().exponent > decimals and number != number.quantize(Decimal(1).scaleb(-decimals)):
        raise ValueError(f"At most {decimals} decimal(s).")
    return format(number.quantize(Decimal(1).scaleb(-decimals)), "f")


def stock_parse(value: Any) -> int:
    """A stock quantity: an integer (or a string of digits), ``0..MAX_STOCK``; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("Must be an integer, not a boolean.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise ValueError(f"{str(value)[:40]!r} is not an integer.")
    if not 0 <= number <= MAX_STOCK:
        raise ValueError(f"Must be between 0 and {MAX_STOCK}.")
    return number


def mirror_values(obj: Product | ProductVariation) -> dict[str, Any]:
    return {
        "regular_price": price_text(obj.regular_price),
        "sale_price": price_text(obj.sale_price),
        "stock_quantity": stock_value(obj.stock_quantity),
        "manage_stock": obj.manage_stock,
    }


# --- targets ----------------------------------------------------------------------------------------------

_EDIT_COLUMNS = ("id", "type", "status", "deleted_at", "regular_price", "sale_price", "stock_quantity", "manage_stock")


def edit_target_get(*, product_id: int, variation_id: int | None = None) -> EditTarget:
    """The mirrored product (or its variation) an edit is about; one query each.

    Raises ``EditTargetMissing`` (unknown, deleted, or a variation of another product) and
    ``EditTargetTrashed`` (the product, or a variation's product, is in the trash).
    """
    product = Product.objects.filter(id=product_id).only(*_EDIT_COLUMNS).first()
    if product is None or product.deleted_at is not None:
        raise EditTargetMissing()
    if product.status == ProductStatus.TRASH:
        raise EditTargetTrashed()
    if variation_id is None:
        return EditTarget(
            kind=OperationObject.PRODUCT,
            object_id=product.id,
            parent_id=None,
            product_type=product.type,
            stock_managed_by_parent=False,
            values=mirror_values(product),
        )
    variation = (
        ProductVariation.objects.filter(id=variation_id, product_id=product.id)
        .only("id", "product_id", "deleted_at", "stock_managed_by_parent", *_EDIT_COLUMNS[4:])
        .first()
    )
    if variation is None or variation.deleted_at is not None:
        raise EditTargetMissing()
    return EditTarget(
        kind=OperationObject.VARIATION,
        object_id=variation.id,
        parent_id=product.id,
        product_type=product.type,
        stock_managed_by_parent=variation.stock_managed_by_parent,
        values=mirror_values(variation),
    )


def edit_values_validate(*, target: EditTarget, data: Any) -> dict[str, Any]:
    """The ``new_values`` of an edit of ``target``; raises ``EditInvalid`` naming every bad field.

    Rules: only ``EDITABLE_FIELDS``; prices ``≥ 0`` with at most the store's decimals (``""`` or null
    clears the sale price only); stock an integer; ``manage_stock`` a bool; the sale price not above
    the regular price, each taken from the edit or else from the mirror; stock needs ``manage_stock``
    (sent or already on); a variable product's prices are its variations'; a variation whose stock its
    product manages is edited through the product.
    """
    if not isinstance(data, Mapping):
        raise EditInvalid({"non_field_errors": "Send a JSON object of the fields to change."})
    errors: dict[str, str] = {}
    unknown = sorted(str(k)[:50] for k in data if k not in EDITABLE_FIELDS)
    for name in unknown[:10]:
        errors[name] = f"Unknown or read-only field; editable: {', '.join(EDITABLE_FIELDS)}."
    if not data:
        errors["non_field_errors"] = f"Nothing to change; editable: {', '.join(EDITABLE_FIELDS)}."
    new: dict[str, Any] = {}
    for name in PRICE_FIELDS:
        if name in data:
            try:
                new[name] = price_parse(data[name], allow_blank=name == "sale_price")
            except ValueError as error:
                errors[name] = str(error)
            else:
                if target.kind == OperationObject.PRODUCT and target.product_type == ProductType.VARIABLE:
                    errors[name] = "A variable product's prices are its variations': edit those."
    if "stock_quantity" in data:
        try:
            new["stock_quantity"] = stock_parse(data["stock_quantity"])
        except ValueError as error:
            errors["stock_quantity"] = str(error)
    if "manage_stock" in data:
        if isinstance(data["manage_stock"], bool):
            new["manage_stock"] = data["manage_stock"]
        else:
            errors["manage_stock"] = "Must be true or false."
    if target.stock_managed_by_parent and ("stock_quantity" in new or "manage_stock" in new):
        errors.setdefault("stock_quantity", "This variation's stock is managed by its product: edit the product.")
    if "stock_quantity" in new and not new.get("manage_stock", target.values["manage_stock"]):
        errors.setdefault("stock_quantity", "Stock is not managed for this item: send manage_stock true with it.")
    regular = new.get("regular_price", target.values["regular_price"])
    sale = new.get("sale_price", target.values["sale_price"])
    if ("regular_price" in new or "sale_price" in new) and regular and sale and Decimal(sale) > Decimal(regular):
        field = "sale_price" if "sale_price" in new else "regular_price"
        errors.setdefault(field, f"The sale price ({sale}) cannot be above the regular price ({regular}).")
    if errors:
        raise EditInvalid(errors)
    return new


# --- enqueue ----------------------------------------------------------------------------------------------


def operation_row_build(
    *,
    kind: str,
    object_id: int,
    parent_id: int | None,
    new_values: dict[str, Any],
    base_values: dict[str, Any],
    origin: str,
    dedupe_key: str,
    user: Any = None,
    now: Any = None,
) -> SyncOperation:
    """An unsaved outgoing operation of the contract's shape (the import inserts them in bulk)."""
    now = now or timezone.now()
    priority = priority_for_change(base=base_values, new=new_values)
    return SyncOperation(
        origin=origin,
        object_kind=kind,
        object_id=object_id,
        parent_id=parent_id,
        action=OperationAction.UPDATE,
        topic="",
        payload=None,
        modified_at=None,
        base_values=base_values,
        new_values=new_values,
        dedupe_key=dedupe_key,
        priority=priority,
        sort_at=now - timedelta(seconds=priority),
        state=OperationState.PENDING,
        next_attempt_at=now,
        created_at=now,
        resolution={},
        created_by=user if getattr(user, "pk", None) else None,
    )


def operation_local_edit_enqueue(
    *,
    kind: str,
    object_id: int,
    parent_id: int | None,
    new_values: dict,
    base_values: dict,
    origin: str = OperationOrigin.LOCAL_EDIT,
    dedupe_key: str | None = None,
    user: Any = None,
) -> SyncOperation:
    """Queue one already validated edit of one object and return its row (one INSERT).

    ``dedupe_key`` defaults to ``local_edit:<uuid4>``: every staff edit is its own operation.
    Raises ``IntegrityError`` for a ``dedupe_key`` already queued.
    """
    row = operation_row_build(
        kind=kind,
        object_id=object_id,
        parent_id=parent_id,
        new_values=new_values,
        base_values=base_values,
        origin=origin,
        dedupe_key=dedupe_key or f"local_edit:{uuid.uuid4()}",
        user=user,
    )
    row.save(force_insert=True)
    return row


def staff_edit_submit(*, target: EditTarget, data: Any, user: Any = None) -> SyncOperation:
    """Validate ``data`` against ``target`` and queue it; raises ``EditInvalid`` (nothing queued)."""
    new_values = edit_values_validate(target=target, data=data)
    base_values = {name: target.values[name] for name in new_values}
    return operation_local_edit_enqueue(
        kind=target.kind,
        object_id=target.object_id,
        parent_id=target.parent_id,
        new_values=new_values,
        base_values=base_values,
        user=user,
    )
