"""Mirror WooCommerce products and their variations.

Each listing page is written in one transaction with a constant number of queries
whatever the page size: one SELECT per table to compare, then at most one upsert
per table for the rows that changed. Unchanged rows are not written.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import Any

from django.db import connections, models, router, transaction

from catalog.models import Category, Product, ProductCategory, ProductVariation
from sync.services.categories import categories_fetch_missing
from sync.services.context import SyncContext
from sync.services.isolation import IsolatedItem, page_write_isolated
from sync.services.paging import TRANSIENT_ERRORS, FetchedPage, Listing
from sync.services.results import ItemFailure, WriteResult, records_parse
from sync.services.upsert import RowsDiff, json_default, rows_current, rows_diff, rows_upsert
from sync.woocommerce.client import MAX_PER_PAGE, WooCommerceClient, WooCommerceNotFound
from sync.woocommerce.types import (
    PRODUCT_API_FIELDS,
    PRODUCT_DIGEST_KEYS,
    PRODUCT_FIELDS,
    STOCK_FIELDS,
    VARIATION_API_FIELDS,
    VARIATION_DIGEST_KEYS,
    VARIATION_FIELDS,
    VARIATION_STOCK_FIELDS,
    PayloadError,
    ProductRecord,
    VariationRecord,
    coerce_id,
    gmt_raw,
    parse_modified,
    parse_product,
    parse_stock,
    parse_variation,
    raw_digest,
)

logger = logging.getLogger(__name__)

PRODUCTS = "products"
VARIATIONS = "variations"  # store-wide, WooCommerce >= 10.3
# Variations per product are few; one page of the per-product listing nearly always holds them.
VARIATIONS_PER_PARENT_PAGE = 100
_PRODUCT_FIELDS_PARAM = ",".join(PRODUCT_API_FIELDS)
_VARIATION_FIELDS_PARAM = ",".join(VARIATION_API_FIELDS)

# What a page write stores, and what it reads back to compare: the payload digest
# (which covers the category links and the variation list too, so an unchanged product
# needs neither checked) and the stock and price columns.
_PRODUCT_COLUMNS = (*PRODUCT_FIELDS, "deleted_at", "sync_hash")
_PRODUCT_COMPARED = ("sync_hash", "deleted_at", *STOCK_FIELDS)
_VARIATION_COLUMNS = (*VARIATION_FIELDS, "deleted_at", "sync_hash")
_VARIATION_COMPARED = ("sync_hash", "deleted_at", "stock_managed_by_parent", *STOCK_FIELDS)


def _row(record: ProductRecord | VariationRecord) -> dict[str, Any]:
    """A live mirror row: the parsed values, not deleted, with the payload's digest."""
    return {**record.model_fields(), "deleted_at": None, "sync_hash": record.digest}


@dataclass(frozen=True, slots=True)
class PageScreen:
    """What one SELECT told about a listing page before any full parse."""

    changed: list[Any]  # raw items that are new or changed, and those the screen could not read
    unchanged: int
    # Screened ids among ``changed`` → whether the mirror has a row: the page write trusts this
    # instead of reading the same rows again (the sync lock makes the run the only writer of pages).
    mirrored: dict[int, bool]


def page_screen(*, model: type[Product | ProductVariation], items: list[Any]) -> PageScreen:
    """Split raw ``items`` into unchanged ones and the rest (one SELECT of the compared columns).

    Only the digest and the stock fields are computed, so a re-sync skips the full parse
    of everything unchanged; items that do not even parse that far are left to the full
    parse, which reports them.
    """
    variation = model is ProductVariation
    keys = VARIATION_DIGEST_KEYS if variation else PRODUCT_DIGEST_KEYS
    fields = _VARIATION_COMPARED if variation else _PRODUCT_COMPARED
    candidates: dict[int, tuple] = {}
    screened: list[tuple[Any, int | None]] = []  # each item with its id, None when the screen cannot read it
    for raw in items:
        try:
            stock = parse_stock(raw)
            digest = raw_digest(raw, keys)
        except PayloadError:
            screened.append((raw, None))
            continue
        columns = stock.columns
        candidates[stock.id] = (digest, None, *(columns[name] for name in fields[2:]))
        screened.append((raw, stock.id))
    current = rows_current(model=model, ids=candidates.keys(), fields=fields)
    unchanged = {row_id for row_id, values in candidates.items() if current.get(row_id) == values}
    changed = [raw for raw, row_id in screened if row_id is None or row_id not in unchanged]
    mirrored = {row_id: row_id in current for row_id in candidates if row_id not in unchanged}
    return PageScreen(changed=changed, unchanged=len(items) - len(changed), mirrored=mirrored)


def _rows_classify(
    *,
    model: type[Product | ProductVariation],
    rows: Mapping[int, Mapping[str, Any]],
    fields: tuple[str, ...],
    mirrored: Mapping[int, bool] | None,
) -> RowsDiff:
    """``rows_diff``, except that ids the page's screen found changed are not read again."""
    if mirrored is None:
        return rows_diff(model=model, rows=rows, fields=fields)
    diff = rows_diff(model=model, rows={i: row for i, row in rows.items() if i not in mirrored}, fields=fields)
    screened = [row_id for row_id in rows if row_id in mirrored]
    return RowsDiff(
        created=[*diff.created, *(row_id for row_id in screened if not mirrored[row_id])],
        updated=[*diff.updated, *(row_id for row_id in screened if mirrored[row_id])],
        unchanged=diff.unchanged,
    )


# --- parsing ----------------------------------------------------------------------


def product_records_parse(items: Iterable[Any]) -> tuple[list[ProductRecord], list[ItemFailure]]:
    return records_parse(items, parse=parse_product, resource="product")


def variation_records_parse(
    items: Iterable[Any], *, product_id: int | None = None
) -> tuple[list[VariationRecord], list[ItemFailure]]:
    return records_parse(items, parse=lambda raw: parse_variation(raw, product_id=product_id), resource="variation")


# --- page writes ------------------------------------------------------------------


def _category_stubs_create(records: list[ProductRecord]) -> None:
    """Create categories that products name but the mirror lacks yet (from the embedded {id, name, slug}).

    A safety net: the listing fetched them by id before the page write
    (``categories_fetch_missing``); this covers a category that request could not get
    (store down, category deleted since), and ``--categories`` fills in the rest later.
    """
    referenced = {ref.id: ref for record in records for ref in record.categories}
    if not referenced:
        return
    known = set(Category.objects.filter(id__in=referenced).values_list("id", flat=True))
    missing = [ref for ref_id, ref in referenced.items() if ref_id not in known]
    if missing:
        Category.objects.bulk_create(
            [Category(id=ref.id, name=ref.name, slug=ref.slug) for ref in missing], ignore_conflicts=True
        )


@cache
def _children_sql(alias: str, vendor: str) -> str:
    """One statement for a page's category links and live variations (``{ids}`` stands for the id list)."""
    quote = connections[alias].ops.quote_name
    link, variation = ProductCategory._meta, ProductVariation._meta
    link_product, link_category = link.get_field("product").column, link.get_field("category").column
    parent, deleted = variation.get_field("product").column, variation.get_field("deleted_at").column
    ids = "= ANY(%s)" if vendor == "postgresql" else "IN ({ids})"
    return (
        f"SELECT 0, {quote(link_product)}, {quote(link_category)} FROM {quote(link.db_table)} "
        f"WHERE {quote(link_product)} {ids} UNION ALL "
        f"SELECT 1, {quote(parent)}, {quote(variation.pk.column)} FROM {quote(variation.db_table)} "
        f"WHERE {quote(parent)} {ids} AND {quote(deleted)} IS NULL"
    )


def _links_and_live_variations(product_ids: Collection[int]) -> tuple[dict[int, set[int]], dict[int, set[int]]]:
    """(product id → its category ids, product id → its live variation ids) in one query."""
    links: dict[int, set[int]] = defaultdict(set)
    variations: dict[int, set[int]] = defaultdict(set)
    if not product_ids:
        return links, variations
    alias = router.db_for_read(ProductVariation)
    connection = connections[alias]
    sql = _children_sql(alias, connection.vendor)
    ids = list(product_ids)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(sql, [ids, ids])
            rows = cursor.fetchall()
        else:
            rows = []
            per_statement = max(1, ((connection.features.max_query_params or 999) - 1) // 2)
            for start in range(0, len(ids), per_statement):
                chunk = ids[start : start + per_statement]
                cursor.execute(sql.format(ids=", ".join(["%s"] * len(chunk))), [*chunk, *chunk])
                rows += cursor.fetchall()
    for kind, product_id, child_id in rows:
        (variations if kind else links)[product_id].add(child_id)
    return links, variations


def _products_write(
    *,
    records: list[ProductRecord],
    synced_at: datetime,
    dry_run: bool,
    mirrored: Mapping[int, bool] | None = None,
) -> WriteResult:
    if not records:
        return WriteResult()
    rows = {record.id: _row(record) for record in records}
    diff = _rows_classify(model=Product, rows=rows, fields=_PRODUCT_COMPARED, mirrored=mirrored)
    touched_ids = {*diff.created, *diff.updated}
    if not touched_ids:
        return WriteResult(unchanged=diff.unchanged)  # links and variation lists are in the digest
    touched = [record for record in records if record.id in touched_ids]

    # A product without a row has neither links nor variations (foreign keys): only updated ones are read.
    current_links, live_variations = _links_and_live_variations(diff.updated)
    wanted_links = {record.id: {ref.id for ref in record.categories} for record in touched}
    relinked = [product_id for product_id, wanted in wanted_links.items() if wanted != current_links[product_id]]

    if not dry_run:
        # Only links about to be inserted can name a category the mirror lacks.
        relinked_ids = set(relinked)
        _category_stubs_create([record for record in touched if record.id in relinked_ids])
        rows_upsert(model=Product, rows=rows, ids=touched_ids, fields=_PRODUCT_COLUMNS, synced_at=synced_at)
        if relinked:
            ProductCategory.objects.filter(product_id__in=relinked).delete()
            ProductCategory.objects.bulk_create(
                [
                    ProductCategory(product_id=product_id, category_id=category_id)
                    for product_id in relinked
                    for category_id in wanted_links[product_id]
                ]
            )

    stale = _stale_variations_retire(records=touched, live=live_variations, synced_at=synced_at, dry_run=dry_run)
    return WriteResult(
        created=len(diff.created),
        updated=len(diff.updated),
        unchanged=diff.unchanged,
        deleted=len(stale),
        products_changed=frozenset(touched_ids),
        parents_changed=frozenset(stale.values()),
    )


def _stale_variations_retire(
    *, records: list[ProductRecord], live: Mapping[int, Set[int]], synced_at: datetime, dry_run: bool
) -> dict[int, int]:
    """Soft-delete mirrored variations (``live``: product id → live variation ids) that their product
    no longer lists.

    A product's ``variations`` array is the authoritative list of its children (a
    variation deleted in WooCommerce sends no webhook and never shows up in a
    ``modified_after`` listing); a product that is not variable has none. Returns the
    retired variations' product ids by variation id.
    """
    stale: dict[int, int] = {}
    for record in records:
        expected = set(record.variation_ids) if record.type == "variable" else set()
        stale.update(
            (variation_id, record.id) for variation_id in live.get(record.id, ()) if variation_id not in expected
        )
    if stale and not dry_run:
        ProductVariation.objects.filter(id__in=stale).update(deleted_at=synced_at, updated_at=synced_at)
    return stale


def _variations_write(
    *,
    records: list[VariationRecord],
    synced_at: datetime,
    dry_run: bool,
    pending_parents: Set[int] = frozenset(),
    mirrored: Mapping[int, bool] | None = None,
) -> WriteResult:
    if not records:
        return WriteResult()
    # In a dry run, products read in this run count as mirrored although nothing was written.
    parents = set(rows_current(model=Product, ids={record.product_id for record in records}, fields=()))
    parents |= pending_parents
    failures = tuple(
        ItemFailure(
            resource="variation",
            item_id=record.id,
            error=f"its product #{record.product_id} is not mirrored (its page failed or it is new): retried next run",
        )
        for record in records
        if record.product_id not in parents
    )
    rows = {record.id: _row(record) for record in records if record.product_id in parents}
    diff = _rows_classify(model=ProductVariation, rows=rows, fields=_VARIATION_COMPARED, mirrored=mirrored)
    if not dry_run:
        rows_upsert(
            model=ProductVariation,
            rows=rows,
            ids=[*diff.created, *diff.updated],
            fields=_VARIATION_COLUMNS,
            synced_at=synced_at,
        )
    return WriteResult(
        created=len(diff.created),
        updated=len(diff.updated),
        unchanged=diff.unchanged,
        failures=failures,
        parents_changed=frozenset(rows[row_id]["product_id"] for row_id in (*diff.created, *diff.updated)),
    )


def product_upsert_page(
    *,
    records: list[ProductRecord],
    synced_at: datetime,
    dry_run: bool = False,
    variations: list[VariationRecord] | None = None,
    mirrored: Mapping[int, bool] | None = None,
) -> WriteResult:
    """Write one page of products in one transaction, with a constant number of queries.

    Upserts the products (keyed by WooCommerce id, clearing ``deleted_at``), creates
    stub categories they reference but the mirror lacks, replaces the category links
    that changed, soft-deletes variations their product no longer lists, and, when
    given (stores without the store-wide variations endpoint), writes the page's
    variations in the same transaction. In a dry run, counts without writing.
    ``mirrored`` (the page's :class:`PageScreen`) tells which of the products the screen
    found new or changed already: those are not compared again.
    """
    with transaction.atomic():
        result = _products_write(records=records, synced_at=synced_at, dry_run=dry_run, mirrored=mirrored)
        if variations is not None:
            result = result + _variations_write(
                records=variations,
                synced_at=synced_at,
                dry_run=dry_run,
                pending_parents={record.id for record in records} if dry_run else frozenset(),
            )
    return result


def variation_upsert_page(
    *,
    records: list[VariationRecord],
    synced_at: datetime,
    dry_run: bool = False,
    pending_parents: Set[int] = frozenset(),
    mirrored: Mapping[int, bool] | None = None,
) -> WriteResult:
    """Write one page of variations in one transaction (constant queries).

    A variation whose product is not mirrored (nor in ``pending_parents``, the products
    a dry run has read) is reported as a failed item, not written. ``mirrored``: as for
    :func:`product_upsert_page`.
    """
    with transaction.atomic():
        return _variations_write(
            records=records,
            synced_at=synced_at,
            dry_run=dry_run,
            pending_parents=pending_parents,
            mirrored=mirrored,
        )


def product_page_write(
    *,
    records: list[ProductRecord],
    synced_at: datetime,
    dry_run: bool = False,
    variations: list[VariationRecord] | None = None,
    mirrored: Mapping[int, bool] | None = None,
) -> WriteResult:
    """:func:`product_upsert_page`, and when the database refuses the page, each product (with its
    variations) and each other variation in its own transaction (see ``sync.services.isolation``).

    Raises DatabaseUnavailable when the connection is lost.
    """
    write = partial(product_upsert_page, synced_at=synced_at, dry_run=dry_run, mirrored=mirrored)
    items = []
    if variations is None:
        items = [IsolatedItem("product", record.id, partial(write, records=[record])) for record in records]
    else:
        by_parent: dict[int, list[VariationRecord]] = defaultdict(list)
        for variation in variations:
            by_parent[variation.product_id].append(variation)
        items = [
            IsolatedItem(
                "product", record.id, partial(write, records=[record], variations=by_parent.pop(record.id, []))
            )
            for record in records
        ]
        # Variations of the page's unchanged products (mirrored already, not re-parsed).
        items += [
            IsolatedItem("variation", variation.id, partial(write, records=[], variations=[variation]))
            for others in by_parent.values()
            for variation in others
        ]
    return page_write_isolated(write_all=partial(write, records=records, variations=variations), items=items)


def variation_page_write(
    *,
    records: list[VariationRecord],
    synced_at: datetime,
    dry_run: bool = False,
    pending_parents: Set[int] = frozenset(),
    mirrored: Mapping[int, bool] | None = None,
) -> WriteResult:
    """:func:`variation_upsert_page`, item by item when the database refuses the page."""
    write = partial(
        variation_upsert_page,
        synced_at=synced_at,
        dry_run=dry_run,
        pending_parents=pending_parents,
        mirrored=mirrored,
    )
    items = [IsolatedItem("variation", record.id, partial(write, records=[record])) for record in records]
    return page_write_isolated(write_all=partial(write, records=records), items=items)


def confirmed_stock_write(
    *, model: type[Product | ProductVariation], items: list[Mapping[str, Any]], synced_at: datetime
) -> tuple[set[int], int, set[str]]:
    """Write WooCommerce's answers to our own pushes through the stock columns when nothing else changed.

    A push changes the stock and price columns and ``date_modified_gmt``. When an answer's digest,
    taken with the mirror's ``date_modified_gmt`` in place of the answer's, is the row's ``sync_hash``,
    every other mirrored column (category links and variation list included) already holds the
    answer's values: the row gets the stock columns, the new date and the answer's digest in one
    UPDATE, without the full parse and upsert. Returns (ids written or already equal, rows changed, the
    columns that changed in them, for the cache);
    the other items (another field changed too, a row written from a differently formatted payload,
    a deleted row, a variation under another product, an item that does not parse) are left to the
    full upsert, which also reports them. The caller holds the transaction.
    """
    variation = model is ProductVariation
    keys = VARIATION_DIGEST_KEYS if variation else PRODUCT_DIGEST_KEYS
    wanted: dict[int, tuple[Mapping[str, Any], dict[str, Any], int | None]] = {}
    for raw in items:
        try:
            stock = parse_stock(raw)
            modified = parse_modified(raw)
        except PayloadError:
            continue
        if modified is None:
            continue
        columns = {**stock.model_fields(variation=variation), "date_modified_gmt": modified}
        wanted[stock.id] = (raw, columns, stock.parent_id)
    if not wanted:
        return set(), 0, set()
    compared = (*(VARIATION_STOCK_FIELDS if variation else STOCK_FIELDS), "date_modified_gmt")
    extra = ("product_id",) if variation else ()
    rows = model.objects.filter(id__in=wanted, deleted_at__isnull=True).values("id", "sync_hash", *extra, *compared)
    confirmed: set[int] = set()
    updates: dict[int, dict[str, Any]] = {}
    changed: set[str] = set()
    for row in rows:
        raw, columns, parent_id = wanted[row["id"]]
        if not row["sync_hash"] or row["date_modified_gmt"] is None:
            continue
        if variation and row["product_id"] != parent_id:
            continue
        try:
            before = raw_digest({**raw, "date_modified_gmt": gmt_raw(row["date_modified_gmt"])}, keys)
            after = raw_digest(raw, keys)
        except PayloadError:
            continue
        if before != row["sync_hash"]:
            continue
        confirmed.add(row["id"])
        differ = {name for name in compared if row[name] != columns[name]}
        if after != row["sync_hash"] or differ:
            updates[row["id"]] = {**columns, "sync_hash": after}
            changed |= differ
    if updates:
        _columns_update(model=model, rows=updates, fields=(*compared, "sync_hash"), synced_at=synced_at)
    return confirmed, len(updates), changed


def _columns_update(
    *, model: type[models.Model], rows: dict[int, dict[str, Any]], fields: tuple[str, ...], synced_at: datetime
) -> None:
    """UPDATE ``fields`` of existing rows in one statement on PostgreSQL (``bulk_update`` builds a CASE per
    row and column); ``bulk_update`` elsewhere."""
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model.objects.bulk_update(
            [model(id=row_id, **values, synced_at=synced_at, updated_at=synced_at) for row_id, values in rows.items()],
            [*fields, "synced_at", "updated_at"],
        )
        return
    meta = model._meta
    quote = connection.ops.quote_name
    columns = [meta.get_field(name).column for name in fields]
    assignments = ", ".join(f"{quote(column)} = v.{quote(column)}" for column in columns)
    page = [
        {"id": row_id, **{meta.get_field(name).column: values[name] for name in fields}}
        for row_id, values in rows.items()
    ]
    table = quote(meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments}, {quote('synced_at')} = %s, {quote('updated_at')} = %s "
            f"FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) AS v WHERE t.{quote('id')} = v.{quote('id')}",
            [synced_at, synced_at, json.dumps(page, default=json_default, separators=(",", ":"))],
        )


# --- reading from WooCommerce -----------------------------------------------------


def variations_fetch_for_products(*, client: WooCommerceClient, items: list[dict]) -> dict[int, list[dict]]:
    """Fetch the variations of the variable products among ``items`` (stores without ``GET variations``)."""
    found: dict[int, list[dict]] = {}
    for raw in items:
        if not isinstance(raw, dict) or raw.get("type") != "variable":
            continue
        try:
            product_id = coerce_id(raw.get("id"))
        except PayloadError:
            continue
        found[product_id] = [
            item
            for page in client.iter_pages(
                f"products/{product_id}/variations",
                per_page=VARIATIONS_PER_PARENT_PAGE,
                params={"_fields": _VARIATION_FIELDS_PARAM},
            )
            for item in page.items
        ]
    return found


def store_variations_supported(*, client: WooCommerceClient) -> bool:
    """Whether the store has the store-wide ``GET variations`` endpoint (WooCommerce >= 10.3).

    A probe that still fails after the client's retries (5xx, timeout, 429, a bad body) counts
    as "no": reading variations per parent works on every store, only slower.
    """
    try:
        client.get(VARIATIONS, {"per_page": 1, "_fields": "id"})
    except WooCommerceNotFound:
        return False
    except TRANSIENT_ERRORS as error:
        logger.warning("sync: the store-wide variations probe failed (%s); reading variations per product", error)
        return False
    return True


def modified_window(*, modified_after: datetime | None, modified_before: datetime | None) -> dict[str, Any]:
    """Query parameters for an incremental window, in UTC (see the client for the format)."""
    if modified_after is None:
        return {}
    window: dict[str, Any] = {"modified_after": modified_after, "dates_are_gmt": True}
    if modified_before is not None:
        window["modified_before"] = modified_before
    return window


def _page_variations(page: FetchedPage) -> tuple[list[VariationRecord] | None, list[ItemFailure]]:
    if page.variations_by_parent is None:
        return None, []
    records: list[VariationRecord] = []
    failures: list[ItemFailure] = []
    for product_id, items in page.variations_by_parent.items():
        parsed, failed = variation_records_parse(items, product_id=product_id)
        records += parsed
        failures += failed
    return records, failures


def products_pages_sync(*, context: SyncContext, params: dict[str, Any], with_variations_per_parent: bool) -> Listing:
    """Read a product listing (``params`` picks status/window) and write it page by page."""
    client, stats = context.client, context.stats
    fetch_variations = (
        (lambda items: variations_fetch_for_products(client=client, items=items))
        if with_variations_per_parent
        else None
    )
    listing = Listing.in_run(
        context,
        endpoint=PRODUCTS,
        params={**params, "_fields": _PRODUCT_FIELDS_PARAM},
        fetch_variations=fetch_variations,
    )
    for page in listing:
        # Unchanged products are recognised from their digest before any full parse; the
        # rest is written in one transaction (the sync lock makes this the only writer).
        screen = page_screen(model=Product, items=page.items)
        records, failures = product_records_parse(screen.changed)
        variations, variation_failures = _page_variations(page)
        stats.add(WriteResult(unchanged=screen.unchanged, failures=tuple(failures + variation_failures)))
        if not context.dry_run:
            categories_fetch_missing(context=context, records=records)
        stats.add(
            product_page_write(
                records=records,
                synced_at=context.synced_at,
                dry_run=context.dry_run,
                variations=variations,
                mirrored=screen.mirrored,
            )
        )
        if context.on_page is not None:
            context.on_page(page)
    return listing


def variations_pages_sync(
    *,
    context: SyncContext,
    params: dict[str, Any],
    pending_parents: Set[int] = frozenset(),
    parents_seen: set[int] | None = None,
) -> Listing:
    """Read the store-wide variations listing and write it page by page.

    ``parents_seen``, when given, collects the product ids of the variations read.
    """
    stats = context.stats
    listing = Listing.in_run(context, endpoint=VARIATIONS, params={**params, "_fields": _VARIATION_FIELDS_PARAM})
    for page in listing:
        screen = page_screen(model=ProductVariation, items=page.items)
        records, failures = variation_records_parse(screen.changed)
        if parents_seen is not None:
            parents_seen.update(record.product_id for record in records)
        stats.add(WriteResult(unchanged=screen.unchanged, failures=tuple(failures)))
        stats.add(
            variation_page_write(
                records=records,
                synced_at=context.synced_at,
                dry_run=context.dry_run,
                pending_parents=pending_parents,
                mirrored=screen.mirrored,
            )
        )
        if context.on_page is not None:
            context.on_page(page)
    return listing


def products_sync(
    *,
    context: SyncContext,
    store_variations: bool,
    modified_after: datetime | None = None,
    modified_before: datetime | None = None,
) -> Listing:
    """Mirror products and variations; incremental when ``modified_after`` is given.

    1. products (``status=any``: everything but the trash) modified in the window, with
       their variations in the same page transaction on stores without ``GET variations``;
    2. incremental only: products trashed in the window (``status=trash``), so a trash
       reaches the mirror without waiting for ``--full``;
    3. stores with ``GET variations``: variations modified in the window (a variation
       edit does not always touch its parent's ``date_modified``).

    Returns the product listing of step 1; its ``complete`` decides whether the run
    can serve as the next incremental watermark and whether deletions may be reconciled.
    """
    window = modified_window(modified_after=modified_after, modified_before=modified_before)
    should_stop = context.should_stop
    listing = products_pages_sync(
        context=context, params={"status": "any", **window}, with_variations_per_parent=not store_variations
    )
    if window and not should_stop():
        trash = products_pages_sync(
            context=context, params={"status": "trash", **window}, with_variations_per_parent=False
        )
        listing.failed_pages += trash.failed_pages
    if store_variations and not should_stop():
        parents_seen: set[int] = set()
        variations = variations_pages_sync(
            context=context,
            params=window,
            pending_parents=listing.seen_ids if context.dry_run else frozenset(),
            parents_seen=parents_seen,
        )
        listing.failed_pages += variations.failed_pages
        if window and not should_stop():
            # A variation edit changes its parent's derived price and stock status without
            # touching the parent's date_modified: re-read those parents too.
            products_refresh(context=context, product_ids=sorted(parents_seen - listing.seen_ids))
    return listing


def products_refresh(*, context: SyncContext, product_ids: list[int]) -> None:
    """Re-read the given products by id (``include``, 100 per request) and write them page by page.

    A request that fails after retries is recorded as a failed page; its products are left as they are.
    """
    client, stats = context.client, context.stats
    for start in range(0, len(product_ids), MAX_PER_PAGE):
        chunk = product_ids[start : start + MAX_PER_PAGE]
        try:
            response = client.get(
                PRODUCTS,
                {"include": chunk, "status": "any", "per_page": MAX_PER_PAGE, "_fields": _PRODUCT_FIELDS_PARAM},
            )
        except TRANSIENT_ERRORS as error:
            stats.page_failed(endpoint=f"{PRODUCTS} (by id)", page=start // MAX_PER_PAGE + 1, error=str(error))
            continue
        stats.pages += 1
        records, failures = product_records_parse(response.data if isinstance(response.data, list) else [])
        stats.add(WriteResult(failures=tuple(failures)))
        if not context.dry_run:
            categories_fetch_missing(context=context, records=records)
        stats.add(product_page_write(records=records, synced_at=context.synced_at, dry_run=context.dry_run))
