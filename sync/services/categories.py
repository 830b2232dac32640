"""Mirror WooCommerce product categories (``products/categories``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Set
from datetime import datetime
from functools import partial

from django.db import transaction

from catalog.models import Category
from sync.services.context import SyncContext
from sync.services.guard import DeletionGuard
from sync.services.isolation import IsolatedItem, page_write_isolated
from sync.services.paging import TRANSIENT_ERRORS, Listing
from sync.services.results import WriteResult, records_parse
from sync.services.upsert import rows_current, rows_diff, rows_upsert
from sync.woocommerce.client import WooCommerceClientError, WooCommerceNotFound
from sync.woocommerce.types import CATEGORY_FIELDS, CategoryRecord, ProductRecord, parse_category

logger = logging.getLogger(__name__)

ENDPOINT = "products/categories"
MAX_PER_REQUEST = 100  # WooCommerce's per_page maximum, so also the ids one include= request returns
# Ancestors fetched above a new category: a store's tree is 2-4 levels deep; this bounds a parent loop.
MAX_ANCESTOR_LEVELS = 10


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


def category_page_write(*, records: list[CategoryRecord], synced_at: datetime, dry_run: bool) -> WriteResult:
    """:func:`category_upsert_page`, item by item when the database refuses the page."""
    write = partial(category_upsert_page, synced_at=synced_at, dry_run=dry_run)
    items = [IsolatedItem("category", record.id, partial(write, records=[record])) for record in records]
    return page_write_isolated(write_all=partial(write, records=records), items=items)


def categories_fetch_missing(*, context: SyncContext, records: Iterable[ProductRecord]) -> None:
    """Fetch by id (``include=``) the categories that ``records`` name but the mirror lacks, and their
    missing ancestors, and write them: a new subcategory shows under its parent after ``--products``.

    One SELECT when nothing is missing, none once the run has seen every id named in the mirror; each
    id is asked for once per run. A request that fails is logged and left to the page write's stubs
    (name and slug only) and to the next ``--categories``. It writes: callers skip it in a dry run.
    """
    client, stats = context.client, context.stats
    wanted = {ref.id for record in records for ref in record.categories}
    for _ in range(MAX_ANCESTOR_LEVELS):
        wanted -= stats.category_ids_mirrored
        if not wanted:
            return
        known = set(rows_current(model=Category, ids=wanted, fields=()))
        stats.category_ids_mirrored |= known
        missing = sorted(wanted - known - stats.category_ids_fetched)
        stats.category_ids_fetched.update(missing)
        wanted = set()
        for start in range(0, len(missing), MAX_PER_REQUEST):
            chunk = missing[start : start + MAX_PER_REQUEST]
            try:
                response = client.get(ENDPOINT, {"include": chunk, "per_page": MAX_PER_REQUEST})
            except (*TRANSIENT_ERRORS, WooCommerceNotFound, WooCommerceClientError) as error:
                logger.warning("sync: could not fetch new categories %s: %s", chunk[:10], error)
                continue
            found, failures = records_parse(
                response.data if isinstance(response.data, list) else [], parse=parse_category, resource="category"
            )
            stats.add(WriteResult(failures=tuple(failures)))
            stats.add(category_page_write(records=found, synced_at=context.synced_at, dry_run=False))
            wanted |= {record.parent_id for record in found if record.parent_id is not None}


def categories_delete_missing(*, seen_ids: Set[int], guard: DeletionGuard, dry_run: bool) -> WriteResult:
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


def categories_sync(*, context: SyncContext) -> Listing:
    """Read every category page and upsert it; delete the missing ones once the listing is complete.

    Returns the listing (``complete`` tells whether deletions were considered).
    Raises DeletionRefused (from ``context.guard``) after writing the pages.
    """
    stats = context.stats
    listing = Listing.in_run(context, endpoint=ENDPOINT)
    for page in listing:
        records, failures = records_parse(page.items, parse=parse_category, resource="category")
        stats.add(WriteResult(failures=tuple(failures)))
        # Reported once: products naming a failed category get a stub, not another failing request.
        stats.category_ids_fetched.update(failure.item_id for failure in failures if failure.item_id is not None)
        stats.add(category_page_write(records=records, synced_at=context.synced_at, dry_run=context.dry_run))
        if context.on_page is not None:
            context.on_page(page)
    if listing.complete:
        # Items that failed to parse are in seen_ids too: they are never deleted on that account.
        stats.add(categories_delete_missing(seen_ids=listing.seen_ids, guard=context.guard, dry_run=context.dry_run))
    return listing
