"""Pushing local edits to the sandbox store: read first, batch writes, confirmation, echoes, failures."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.cache import catalog_counters_get, catalog_version_get, group_key, product_key
from catalog.models import Product, ProductCategory, ProductVariation
from sync.models import SyncOperation
from sync.woocommerce.types import PRODUCT_FIELDS, VARIATION_FIELDS, parse_product, parse_variation
from tests.sync.helpers import run_sync
from tests.sync.push_helpers import Receiver, client, drain, local_edit, resource, simple_products, webhook_register
from tests.sync.webhook_samples import SAMPLE_SECRET, post, signed_delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def store(make_sandbox, settings):
    settings.WOOCOMMERCE_WEBHOOK_SECRET = SAMPLE_SECRET
    settings.SYNC_QUEUE_RETRY_BASE_SECONDS = 0
    settings.SYNC_FIELD_RULES = ""
    server = make_sandbox(products=30, variable_share=0.25)
    for pid in simple_products(server, 4):
        server.catalog.edit_product(pid, regular_price="20.00", sale_price="", stock_quantity=10)
    assert run_sync("--full").code == 0
    server.reset_stats()
    return server


@pytest.fixture
def woo(store):
    woo = client()
    yield woo
    woo.close()


def _marker(item: dict) -> str | None:
    return next((m["value"] for m in item["meta_data"] if m["key"] == "_crushme_sync"), None)


def test_a_price_edit_is_pushed_confirmed_into_the_mirror_and_its_echo_is_not_pushed_again(
    store, woo, receiver, client, django_capture_on_commit_callbacks
):
    pid = simple_products(store)[0]
    webhook_register(woo, receiver.url)
    store.deliver_webhooks()
    receiver.bodies.clear()
    store.reset_stats()
    version = catalog_version_get()
    counters = (product_key(pid), group_key("price"), group_key("stock"), group_key("name"), group_key("category"))
    catalog_counters_get(counters)  # creates them
    before = {key: cache.get(key) for key in counters}
    op = local_edit(object_id=pid, new={"regular_price": "24.50"}, base={"regular_price": "20.00"})

    with django_capture_on_commit_callbacks(execute=True):
        drain(woo)

    op.refresh_from_db()
    item = resource(woo, pid)
    assert op.state == "done", op.last_error
    assert item["regular_price"] == "24.50" and _marker(item) == str(op.id)
    assert Product.objects.get(id=pid).regular_price == Decimal("24.50")
    # Once for the batch: the product's detail and the lists filtering or sorting on its changed columns
    # (the price group: on_sale and price are among the confirmed stock columns); not the others.
    assert {key: cache.get(key) - before[key] for key in counters} == {
        product_key(pid): 1,
        group_key("price"): 1,
        group_key("stock"): 1,
        group_key("name"): 0,
        group_key("category"): 0,
    }
    assert catalog_version_get() == version
    assert op.resolution["result"] == "pushed"
    assert op.resolution["pushed"] == {"regular_price": "24.50"}
    assert op.resolution["confirmed"]["regular_price"] == "24.50"
    assert op.resolution["fields"]["regular_price"]["conflict"] is False
    assert 0 <= op.resolution["read_to_write_ms"] < 1000
    assert store.stats["writes"] == 1

    store.deliver_webhooks()
    assert receiver.forward(client) == 1
    drain(woo)

    echo = SyncOperation.objects.get(origin="webhook", object_id=pid)
    assert echo.state == "done"
    assert echo.resolution == {"result": "echo", "echo_of": [op.id]}
    assert store.stats["writes"] == 1  # no second push
    assert SyncOperation.objects.filter(state__in=["pending", "failed", "dead"]).count() == 0


def test_a_delivery_with_our_marker_but_a_sale_after_the_write_is_applied_not_taken_for_an_echo(
    store, woo, receiver, client
):
    pid = simple_products(store)[0]
    webhook_register(woo, receiver.url)
    store.deliver_webhooks()
    receiver.bodies.clear()
    store.reset_stats()
    op = local_edit(object_id=pid, new={"regular_price": "21.00"}, base={"regular_price": "20.00"})
    drain(woo)
    store.catalog.sell(pid, 3)  # date_modified untouched, as many WooCommerce versions do

    store.deliver_webhooks()
    receiver.forward(client)
    drain(woo)

    delivery = SyncOperation.objects.get(origin="webhook", object_id=pid)
    assert _marker(delivery.payload) == str(op.id)
    assert delivery.state == "done" and "echo_of" not in delivery.resolution
    assert Product.objects.get(id=pid).stock_quantity == 7
    assert store.stats["writes"] == 1


def test_a_variation_stock_edit_goes_through_variations_batch(store, woo):
    parent = next(p for p in store.catalog.products.values() if p["type"] == "variable" and p["status"] == "publish")
    vid = parent["variations"][0]
    store.catalog.edit_variation(vid, manage_stock=True, stock_quantity=4)
    assert run_sync("--full").code == 0
    store.reset_stats()
    op = local_edit(
        kind="variation", object_id=vid, parent_id=parent["id"], new={"stock_quantity": 9}, base={"stock_quantity": 4}
    )

    drain(woo)

    op.refresh_from_db()
    assert op.state == "done", op.last_error
    assert woo.get(f"products/{parent['id']}/variations/{vid}").data["stock_quantity"] == 9
    assert ProductVariation.objects.get(id=vid).stock_quantity == 9
    assert store.stats["by_endpoint"]["POST products/<id>/variations/batch"] == 1
    assert store.stats["writes"] == 1


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ({"regular_price": "abc"}, "'abc' is not a price"),
        ({"regular_price": "12.345"}, "at most 2 decimals"),
        ({"stock_quantity": "x"}, "not an integer"),
        ({"sale_price": "30.00"}, "sale_price 30.00 is above regular_price 20"),
        ({"manage_stock": "yes"}, "not true or false"),
    ],
)
def test_a_value_the_store_would_coerce_is_never_sent(store, woo, new, message):
    pid = simple_products(store)[0]
    base = {name: {"regular_price": "20.00", "sale_price": "", "stock_quantity": 10}.get(name) for name in new}
    op = local_edit(object_id=pid, new=new, base=base)

    drain(woo)

    op.refresh_from_db()
    assert op.state == "dead" and message in op.last_error
    assert store.stats["writes"] == 0
    assert resource(woo, pid)["regular_price"] == "20"


def test_a_per_item_error_fails_only_that_operation_with_woocommerces_message(store, woo, settings):
    kept, deleted = simple_products(store, 2)
    store.writes.set_latency(300)
    ok = local_edit(object_id=kept, new={"stock_quantity": 12}, base={"stock_quantity": 10})
    gone = local_edit(object_id=deleted, new={"stock_quantity": 12}, base={"stock_quantity": 10})

    def delete_during_the_write() -> None:  # after the read, before the store applies the batch
        deadline = time.monotonic() + 10
        while store.stats["writes_in_flight"] < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        store.catalog.delete_product(deleted)

    thread = threading.Thread(target=delete_during_the_write)
    thread.start()
    drain(woo)
    thread.join()

    ok.refresh_from_db()
    gone.refresh_from_db()
    assert ok.state == "done" and resource(woo, kept)["stock_quantity"] == 12
    assert gone.state == "dead" and "Invalid ID" in gone.last_error, gone.last_error
    assert store.stats["writes"] == 1


def test_a_write_whose_answer_is_lost_is_confirmed_by_the_next_read_not_pushed_twice(store, woo):
    pid = simple_products(store)[0]
    op = local_edit(object_id=pid, new={"stock_quantity": 15}, base={"stock_quantity": 10})
    store.set_faults(count=1, kinds=("malformed",), paths="batch")

    drain(woo)

    op.refresh_from_db()
    assert op.state == "done" and op.attempts == 2
    assert op.resolution["result"] == "confirmed_by_read"
    assert resource(woo, pid)["stock_quantity"] == 15  # +5 once, not 20
    assert Product.objects.get(id=pid).stock_quantity == 15
    assert store.stats["writes"] == 1


def test_with_20_percent_of_calls_failing_every_operation_ends_done_and_each_delta_lands_once(store, woo, settings):
    settings.SYNC_QUEUE_MAX_ATTEMPTS = 20
    products = [
        pid for pid, p in sorted(store.catalog.products.items()) if p["type"] == "simple" and p["status"] != "trash"
    ]
    for pid in products:
        store.catalog.edit_product(pid, manage_stock=True, stock_quantity=10)
    assert run_sync("--full").code == 0
    ops = [
        local_edit(object_id=pid, new={"regular_price": "31.00"}, base={"regular_price": "20.00"})
        for pid in products[:5]
    ]
    store.set_faults(rate=0.2, seed=1, kinds=("500", "502", "504", "429", "malformed", "drop"))

    # Three waves of +1 each: the pipeline pushes a wave's products in one batch, so waves make the calls.
    for wave in range(3):
        ops += [
            local_edit(object_id=pid, new={"stock_quantity": 11 + wave}, base={"stock_quantity": 10 + wave})
            for pid in products
        ]
        drain(woo, rounds=400, limit=2)

    injected = store.stats["faults_injected"]
    store.clear_faults()
    states = list(SyncOperation.objects.filter(origin="local_edit").values_list("state", flat=True))
    assert states == ["done"] * len(ops)
    assert injected > 0, store.stats
    for pid in products:
        assert resource(woo, pid)["stock_quantity"] == 13
        assert Product.objects.get(id=pid).stock_quantity == 13
    assert all(Decimal(resource(woo, pid)["regular_price"]) == 31 for pid in products[:5])


def test_with_the_store_down_operations_end_dead_and_the_admin_retries_them(store, woo, settings, admin_client):
    settings.SYNC_QUEUE_MAX_ATTEMPTS = 3
    pid = simple_products(store)[0]
    op = local_edit(object_id=pid, new={"stock_quantity": 11}, base={"stock_quantity": 10})
    store.stop()

    drain(woo, rounds=10)

    op.refresh_from_db()
    assert (op.state, op.attempts) == ("dead", 3)
    assert "WooCommerceUnavailable" in op.last_error
    response = admin_client.post(
        "/admin/sync/syncoperation/", {"action": "retry", "_selected_action": [op.id]}, follow=True
    )
    assert response.status_code == 200
    op.refresh_from_db()
    assert (op.state, op.attempts) == ("pending", 0)


def test_600_stock_operations_keep_at_most_5_writes_in_flight_and_push_each_item_once(make_sandbox, settings):
    settings.SYNC_QUEUE_CONCURRENCY = 5
    server = make_sandbox(products=600, variable_share=0.0, categories=3)
    products = sorted(
        pid for pid, p in server.catalog.products.items() if p["type"] == "simple" and p["status"] != "trash"
    )
    for pid in products:
        server.catalog.edit_product(pid, manage_stock=True, stock_quantity=50)
    assert run_sync("--full").code == 0
    server.reset_stats()
    server.writes.set_latency(100)
    ops = {pid: local_edit(object_id=pid, new={"stock_quantity": 53}, base={"stock_quantity": 50}) for pid in products}
    woo = client(pool_maxsize=8)

    drain(woo, limit=len(products))
    woo.close()

    stats = server.stats
    assert set(SyncOperation.objects.values_list("state", "last_error")) == {("done", "")}
    assert 2 <= stats["max_writes_in_flight"] <= 5
    assert stats["writes"] == -(-len(products) // 100)  # each item in exactly one batch
    for pid in products:
        item = server.catalog.product_payload(pid)
        assert item["stock_quantity"] == 53 and _marker(item) == str(ops[pid].id)


def test_a_garbled_marker_in_a_delivery_is_no_echo_and_breaks_nothing(store, woo, client):
    pid = simple_products(store)[0]
    payload = resource(woo, pid)
    payload["stock_quantity"] = 4
    payload["meta_data"] = [{"id": 1, "key": "_crushme_sync", "value": "99999999999999999999999999,abc,-1"}]
    assert post(client, signed_delivery("product.updated", payload)).status_code == 200

    drain(woo)

    delivery = SyncOperation.objects.get(origin="webhook", object_id=pid)
    assert delivery.state == "done" and "echo_of" not in delivery.resolution
    assert Product.objects.get(id=pid).stock_quantity == 4


def _mirror_row(model, object_id: int) -> dict:
    fields = VARIATION_FIELDS if model is ProductVariation else PRODUCT_FIELDS
    return model.objects.values(*fields, "sync_hash", "deleted_at").get(id=object_id)


def _parsed_row(payload: dict, *, parent_id: int | None = None) -> dict:
    record = parse_variation(payload, product_id=parent_id) if parent_id else parse_product(payload)
    return {**record.model_fields(), "sync_hash": record.digest, "deleted_at": None}


def test_a_pushed_product_is_confirmed_by_one_update_of_its_stock_columns_and_equals_the_store(store, woo):
    pid = simple_products(store)[0]
    categories_before = sorted(ProductCategory.objects.filter(product_id=pid).values_list("category_id", flat=True))
    store.catalog.edit_product(pid, date_modified_gmt="2026-11-30T10:00:00")
    assert run_sync("--full").code == 0
    op = local_edit(object_id=pid, new={"regular_price": "24.50", "stock_quantity": 13}, base={"stock_quantity": 10})

    with CaptureQueriesContext(connection) as queries:
        drain(woo)

    op.refresh_from_db()
    assert op.state == "done", op.last_error
    answer = resource(woo, pid)
    assert answer["date_modified_gmt"] != "2026-11-30T10:00:00"  # the write bumped it
    assert _mirror_row(Product, pid) == _parsed_row(answer)  # every mirrored column, the digest included
    assert sorted(ProductCategory.objects.filter(product_id=pid).values_list("category_id", flat=True)) == (
        categories_before
    )
    product_writes = [q["sql"] for q in queries if q["sql"].startswith(('INSERT INTO "catalog_product"', "UPDATE"))]
    # The stock-columns path, not the full upsert: no INSERT ... ON CONFLICT of the product row.
    assert not any(sql.startswith('INSERT INTO "catalog_product" ') for sql in product_writes), product_writes
    assert any(sql.startswith('UPDATE "catalog_product" AS t SET') for sql in product_writes) or connection.vendor != (
        "postgresql"
    ), product_writes


def test_a_pushed_product_whose_other_fields_changed_in_the_store_is_written_in_full(store, woo):
    pid = simple_products(store)[0]
    store.catalog.edit_product(pid, name="Renamed in WooCommerce", short_description="<p>new</p>")  # no webhook
    op = local_edit(object_id=pid, new={"stock_quantity": 12}, base={"stock_quantity": 10})

    drain(woo)

    op.refresh_from_db()
    assert op.state == "done", op.last_error
    answer = resource(woo, pid)
    assert answer["stock_quantity"] == 12
    assert _mirror_row(Product, pid) == _parsed_row(answer)
    assert Product.objects.get(id=pid).name == "Renamed in WooCommerce"


def test_a_pushed_variation_equals_the_store_after_the_confirmation(store, woo):
    parent = next(p for p in store.catalog.products.values() if p["type"] == "variable" and p["status"] == "publish")
    vid = parent["variations"][0]
    store.catalog.edit_variation(vid, manage_stock=True, stock_quantity=4)
    assert run_sync("--full").code == 0
    op = local_edit(
        kind="variation", object_id=vid, parent_id=parent["id"], new={"stock_quantity": 9}, base={"stock_quantity": 4}
    )

    drain(woo)

    op.refresh_from_db()
    assert op.state == "done", op.last_error
    answer = woo.get(f"products/{parent['id']}/variations/{vid}").data
    assert answer["stock_quantity"] == 9
    assert _mirror_row(ProductVariation, vid) == _parsed_row(answer, parent_id=parent["id"])
