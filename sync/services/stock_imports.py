"""Stock imports: a CSV of ``sku,stock_quantity[,regular_price]`` turned into queued staff edits.

Idempotent on the content: the file is read twice, in ``CHUNK_SIZE`` (8 KB) chunks each time. The first
pass hashes it (SHA-256); a ``StockImport`` with that hash and ``finished_at`` set means the same bytes
were imported before, and nothing happens. Otherwise the second pass parses it and each good line
becomes one operation keyed ``stock_import:<sha256>:<line>`` (``ON CONFLICT DO NOTHING``), so a run that
was interrupted can simply be started again: what it had queued is not queued twice.

Memory stays flat in the file size: rows stream from ``csv.reader`` over a text wrapper of the chunked
byte stream, and are resolved and inserted ``BATCH_SIZE`` at a time (three queries per batch: the SKUs
in the mirror, this file's operations already queued on those objects, the insert). Only bounded lists
(the first ``REPORT_LIMIT`` bad lines and unknown SKUs) are kept.

The file: UTF-8 (a BOM is skipped), a header naming ``sku`` and ``stock_quantity`` (any order, any case;
``regular_price`` optional; other columns are ignored and reported), ``,`` or ``;`` as the delimiter
(whichever the header uses; a header with both is refused as ambiguous). Per line:

- blank lines are skipped; a line that fails validation is reported with its number and reason, and the
  other lines go on;
- a SKU the mirror does not have (or has only on deleted or trashed items) is an unknown SKU; a SKU on
  several live items is a bad line (ambiguous);
- a line equal to the mirror (same stock, same price or none given) is ``unchanged`` and not queued;
- stock on an item that does not manage stock turns ``manage_stock`` on with it (a stock figure is only
  kept by WooCommerce when it manages stock);
- a second line for an item already queued by this file is a bad line ("duplicate SKU"): stock is merged
  as a delta against the base value, so two absolute figures for one item cannot both be sent, and a
  streamed import cannot take back a line it already queued. The first line wins.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError
from django.db.models import BigIntegerField, CharField, F, Q, Value
from django.utils import timezone

from catalog.models import Product, ProductStatus, ProductVariation
from sync.models import OperationObject, OperationOrigin, StockImport, SyncOperation
from sync.services.edits import mirror_values, operation_row_build, price_parse, stock_parse

CHUNK_SIZE = 8 * 1024
BATCH_SIZE = 1000
REPORT_LIMIT = 100
REQUIRED_COLUMNS = ("sku", "stock_quantity")
OPTIONAL_COLUMNS = ("regular_price",)
MAX_SKU_LENGTH = 200  # the mirror's column

Opener = Callable[[], AbstractContextManager[IO[bytes]]]


class StockImportRefused(Exception):
    """The file as a whole is refused (nothing queued): ``status`` 400 or 413 and a message."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class StockImportResult:
    import_id: int
    sha256: str
    already_imported: bool = False
    complete: bool = True  # False: an unreadable line stopped the import (it is not recorded as finished)
    rows: int = 0
    queued: int = 0
    already_queued: int = 0
    unchanged: int = 0
    bad: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    unknown: int = 0
    unknown_skus: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def bad_line(self, line: int, reason: str) -> None:
        self.bad += 1
        if len(self.bad_lines) < REPORT_LIMIT:
            self.bad_lines.append((line, reason))

    def unknown_sku(self, sku: str) -> None:
        self.unknown += 1
        if len(self.unknown_skus) < REPORT_LIMIT:
            self.unknown_skus.append(sku)


def read_chunks(stream: IO[bytes], size: int = CHUNK_SIZE) -> Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk


class _ChunkedReader(io.RawIOBase):
    """A raw stream over ``read_chunks`` of another: every read of the file is an 8 KB read."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._chunks = read_chunks(stream)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            self._pending = next(self._chunks, b"")
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def file_sha256(*, stream: IO[bytes], max_bytes: int) -> tuple[str, int]:
    """(hex SHA-256, size) of ``stream`` read in 8 KB chunks; refuses (413) past ``max_bytes``."""
    digest = hashlib.sha256()
    size = 0
    for chunk in read_chunks(stream):
        size += len(chunk)
        if size > max_bytes:
            raise StockImportRefused(f"The file is over {max_bytes} bytes (STOCK_IMPORT_MAX_BYTES).", status=413)
        digest.update(chunk)
    return digest.hexdigest(), size


def stock_import_run(
    *, open_file: Opener, filename: str, source: str, user: Any = None, max_bytes: int | None = None
) -> StockImportResult:
    """Import one stock CSV; ``open_file()`` opens it (binary) and is called twice (hash, then parse).

    Returns what it did; for content already imported, the first import's figures with
    ``already_imported`` set and nothing queued. Raises ``StockImportRefused`` when the file as a
    whole cannot be read (too big, no usable header, not text): nothing is queued then.
    """
    max_bytes = settings.STOCK_IMPORT_MAX_BYTES if max_bytes is None else max_bytes
    with open_file() as stream:
        sha256, size = file_sha256(stream=stream, max_bytes=max_bytes)
    record = StockImport.objects.filter(sha256=sha256).first()
    if record is not None and record.finished_at is not None:
        return _result_of(record, already_imported=True)
    if record is None:
        try:
            record = StockImport.objects.create(
                sha256=sha256,
                filename=filename[:255],
                size=size,
                source=source,
                created_at=timezone.now(),
                created_by=user if getattr(user, "pk", None) else None,
            )
        except IntegrityError:  # the same file, sent twice at once: the dedupe keys keep it one import
            record = StockImport.objects.get(sha256=sha256)
    result = StockImportResult(import_id=record.id, sha256=sha256)
    with open_file() as stream:
        _lines_import(stream=stream, result=result, user=user)
    record.rows, record.queued, record.unchanged = result.rows, result.queued + result.already_queued, result.unchanged
    record.bad, record.unknown = result.bad, result.unknown
    record.report = {
        "bad_lines": [[line, reason] for line, reason in result.bad_lines],
        "unknown_skus": result.unknown_skus,
        "ignored_columns": result.ignored_columns,
    }
    if result.complete:
        record.finished_at = timezone.now()
    record.save()
    return result


def _result_of(record: StockImport, *, already_imported: bool) -> StockImportResult:
    report = record.report or {}
    return StockImportResult(
        import_id=record.id,
        sha256=record.sha256,
        already_imported=already_imported,
        rows=record.rows,
        queued=0 if already_imported else record.queued,
        already_queued=record.queued if already_imported else 0,
        unchanged=record.unchanged,
        bad=record.bad,
        bad_lines=[(int(line), str(reason)) for line, reason in report.get("bad_lines", [])],
        unknown=record.unknown,
        unknown_skus=list(report.get("unknown_skus", [])),
        ignored_columns=list(report.get("ignored_columns", [])),
    )


# --- parsing ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    sku: str
    stock: int
    price: str | None  # None: not given


def _header_read(text: io.TextIOBase) -> tuple[str, str]:
    """The header line (BOM stripped by the codec) and its delimiter."""
    header = text.readline()
    if not header.strip():
        raise StockImportRefused("The file is empty or its first line is blank: a header is required.")
    if "\ufffd" in header:
        raise StockImportRefused("The header is not UTF-8 text (is this a CSV file?).")
    commas, semicolons = header.count(","), header.count(";")
    if commas and semicolons:
        raise StockImportRefused("The header uses both ',' and ';': use one delimiter.")
    return header, ";" if semicolons else ","


def _columns(header: str, delimiter: str) -> tuple[dict[str, int], list[str]]:
    names = next(csv.reader([header], delimiter=delimiter))
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, raw in enumerate(names):
        name = raw.strip().lower()
        if name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
            if name in positions:
                raise StockImportRefused(f"The header names {name!r} twice.")
            positions[name] = index
        else:
            ignored.append(raw.strip()[:50])
    missing = [name for name in REQUIRED_COLUMNS if name not in positions]
    if missing:
        raise StockImportRefused(
            f"The header must name {', '.join(REQUIRED_COLUMNS)} (regular_price optional); "
            f"missing: {', '.join(missing)}."
        )
    return positions, ignored[:20]


def _lines_import(*, stream: IO[bytes], result: StockImportResult, user: Any) -> None:
    # utf-8-sig drops a BOM; "replace" keeps a stray byte from ending the import: the line holding it
    # is refused below, the others go on.
    text = io.TextIOWrapper(
        io.BufferedReader(_ChunkedReader(stream), CHUNK_SIZE), encoding="utf-8-sig", errors="replace", newline=""
    )
    header, delimiter = _header_read(text)
    positions, result.ignored_columns = _columns(header, delimiter)
    reader = csv.reader(text, delimiter=delimiter)
    batch: list[_Line] = []
    width = max(positions[name] for name in REQUIRED_COLUMNS) + 1  # optional columns may be cut off
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as error:
            # The reader cannot resynchronise after a malformed quote or an oversized field: stop here,
            # keeping what was queued (the import is not marked finished, so a fixed file is a new one).
            result.bad_line(reader.line_num + 1, f"unreadable CSV, import stopped here: {error}")
            result.complete = False
            break
        if cells is None:
            break
        line = reader.line_num + 1  # the header was line 1
        if not any(cell.strip() for cell in cells):
            continue
        result.rows += 1
        parsed = _line_parse(cells, positions=positions, width=width, line=line, result=result)
        if parsed is not None:
            batch.append(parsed)
        if len(batch) >= BATCH_SIZE:
            _batch_import(batch, result=result, user=user)
            batch = []
            # Under gunicorn's gevent workers (monkey-patched time.sleep) this lets the worker's other
            # requests run between batches: parsing is CPU work that would otherwise hold the worker.
            time.sleep(0)
    if batch:
        _batch_import(batch, result=result, user=user)
    text.detach()


def _line_parse(
    cells: list[str], *, positions: dict[str, int], width: int, line: int, result: StockImportResult
) -> _Line | None:
    if any("\ufffd" in cell for cell in cells):
        result.bad_line(line, "not UTF-8 text")
        return None
    if len(cells) < width:
        result.bad_line(line, f"{len(cells)} column(s): sku and stock_quantity need {width}")
        return None
    sku = cells[positions["sku"]].strip()
    if not sku:
        result.bad_line(line, "empty sku")
        return None
    if len(sku) > MAX_SKU_LENGTH:
        result.bad_line(line, f"sku longer than {MAX_SKU_LENGTH} characters")
        return None
    try:
        stock = stock_parse(cells[positions["stock_quantity"]])
    except ValueError as error:
        result.bad_line(line, f"stock_quantity: {error}")
        return None
    price = None
    price_at = positions.get("regular_price", len(cells))
    if price_at < len(cells) and cells[price_at].strip():
        try:
            price = price_parse(cells[price_at], allow_blank=False)
        except ValueError as error:
            result.bad_line(line, f"regular_price: {error}")
            return None
    return _Line(number=line, sku=sku, stock=stock, price=price)


# --- one batch --------------------------------------------------------------------------------------------

_MIRROR_FIELDS = ("id", "sku", "regular_price", "sale_price", "stock_quantity", "manage_stock")


@dataclass(frozen=True, slots=True)
class _Item:
    kind: str
    object_id: int
    parent_id: int | None
    values: dict[str, Any]
    managed_by_parent: bool
    variable: bool


def _items_by_sku(skus: set[str]) -> dict[str, list[_Item]]:
    """Live products and variations with these SKUs, in ONE query (a UNION)."""
    products = (
        Product.objects.filter(sku__in=skus, deleted_at__isnull=True)
        .exclude(status=ProductStatus.TRASH)
        .annotate(
            kind=Value(OperationObject.PRODUCT, output_field=CharField()),
            parent=Value(None, output_field=BigIntegerField()),
            by_parent=Value(False),
            ptype=F("type"),
        )
        .values_list(*_MIRROR_FIELDS, "kind", "parent", "by_parent", "ptype")
        .order_by()
    )
    variations = (
        ProductVariation.objects.filter(sku__in=skus, deleted_at__isnull=True, product__deleted_at__isnull=True)
        .exclude(product__status=ProductStatus.TRASH)
        .annotate(
            kind=Value(OperationObject.VARIATION, output_field=CharField()),
            parent=F("product_id"),
            by_parent=F("stock_managed_by_parent"),
            ptype=F("product__type"),
        )
        .values_list(*_MIRROR_FIELDS, "kind", "parent", "by_parent", "ptype")
        .order_by()
    )
    found: dict[str, list[_Item]] = {}
    for object_id, sku, regular, sale, stock, manage, kind, parent, by_parent, ptype in products.union(
        variations, all=True
    ):
        mirror = Product(regular_price=regular, sale_price=sale, stock_quantity=stock, manage_stock=bool(manage))
        found.setdefault(sku, []).append(
            _Item(
                kind=kind,
                object_id=object_id,
                parent_id=parent,
                values=mirror_values(mirror),
                managed_by_parent=bool(by_parent),
                variable=kind == OperationObject.PRODUCT and ptype == "variable",
            )
        )
    return found


def _batch_import(lines: list[_Line], *, result: StockImportResult, user: Any) -> None:
    items = _items_by_sku({line.sku for line in lines})
    prefix = f"stock_import:{result.sha256}:"
    wanted: list[tuple[_Line, _Item, dict[str, Any], dict[str, Any]]] = []
    for line in lines:
        matches = items.get(line.sku)
        if not matches:
            result.unknown_sku(line.sku[:100])
            continue
        if len(matches) > 1:
            result.bad_line(line.number, f"sku {line.sku[:100]!r} is on {len(matches)} items: ambiguous")
            continue
        item = matches[0]
        if item.managed_by_parent:
            result.bad_line(line.number, "this variation's stock is managed by its product: import the product's sku")
            continue
        if line.price is not None and item.variable:
            result.bad_line(line.number, "regular_price: a variable product's prices are its variations'")
            continue
        new: dict[str, Any] = {}
        if item.values["stock_quantity"] != line.stock or not item.values["manage_stock"]:
            new["stock_quantity"] = line.stock
        if not item.values["manage_stock"]:
            new["manage_stock"] = True
        if line.price is not None and item.values["regular_price"] != line.price:
            sale = item.values["sale_price"]
            if sale and Decimal(sale) > Decimal(line.price):
                result.bad_line(line.number, f"regular_price: below the current sale price ({sale})")
                continue
            new["regular_price"] = line.price
        if not new:
            result.unchanged += 1
            continue
        wanted.append((line, item, new, {name: item.values[name] for name in new}))
    if not wanted:
        return
    objects = Q()
    for kind in (OperationObject.PRODUCT, OperationObject.VARIATION):
        ids = {item.object_id for _, item, _, _ in wanted if item.kind == kind}
        if ids:
            objects |= Q(object_kind=kind, object_id__in=ids)
    queued_lines: dict[tuple[str, int], int] = {}
    known: set[str] = set()
    for key, kind, object_id in SyncOperation.objects.filter(objects, dedupe_key__startswith=prefix).values_list(
        "dedupe_key", "object_kind", "object_id"
    ):
        known.add(key)
        number = int(key.rsplit(":", 1)[1])
        queued_lines[(kind, object_id)] = min(number, queued_lines.get((kind, object_id), number))
    now = timezone.now()
    rows = []
    for line, item, new, base in wanted:
        key = f"{prefix}{line.number}"
        first = queued_lines.get((item.kind, item.object_id))
        if key in known:
            result.already_queued += 1
            continue
        if first is not None and first != line.number:
            result.bad_line(line.number, f"duplicate sku {line.sku[:100]!r}: line {first} already set it")
            continue
        queued_lines[(item.kind, item.object_id)] = line.number
        rows.append(
            operation_row_build(
                kind=item.kind,
                object_id=item.object_id,
                parent_id=item.parent_id,
                new_values=new,
                base_values=base,
                origin=OperationOrigin.STOCK_IMPORT,
                dedupe_key=key,
                user=user,
                now=now,
            )
        )
    SyncOperation.objects.bulk_create(rows, ignore_conflicts=True)
    result.queued += len(rows)
