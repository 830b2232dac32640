"""Mirror WooCommerce product categories (``products/categories``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db import transaction

from catalog.models import Category
from sync.services.guard import DeletionGuard
from sync.services.paging import FetchedPage, Listing
from sync.services.results import SyncStats, WriteResult, records_parse
from sync.services.upsert import rows_diff, rows_upsert
from sync.woocommerce.client import WooCommerceClient
from sync.woocommerce.types import CATEGORY_FIELDS, CategoryRecord, parse_category

ENDPOINT = "products/categories"


def category_upsert_page(*, records: list[CategoryRecord], synced_at: datetime, dry_run: bool) -> WriteResult:
    """Write one page of categories in one transaction: one SELECT, at most one upsert.

    A child may name a parent not mirrored yet (WooCommerce does not order by
    hierarchy); ``Category.parent`` has no database constraint, so that is fine.
    """
    rows = {record.id: record.model_fields() for record in records}
    with transaction.atomic():
        diff = rows_diff(model=Category, rows=rows, fields=CATEGORY_FIELDS)
        if not dry_run:
            rows_upsert(
                model=Category,
                rows=rows,
                ids=[*diff.created, *diff.updated],
                fields=CATEGORY_FIELDS,
                synced_at=synced_at,
            )
    return WriteResult(created=len(diff.created), updated=len(diff.updated), unchanged=diff.unchanged)


def categories_delete_missing(*, seen_ids: set[int], guard: DeletionGuard, dry_run: bool) -> WriteResult:
    """Delete mirrored categories that a complete listing no longer returns.

    Their product links go with them (cascade). Refused by ``guard`` when the share
    is implausibly large (a store returning an empty list must not empty the tree).
    """
    missing = sorted(set(Category.objects.values_list("id", flat=True)) - seen_ids)
    if not missing:
        return WriteResult()
    guard.check(resource="categories", count=len(missing), live_total=Category.objects.count())
    if not dry_run:
        with transaction.atomic():
            Category.objects.filter(id__in=missing).delete()
    return WriteResult(deleted=len(missing))


def categories_sync(
    *,
    client: WooCommerceClient,
    stats: SyncStats,
    per_page: int,
    synced_at: datetime,
    guard: DeletionGuard,
    dry_run: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    on_page: Callable[[FetchedPage], None] | None = None,
) -> Listing:
    """Read every category page and upsert it; delete the missing ones once the listing is complete.

    Returns the listing (``complete`` tells whether deletions were considered).
    Raises DeletionRefused (from ``guard``) after writing the pages.
    """
    listing = Listing(client=client, endpoint=ENDPOINT, per_page=per_page, stats=stats, should_stop=should_stop)
    for page in listing:
        records, failures = records_parse(page.items, parse=parse_category, resource="category")
        stats.add(WriteResult(failures=tuple(failures)))
        stats.add(category_upsert_page(records=records, synced_at=synced_at, dry_run=dry_run))
        if on_page is not None:
            on_page(page)
    if listing.complete:
        # Items that failed to parse are in seen_ids too: they are never deleted on that account.
        stats.add(categories_delete_missing(seen_ids=listing.seen_ids, guard=guard, dry_run=dry_run))
    return listing
