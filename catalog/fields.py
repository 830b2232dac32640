"""How a column of the mirror relates to WooCommerce, to the API and to the export: said once, on the field.

A field WooCommerce sends, the mirror stores and the API returns is declared once, in
``catalog.models``, wrapped in :func:`mirrored`. Everything else is derived from that
declaration and the field's type:

- the sync's parser (``sync.woocommerce.types``): which payload key, how it is coerced
  (text cut to ``max_length`` fails the item, integers clamp to the column, ``""`` prices
  are NULL...), which columns the row digest covers and which ``--stock`` rewrites;
- the upsert's column lists (``sync.services.products``);
- the columns the API's selectors load (``catalog.selectors``);
- the API's JSON and its OpenAPI schema (``catalog.serializers``);
- the staff CSV export (``catalog.presentation``).

The field's Python type says most of it; :class:`Mirror` says the rest. Migrations do not
see any of it (``deconstruct`` ignores the attribute), so a flag change is not a schema change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

from django.db import models

F = TypeVar("F", bound=models.Field)


@dataclass(frozen=True, slots=True)
class Mirror:
    """What a mirrored column is beyond its field type.

    ``public``: served by the API (and so documented by its schema).
    ``exported``: a column of the staff CSV export of products.
    ``stock``: rewritten by ``--stock`` on its own, so the sync compares it column by column
    instead of through the row digest.
    ``kind``: what the value is when the field type does not say it all: ``price`` (money,
    ``""`` unset), ``quantity`` (a stock amount), ``rating`` (0-5 stars, clamped), ``count``
    (never below 0), ``enum`` (the API documents the field's choices), ``dimensions``
    (``{length, width, height}``), ``manage_stock`` and ``stock_by_parent`` (the two halves
    of WooCommerce's ``manage_stock``: true, false or ``"parent"``).
    ``key``: the WooCommerce payload key when it is not the field's name.
    ``doc``: the API's description of the field, when it is not the field's ``help_text``.
    """

    public: bool = True
    exported: bool = False
    stock: bool = False
    kind: str = ""
    key: str = ""
    doc: str = ""


def mirrored(field: F, **spec: object) -> F:
    """Mark ``field`` as mirrored from WooCommerce (see :class:`Mirror` for ``spec``)."""
    field.mirror = Mirror(**spec)  # type: ignore[attr-defined,arg-type]
    return field


def mirror_of(field: models.Field) -> Mirror | None:
    return getattr(field, "mirror", None)


def mirrored_fields(model: type[models.Model]) -> Iterator[models.Field]:
    """The model's mirrored concrete fields, in the model's field order."""
    return (field for field in model._meta.concrete_fields if mirror_of(field) is not None)


def payload_key(field: models.Field) -> str:
    mirror = mirror_of(field)
    return (mirror.key if mirror else "") or field.name
