"""sync_woocommerce in its four modes, against the sandbox over HTTP through the real client."""

import time
from decimal import Decimal

import pytest

from catalog.models import Category, Product, ProductVariation
from sync.models import SyncRun
from tests.sync.helpers import after_first_products_page, mirror_differences, run_sync


def last_run() -> SyncRun:
    return SyncRun.objects.order_by("-id").first()


@pytest.mark.django_db
def test_full_sync_mirrors_the_store_and_a_second_run_writes_nothing(make_sandbox):
    server = make_sandbox(products=400, variable_share=0.2, categories=12, seed=7)

    first = run_sync("--full")

    assert first.code == 0, first.stderr
    assert mirror_differences(server.catalog) == []
    run = last_run()
    assert run.status == "succeeded"
    assert run.created > 400  # products + variations + categories
    assert run.failed == 0
    assert run.listing_complete is True

    stamps = dict(Product.objects.values_list("id", "updated_at"))
    second = run_sync("--full")

    assert second.code == 0, second.stderr
    run = last_run()
    assert (run.created, run.updated, run.deleted) == (0, 0, 0)
    assert run.unchanged >= 400
    assert dict(Product.objects.values_list("id", "updated_at")) == stamps


@pytest.mark.django_db
def test_full_sync_on_a_store_without_store_wide_variations(make_sandbox):
    server = make_sandbox(products=120, variable_share=0.3, seed=3, store_variations=False)

    result = run_sync("--full")

    assert result.code == 0, result.stderr
    assert mirror_differences(server.catalog) == []
    assert ProductVariation.objects.count() > 0


@pytest.mark.django_db
def test_messy_data_does_not_break_a_sync(make_sandbox):
    server = make_sandbox(products=300, variable_share=0.1, categories=15, seed=11)
    products = server.catalog.products.values()
    assert any(p["slug"] == "" for p in products), "the sandbox should generate drafts with empty slugs"
    skus = [p["sku"] for p in products if p["sku"]]
    assert len(skus) != len(set(skus)), "the sandbox should generate duplicate SKUs"
    categories = server.catalog.categories.values()
    assert any(c["parent"] and c["parent"] > c["id"] for c in categories), "a child with a smaller id than its parent"

    result = run_sync("--full")

    assert result.code == 0, result.stderr
    assert mirror_differences(server.catalog) == []


@pytest.mark.django_db
def test_stock_mode_picks_up_stock_sold_without_date_modified(make_sandbox):
    server = make_sandbox(products=150, variable_share=0.3, seed=5)
    assert run_sync("--full").code == 0
    catalog = server.catalog
    product_id = next(
        pid
        for pid, p in catalog.products.items()
        if p["type"] == "simple" and p["manage_stock"] and p["status"] == "publish" and (p["stock_quantity"] or 0) > 3
    )
    variation_id = next(
        vid
        for vid, v in catalog.variations.items()
        if v["manage_stock"] is True
        and (v["stock_quantity"] or 0) > 2
        and catalog.products[v["parent_id"]]["status"] != "trash"
    )
    before_modified = catalog.products[product_id]["date_modified_gmt"]
    catalog.sell(product_id, 2)
    catalog.sell(variation_id, 1)
    assert catalog.products[product_id]["date_modified_gmt"] == before_modified

    incremental = run_sync("--products")
    assert incremental.code == 0, incremental.stderr
    assert Product.objects.get(id=product_id).stock_quantity != Decimal(catalog.products[product_id]["stock_quantity"])

    stock = run_sync("--stock")

    assert stock.code == 0, stock.stderr
    assert Product.objects.get(id=product_id).stock_quantity == Decimal(catalog.products[product_id]["stock_quantity"])
    assert ProductVariation.objects.get(id=variation_id).stock_quantity == Decimal(
        catalog.variations[variation_id]["stock_quantity"]
    )
    run = last_run()
    assert run.mode == "stock"
    assert run.updated == 2
    assert run.created == 0


@pytest.mark.django_db
def test_stock_mode_on_an_old_store_reads_variations_per_product(make_sandbox):
    server = make_sandbox(products=80, variable_share=0.4, seed=9, store_variations=False)
    assert run_sync("--full").code == 0
    catalog = server.catalog
    variation_id = next(
        vid
        for vid, v in catalog.variations.items()
        if v["manage_stock"] is True
        and (v["stock_quantity"] or 0) > 1
        and catalog.products[v["parent_id"]]["status"] != "trash"
    )
    catalog.sell(variation_id, 1)

    result = run_sync("--stock")

    assert result.code == 0, result.stderr
    assert ProductVariation.objects.get(id=variation_id).stock_quantity == Decimal(
        catalog.variations[variation_id]["stock_quantity"]
    )
    assert last_run().updated == 1


@pytest.mark.django_db
def test_incremental_products_picks_up_a_price_edit_and_reads_only_the_window(make_sandbox):
    server = make_sandbox(products=300, variable_share=0.1, seed=13)
    assert run_sync("--full").code == 0
    catalog = server.catalog
    product_id = next(pid for pid, p in catalog.products.items() if p["type"] == "simple" and p["status"] == "publish")
    catalog.edit_product(product_id, regular_price="123.45", sale_price="")
    server.reset_stats()

    result = run_sync("--products")

    assert result.code == 0, result.stderr
    assert Product.objects.get(id=product_id).price == Decimal("123.45")
    run = last_run()
    assert run.modified_after is not None
    assert run.updated == 1
    assert run.created == 0
    # One product changed: a handful of requests (probe, products, trash, variations), not a rescan of 300.
    assert server.stats["requests"] <= 6
    assert mirror_differences(catalog) == []


@pytest.mark.django_db
def test_an_edit_made_while_a_run_reads_the_store_is_picked_up_by_the_next_incremental_run(make_sandbox, settings):
    # The watermark is the run's start (minus the overlap), not its end: an edit to a page already read
    # during a run lies between the two. A 1 s overlap (WooCommerce dates have whole seconds) and a run of
    # over 3 s (300 ms per request) make the difference visible.
    settings.SYNC_INCREMENTAL_OVERLAP_SECONDS = 1
    server = make_sandbox(products=100, variable_share=0.0, seed=17, latency_ms=300)
    first_id = min(pid for pid, p in server.catalog.products.items() if p["status"] == "publish")

    started = time.monotonic()
    with after_first_products_page(
        server, lambda: server.catalog.edit_product(first_id, regular_price="77.70", sale_price="")
    ):
        assert run_sync("--products", "--batch-size", "10").code == 0
    assert time.monotonic() - started > 3.0
    assert Product.objects.get(id=first_id).price != Decimal("77.70")  # read before the edit

    result = run_sync("--products")

    assert result.code == 0, result.stderr
    assert last_run().modified_after is not None
    assert Product.objects.get(id=first_id).price == Decimal("77.70")


@pytest.mark.django_db
def test_products_all_rescans_everything(make_sandbox):
    make_sandbox(products=120, variable_share=0.1, seed=2)
    assert run_sync("--full").code == 0

    result = run_sync("--products", "--all", "--batch-size", "20")

    assert result.code == 0, result.stderr
    run = last_run()
    assert run.modified_after is None
    assert run.unchanged >= 120
    assert run.pages >= 120 // 20


@pytest.mark.django_db
def test_incremental_products_catches_a_trash_and_a_new_product(make_sandbox):
    server = make_sandbox(products=100, variable_share=0.1, seed=17)
    assert run_sync("--full").code == 0
    catalog = server.catalog
    trashed = next(pid for pid, p in catalog.products.items() if p["status"] == "publish")
    catalog.trash_product(trashed)
    added = catalog.add_product(name="Brand new", regular_price="9.99")

    result = run_sync("--products")

    assert result.code == 0, result.stderr
    assert Product.objects.get(id=trashed).status == "trash"
    assert Product.objects.get(id=added).name == "Brand new"


@pytest.mark.django_db
def test_full_sync_marks_trashed_and_deleted_products(make_sandbox):
    server = make_sandbox(products=200, variable_share=0.2, seed=19)
    assert run_sync("--full").code == 0
    catalog = server.catalog
    publishable = [pid for pid, p in catalog.products.items() if p["status"] == "publish"]
    trashed, deleted = publishable[0], publishable[1]
    variable = next(pid for pid in publishable[2:] if catalog.products[pid]["type"] == "variable")
    catalog.trash_product(trashed)
    catalog.delete_product(deleted)
    catalog.delete_product(variable)
    removed_variation = next(
        vid
        for vid, v in catalog.variations.items()
        if catalog.products[v["parent_id"]]["status"] == "publish"
        and len(catalog.products[v["parent_id"]]["variations"]) > 1
    )
    catalog.delete_variation(removed_variation)

    result = run_sync("--full")

    assert result.code == 0, result.stderr
    assert Product.objects.get(id=trashed).status == "trash"
    assert Product.objects.get(id=trashed).deleted_at is None
    assert Product.objects.get(id=deleted).deleted_at is not None
    assert Product.objects.get(id=variable).deleted_at is not None
    assert not ProductVariation.objects.filter(product_id=variable, deleted_at__isnull=True).exists()
    assert ProductVariation.objects.get(id=removed_variation).deleted_at is not None
    assert last_run().deleted >= 3
    assert mirror_differences(catalog) == []


@pytest.mark.django_db
def test_mass_deletion_beyond_the_guard_is_refused_then_allowed(make_sandbox, settings):
    settings.SYNC_MASS_DELETE_MAX_SHARE = 0.10
    settings.SYNC_MASS_DELETE_MIN_COUNT = 5
    server = make_sandbox(products=100, variable_share=0.0, seed=23)
    assert run_sync("--full").code == 0
    catalog = server.catalog
    live_before = Product.objects.filter(deleted_at__isnull=True).count()
    doomed = [pid for pid, p in catalog.products.items() if p["status"] != "trash"][:30]
    for pid in doomed:
        catalog.delete_product(pid)

    refused = run_sync("--full")

    assert refused.code == 5, refused.stderr
    assert "--allow-mass-delete" in refused.stderr
    assert Product.objects.filter(deleted_at__isnull=True).count() == live_before
    assert last_run().status == "partial"

    allowed = run_sync("--full", "--allow-mass-delete")

    assert allowed.code == 0, allowed.stderr
    assert Product.objects.filter(id__in=doomed, deleted_at__isnull=False).count() == 30


@pytest.mark.django_db
def test_categories_mode_mirrors_the_tree_and_removes_deleted_ones(make_sandbox):
    server = make_sandbox(products=20, categories=12, seed=29)
    assert run_sync("--categories").code == 0
    assert Category.objects.count() == len(server.catalog.categories)
    leaf = next(
        cid
        for cid in server.catalog.categories
        if not any(c["parent"] == cid for c in server.catalog.categories.values())
    )
    server.catalog.delete_category(leaf)
    server.catalog.edit_category(next(iter(server.catalog.categories)), name="Renamed")

    result = run_sync("--categories")

    assert result.code == 0, result.stderr
    assert not Category.objects.filter(id=leaf).exists()
    assert Category.objects.filter(name="Renamed").count() == 1
    run = last_run()
    assert (run.updated, run.deleted) == (1, 1)


@pytest.mark.django_db
def test_dry_run_reports_and_writes_nothing(make_sandbox):
    make_sandbox(products=60, seed=31)

    result = run_sync("--full", "--dry-run")

    assert result.code == 0, result.stderr
    assert "dry run: nothing written" in result.stdout
    assert "would create" in result.stdout
    assert Product.objects.count() == 0
    assert Category.objects.count() == 0
    assert SyncRun.objects.count() == 0


def mirror_snapshot() -> tuple:
    return (
        sorted(Category.objects.values_list("id", "name", "updated_at")),
        sorted(Product.objects.values_list("id", "price", "stock_quantity", "status", "deleted_at", "updated_at")),
        sorted(ProductVariation.objects.values_list("id", "price", "stock_quantity", "updated_at")),
        list(SyncRun.objects.values_list("id", "status", "finished_at")),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["--stock", "--products", "--categories", "--full"])
def test_dry_run_of_every_mode_reports_changes_and_writes_nothing_to_a_mirror(make_sandbox, mode):
    server = make_sandbox(products=60, variable_share=0.2, categories=8, seed=32)
    assert run_sync("--full").code == 0
    product_id = next(pid for pid, p in server.catalog.products.items() if p["status"] == "publish")
    server.catalog.sell(product_id, 1)  # stock: not in date_modified
    server.catalog.edit_product(product_id, regular_price="999.00")  # --products
    server.catalog.edit_category(next(iter(server.catalog.categories)), name="Renamed")  # --categories
    before = mirror_snapshot()

    result = run_sync(mode, "--dry-run")

    assert result.code == 0, result.stderr
    assert "dry run: nothing written" in result.stdout
    expected = {"--stock": 1, "--products": 1, "--categories": 1, "--full": 2}[mode]  # --full: product + category
    assert f"would create 0 · would update {expected} ·" in result.stdout
    assert mirror_snapshot() == before


@pytest.mark.django_db
def test_a_product_sync_creates_stub_categories_it_does_not_know_yet(make_sandbox):
    server = make_sandbox(products=40, categories=6, seed=37)

    result = run_sync("--products")

    assert result.code == 0, result.stderr
    referenced = {
        ref["id"] for p in server.catalog.products.values() if p["status"] != "trash" for ref in p["categories"]
    }
    assert referenced <= set(Category.objects.values_list("id", flat=True))


@pytest.mark.django_db
def test_full_sync_of_5000_products_equals_the_store_row_by_row(make_sandbox):
    server = make_sandbox(products=5000, variable_share=0.1, categories=40, seed=42)

    first = run_sync("--full")

    assert first.code == 0, first.stderr
    assert Product.objects.count() >= 4800
    assert mirror_differences(server.catalog) == []

    second = run_sync("--full")

    assert second.code == 0, second.stderr
    run = last_run()
    assert (run.created, run.updated, run.deleted, run.failed) == (0, 0, 0, 0)


@pytest.mark.django_db
def test_a_run_that_changes_something_bumps_the_catalog_cache_version_and_one_that_does_not_leaves_it(make_sandbox):
    from catalog.cache import catalog_version_get

    make_sandbox(products=30, seed=79)
    before = catalog_version_get()

    assert run_sync("--full").code == 0
    after_change = catalog_version_get()
    assert after_change > before

    assert run_sync("--full").code == 0
    assert catalog_version_get() == after_change


@pytest.mark.django_db
def test_incremental_products_picks_up_a_variation_edit_and_its_parents_derived_price(make_sandbox):
    server = make_sandbox(products=120, variable_share=0.5, seed=83)
    assert run_sync("--full").code == 0
    catalog = server.catalog
    parent_id = next(pid for pid, p in catalog.products.items() if p["type"] == "variable" and p["status"] == "publish")
    variation_id = catalog.products[parent_id]["variations"][0]
    parent_modified = catalog.products[parent_id]["date_modified_gmt"]
    catalog.edit_variation(variation_id, regular_price="0.50", sale_price="")
    assert catalog.products[parent_id]["date_modified_gmt"] == parent_modified  # as on real stores
    assert catalog.products[parent_id]["price"] == "0.50"

    result = run_sync("--products")

    assert result.code == 0, result.stderr
    assert ProductVariation.objects.get(id=variation_id).price == Decimal("0.50")
    assert Product.objects.get(id=parent_id).price == Decimal("0.50")
    assert mirror_differences(catalog) == []


@pytest.mark.django_db
def test_a_rescan_rewrites_exactly_the_products_whose_mirrored_values_changed(make_sandbox):
    server = make_sandbox(products=120, variable_share=0.2, categories=8, seed=89)
    assert run_sync("--full").code == 0
    catalog = server.catalog
    simple = [pid for pid, p in catalog.products.items() if p["status"] == "publish" and p["type"] == "simple"]
    other_category = next(iter(catalog.categories))
    catalog.edit_product(simple[0], name="Renamed product")
    catalog.edit_product(simple[1], categories=[other_category])
    catalog.edit_product(simple[2], images=[])
    catalog.sell(simple[3], 1)  # stock only, date_modified untouched
    stamps = dict(Product.objects.values_list("id", "updated_at"))

    result = run_sync("--full")

    assert result.code == 0, result.stderr
    rewritten = {pid for pid, stamp in Product.objects.values_list("id", "updated_at") if stamp != stamps[pid]}
    assert rewritten == set(simple[:4])
    assert last_run().created == 0
    assert mirror_differences(catalog) == []


@pytest.mark.parametrize("mode", ["full", "categories", "stock", "products"])
def test_the_ids_written_are_not_kept_past_their_page(mode):
    # --full bumps everything, so it needs no ids; kept for a whole run they grew with the catalog (about
    # 14 MB of a 200,000-product run's peak RSS). The per-product modes hand them to the cache per page.
    from sync.services.paging import FetchedPage
    from sync.services.results import SyncStats, WriteResult
    from sync.services.runs import _CacheBumper

    stats = SyncStats()
    bumper = _CacheBumper(stats=stats, on_page=None, enabled=False, mode=mode)
    for number in range(1, 4):
        stats.add(
            WriteResult(updated=2, products_changed=frozenset({number, 100 + number}), parents_changed=frozenset({7}))
        )
        bumper(FetchedPage(endpoint="products", number=number, total_pages=3, total=6, items=[]))

        assert (stats.products_changed, stats.parents_changed) == (set(), set())
