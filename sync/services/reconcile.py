"""Deletion reconciliation for ``--full``: find products WooCommerce no longer has.

``modified_after`` never reports a permanent deletion, and ``status=any`` leaves out
the trash. After a complete ``status=any`` listing, mirrored products it did not
return are confirmed by id (``include=``, 100 at a time, once with ``status=any`` and
once with ``status=trash``): found ones are re-mirrored (a trashed one keeps
``status="trash"``), and only ids WooCommerce returns under neither are soft-deleted,
within the mass-deletion guard.
"""

from __future__ import annotations

import logging
from collections.abc import Set
from datetime import datetime

from django.db import transaction

from catalog.models import Product, ProductVariation
from sync.services.context import SyncContext
from sync.services.paging import TRANSIENT_ERRORS
from sync.services.products import PRODUCTS, product_records_parse, product_upsert_page
from sync.services.results import WriteResult
from sync.woocommerce.client import MAX_PER_PAGE, WooCommerceClient

logger = logging.getLogger(__name__)

CONFIRM_CHUNK = MAX_PER_PAGE
LIVE_CHUNK = 5000


def _confirm_chunk(*, client: WooCommerceClient, ids: list[int]) -> list[dict]:
    found: list[dict] = []
    for status in ("any", "trash"):
        response = client.get(PRODUCTS, {"include": ids, "status": status, "per_page": CONFIRM_CHUNK})
        found += response.data if isinstance(response.data, list) else []
    return found


def products_soft_delete(*, ids: list[int], deleted_at: datetime) -> int:
    """Mark products (and their variations) as deleted in WooCommerce; returns the product count."""
    with transaction.atomic():
        count = Product.objects.filter(id__in=ids, deleted_at__isnull=True).update(
            deleted_at=deleted_at, updated_at=deleted_at
        )
        ProductVariation.objects.filter(product_id__in=ids, deleted_at__isnull=True).update(
            deleted_at=deleted_at, updated_at=deleted_at
        )
    return count


def products_reconcile_deletions(*, context: SyncContext, listed_ids: Set[int]) -> WriteResult:
    """Confirm and soft-delete mirrored products missing from a complete ``status=any`` listing.

    Raises DeletionRefused (nothing deleted) when the confirmed deletions exceed ``context.guard``.
    A confirmation request that fails leaves its ids alone (the run ends partial).
    """
    client, stats, synced_at, dry_run = context.client, context.stats, context.synced_at, context.dry_run
    # Streamed in id order: only the candidates are kept, not a second set of every mirrored id.
    live_total = 0
    candidates: list[int] = []
    live = Product.objects.filter(deleted_at__isnull=True).order_by("id").values_list("id", flat=True)
    for product_id in live.iterator(chunk_size=LIVE_CHUNK):
        live_total += 1
        if product_id not in listed_ids:
            candidates.append(product_id)
    gone: list[int] = []
    for start in range(0, len(candidates), CONFIRM_CHUNK):
        if context.should_stop():
            return WriteResult()
        chunk = candidates[start : start + CONFIRM_CHUNK]
        try:
            found = _confirm_chunk(client=client, ids=chunk)
        except TRANSIENT_ERRORS as error:
            stats.page_failed(
                endpoint=f"{PRODUCTS} (confirm deletions)", page=start // CONFIRM_CHUNK + 1, error=str(error)
            )
            continue
        records, failures = product_records_parse(found)
        stats.add(WriteResult(failures=tuple(failures)))
        stats.add(product_upsert_page(records=records, synced_at=synced_at, dry_run=dry_run))
        still_there = {record.id for record in records} | {failure.item_id for failure in failures}
        gone += [product_id for product_id in chunk if product_id not in still_there]

    if not gone:
        return WriteResult()
    context.guard.check(resource="products", count=len(gone), live_total=live_total)
    logger.info("sync: %s products are gone from WooCommerce: %s", len(gone), gone[:50])
    if dry_run:
        return WriteResult(deleted=len(gone))
    return WriteResult(deleted=products_soft_delete(ids=gone, deleted_at=synced_at))
