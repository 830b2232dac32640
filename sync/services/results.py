"""Counters and outcomes shared by the sync services."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sync.woocommerce.types import PayloadError, item_id_or_none

R = TypeVar("R")

# Keep SyncRun rows readable: past this many, failures are counted but not itemised.
MAX_REPORTED_FAILURES = 200
# Past this, an error text is cut: a record stays small whatever the store sends (a 100 KB
# price once made a 100 KB record). 200 failures of 300 characters bound failed_items to ~60 KB.
MAX_ERROR_CHARS = 300
MAX_ANOMALY_NOTES = 20


def shorten(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else f"{text[: limit - 30]}... ({len(text)} characters)"


@dataclass(frozen=True, slots=True)
class ItemFailure:
    resource: str
    item_id: int | None
    error: str


def records_parse(
    items: Iterable[Any], *, parse: Callable[[Any], R], resource: str
) -> tuple[list[R], list[ItemFailure]]:
    """Parse raw items; an item that does not parse becomes an ItemFailure naming it and the field."""
    records: list[R] = []
    failures: list[ItemFailure] = []
    for raw in items:
        try:
            records.append(parse(raw))
        except PayloadError as error:
            failures.append(ItemFailure(resource=resource, item_id=item_id_or_none(raw), error=str(error)))
    return records, failures


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one page write did (or, in a dry run, would do)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0
    failures: tuple[ItemFailure, ...] = ()
    # For the cache invalidation: products whose row was written, and products whose variations were.
    products_changed: frozenset[int] = frozenset()
    parents_changed: frozenset[int] = frozenset()

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            created=self.created + other.created,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            deleted=self.deleted + other.deleted,
            skipped=self.skipped + other.skipped,
            failures=self.failures + other.failures,
            products_changed=self.products_changed | other.products_changed,
            parents_changed=self.parents_changed | other.parents_changed,
        )


@dataclass
class SyncStats:
    """Running totals of one sync run; the run record is written from it at the end."""

    pages: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    skipped: int = 0
    failed_pages: list[dict] = field(default_factory=list)
    failed_items: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Store contradictions that make the run partial although every page and item was written
    # (an id listed twice, an empty page before the announced last one); also in ``notes``.
    anomalies: int = 0
    # Categories already asked for by id in this run: one that failed is not asked for again per page.
    category_ids_fetched: set[int] = field(default_factory=set)
    # Categories found in the mirror during this run: pages naming only these need no lookup.
    category_ids_mirrored: set[int] = field(default_factory=set)
    # Products written (rows; variations) since the cache was last told (sync.services.runs).
    products_changed: set[int] = field(default_factory=set)
    parents_changed: set[int] = field(default_factory=set)

    def add(self, result: WriteResult) -> None:
        self.created += result.created
        self.updated += result.updated
        self.unchanged += result.unchanged
        self.deleted += result.deleted
        self.skipped += result.skipped
        self.products_changed |= result.products_changed
        self.parents_changed |= result.parents_changed
        for failure in result.failures:
            self.item_failed(failure)

    def item_failed(self, failure: ItemFailure) -> None:
        self.failed += 1
        if len(self.failed_items) < MAX_REPORTED_FAILURES:
            self.failed_items.append(
                {"resource": failure.resource, "id": failure.item_id, "error": shorten(failure.error)}
            )

    def page_failed(self, *, endpoint: str, page: int, error: str) -> None:
        self.failed_pages.append({"endpoint": endpoint, "page": page, "error": shorten(error)})

    def anomaly(self, note: str) -> None:
        """The store contradicted itself: noted (the first MAX_ANOMALY_NOTES), and the run ends partial."""
        self.anomalies += 1
        if self.anomalies <= MAX_ANOMALY_NOTES:
            self.notes.append(shorten(note))
        elif self.anomalies == MAX_ANOMALY_NOTES + 1:
            self.notes.append("more contradictions of the store followed: counted, not listed")

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.deleted
