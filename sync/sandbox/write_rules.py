"""How a WooCommerce 11 store reads the body of a product or variation write (notes §11, "Writes").

- A single ``PUT``/``POST`` is validated by WordPress against the schema: ``stock_quantity`` must be
  an integer (``"x"`` or ``2.5`` → 400; ``"-5"`` is fine), but a price is a string, so ``"abc"``
  passes and ``wc_format_decimal`` clears it to ``""``.
- A batch item skips that validation: ``"abc"`` still clears the price, and ``wc_stock_amount`` turns
  ``"x"`` into 0 (and ``2.5`` into 2), silently.
- ``date_modified`` is read-only: a value in the body is ignored and every write bumps it.
- ``meta_data`` entries are merged into the item's own (by ``id``, else by ``key``), new ones get an
  id, and the rest are kept; the write's response and its echo show them as sent.

Values that are neither (objects where a scalar belongs) are refused with 400 either way, so no
hostile body reaches the catalog.
"""

from __future__ import annotations

import copy
import math
import re
from decimal import Decimal, InvalidOperation

from .oauth import WpError

_PRICES = ("regular_price", "sale_price")
_IGNORED = frozenset({"date_modified", "date_modified_gmt"})
_LEADING_INT = re.compile(r"^\s*([+-]?\d+)")
_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")


def _invalid(name: str, expected: str) -> WpError:
    message = f"{name} is not of type {expected}."
    return WpError("rest_invalid_param", f"Invalid parameter(s): {name}", 400, params={name: message})


def _price(name: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _invalid(name, "string")
    text = str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        return ""  # wc_format_decimal of a non-number
    return text if number.is_finite() else ""


def _stock(value: object, *, batch: bool) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _invalid("stock_quantity", "integer")
    if isinstance(value, float) and not math.isfinite(value):
        raise _invalid("stock_quantity", "integer")
    if not batch:
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return int(value)
        if isinstance(value, str) and _INTEGER.match(value):
            return int(value)
        raise _invalid("stock_quantity", "integer")
    if isinstance(value, int | float):
        return int(value)  # intval() truncates
    match = _LEADING_INT.match(value)
    return int(match.group(1)) if match else 0


def _merged_meta(current: list, sent: object, owner_id: int) -> list:
    if not isinstance(sent, list):
        raise _invalid("meta_data", "array")
    merged = copy.deepcopy(current)
    next_id = max((m.get("id", 0) for m in merged if isinstance(m.get("id"), int)), default=owner_id * 10) + 1
    for entry in sent:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            continue  # WooCommerce skips entries without a key
        target = None
        if isinstance(entry.get("id"), int):
            target = next((m for m in merged if m.get("id") == entry["id"]), None)
        if target is None:
            target = next((m for m in merged if m.get("key") == entry["key"]), None)
        if target is None:
            merged.append({"id": next_id, "key": entry["key"], "value": copy.deepcopy(entry.get("value"))})
            next_id += 1
        else:
            target["key"], target["value"] = entry["key"], copy.deepcopy(entry.get("value"))
    return merged


def write_fields(body: dict, current: dict | None, *, batch: bool) -> dict:
    """The catalog fields of a REST write ``body`` (``current``: the item being updated, or None).

    Raises :class:`WpError` 400 for what the store refuses (see the module docstring).
    """
    fields = {k: v for k, v in body.items() if k not in _IGNORED and k not in ("id", "product_id", "parent_id")}
    for name in _PRICES:
        if name in fields:
            fields[name] = _price(name, fields[name])
    if "stock_quantity" in fields:
        fields["stock_quantity"] = _stock(fields["stock_quantity"], batch=batch)
    if "meta_data" in fields:
        owner_id = current["id"] if current else 0
        fields["meta_data"] = _merged_meta(current["meta_data"] if current else [], fields["meta_data"], owner_id)
    return fields
