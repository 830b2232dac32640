"""Compare-then-upsert of mirror rows keyed by their WooCommerce id.

A page costs one SELECT (the current values of its ids) and, only when something
changed, one INSERT ... ON CONFLICT DO UPDATE: rows whose values did not change are
not written at all, so a re-sync of an unchanged store writes nothing and does not
invalidate caches.

Reading back every column of a page (descriptions, images, attributes) would cost more
than the rest of the sync, so the columns ``--stock`` never touches are compared through
one digest of the payload stored with the row (``sync_hash``, see
``sync.woocommerce.types.raw_digest``), and only the stock and price columns, which
``--stock`` rewrites on its own, are read back one by one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper


def json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


@dataclass(frozen=True, slots=True)
class RowsDiff:
    created: list[int]
    updated: list[int]
    unchanged: int


@dataclass(frozen=True, slots=True)
class _RowsSelect:
    """``SELECT id, <fields> FROM <table> WHERE id IN <ids>``, compiled once per process.

    A page's SELECT through the ORM is compiled again on every page (a re-sync's pages are
    mostly this SELECT); the statement and the converters the ORM would apply are fixed per
    model and column list.
    """

    alias: str
    sql: str  # PostgreSQL: one array parameter; elsewhere "{}" stands for the placeholders
    converters: tuple[tuple[int, tuple[Callable[..., Any], ...], Any], ...]  # (column, converters, expression)
    per_statement: int  # ids per statement (SQLite's parameter limit)

    def rows(self, ids: Collection[int]) -> dict[int, tuple]:
        if not ids:
            return {}
        connection = connections[self.alias]
        found: dict[int, tuple] = {}
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(self.sql, [list(ids)])
                fetched = cursor.fetchall()
            else:
                ordered = list(ids)
                fetched = []
                for start in range(0, len(ordered), self.per_statement):
                    chunk = ordered[start : start + self.per_statement]
                    cursor.execute(self.sql.format(", ".join(["%s"] * len(chunk))), chunk)
                    fetched += cursor.fetchall()
        for row in fetched:
            if self.converters:
                row = list(row)
                for position, converters, expression in self.converters:
                    value = row[position]
                    for converter in converters:
                        value = converter(value, expression, connection)
                    row[position] = value
            found[row[0]] = tuple(row[1:])
        return found


@cache
def _rows_select(alias: str, vendor: str, model: type[models.Model], fields: tuple[str, ...]) -> _RowsSelect:
    connection: BaseDatabaseWrapper = connections[alias]
    meta = model._meta
    quote = connection.ops.quote_name
    model_fields = [meta.pk, *(meta.get_field(name) for name in fields)]
    columns = ", ".join(quote(field.column) for field in model_fields)
    where = "= ANY(%s)" if vendor == "postgresql" else "IN ({})"
    sql = f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} {where}"
    converters = []
    for position, field in enumerate(model_fields):
        expression = field.get_col(meta.db_table)
        found = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        if found:
            converters.append((position, tuple(found), expression))
    return _RowsSelect(
        alias=alias,
        sql=sql,
        converters=tuple(converters),
        per_statement=(connection.features.max_query_params or 999) - 1,
    )


def rows_current(*, model: type[models.Model], ids: Collection[int], fields: Iterable[str]) -> dict[int, tuple]:
    """id → the mirrored values of ``fields`` (in that order, as the ORM returns them), for the ids that have a row.

    One query (PostgreSQL; SQLite: one per ~1,000 ids), none for no ids.
    """
    alias = router.db_for_read(model)
    return _rows_select(alias, connections[alias].vendor, model, tuple(fields)).rows(ids)


def rows_diff(*, model: type[models.Model], rows: Mapping[int, Mapping[str, Any]], fields: Iterable[str]) -> RowsDiff:
    """Split ``rows`` (id → column values) into new, changed and unchanged ids (one query)."""
    fields = tuple(fields)
    if not rows:
        return RowsDiff(created=[], updated=[], unchanged=0)
    current = rows_current(model=model, ids=rows.keys(), fields=fields)
    created: list[int] = []
    updated: list[int] = []
    for row_id, values in rows.items():
        existing = current.get(row_id)
        if existing is None:
            created.append(row_id)
        elif any(old != values[name] for old, name in zip(existing, fields, strict=True)):
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
    """Insert or update the given ids of ``rows`` in one ``INSERT ... ON CONFLICT (id) DO UPDATE``.

    ``fields`` are attnames (``parent_id``, ``product_id``); ``synced_at`` and
    ``updated_at`` are set to ``synced_at``. Returns how many rows were sent. Callers
    hold the page's transaction.

    Hand-written rather than ``bulk_create(update_conflicts=True)``, which Django 5.2
    sends to PostgreSQL as UNNEST arrays that psycopg renders in pure Python, and
    rather than a multi-row VALUES, whose thousands of placeholders psycopg re-parses
    on every page (each measured at most of an initial load's time). On PostgreSQL the
    page travels as one JSON parameter that the server turns into rows of the table's
    own type (``jsonb_populate_recordset``); elsewhere (SQLite) as multi-row VALUES.
    """
    ids = list(ids)
    if not ids:
        return 0
    connection = connections[router.db_for_write(model)]
    meta = model._meta
    names = ["id", *fields, "synced_at", "updated_at"]
    columns = [meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    column_list = ", ".join(quote(f.column) for f in columns)
    conflict = f"ON CONFLICT ({quote(meta.pk.column)}) DO UPDATE SET " + ", ".join(
        f"{quote(f.column)} = EXCLUDED.{quote(f.column)}" for f in columns[1:]
    )
    stamped = [{**rows[row_id], "id": row_id, "synced_at": synced_at, "updated_at": synced_at} for row_id in ids]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            page = [{f.column: row[name] for f, name in zip(columns, names, strict=True)} for row in stamped]
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({column_list}) SELECT {column_list} "
                f"FROM jsonb_populate_recordset(NULL::{quote(meta.db_table)}, %s::jsonb) {conflict}",
                [json.dumps(page, default=json_default, separators=(",", ":"))],
            )
            return len(ids)
        row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
        per_statement = max(1, (connection.features.max_query_params or 999) // len(columns))
        for start in range(0, len(stamped), per_statement):
            chunk = stamped[start : start + per_statement]
            params = [
                field.get_db_prep_save(row[name], connection)
                for row in chunk
                for field, name in zip(columns, names, strict=True)
            ]
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({column_list}) VALUES "
                + ", ".join([row_sql] * len(chunk))
                + f" {conflict}",
                params,
            )
    return len(ids)
