"""A hostile store: values no database takes, entries that are not objects, lying headers, repeated ids.

Each case is served over HTTP by the sandbox (``catalog.set_raw_item`` serves a JSON text in an
item's place, byte for byte). Whatever the store sends, ``--full`` ends 0 or 3 without a traceback,
every good item is written, the hostile one is stored cleaned or named in ``failed_items``, and the
run record is closed. Once the store is fixed, the next run converges.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection

from catalog.models import Category, Product, ProductVariation
from sync.models import SyncRun
from sync.sandbox.control import SandboxControl, SandboxControlError
from sync.services.live import product_fetch_on_demand
from sync.woocommerce.types import (
    CATEGORY_FIELDS,
    INT32_MAX,
    INT64_MAX,
    PRODUCT_FIELDS,
    VARIATION_FIELDS,
    parse_category,
    parse_product,
    parse_variation,
)
from tests.catalog.fixtures import isolated_cache  # noqa: F401
from tests.sync.helpers import expected_live_products, mirror_differences, run_sync


class _Deep:
    """Stands for 100,000 nested lists in ``raw_with`` (which ``json.dumps`` could not write)."""


DEEP = _Deep()


@pytest.fixture(autouse=True)
def _own_cache(isolated_cache):  # noqa: F811 - on-demand "missing" keys must not leak between tests
    return None


def last_run() -> SyncRun:
    return SyncRun.objects.order_by("-id").first()


def simple_product(catalog) -> int:
    return next(pid for pid, p in catalog.products.items() if p["status"] == "publish" and p["type"] == "simple")


def live_variations(catalog) -> list[int]:
    return sorted(
        vid for vid, v in catalog.variations.items() if catalog.products[v["parent_id"]]["status"] == "publish"
    )


def raw_with(payload: dict, **changes: object) -> str:
    """The payload as JSON text with fields changed; a value ``DEEP`` becomes 100,000 nested lists,
    which ``json.dumps`` could not write."""
    deep = {name for name, value in changes.items() if value is DEEP}
    text = json.dumps(
        {**payload, **{name: f"@@{name}@@" if name in deep else value for name, value in changes.items()}}
    )
    for name in deep:
        text = text.replace(f'"@@{name}@@"', "[" * 100_000 + "]" * 100_000)
    return text


def good_items_differences(catalog, *, hostile: tuple[str, int]) -> list[str]:
    """Differences between store and mirror for every live item except ``hostile`` (kind, id)."""
    problems: list[str] = []
    for cid in list(catalog.categories):
        if ("category", cid) == hostile:
            continue
        record = parse_category(catalog.category_payload(cid))
        row = Category.objects.filter(id=cid).first()
        if row is None:
            problems.append(f"category {cid} missing")
            continue
        problems += [f"category {cid}.{n}" for n in CATEGORY_FIELDS if getattr(row, n) != getattr(record, n)]
    for pid, payload in expected_live_products(catalog).items():
        record = parse_product(payload)
        if ("product", pid) != hostile:
            row = Product.objects.filter(id=pid, deleted_at__isnull=True).first()
            if row is None:
                problems.append(f"product {pid} missing")
                continue
            problems += [f"product {pid}.{n}" for n in PRODUCT_FIELDS if getattr(row, n) != getattr(record, n)]
        elif record.type == "variable":
            continue  # variations of a failed product wait for it
        for vid in record.variation_ids:
            if ("variation", vid) == hostile:
                continue
            expected = parse_variation(catalog.variation_payload(vid), product_id=pid)
            row = ProductVariation.objects.filter(id=vid, deleted_at__isnull=True).first()
            if row is None:
                problems.append(f"variation {vid} missing")
                continue
            problems += [f"variation {vid}.{n}" for n in VARIATION_FIELDS if getattr(row, n) != getattr(expected, n)]
    return problems


def assert_closed_without_traceback(result, *, code: int) -> SyncRun:
    assert result.code == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    run = last_run()
    assert run.status == ("succeeded" if code == 0 else "partial")
    assert run.finished_at is not None
    return run


# --- values that are cleaned: the item is stored, the run succeeds ---------------------------------------

CLEANED: list[tuple[str, str, object, Callable[[object], object], object]] = [
    # (case, field, value sent, how to read the stored value, expected stored value)
    ("NUL in a name", "name", "Bad\u0000Name", lambda row: row.name, "BadName"),
    ("lone surrogate in a name", "name", "Bad\ud800Name", lambda row: row.name, "Bad\ufffdName"),
    ("NUL and surrogate in a SKU", "sku", "SKU\u0000-\udfff", lambda row: row.sku, "SKU-\ufffd"),
    (
        "NUL inside a JSON field, key included",
        "attributes",
        [{"name\u0000": "Colour\u0000", "options": ["Red\u0000", "\ud800"]}],
        lambda row: row.attributes,
        [{"name": "Colour", "options": ["Red", "\ufffd"]}],
    ),
    ("average_rating 12345", "average_rating", "12345", lambda row: row.average_rating, Decimal("5.00")),
    ("menu_order 2^40", "menu_order", 2**40, lambda row: row.menu_order, INT32_MAX),
    ("menu_order -2^40", "menu_order", -(2**40), lambda row: row.menu_order, -INT32_MAX - 1),
    ("rating_count 2^31", "rating_count", 2**31, lambda row: row.rating_count, INT32_MAX),
    ("low_stock_amount 10^12", "low_stock_amount", 10**12, lambda row: row.low_stock_amount, INT32_MAX),
    ("total_sales 10^20", "total_sales", 10**20, lambda row: row.total_sales, INT64_MAX),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value", "read", "expected"), [c[1:] for c in CLEANED], ids=[c[0] for c in CLEANED])
def test_a_product_value_no_database_takes_is_stored_cleaned(make_sandbox, field, value, read, expected):
    server = make_sandbox(products=30, variable_share=0.2, categories=5, seed=301)
    hostile = simple_product(server.catalog)
    server.catalog.set_raw_item("product", hostile, raw_with(server.catalog.product_payload(hostile), **{field: value}))

    result = run_sync("--full")

    run = assert_closed_without_traceback(result, code=0)
    assert run.failed == 0
    assert read(Product.objects.get(id=hostile)) == expected
    assert good_items_differences(server.catalog, hostile=("product", hostile)) == []

    server.catalog.set_raw_item("product", hostile, None)
    assert run_sync("--full").code == 0
    assert mirror_differences(server.catalog) == []


# --- values with no clean form: the item fails alone, named ---------------------------------------------

FAILED: list[tuple[str, dict, str]] = [
    # (case, fields sent, what the failure says)
    ("id 2^63", {"id": 2**63}, "id out of range"),
    ("year-1 date with an offset", {"date_on_sale_from_gmt": "0001-01-01T00:00:00+05:00"}, "date_on_sale_from_gmt"),
    ("impossible date", {"date_modified_gmt": "2024-02-30T10:00:00"}, "date_modified_gmt"),
    ("price 10^20", {"regular_price": "100000000000000000000"}, "regular_price"),
    ("JSON nested 100,000 deep", {"attributes": DEEP}, "nested too deep"),
    ("JSON nested 100 deep", {"images": json.loads("[" * 100 + "]" * 100)}, "nested deeper than 64"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "error"), [c[1:] for c in FAILED], ids=[c[0] for c in FAILED])
def test_a_product_value_without_a_clean_form_fails_that_item_alone(make_sandbox, fields, error):
    server = make_sandbox(products=30, variable_share=0.2, categories=5, seed=303)
    hostile = simple_product(server.catalog)
    server.catalog.set_raw_item("product", hostile, raw_with(server.catalog.product_payload(hostile), **fields))

    result = run_sync("--full")

    run = assert_closed_without_traceback(result, code=3)
    assert run.failed == 1
    [failure] = run.failed_items
    assert failure["resource"] == "product"
    assert failure["id"] == (None if "id" in fields else hostile)
    assert error in failure["error"]
    assert len(failure["error"]) <= 300
    assert not Product.objects.filter(id=hostile).exists()
    assert good_items_differences(server.catalog, hostile=("product", hostile)) == []

    server.catalog.set_raw_item("product", hostile, None)
    assert run_sync("--full").code == 0
    assert mirror_differences(server.catalog) == []


@pytest.mark.django_db
def test_a_number_of_5000_digits_fails_its_item_not_its_page(make_sandbox):
    server = make_sandbox(products=30, variable_share=0.0, categories=5, seed=305)
    hostile = simple_product(server.catalog)
    text = raw_with(server.catalog.product_payload(hostile), total_sales="@@")
    server.catalog.set_raw_item("product", hostile, text.replace('"@@"', "9" * 5000))

    run = assert_closed_without_traceback(run_sync("--full"), code=3)

    assert [(f["id"], "cannot be decoded" in f["error"]) for f in run.failed_items] == [(hostile, True)]
    assert good_items_differences(server.catalog, hostile=("product", hostile)) == []


@pytest.mark.django_db
@pytest.mark.parametrize("entry", ['"a string"', "42", "null", "[1, 2]"])
def test_a_non_object_entry_in_a_page_fails_alone(make_sandbox, entry):
    server = make_sandbox(products=30, variable_share=0.2, categories=5, seed=307)
    hostile = simple_product(server.catalog)
    server.catalog.set_raw_item("product", hostile, entry)

    run = assert_closed_without_traceback(run_sync("--full"), code=3)

    assert run.failed == 1
    assert run.failed_items[0]["id"] is None
    assert "expected an object" in run.failed_items[0]["error"]
    assert good_items_differences(server.catalog, hostile=("product", hostile)) == []
    assert not run.listing_complete  # the entry hides an item: no deletion is reconciled from this listing


@pytest.mark.django_db
@pytest.mark.parametrize("store_variations", [True, False], ids=["store-wide variations", "per-product variations"])
def test_hostile_variation_values_are_cleaned_or_fail_alone(make_sandbox, store_variations):
    server = make_sandbox(products=30, variable_share=0.5, categories=5, seed=309, store_variations=store_variations)
    catalog = server.catalog
    cleaned, failed = live_variations(catalog)[:2]
    catalog.set_raw_item(
        "variation",
        cleaned,
        raw_with(
            catalog.variation_dict(cleaned, with_parent_id=store_variations), sku="V\u0000\ud800", menu_order=2**40
        ),
    )
    catalog.set_raw_item(
        "variation", failed, raw_with(catalog.variation_dict(failed, with_parent_id=store_variations), image=DEEP)
    )

    run = assert_closed_without_traceback(run_sync("--full"), code=3)

    row = ProductVariation.objects.get(id=cleaned)
    assert (row.sku, row.menu_order) == ("V\ufffd", INT32_MAX)
    assert [(f["resource"], f["id"]) for f in run.failed_items] == [("variation", failed)]
    assert not ProductVariation.objects.filter(id=failed).exists()
    problems = good_items_differences(catalog, hostile=("variation", failed))
    assert problems == [f"variation {cleaned}.sku", f"variation {cleaned}.menu_order"]


@pytest.mark.django_db
def test_hostile_category_values_are_cleaned_or_fail_alone(make_sandbox):
    server = make_sandbox(products=30, variable_share=0.0, categories=6, seed=311)
    catalog = server.catalog
    cleaned, failed = sorted(catalog.categories)[:2]
    catalog.set_raw_item("category", cleaned, raw_with(catalog.category_payload(cleaned), count=2**40, name="C\u0000"))
    catalog.set_raw_item("category", failed, raw_with(catalog.category_payload(failed), id=2**63))

    run = assert_closed_without_traceback(run_sync("--categories"), code=3)

    row = Category.objects.get(id=cleaned)
    assert (row.name, row.count) == ("C", INT32_MAX)
    assert [(f["resource"], f["id"]) for f in run.failed_items] == [("category", None)]
    assert "id out of range" in run.failed_items[0]["error"]
    assert Category.objects.count() == len(catalog.categories) - 1


@pytest.mark.django_db
def test_stock_mode_fails_an_unreadable_item_alone(make_sandbox):
    server = make_sandbox(products=30, variable_share=0.2, categories=5, seed=313)
    assert run_sync("--full").code == 0
    hostile = simple_product(server.catalog)
    other = next(
        pid
        for pid, p in server.catalog.products.items()
        if pid != hostile and p["status"] == "publish" and p["type"] == "simple" and p["manage_stock"] is True
    )
    server.catalog.sell(other, 1)
    server.catalog.set_raw_item("product", hostile, raw_with(server.catalog.product_payload(hostile), tags=DEEP))

    run = assert_closed_without_traceback(run_sync("--stock"), code=3)

    assert [(f["id"], "nested too deep" in f["error"]) for f in run.failed_items] == [(hostile, True)]
    assert Product.objects.get(id=other).stock_quantity == Decimal(
        str(server.catalog.products[other]["stock_quantity"])
    )


# --- the store contradicting itself ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_store_claiming_a_million_pages_is_read_up_to_its_first_empty_page(make_sandbox):
    server = make_sandbox(products=120, variable_share=0.0, categories=5, seed=317)
    server.catalog.claimed_total = 100 * 10**6  # 10^6 pages of 100

    result = run_sync("--full", "--batch-size", "100")

    run = assert_closed_without_traceback(result, code=3)
    # categories: 1 page + the empty one; products: 2 pages + the empty one; the probe.
    assert server.stats["requests"] <= 8
    assert "page 3 was empty although the store announced 1000000 pages" in run.error_summary
    assert run.listing_complete is False
    server.catalog.claimed_total = None
    assert mirror_differences(server.catalog) == []


@pytest.mark.django_db
def test_a_store_repeating_its_first_page_forever_is_read_once(make_sandbox):
    server = make_sandbox(products=120, variable_share=0.0, categories=5, seed=318)
    server.catalog.claimed_total = 100 * 10**6
    server.catalog.ignores_page = True

    run = assert_closed_without_traceback(run_sync("--full", "--batch-size", "100"), code=3)

    assert server.stats["requests"] <= 8  # each listing: its first page, then the repeat that ends it
    assert "products: page 2 held only items already read" in run.error_summary
    assert Product.objects.count() == 100


@pytest.mark.django_db
def test_a_100_kb_value_makes_a_short_failure_record(make_sandbox):
    server = make_sandbox(products=30, variable_share=0.0, categories=5, seed=333)
    hostile = simple_product(server.catalog)
    server.catalog.set_raw_item(
        "product", hostile, raw_with(server.catalog.product_payload(hostile), regular_price="9" * 100_000)
    )

    run = assert_closed_without_traceback(run_sync("--full"), code=3)

    [failure] = run.failed_items
    assert failure["id"] == hostile
    assert failure["error"].startswith("field 'regular_price': number out of range: '99999")
    assert len(json.dumps(run.failed_items)) < 300


@pytest.mark.django_db
def test_an_id_listed_twice_ends_partial_with_a_note_and_reconciles_nothing(make_sandbox):
    server = make_sandbox(products=30, variable_share=0.0, categories=5, seed=319)
    assert run_sync("--full").code == 0
    catalog = server.catalog
    first, repeated = sorted(pid for pid, p in catalog.products.items() if p["status"] == "publish")[:2]
    catalog.set_raw_item("product", repeated, json.dumps(catalog.product_payload(first)))
    catalog.delete_product(max(catalog.products))  # a deletion the incomplete listing must not act on

    run = assert_closed_without_traceback(run_sync("--full"), code=3)

    assert f"listed #{first} again" in run.error_summary
    assert "deletions were not reconciled" in run.error_summary
    assert run.listing_complete is False
    assert run.deleted == 0


# --- capability probe, database refusals, on-demand, categories -----------------------------------------


@pytest.mark.django_db
def test_a_5xx_on_the_variations_probe_falls_back_to_per_product_variations(make_sandbox, settings):
    settings.WOOCOMMERCE_MAX_RETRIES = 1
    server = make_sandbox(products=30, variable_share=0.4, categories=5, seed=321)
    server.set_faults(count=2, kinds=("502",), paths=r"/wc/v3/variations$")  # the probe and its retry

    result = run_sync("--full")

    assert_closed_without_traceback(result, code=0)
    assert mirror_differences(server.catalog) == []
    assert server.stats["by_endpoint"].get("GET products/<id>/variations", 0) > 0


def refuse_product(column: str, value: str) -> None:
    """Make the database itself refuse a product row with this value (the parser has nothing against it)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Fire the list epoch's deferred triggers first: ALTER TABLE refuses pending trigger events.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE catalog_product ADD CONSTRAINT refuse_{column} CHECK ({column} <> '{value}')")
        else:
            for event in ("INSERT", "UPDATE"):
                cursor.execute(
                    f"CREATE TRIGGER refuse_{column}_{event} BEFORE {event} ON catalog_product "
                    f"WHEN NEW.{column} = '{value}' BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
                )


@pytest.mark.django_db
def test_a_page_the_database_refuses_is_written_item_by_item(make_sandbox):
    server = make_sandbox(products=40, variable_share=0.3, categories=5, seed=323, store_variations=False)
    refused = simple_product(server.catalog)
    server.catalog.edit_product(refused, name="Refused by the database")
    refuse_product("name", "Refused by the database")

    run = assert_closed_without_traceback(run_sync("--full", "--batch-size", "20"), code=3)

    assert [(f["resource"], f["id"]) for f in run.failed_items] == [("product", refused)]
    assert run.failed_items[0]["error"].startswith("the database refused it: IntegrityError")
    assert good_items_differences(server.catalog, hostile=("product", refused)) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "stored"),
    [({"attributes": DEEP}, False), ({"total_sales": 10**20, "name": "N\u0000"}, True)],
    ids=["unreadable", "cleaned"],
)
def test_the_on_demand_fetch_of_a_hostile_product_never_raises(make_sandbox, client, fields, stored):
    server = make_sandbox(products=10, variable_share=0.0, categories=3, seed=325)
    hostile = next(
        pid
        for pid, p in server.catalog.products.items()
        if p["status"] == "publish" and p["type"] == "simple" and p["catalog_visibility"] == "visible"
    )
    server.catalog.set_raw_item("product", hostile, raw_with(server.catalog.product_payload(hostile), **fields))

    assert product_fetch_on_demand(product_id=hostile) == (hostile if stored else None)

    response = client.get(f"/api/products/{hostile}/")
    assert response.status_code == (200 if stored else 404)
    if stored:
        assert response.json()["name"] == "N"


@pytest.mark.django_db
def test_products_fetches_a_new_subcategory_with_its_new_parent(make_sandbox):
    server = make_sandbox(products=30, variable_share=0.0, categories=5, seed=327)
    assert run_sync("--full").code == 0
    catalog = server.catalog
    parent = catalog.add_category(name="New Parent", description="top")
    child = catalog.add_category(name="New Child", parent=parent)
    product = simple_product(catalog)
    catalog.edit_product(product, categories=[{"id": child}])

    result = run_sync("--products")

    assert result.code == 0, result.stderr
    for cid in (parent, child):
        row = Category.objects.get(id=cid)
        expected = parse_category(catalog.category_payload(cid))
        assert {n: getattr(row, n) for n in CATEGORY_FIELDS} == expected.model_fields()
    assert Category.objects.get(id=child).parent_id == parent
    assert Category.objects.get(id=child).count == 1
    assert set(Product.objects.get(id=product).categories.values_list("id", flat=True)) == {child}


@pytest.mark.django_db
def test_the_control_interface_serves_a_raw_item_and_restores_it(make_sandbox):
    server = make_sandbox(products=10, variable_share=0.0, categories=3, seed=329)
    hostile = simple_product(server.catalog)
    with SandboxControl(server.url) as control:
        control.set_raw_item("product", hostile, "[" * 100_000 + "]" * 100_000)
        with pytest.raises(SandboxControlError):
            control.set_raw_item("order", hostile, "42")

        run = assert_closed_without_traceback(run_sync("--full"), code=3)
        assert [(f["id"], "nested too deep" in f["error"]) for f in run.failed_items] == [(None, True)]

        control.set_raw_item("product", hostile, None)
    assert run_sync("--full").code == 0
    assert mirror_differences(server.catalog) == []


@pytest.mark.django_db
def test_new_categories_the_store_fails_to_serve_are_left_as_stubs(make_sandbox, settings):
    settings.WOOCOMMERCE_MAX_RETRIES = 1
    server = make_sandbox(products=30, variable_share=0.0, categories=5, seed=331)
    assert run_sync("--full").code == 0
    catalog = server.catalog
    parent = catalog.add_category(name="Parent")
    child = catalog.add_category(name="Stub Child", parent=parent)
    product = simple_product(catalog)
    catalog.edit_product(product, categories=[{"id": child}])
    server.set_faults(count=2, kinds=("500",), paths=r"/products/categories$")  # the include= request, retried

    result = run_sync("--products")

    assert result.code == 0, result.stderr
    stub = Category.objects.get(id=child)
    assert (stub.name, stub.parent_id, stub.count) == ("Stub Child", None, 0)
    assert not Category.objects.filter(id=parent).exists()
    assert set(Product.objects.get(id=product).categories.values_list("id", flat=True)) == {child}


@pytest.mark.django_db
def test_live_stock_the_database_refuses_answers_local_not_500(make_sandbox, client, caplog):
    server = make_sandbox(products=10, variable_share=0.0, categories=3, seed=335)
    assert run_sync("--full").code == 0
    hostile = next(
        pid
        for pid, p in server.catalog.products.items()
        if p["status"] == "publish" and p["type"] == "simple" and p["catalog_visibility"] == "visible"
    )
    server.catalog.set_raw_item(
        "product", hostile, raw_with(server.catalog.product_payload(hostile), stock_status="refused")
    )
    refuse_product("stock_status", "refused")

    response = client.get(f"/api/products/{hostile}/", {"real_time_stock": "true"})

    assert response.status_code == 200
    source = response.json()["stock_source"]
    assert (source["source"], source["reason"]) == ("local", "error")
    assert "the database refused it" in caplog.text
    assert Product.objects.get(id=hostile).stock_status != "refused"


@pytest.mark.django_db
def test_a_failed_category_is_reported_once_and_its_products_still_land(make_sandbox):
    server = make_sandbox(products=40, variable_share=0.0, categories=4, seed=337)
    catalog = server.catalog
    counts: dict[int, int] = {}
    for product in catalog.products.values():
        for ref in product["categories"]:
            counts[ref["id"]] = counts.get(ref["id"], 0) + 1
    hostile = max(counts, key=counts.get)  # the category most products name, on many pages
    catalog.set_raw_item("category", hostile, raw_with(catalog.category_payload(hostile), image=DEEP))

    run = assert_closed_without_traceback(run_sync("--full", "--batch-size", "5"), code=3)

    assert [(f["resource"], f["id"]) for f in run.failed_items] == [("category", hostile)]
    stub = Category.objects.get(id=hostile)
    assert (stub.name, stub.count) == (catalog.categories[hostile]["name"], 0)
    assert good_items_differences(catalog, hostile=("category", hostile)) == []
