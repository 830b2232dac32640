"""The re-sync path: a page is screened once, its changed rows are not read again, and the run's
page commits do not wait for the WAL flush (PostgreSQL) while the run record does."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Category, Product, ProductCategory, ProductVariation
from sync.models import SyncMode
from sync.services.products import page_screen, product_records_parse, product_upsert_page
from sync.services.runs import SyncOptions, sync_execute
from sync.woocommerce.client import WooCommerceClient

pytestmark = pytest.mark.django_db


def product_page(server, *, per_page: int = 20) -> list[dict]:
    with WooCommerceClient.from_settings() as client:
        params = {"status": "any", "orderby": "id", "order": "asc"}
        return client.get_page("products", page=1, per_page=per_page, params=params).items


def full_sync(**options):
    with WooCommerceClient.from_settings() as client:
        return sync_execute(options=SyncOptions(mode=SyncMode.FULL, per_page=20), client=client, **options)


def test_the_screen_tells_new_changed_and_unchanged_items_apart(make_sandbox):
    # given a mirrored page, one product edited in the store and one missing from the mirror
    server = make_sandbox(products=20, variable_share=0.0, categories=3, seed=5)
    assert full_sync().status == "succeeded"
    items = product_page(server)
    edited, removed = items[3]["id"], items[7]["id"]
    server.catalog.edit_product(edited, regular_price="987.65")
    Product.objects.filter(id=removed).delete()
    items = product_page(server)

    # when the page is screened
    screen = page_screen(model=Product, items=items)

    # then only the new and the changed items are left, each marked with whether it has a row
    assert sorted(item["id"] for item in screen.changed) == sorted([edited, removed])
    assert screen.mirrored == {edited: True, removed: False}
    assert screen.unchanged == len(items) - 2


def test_a_screened_page_is_written_without_reading_its_products_again(make_sandbox):
    # given a screened page with one changed and one new product
    server = make_sandbox(products=20, variable_share=0.0, categories=3, seed=5)
    assert full_sync().status == "succeeded"
    items = product_page(server)
    edited, removed = items[3]["id"], items[7]["id"]
    server.catalog.edit_product(edited, regular_price="987.65")
    Product.objects.filter(id=removed).delete()
    screen = page_screen(model=Product, items=product_page(server))
    records, failures = product_records_parse(screen.changed)
    assert failures == []

    # when the page is written with what the screen found
    with CaptureQueriesContext(connection) as captured:
        result = product_upsert_page(records=records, synced_at=timezone.now(), mirrored=screen.mirrored)

    # then no statement compared the products again (the screen's SELECT reads sync_hash) ...
    rereads = [q["sql"] for q in captured.captured_queries if "sync_hash" in q["sql"] and "SELECT" in q["sql"][:10]]
    assert rereads == [], rereads
    assert (result.created, result.updated, result.unchanged) == (1, 1, 0)
    # ... and both rows, with their links, are the store's
    assert Product.objects.get(id=edited).regular_price == Decimal("987.65")
    restored = server.catalog.products[removed]
    assert set(ProductCategory.objects.filter(product_id=removed).values_list("category_id", flat=True)) == {
        ref["id"] for ref in restored["categories"]
    }


def test_a_changed_variable_product_retires_the_variations_it_no_longer_lists(make_sandbox):
    # given a mirrored variable product whose store listing drops one of its variations
    server = make_sandbox(products=30, variable_share=0.5, categories=3, seed=9)
    assert full_sync().status == "succeeded"
    parent = next(p for p in server.catalog.products.values() if p["type"] == "variable" and len(p["variations"]) > 1)
    dropped = parent["variations"][0]
    server.catalog.delete_variation(dropped)

    # when the store is synced again
    outcome = full_sync()

    # then that variation is soft-deleted and the others stay live
    assert outcome.status == "succeeded"
    assert ProductVariation.objects.get(id=dropped).deleted_at == outcome.started_at
    assert set(
        ProductVariation.objects.filter(product_id=parent["id"], deleted_at__isnull=True).values_list("id", flat=True)
    ) == set(server.catalog.products[parent["id"]]["variations"])


def test_categories_seen_in_the_mirror_are_not_looked_up_on_every_page(make_sandbox):
    # given a mirrored store of 3 categories whose products changed on several pages
    server = make_sandbox(products=120, variable_share=0.0, categories=3, seed=13)
    assert full_sync().status == "succeeded"
    ids = sorted(pid for pid, product in server.catalog.products.items() if product["status"] != "trash")
    for product_id in ids[::20]:  # one product on each page of 20
        server.catalog.edit_product(product_id, regular_price="55.50")

    # when the products are synced again
    with CaptureQueriesContext(connection) as captured, WooCommerceClient.from_settings() as client:
        outcome = sync_execute(options=SyncOptions(mode=SyncMode.PRODUCTS, per_page=20, rescan=True), client=client)

    # then the category table was read only until every category had been seen
    assert outcome.status == "succeeded"
    assert outcome.stats.updated >= 6
    category_table = Category._meta.db_table
    lookups = [q["sql"] for q in captured.captured_queries if f'FROM "{category_table}"' in q["sql"]]
    assert 1 <= len(lookups) <= 3, lookups


@pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is a PostgreSQL setting")
def test_page_commits_do_not_wait_for_the_wal_flush_but_the_run_record_does(make_sandbox):
    # given a store to mirror
    make_sandbox(products=40, variable_share=0.2, categories=3, seed=17)
    seen: list[str] = []

    def note_setting(page) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            seen.append(cursor.fetchone()[0])

    # when a run writes its pages
    outcome = full_sync(on_page=note_setting)

    # then every page was written with synchronous_commit off, and the setting is back for the record
    assert outcome.status == "succeeded"
    assert seen and set(seen) == {"off"}
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


def test_the_sync_command_runs_the_sync_checks_but_not_the_url_configuration(settings, monkeypatch):
    # given a sync setting that its check refuses, and a URL check that notes being called
    from django.core.checks import urls as url_checks
    from django.core.checks.registry import registry
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.SYNC_FIELD_RULES = "regular_price=concat"
    url_check_calls: list[bool] = []
    original = url_checks.check_url_config

    def noting(app_configs, **kwargs):
        url_check_calls.append(True)
        return original(app_configs, **kwargs)

    noting.tags = original.tags
    monkeypatch.setattr(registry, "registered_checks", {*registry.registered_checks - {original}, noting})

    # when the command starts with its system checks
    with pytest.raises(SystemCheckError, match=r"sync\.E001"):
        call_command("sync_woocommerce", "--full", "--dry-run", skip_checks=False)

    # then the sync's check ran and refused the start, and the URL configuration was not loaded for it
    assert url_check_calls == []
