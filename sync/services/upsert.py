"""Compare-then-upsert of mirror rows keyed by their WooCommerce id.

A page costs one SELECT (the current values of its ids) and, only when something
changed, one INSERT ... ON CONFLICT DO UPDATE: rows whose values did not change are
not written at all, so a re-sync of an unchanged store writes nothing and does not
invalidate caches.

Reading back every column of a page (descriptions, images, attributes) would cost more
than the rest of the sync, so the columns ``--stock`` never touches are compared through
one digest stored with the row (``sync_hash``, see :func:`content_hash`), and only the
stock and price columns, which ``--stock`` rewrites on its own, are read back one by one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import models


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal | datetime):
        return str(value)
    raise TypeError(f"cannot digest {type(value).__name__}")


def content_hash(values: Mapping[str, Any], fields: Iterable[str]) -> str:
    """A stable digest of ``values[field]`` for ``fields`` (parsed WooCommerce values)."""
    payload = json.dumps(
        [values[name] for name in fields], default=_json_default, sort_keys=True, separators=(",", ":")
    )
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class RowsDiff:
    created: list[int]
    updated: list[int]
    unchanged: int


def rows_diff(*, model: type[models.Model], rows: Mapping[int, Mapping[str, Any]], fields: Iterable[str]) -> RowsDiff:
    """Split ``rows`` (id → column values) into new, changed and unchanged ids (one query)."""
    fields = tuple(fields)
    if not rows:
        return RowsDiff(created=[], updated=[], unchanged=0)
    current = {row["pk"]: row for row in model.objects.filter(pk__in=rows.keys()).values("pk", *fields)}
    created: list[int] = []
    updated: list[int] = []
    for row_id, values in rows.items():
        existing = current.get(row_id)
        if existing is None:
            created.append(row_id)
        elif any(existing[name] != values[name] for name in fields):
            updated.append(row_id)
    return RowsDiff(created=created, updated=updated, unchanged=len(rows) - len(created) - len(updated))


def rows_upsert(
    *,
    model: type[models.Model],
    rows: Mapping[int, Mapping[str, Any]],
    ids: Iterable[int],
    fields: Iterable[str],
    synced_at: datetime,
) -> int:
    """Insert or update the given ids of ``rows`` in one statement; returns how many rows were sent.

    ``fields`` are attnames (``parent_id``, ``product_id``); ``synced_at`` and ``updated_at``
    are set to ``synced_at``. Callers hold the page's transaction.
    """
    fields = tuple(fields)
    objects = [model(pk=row_id, **rows[row_id], synced_at=synced_at, updated_at=synced_at) for row_id in ids]
    if not objects:
        return 0
    model.objects.bulk_create(
        objects,
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=[*fields, "synced_at", "updated_at"],
    )
    return len(objects)
