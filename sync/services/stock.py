"""``--stock``: refresh stock and prices of every product and variation.

Stock sold through orders does not change ``date_modified`` on many WooCommerce
versions, so this mode never filters by date: it scans everything, asking only for
the stock and price fields (``_fields``), and writes only the rows whose values
changed. Items not mirrored yet are counted as skipped (``--products`` creates them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from django.db import models, transaction

from catalog.models import Product, ProductType, ProductVariation
from sync.services.context import SyncContext
from sync.services.isolation import IsolatedItem, page_write_isolated
from sync.services.paging import TRANSIENT_ERRORS, BackgroundFetch, Listing, PageFailure
from sync.services.products import PRODUCTS, VARIATIONS, VARIATIONS_PER_PARENT_PAGE
from sync.services.results import ItemFailure, WriteResult, records_parse
from sync.woocommerce.client import WooCommerceClient
from sync.woocommerce.types import (
    STOCK_API_FIELDS,
    STOCK_FIELDS,
    StockRecord,
    parse_stock,
)

_FIELDS_PARAM = ",".join(STOCK_API_FIELDS)


def stock_records_parse(items: Iterable[Any], *, resource: str) -> tuple[list[StockRecord], list[ItemFailure]]:
    return records_parse(items, parse=parse_stock, resource=resource)


def stock_apply_page(
    *, model: type[models.Model], records: list[StockRecord], synced_at: datetime, dry_run: bool = False
) -> WriteResult:
    """Write the stock/price values that changed, in one transaction (one SELECT, at most one UPDATE).

    ``model`` is Product or ProductVariation. Ids not in the mirror are skipped.
    """
    variation = model is ProductVariation
    fields = (*STOCK_FIELDS, "stock_managed_by_parent") if variation else STOCK_FIELDS
    wanted = {record.id: record.model_fields(variation=variation) for record in records}
    with transaction.atomic():
        parent = ("product_id",) if variation else ()
        current = {row["id"]: row for row in model.objects.filter(id__in=wanted).values("id", *parent, *fields)}
        changed = [
            row_id
            for row_id, values in wanted.items()
            if row_id in current and any(current[row_id][name] != values[name] for name in fields)
        ]
        if changed and not dry_run:
            model.objects.bulk_update(
                [model(id=row_id, **wanted[row_id], synced_at=synced_at, updated_at=synced_at) for row_id in changed],
                [*fields, "synced_at", "updated_at"],
            )
    written = frozenset(current[row_id]["product_id"] if variation else row_id for row_id in changed)
    return WriteResult(
        updated=len(changed),
        unchanged=len(current) - len(changed),
        skipped=len(wanted) - len(current),
        products_changed=frozenset() if variation else written,
        parents_changed=written if variation else frozenset(),
    )


def stock_page_write(
    *, model: type[models.Model], records: list[StockRecord], synced_at: datetime, dry_run: bool = False
) -> WriteResult:
    """:func:`stock_apply_page`, item by item when the database refuses the page."""
    resource = "variation" if model is ProductVariation else "product"
    write = partial(stock_apply_page, model=model, synced_at=synced_at, dry_run=dry_run)
    items = [IsolatedItem(resource, record.id, partial(write, records=[record])) for record in records]
    return page_write_isolated(write_all=partial(write, records=records), items=items)


def _stock_listing_sync(*, context: SyncContext, endpoint: str, model: type[models.Model]) -> None:
    resource = "variation" if model is ProductVariation else "product"
    stats = context.stats
    listing = Listing.in_run(context, endpoint=endpoint, params={"status": "any", "_fields": _FIELDS_PARAM})
    for page in listing:
        records, failures = stock_records_parse(page.items, resource=resource)
        stats.add(WriteResult(failures=tuple(failures)))
        stats.add(stock_page_write(model=model, records=records, synced_at=context.synced_at, dry_run=context.dry_run))
        if context.on_page is not None:
            context.on_page(page)


T = TypeVar("T")


def id_chunks(ids: list[T], size: int) -> Iterator[list[T]]:
    """``ids`` in consecutive pieces of at most ``size`` (one ``include=`` request, one batch write each)."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


@dataclass(frozen=True, slots=True)
class VariationStockGroup:
    """The variations of one group of parents, as the prefetch thread read them."""

    records: list[StockRecord]
    failures: tuple[ItemFailure, ...]  # variations that did not parse
    failed_listings: tuple[PageFailure, ...]  # parents whose variations could not be read


def _variation_stock_group_fetch(*, client: WooCommerceClient, parent_ids: list[int]) -> VariationStockGroup:
    """Runs on the prefetch thread: reads and parses, and changes nothing but what it returns."""
    records: list[StockRecord] = []
    failures: list[ItemFailure] = []
    failed: list[PageFailure] = []
    for parent_id in parent_ids:
        endpoint = f"{PRODUCTS}/{parent_id}/variations"
        try:
            for page in client.iter_pages(
                endpoint, per_page=VARIATIONS_PER_PARENT_PAGE, params={"_fields": _FIELDS_PARAM}
            ):
                parsed, unparsed = stock_records_parse(page.items, resource="variation")
                records += parsed
                failures += unparsed
        except TRANSIENT_ERRORS as error:
            failed.append(PageFailure(endpoint=endpoint, number=1, error=str(error)))
    return VariationStockGroup(records=records, failures=tuple(failures), failed_listings=tuple(failed))


def _variation_stock_per_parent_sync(*, context: SyncContext) -> None:
    """Stores without ``GET variations``: read each mirrored variable product's variations.

    Parents are taken ``per_page`` at a time; each group is one transaction, and the
    next group is fetched while the current one is written. A parent whose variations cannot be
    read is recorded in ``stats`` as a failed page.
    """
    stats = context.stats
    parent_ids = list(
        Product.objects.filter(type=ProductType.VARIABLE, deleted_at__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
    )
    groups = list(id_chunks(parent_ids, context.per_page))

    def fetch(number: int) -> VariationStockGroup:
        return _variation_stock_group_fetch(client=context.client, parent_ids=groups[number - 1])

    pending = BackgroundFetch(fetch, 1) if groups else None
    while pending is not None:
        number = pending.number
        group = pending.result()
        more = number < len(groups) and not context.should_stop()
        pending = BackgroundFetch(fetch, number + 1) if more else None
        stats.pages += 1
        stats.add(WriteResult(failures=group.failures))
        for failure in group.failed_listings:
            failure.record(stats)
        stats.add(
            stock_page_write(
                model=ProductVariation, records=group.records, synced_at=context.synced_at, dry_run=context.dry_run
            )
        )


def stock_sync(*, context: SyncContext, store_variations: bool) -> None:
    """Refresh stock and prices of all products, then all variations.

    A page that could not be read is recorded in ``stats`` (so the run ends partial); there is no
    incremental watermark to guard here, so nothing else needs to know whether the listing was complete.
    """
    _stock_listing_sync(context=context, endpoint=PRODUCTS, model=Product)
    if context.should_stop():
        return
    if store_variations:
        _stock_listing_sync(context=context, endpoint=VARIATIONS, model=ProductVariation)
    else:
        _variation_stock_per_parent_sync(context=context)
