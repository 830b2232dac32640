"""Typed WooCommerce payloads: raw REST v3 JSON in, records with our model's field names out.

Real stores send odd values (prices as strings with ``""`` for unset, a boolean
``price``, numeric strings for ids, ``[]`` for a missing category image, dates with
or without a zone suffix). Each ``parse_*`` function coerces what is unambiguous and
raises :class:`PayloadError` naming the field for anything else, so the sync can
skip and report that one item while the rest of its page lands.

Hostile values are cleaned where the clean form is obvious, so that what a parser
returns is always something PostgreSQL and SQLite accept:

- text (and every string inside JSON fields, keys included): NUL characters are
  removed (PostgreSQL text and jsonb cannot hold them); lone UTF-16 surrogates
  (``\ud800`` without its pair, which no database encoding can store) become U+FFFD;
- counts, orders and thresholds beyond their column are clamped to its limits
  (``menu_order`` 2^40 sorts last, ``rating_count`` 2^31 is "a lot"); an average
  rating is clamped to 0..5 stars;
- ids, prices, quantities and dates have no honest clean form: an id beyond 2^63-1,
  a price of 1e14 or more, an impossible date or one too close to year 1 or 9999 to
  be shown in every time zone fail the item;
- JSON fields nested deeper than ``MAX_JSON_DEPTH`` fail the item (a store does not
  nest attributes 64 levels deep; PostgreSQL and ``json`` give up around 1,000).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from typing import Any

from django.db import models

from catalog.fields import mirror_of, mirrored_fields, payload_key
from catalog.models import Product, ProductVariation

# Matches the DecimalField(max_digits=20, decimal_places=6) columns of catalog.models.
_DECIMAL_PLACES = Decimal("0.000001")
_DECIMAL_MAX = Decimal("1e14")
# A price or quantity as WooCommerce writes it ("21.99", "5"): within the columns' range and places as is.
_PLAIN_DECIMAL = re.compile(r"[0-9]{1,14}(?:\.[0-9]{1,6})?")
# Column limits of catalog.models: IntegerField / PositiveIntegerField, BigIntegerField and the
# PositiveBigIntegerField primary keys.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# average_rating is a 0-5 star average (DecimalField(max_digits=4, decimal_places=2)).
_RATING_MAX = Decimal("5")
MAX_JSON_DEPTH = 64
# A date this close to datetime's limits overflows once shown in another time zone.
_DATE_MIN = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
_DATE_MAX = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
# Bounds the text an error message quotes from a payload (failed_items stay small).
_SHOWN_CHARS = 60
_SURROGATES = re.compile("[\ud800-\udfff]")


class PayloadError(ValueError):
    """One WooCommerce item could not be understood; ``field`` names the culprit."""

    def __init__(self, field_name: str, reason: str) -> None:
        self.field = field_name
        self.reason = reason
        super().__init__(f"field {field_name!r}: {reason}")


@dataclass(frozen=True, slots=True)
class UnreadableItem:
    """An entry of a response that ``json`` could not decode on its own (nested too deep,
    a number of thousands of digits) while the rest of the page could: the client hands
    it over in its place so that it fails alone. ``id`` is read from its text when it
    starts like a WooCommerce object (``{"id":123,...``)."""

    id: int | None
    reason: str


def shown(value: Any) -> str:
    """``repr(value)`` cut to a few dozen characters, for error messages quoting a payload."""
    if isinstance(value, int) and value.bit_length() > 1000:
        return f"a {value.bit_length()}-bit integer"
    text = repr(value)
    if len(text) <= _SHOWN_CHARS:
        return text
    return f"{text[:_SHOWN_CHARS]}... ({len(text)} characters)"


@dataclass(frozen=True, slots=True)
class CategoryRef:
    id: int
    name: str
    slug: str


@dataclass(frozen=True, slots=True)
class CategoryRecord:
    id: int
    name: str
    slug: str
    parent_id: int | None
    description: str
    display: str
    image: dict | None
    menu_order: int
    count: int

    def model_fields(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "slug": self.slug,
            "parent_id": self.parent_id,
            "description": self.description,
            "display": self.display,
            "image": self.image,
            "menu_order": self.menu_order,
            "count": self.count,
        }


class _Columns:
    """Attribute access to a record's parsed columns (``record.price``), for readers and tests."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name == "columns":  # not set yet: never recurse
            raise AttributeError(name)
        try:
            return self.columns[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True, slots=True)
class ProductRecord(_Columns):
    """A parsed product: ``columns`` holds the mirrored Product columns (``PRODUCT_FIELDS``)."""

    id: int
    columns: dict[str, Any]
    categories: tuple[CategoryRef, ...] = field(default=())
    variation_ids: tuple[int, ...] = field(default=())
    digest: str = ""  # raw_digest() of the payload this record was parsed from

    def model_fields(self) -> dict[str, Any]:
        """The Product columns (everything but the id and the category links)."""
        return dict(self.columns)


@dataclass(frozen=True, slots=True)
class VariationRecord(_Columns):
    """A parsed variation: ``columns`` holds the mirrored ProductVariation columns."""

    id: int
    product_id: int
    columns: dict[str, Any]
    digest: str = ""  # raw_digest() of the payload this record was parsed from

    def model_fields(self) -> dict[str, Any]:
        """The ProductVariation columns (everything but the id)."""
        return {"product_id": self.product_id, **self.columns}


@dataclass(frozen=True, slots=True)
class StockRecord(_Columns):
    """What ``--stock`` reads: the stock and price columns of a product or a variation."""

    id: int
    parent_id: int | None
    columns: dict[str, Any]  # VARIATION_STOCK_FIELDS (a superset of STOCK_FIELDS)

    def model_fields(self, *, variation: bool) -> dict[str, Any]:
        if variation:
            return dict(self.columns)
        return {name: self.columns[name] for name in STOCK_FIELDS}


# ``json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)``, without building an encoder
# for every item of every page (the digests stored in ``sync_hash`` are these bytes' hashes).
_DIGEST_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def raw_digest(raw: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    """A stable digest of the payload's ``keys``, plus its category ids and variation ids when present.

    Computed from the raw JSON, so an unchanged item is recognised before (and without)
    parsing it. Category names are left out: a renamed category is not a product change.
    """
    categories = raw.get("categories")
    category_ids = [c.get("id") for c in categories if isinstance(c, dict)] if isinstance(categories, list) else None
    values = [raw.get(key) for key in keys] + [category_ids, raw.get("variations")]
    try:
        payload = _DIGEST_ENCODER.encode(values)
    except (RecursionError, ValueError) as error:  # nested near json's limit; a key json cannot sort
        raise PayloadError("(item)", f"cannot be encoded again: {type(error).__name__}") from None
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


# --- coercion ---------------------------------------------------------------------


def coerce_id(value: Any, field_name: str = "id") -> int:
    if isinstance(value, bool):
        raise PayloadError(field_name, f"expected a positive integer id, got {shown(value)}")
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value) < 30:
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value <= 0:
        raise PayloadError(field_name, f"expected a positive integer id, got {shown(value)}")
    if value > INT64_MAX:
        # An id is an identity: clamping it would merge two items.
        raise PayloadError(field_name, f"id out of range (above 2^63-1): {shown(value)}")
    return value


def optional_id(value: Any, field_name: str) -> int | None:
    """WooCommerce uses 0 (or nothing) for "no parent"."""
    if value in (None, "", 0, "0"):
        return None
    return coerce_id(value, field_name)


def _decimal(value: Any, field_name: str) -> Decimal | None:
    if value is None or value == "" or value is False:
        # "" is WooCommerce's "not set"; a boolean false price has been seen in the wild.
        return None
    if type(value) is str and _PLAIN_DECIMAL.fullmatch(value):
        return Decimal(value)  # the common case, which the checks below would all pass unchanged
    if isinstance(value, bool):
        raise PayloadError(field_name, f"expected a number, got {shown(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise PayloadError(field_name, f"expected a finite number, got {shown(value)}")
    if not isinstance(value, str | int | float | Decimal):
        raise PayloadError(field_name, f"expected a number, got {type(value).__name__}")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise PayloadError(field_name, f"expected a number, got {shown(value)}") from None
    # copy_abs() is exact: abs() would round in the context and trap on an exponent like 1e999999999999.
    if number.is_finite() and number.copy_abs() < _DECIMAL_MAX and number.as_tuple().exponent < -6:  # type: ignore[operator]
        number = number.quantize(_DECIMAL_PLACES, rounding=ROUND_HALF_UP)  # may round up to the limit
    if not number.is_finite() or number.copy_abs() >= _DECIMAL_MAX:
        # A price or a stock quantity has no honest clamped value: the item fails.
        raise PayloadError(field_name, f"number out of range: {shown(value)}")
    return number


def _rating(value: Any) -> Decimal:
    """A 0-5 star average, clamped to that range with 2 decimals (the column's)."""
    if value is None or value == "" or value is False:
        return Decimal("0")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PayloadError("average_rating", f"expected a number, got {shown(value)}")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise PayloadError("average_rating", f"expected a number, got {shown(value)}") from None
    if number.is_nan():
        raise PayloadError("average_rating", f"expected a number, got {shown(value)}")
    return min(max(number, Decimal("0")), _RATING_MAX).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _bool(value: Any, field_name: str, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "yes", "1"}:
            return True
        if lowered in {"false", "no", "0", ""}:
            return False
    raise PayloadError(field_name, f"expected a boolean, got {shown(value)}")


def _int(value: Any, field_name: str, default: int = 0, *, low: int = -INT32_MAX - 1, high: int = INT32_MAX) -> int:
    """An integer, clamped to ``low..high`` (the column's range: a count or an order beyond it
    keeps its meaning, "very many" or "last", at the limit)."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise PayloadError(field_name, f"expected an integer, got {shown(value)}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:  # also a string of more than 4,300 digits
            raise PayloadError(field_name, f"expected an integer, got {shown(value)}") from None
    if not isinstance(value, int):
        raise PayloadError(field_name, f"expected an integer, got {shown(value)}")
    return min(max(value, low), high)


def _optional_int(value: Any, field_name: str) -> int | None:
    if value is None or value == "":
        return None
    return _int(value, field_name)


def clean_text(text: str) -> str:
    """``text`` without NUL characters and with lone surrogates replaced by U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        text = _SURROGATES.sub("\ufffd", text)
    return text


def _clean_json(value: Any, field_name: str, depth: int = 0) -> Any:
    """A JSON field's value with every string and key cleaned (see :func:`clean_text`).

    Raises PayloadError when it nests deeper than MAX_JSON_DEPTH or holds a number that
    jsonb cannot hold (infinity, NaN).
    """
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PayloadError(field_name, f"not a finite number: {shown(value)}")
        return value
    if depth >= MAX_JSON_DEPTH:
        raise PayloadError(field_name, f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, list):
        return [_clean_json(item, field_name, depth + 1) for item in value]
    if isinstance(value, dict):
        return {clean_text(str(key)): _clean_json(item, field_name, depth + 1) for key, item in value.items()}
    raise PayloadError(field_name, f"unexpected JSON value {type(value).__name__}")


def _str(value: Any, field_name: str, *, max_length: int | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PayloadError(field_name, f"expected text, got {type(value).__name__}")
    if isinstance(value, int) and value.bit_length() > 64:
        raise PayloadError(field_name, f"expected text, got a {value.bit_length()}-bit number")
    text = clean_text(value) if isinstance(value, str) else str(value)
    if max_length is not None and len(text) > max_length:
        raise PayloadError(field_name, f"longer than {max_length} characters ({len(text)})")
    return text


def _gmt_datetime(value: Any, field_name: str) -> datetime | None:
    """WooCommerce ``*_gmt`` values are UTC without a zone suffix; accept a suffix too."""
    if value in (None, "") or (isinstance(value, str) and value.startswith("0000-00-00")):
        return None
    if not isinstance(value, str):
        raise PayloadError(field_name, f"expected an ISO 8601 date, got {shown(value)}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # an impossible date, or year 1 with a positive offset
        raise PayloadError(field_name, f"expected an ISO 8601 date, got {shown(value)}") from None
    if not _DATE_MIN <= parsed <= _DATE_MAX:
        # No clean form: nulling a sale's start would start the sale now.
        raise PayloadError(field_name, f"date out of range: {shown(value)}")
    return parsed


def _list(value: Any, field_name: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(field_name, f"expected a list, got {type(value).__name__}")
    return value


def _json_list(value: Any, field_name: str) -> list:
    """A list stored as JSON (tags, images, attributes): cleaned, depth-bounded."""
    return _clean_json(_list(value, field_name), field_name)


def _object_or_none(value: Any, field_name: str) -> dict | None:
    # PHP serialises an empty array as [], which WooCommerce sends for "no image".
    if value is None or value == "" or (isinstance(value, list | dict) and not value):
        return None
    if not isinstance(value, dict):
        raise PayloadError(field_name, f"expected an object, got {type(value).__name__}")
    return _clean_json(value, field_name)


def _dict(value: Any, field_name: str) -> dict:
    return _object_or_none(value, field_name) or {}


def _manage_stock(value: Any, field_name: str = "manage_stock") -> tuple[bool, bool]:
    """(manage_stock, managed_by_parent): variations send true, false or "parent"."""
    if value == "parent":
        return True, True
    return _bool(value, field_name), False


def _category_refs(value: Any) -> tuple[CategoryRef, ...]:
    refs = []
    for position, item in enumerate(_list(value, "categories")):
        if not isinstance(item, dict):
            raise PayloadError(f"categories[{position}]", "expected an object")
        refs.append(
            CategoryRef(
                id=coerce_id(item.get("id"), f"categories[{position}].id"),
                name=_str(item.get("name"), f"categories[{position}].name", max_length=400),
                slug=_str(item.get("slug"), f"categories[{position}].slug", max_length=400),
            )
        )
    return tuple(refs)


def _raw_mapping(raw: Any) -> Mapping[str, Any]:
    if isinstance(raw, UnreadableItem):
        raise PayloadError("(item)", raw.reason)
    if not isinstance(raw, Mapping):
        raise PayloadError("(item)", f"expected an object, got {type(raw).__name__} {shown(raw)}")
    return raw


# --- what is mirrored: derived from the declarations in catalog.models ------------


_UNSIGNED = (models.PositiveIntegerField, models.PositiveBigIntegerField, models.PositiveSmallIntegerField)


def _int_range(model_field: models.Field, kind: str) -> tuple[int, int]:
    low, high = -INT32_MAX - 1, INT32_MAX
    if isinstance(model_field, models.BigIntegerField | models.PositiveBigIntegerField):
        low, high = -INT64_MAX - 1, INT64_MAX
    if isinstance(model_field, _UNSIGNED) or kind == "count":
        low = 0
    return low, high


def _converter(model_field: models.Field) -> Callable[[Any, str], Any]:
    """How the payload value of ``model_field`` becomes its column value (raises PayloadError)."""
    mirror = mirror_of(model_field)
    kind = mirror.kind if mirror else ""
    if kind == "rating":
        return lambda value, _name: _rating(value)
    if kind == "manage_stock":
        return lambda value, name: _manage_stock(value, name)[0]
    if kind == "stock_by_parent":
        return lambda value, name: _manage_stock(value, name)[1]
    if isinstance(model_field, models.DecimalField):
        return _decimal
    if isinstance(model_field, models.BooleanField):
        return partial(_bool, default=model_field.default)
    if isinstance(model_field, models.DateTimeField):
        return _gmt_datetime
    if isinstance(model_field, models.JSONField):
        if model_field.null:
            return _object_or_none
        return _json_list if model_field.default is list else _dict
    if isinstance(model_field, models.IntegerField):
        low, high = _int_range(model_field, kind)
        if model_field.null:
            return lambda value, name: None if value is None or value == "" else _int(value, name, low=low, high=high)
        return partial(_int, default=model_field.default, low=low, high=high)
    if isinstance(model_field, models.CharField | models.TextField):
        default = str(model_field.default) if isinstance(model_field.default, str) else ""
        max_length = model_field.max_length if isinstance(model_field, models.CharField) else None
        if default:
            return lambda value, name: _str(value, name, max_length=max_length) or default
        return partial(_str, max_length=max_length)
    raise TypeError(f"no WooCommerce parser for {model_field.model.__name__}.{model_field.name}")


_Parser = tuple[tuple[str, str, Callable[[Any, str], Any]], ...]


def _parser(model: type[models.Model], *, stock_only: bool = False) -> _Parser:
    """(column, payload key, converter) of every mirrored field of ``model``."""
    return tuple(
        (model_field.name, payload_key(model_field), _converter(model_field))
        for model_field in mirrored_fields(model)
        if not stock_only or mirror_of(model_field).stock  # type: ignore[union-attr]
    )


def _columns(raw: Mapping[str, Any], parser: _Parser) -> dict[str, Any]:
    return {name: convert(raw.get(key), key) for name, key, convert in parser}


_PRODUCT_PARSER = _parser(Product)
_VARIATION_PARSER = _parser(ProductVariation)
_STOCK_PARSER = _parser(ProductVariation, stock_only=True)

PRODUCT_FIELDS: tuple[str, ...] = tuple(name for name, _key, _convert in _PRODUCT_PARSER)
# The upsert writes product_id too (a variation's parent, from the payload or its listing).
VARIATION_FIELDS: tuple[str, ...] = ("product_id", *(name for name, _key, _convert in _VARIATION_PARSER))
CATEGORY_FIELDS: tuple[str, ...] = tuple(name for name in CategoryRecord.__dataclass_fields__ if name != "id")
# Stock columns shared by products and variations (variations add stock_managed_by_parent).
STOCK_FIELDS: tuple[str, ...] = tuple(f.name for f in mirrored_fields(Product) if mirror_of(f).stock)  # type: ignore[union-attr]
VARIATION_STOCK_FIELDS: tuple[str, ...] = tuple(name for name, _key, _convert in _STOCK_PARSER)
# What --stock asks WooCommerce for (``_fields``): cheap to serve, enough to compare.
STOCK_API_FIELDS: tuple[str, ...] = (
    "id",
    "type",
    "parent_id",
    *dict.fromkeys(key for _name, key, _convert in _STOCK_PARSER),
)


def _digest_keys(model: type[models.Model]) -> tuple[str, ...]:
    # Payload keys a row's digest covers: what we mirror except what --stock rewrites alone (compared
    # column by column). Sorted, so that reordering the model's fields does not change every digest.
    return tuple(sorted({payload_key(f) for f in mirrored_fields(model) if not mirror_of(f).stock}))  # type: ignore[union-attr]


PRODUCT_DIGEST_KEYS: tuple[str, ...] = _digest_keys(Product)
VARIATION_DIGEST_KEYS: tuple[str, ...] = _digest_keys(ProductVariation)


def _api_fields(parser: _Parser, *extra: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(("id", "parent_id", *extra, *(key for _name, key, _convert in parser))))


# What the product and variation listings ask WooCommerce for (``_fields``): every key the parsers, the
# digest and the screen read, nothing the mirror ignores (``_links``, ``meta_data``, ``related_ids``...: a
# third of a page's bytes). The digest reads only these keys, so the stored ``sync_hash`` values stay valid.
PRODUCT_API_FIELDS: tuple[str, ...] = _api_fields(_PRODUCT_PARSER, "categories", "variations")
VARIATION_API_FIELDS: tuple[str, ...] = _api_fields(_VARIATION_PARSER)


# --- parsers ----------------------------------------------------------------------


def parse_category(raw: Any) -> CategoryRecord:
    raw = _raw_mapping(raw)
    return CategoryRecord(
        id=coerce_id(raw.get("id")),
        name=_str(raw.get("name"), "name", max_length=400),
        slug=_str(raw.get("slug"), "slug", max_length=400),
        parent_id=optional_id(raw.get("parent"), "parent"),
        description=_str(raw.get("description"), "description"),
        display=_str(raw.get("display"), "display", max_length=20) or "default",
        image=_object_or_none(raw.get("image"), "image"),
        menu_order=_int(raw.get("menu_order"), "menu_order"),
        count=_int(raw.get("count"), "count", low=0),
    )


def parse_product(raw: Any) -> ProductRecord:
    raw = _raw_mapping(raw)
    columns = _columns(raw, _PRODUCT_PARSER)
    return ProductRecord(
        id=coerce_id(raw.get("id")),
        columns=columns,
        categories=_category_refs(raw.get("categories")),
        variation_ids=tuple(
            coerce_id(value, f"variations[{i}]") for i, value in enumerate(_list(raw.get("variations"), "variations"))
        ),
        digest=raw_digest(raw, PRODUCT_DIGEST_KEYS),
    )


def parse_variation(raw: Any, *, product_id: int | None = None) -> VariationRecord:
    """Parse a variation; ``product_id`` is required when the payload has no ``parent_id``
    (the per-product listing omits it; the store-wide ``variations`` endpoint sends it)."""
    raw = _raw_mapping(raw)
    parent = optional_id(raw.get("parent_id"), "parent_id") or product_id
    if parent is None:
        raise PayloadError("parent_id", "missing: cannot tell which product this variation belongs to")
    columns = _columns(raw, _VARIATION_PARSER)
    return VariationRecord(
        id=coerce_id(raw.get("id")),
        product_id=parent,
        columns=columns,
        digest=raw_digest(raw, VARIATION_DIGEST_KEYS),
    )


def parse_stock(raw: Any) -> StockRecord:
    """Parse a ``_fields``-trimmed product or variation (see STOCK_API_FIELDS)."""
    raw = _raw_mapping(raw)
    return StockRecord(
        id=coerce_id(raw.get("id")),
        parent_id=optional_id(raw.get("parent_id"), "parent_id"),
        columns=_columns(raw, _STOCK_PARSER),
    )


def parse_modified(raw: Any) -> datetime | None:
    """A payload's ``date_modified_gmt`` as the mirror stores it (raises PayloadError when unreadable)."""
    return _gmt_datetime(_raw_mapping(raw).get("date_modified_gmt"), "date_modified_gmt")


def gmt_raw(value: datetime) -> str:
    """A ``*_gmt`` value the way WooCommerce writes it (UTC, seconds, no zone suffix)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def item_id_or_none(raw: Any) -> int | None:
    """Best-effort id of a raw item for error reports (None when even the id is unusable)."""
    if isinstance(raw, UnreadableItem):
        return raw.id
    if isinstance(raw, Mapping):
        try:
            return coerce_id(raw.get("id"))
        except PayloadError:
            return None
    return None
