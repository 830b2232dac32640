"""The naive baseline of ``bench_sync.py``: the usual shape of a WooCommerce → Django sync loop.

Same client, same pages (50 per page, ``orderby=id``), same parsing as ``sync_woocommerce``; then one
``update_or_create`` per category, per product (+ ``product.categories.set(...)``) and per variation,
each page in one ``transaction.atomic()``, page after page with no prefetch. Nothing is compared first:
every row is rewritten on every run. ``--autocommit`` drops the page transaction (every statement
commits on its own, as a loop written without ``atomic`` does): much slower, since each commit waits
for the WAL flush.

Run by the benchmark as its own process (so its CPU time and peak RSS are its own)::

    DJANGO_SETTINGS_MODULE=crushme_project.settings.base DATABASE_URL=... WOOCOMMERCE_URL=... \\
        python bench/sync_naive.py [--autocommit]

It prints one JSON line: counts, requests, and the seconds spent fetching vs writing.
The ``naive_*_write`` functions are also used in-process to count queries per page.

``--sample-products K`` stops after the product pages holding the first K products (by id) and
the variation pages of those products (variation ids follow their product's, as WordPress posts
do), so that a 200,000-product catalog can be compared in minutes: the JSON then also gives the
store's totals and the time and CPU spent in the listings (``listing_seconds``,
``listing_cpu_seconds``), from which ``bench_sync.py --naive-sample`` extrapolates. Variations
whose product is already mirrored count as writable in a sample (the loop did not list it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PER_PAGE = 50
STABLE = {"orderby": "id", "order": "asc"}


def naive_categories_write(records: Iterable, *, synced_at: datetime) -> int:
    from catalog.models import Category

    count = 0
    for record in records:
        Category.objects.update_or_create(id=record.id, defaults={**record.model_fields(), "synced_at": synced_at})
        count += 1
    return count


def naive_products_write(records: Iterable, *, synced_at: datetime) -> int:
    from catalog.models import Product

    count = 0
    for record in records:
        product, _ = Product.objects.update_or_create(
            id=record.id, defaults={**record.model_fields(), "deleted_at": None, "synced_at": synced_at}
        )
        product.categories.set([ref.id for ref in record.categories])
        count += 1
    return count


def naive_variations_write(records: Iterable, *, synced_at: datetime) -> int:
    from catalog.models import ProductVariation

    count = 0
    for record in records:
        ProductVariation.objects.update_or_create(
            id=record.id, defaults={**record.model_fields(), "deleted_at": None, "synced_at": synced_at}
        )
        count += 1
    return count


def naive_stock_write(records: Iterable, *, variation: bool, synced_at: datetime) -> int:
    from catalog.models import Product, ProductVariation

    model = ProductVariation if variation else Product
    count = 0
    for record in records:
        model.objects.update_or_create(
            id=record.id, defaults={**record.model_fields(variation=variation), "synced_at": synced_at}
        )
        count += 1
    return count


def main() -> int:
    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from sync.services.products import product_records_parse, variation_records_parse
    from sync.woocommerce.client import WooCommerceClient
    from sync.woocommerce.types import parse_category

    parser = argparse.ArgumentParser()
    parser.add_argument("--autocommit", action="store_true")
    parser.add_argument("--sample-products", type=int, default=0)
    args = parser.parse_args()
    sample = args.sample_products
    page_transaction = nullcontext if args.autocommit else transaction.atomic
    synced_at = timezone.now()
    fetch_seconds = parse_write_seconds = 0.0
    counts = {"categories": 0, "products": 0, "variations": 0, "skipped_variations": 0, "failed_items": 0}
    product_ids: set[int] = set()
    totals: dict[str, int | None] = {"products": None, "variations": None}
    if sample:
        from catalog.models import Product

        product_ids.update(Product.objects.values_list("id", flat=True))

    with WooCommerceClient.from_settings() as client:

        def pages(endpoint: str, params: dict):
            nonlocal fetch_seconds
            iterator = client.iter_pages(endpoint, per_page=PER_PAGE, params={**STABLE, **params})
            while True:
                started = time.perf_counter()
                page = next(iterator, None)
                fetch_seconds += time.perf_counter() - started
                if page is None:
                    return
                if totals.get(endpoint) is None:
                    totals[endpoint] = page.total
                yield page

        for page in pages("products/categories", {}):
            started = time.perf_counter()
            with page_transaction():
                counts["categories"] += naive_categories_write(
                    [parse_category(item) for item in page.items], synced_at=synced_at
                )
            parse_write_seconds += time.perf_counter() - started

        listing_started, listing_cpu_started = time.perf_counter(), time.process_time()
        last_sampled = 0
        for page in pages("products", {"status": "any"}):
            started = time.perf_counter()
            records, failures = product_records_parse(page.items)
            counts["failed_items"] += len(failures)
            product_ids.update(record.id for record in records)
            with page_transaction():
                counts["products"] += naive_products_write(records, synced_at=synced_at)
            parse_write_seconds += time.perf_counter() - started
            last_sampled = max([last_sampled, *(record.id for record in records)])
            if sample and counts["products"] >= sample:
                break

        for page in pages("variations", {}):
            if sample and all(
                isinstance(item, dict) and item.get("parent_id", 0) > last_sampled for item in page.items
            ):
                break
            started = time.perf_counter()
            records, failures = variation_records_parse(page.items)
            counts["failed_items"] += len(failures)
            # A variation of a product the listing did not return (trashed) has no row to point at.
            writable = [record for record in records if record.product_id in product_ids]
            counts["skipped_variations"] += len(records) - len(writable)
            if sample:
                writable = [record for record in writable if record.product_id <= last_sampled]
            with page_transaction():
                counts["variations"] += naive_variations_write(writable, synced_at=synced_at)
            parse_write_seconds += time.perf_counter() - started

        listing_seconds = time.perf_counter() - listing_started
        listing_cpu_seconds = time.process_time() - listing_cpu_started
        requests = client.requests_sent

    print(
        json.dumps(
            {
                **counts,
                "requests": requests,
                "page_transaction": page_transaction is not nullcontext,
                "fetch_seconds": round(fetch_seconds, 3),
                "parse_write_seconds": round(parse_write_seconds, 3),
                "sample_products": sample,
                "store_products": totals["products"],
                "store_variations": totals["variations"],
                "listing_seconds": round(listing_seconds, 3),
                "listing_cpu_seconds": round(listing_cpu_seconds, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
