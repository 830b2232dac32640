"""The product list rendered from ``values()`` rows with orjson: the DRF serializer's bytes, cheaper.

Why: an uncached list spent most of its Python time in DRF (``to_representation`` and
``get_attribute`` for each of ~40 fields of 50 products) and in building model instances
(docs/performance.md, "Uncached list"). Here each field of the serializer becomes one small
function applied to a row, chosen once per serializer shape, and the page is encoded by orjson.

How it stays in step with the serializer, which still documents the shape (the OpenAPI schema)
and still renders the detail, the cached warmup and every other body:

- the plan is read from the serializer itself (``ProductSerializer().fields``: its keys, their
  order, ``CATALOG_CACHE_FIELDS``), never from a list of our own; a field added to the model with
  ``mirrored(...)`` reaches the serializer through ``mirror_api_field`` and so reaches this plan;
- a field's fast function comes from the serializer field that ``mirror_api_field`` chose for the
  column's ``Mirror.kind`` and type: the function that field calls itself (``PriceField`` →
  ``format_price``, ``QuantityField`` → ``format_quantity``, ``WooDateTimeField`` →
  ``format_datetime``), or the value as the database returns it (text, integers, booleans, JSON).
  A field class without one here is rendered by the DRF field itself, row by row: slower, never
  different;
- the serializer's method fields (``backordered``, ``variations``...) are its own methods, called
  with the row (``selectors.Row`` reads as attributes);
- orjson prints a few floats differently from ``json`` (``1e-05`` as ``0.00001``, ``1.5e-07`` as
  ``1.5e-7``) and refuses integers beyond 64 bits and nesting beyond 254 levels: a page whose
  bytes might hold such a float, or that orjson refuses, is encoded by DRF's renderer instead;
- ``tests/catalog/test_fast_render.py`` compares these bytes with the DRF serializer's on a
  catalog of awkward values (the guard: a change on one side only fails it).
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.renderers import JSONRenderer

from catalog.serializers import (
    PriceField,
    ProductDetailSerializer,
    ProductSerializer,
    QuantityField,
    WooDateTimeField,
    format_datetime,
    format_price,
    format_quantity,
)

Format = Callable[[Any], Any]
Plan = tuple[tuple[str, Callable[[Mapping[str, Any]], Any]], ...]

_SKIP = object()
_drf_renderer = JSONRenderer()
# A float that orjson and json print differently: "0.0000x" (json: "x e-05") or a one-digit negative
# exponent ("1.5e-7", json: "1.5e-07"). A match in a string is harmless: that page goes through json.
_FLOAT_DIFFERS = re.compile(rb"0\.0000|[0-9]e-[0-9](?![0-9])")


def _same(value: Any) -> Any:
    return value


def _text(value: Any) -> Any:
    return value if value is None or type(value) is str else str(value)


def _integer(value: Any) -> Any:
    return value if value is None or type(value) is int else int(value)


def _drf(field: serializers.Field) -> Format:
    """The DRF field's own representation (None stays None, as ``Serializer.to_representation``)."""
    to_representation = field.to_representation
    return lambda value: None if value is None else to_representation(value)


def _boolean(field: serializers.Field) -> Format:
    slow = _drf(field)
    return lambda value: value if value is None or type(value) is bool else slow(value)


def _nested(field: serializers.Serializer) -> Format:
    """A nested serializer over a mapping; anything else (hostile JSON) goes through DRF itself."""
    plan = _plan(field)
    slow = _drf(field)

    def render(value: Any) -> Any:
        if isinstance(value, Mapping):
            return _apply(plan, value)
        return slow(value)

    return render


def _nested_many(field: serializers.ListSerializer) -> Format:
    plan = _plan(field.child)
    return lambda values: None if values is None else [_apply(plan, value) for value in values]


def _formatter(field: serializers.Field) -> Format:
    """The fast function of one serializer field, picked by the class ``mirror_api_field`` gave it."""
    kind = type(field)
    if kind is PriceField:
        return format_price  # PriceField formats in get_attribute, None included
    if kind is QuantityField:
        return format_quantity
    if kind is WooDateTimeField:
        return format_datetime
    if kind in (serializers.CharField, serializers.JSONField):
        return _text if kind is serializers.CharField else _same
    if kind is serializers.IntegerField:
        return _integer
    if kind is serializers.BooleanField:
        return _boolean(field)
    if isinstance(field, serializers.ListSerializer) and type(field.child).to_representation is (
        serializers.Serializer.to_representation
    ):
        return _nested_many(field)
    if isinstance(field, serializers.Serializer) and kind.to_representation is serializers.Serializer.to_representation:
        return _nested(field)
    return _drf(field)


def _getter(field: serializers.Field) -> Callable[[Mapping[str, Any]], Any]:
    if isinstance(field, serializers.SerializerMethodField):
        return getattr(field.parent, field.method_name)
    fast = _formatter(field)
    if len(field.source_attrs) != 1 or field.default is not serializers.empty:

        def generic(row: Mapping[str, Any]) -> Any:
            try:
                attribute = field.get_attribute(row)
            except SkipField:
                return _SKIP
            return fast(attribute)

        return generic

    key = field.source
    # DRF's Field.get_attribute on a missing key: null when allowed, else skipped when not required.
    missing = None if field.allow_null else (_SKIP if not field.required else serializers.empty)

    def get(row: Mapping[str, Any]) -> Any:
        try:
            value = row[key]
        except KeyError:
            if missing is serializers.empty:
                raise
            return missing
        return fast(value)

    return get


def _plan(serializer: serializers.Serializer) -> Plan:
    return tuple((name, _getter(field)) for name, field in serializer.fields.items() if not field.write_only)


def _apply(plan: Plan, row: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name, get in plan:
        value = get(row)
        if value is not _SKIP:
            out[name] = value
    return out


_plans: dict[tuple[Any, ...], Plan] = {}


def _serializer_plan(serializer_class: type[serializers.Serializer], kinds: tuple[str, ...]) -> Plan:
    # The serializer's fields depend on CATALOG_CACHE_FIELDS (for ``kinds``) when it is built; a plan is kept
    # per value.
    fields = getattr(settings, "CATALOG_CACHE_FIELDS", {})
    key = (serializer_class.__name__, *(None if fields.get(kind) is None else tuple(fields[kind]) for kind in kinds))
    plan = _plans.get(key)
    if plan is None:
        plan = _plans[key] = _plan(serializer_class())
    return plan


def _product_plan() -> Plan:
    return _serializer_plan(ProductSerializer, ("product",))


def _detail_plan() -> Plan:
    return _serializer_plan(ProductDetailSerializer, ("product", "variation"))


def product_detail_represent(row: Mapping[str, Any]) -> dict[str, Any]:
    """What ``ProductDetailSerializer(product).data`` gives, from ``selectors.product_detail_row``."""
    return _apply(_detail_plan(), row)


def rows_represent(serializer: serializers.Serializer, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What ``type(serializer)(rows, many=True, context=serializer.context).data`` gives, from values() rows
    (the plan is made from ``serializer``, whose method fields read its context)."""
    plan = _plan(serializer)
    return [_apply(plan, row) for row in rows]


def products_represent(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What ``ProductSerializer(instances, many=True).data`` gives, from ``selectors.product_list_rows``."""
    plan = _product_plan()
    return [_apply(plan, row) for row in rows]


def render_bytes(data: Any) -> bytes:
    """``data`` as DRF's ``JSONRenderer`` prints it (compact, UTF-8, U+2028/9 escaped), via orjson."""
    try:
        body = orjson.dumps(data)
    except orjson.JSONEncodeError:
        return _drf_renderer.render(data)
    if _FLOAT_DIFFERS.search(body):
        return _drf_renderer.render(data)
    # What DRF's renderer escapes after json.dumps: both are valid JSON but break JavaScript string literals.
    return body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")


# --- Stored fragments (catalog.models.ProductListFragment) --------------------------------------

# The modules whose code decides a product's list bytes: a change to any of them renders every fragment anew.
_SHAPE_MODULES = ("catalog.fast_render", "catalog.serializers", "catalog.fields", "catalog.models")
_shapes: dict[tuple[Any, ...], str] = {}


def fragment_shape() -> str:
    """What a stored fragment's bytes depend on besides the product's rows, as a short digest: the
    serializer's fields (``CATALOG_CACHE_FIELDS`` included), the time zone, the code of the modules that
    render, and the versions of Django, DRF and orjson. A fragment of another shape is never served."""
    fields_setting = getattr(settings, "CATALOG_CACHE_FIELDS", {}).get("product")
    key = (None if fields_setting is None else tuple(fields_setting), settings.TIME_ZONE, settings.USE_TZ)
    shape = _shapes.get(key)
    if shape is None:
        digest = hashlib.blake2b(repr((key, tuple(name for name, _ in _product_plan()))).encode(), digest_size=16)
        for module in _SHAPE_MODULES:
            digest.update(Path(sys.modules[module].__file__ or "").read_bytes())
        for package in ("django", "djangorestframework", "orjson"):
            digest.update(version(package).encode())
        shape = _shapes[key] = digest.hexdigest()
    return shape


def product_fragment(row: Mapping[str, Any]) -> str:
    """One product's list JSON from a ``selectors.product_list_rows_by_id`` row: exactly its text inside
    the list page's ``results`` (compact JSON; a product's encoding never depends on its neighbours)."""
    return render_bytes(_apply(_product_plan(), row)).decode()


def render_page_bytes(head: Mapping[str, Any], fragments: Iterable[str]) -> bytes:
    """``render_bytes({**head, "results": [...]})`` from the results' stored JSON; ``results`` comes last."""
    empty = render_bytes({**head, "results": []})
    if not empty.endswith(b"[]}"):
        raise ValueError("results must be the last key of the page")
    return empty[:-2] + ",".join(fragments).encode() + b"]}"
