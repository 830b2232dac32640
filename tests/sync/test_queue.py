"""The queue processor: applying captured deliveries, coalescing, newest-wins, orders, priorities, failures."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from catalog.cache import catalog_counters_get, catalog_version_get, product_key
from catalog.models import Product, ProductVariation
from catalog.selectors import product_public_queryset
from sync.models import OperationState, SyncOperation
from sync.services.queue import (
    PRIORITY_HOT,
    PRIORITY_PRICE,
    PRIORITY_STOCK,
    OperationSpec,
    retry_delay_seconds,
    sync_operations_claim,
    sync_operations_enqueue,
    sync_operations_prune,
    sync_operations_retry,
    sync_queue_process_batch,
)
from sync.woocommerce.client import WooCommerceClient
from sync.woocommerce.types import PRODUCT_FIELDS, VARIATION_FIELDS, parse_product, parse_variation
from tests.sync.webhook_samples import SAMPLE_SECRET, SAMPLES_IN_ORDER, post, sample, signed_delivery

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.WOOCOMMERCE_WEBHOOK_SECRET = SAMPLE_SECRET


def _client() -> WooCommerceClient:
    return WooCommerceClient.from_settings()


def _process(**kwargs):
    """Drain what is due, batch after batch; returns the summed result."""
    total = None
    for _ in range(100):
        result = sync_queue_process_batch(worker="test", client=_client, **kwargs)
        total = result if total is None else total + result
        if not result.claimed:
            return total
    raise AssertionError("the queue did not drain")


def _payload(name: str) -> dict:
    return json.loads(sample(name).body)


def _assert_row_equals_payload(payload: dict) -> None:
    if payload.get("type") == "variation":
        record, row, fields = parse_variation(payload), ProductVariation.objects.get(id=payload["id"]), VARIATION_FIELDS
    else:
        record, row, fields = parse_product(payload), Product.objects.get(id=payload["id"]), PRODUCT_FIELDS
    assert {name: getattr(row, name) for name in fields} == {name: getattr(record, name) for name in fields}


# --- the captured deliveries, applied ------------------------------------------------------------------------


def test_every_captured_delivery_applied_one_by_one_leaves_the_mirror_as_the_store(client, sandbox):
    after: dict[str, dict] = {}
    for name in SAMPLES_IN_ORDER:
        assert post(client, sample(name)).status_code == 200
        _process()
        after[name] = {
            "mug": Product.objects.filter(id=5330).values("status", "price", "stock_quantity").first(),
            "tee": Product.objects.filter(id=5327).values("type", "status").first(),
            "variations": dict(ProductVariation.objects.values_list("id", "stock_quantity")),
        }

    _assert_row_equals_payload(_payload("product.created-variable-parent"))
    _assert_row_equals_payload(_payload("product.updated-variation-stock-edit"))
    _assert_row_equals_payload(_payload("product.updated-after-order-variation"))
    assert after["product.created-simple"]["mug"] == {
        "status": "publish",
        "price": Decimal("9.5"),
        "stock_quantity": 30,
    }
    assert after["product.updated-price-edit"]["mug"]["price"] == Decimal("10.5")
    assert after["product.updated-variation-stock-edit"]["variations"] == {5328: 7}
    # The order's items are not in this sandbox store: read, not found, nothing changed.
    assert after["order.created-paid"]["mug"]["stock_quantity"] == 30
    assert after["product.updated-after-order-simple"]["mug"]["stock_quantity"] == 28
    assert after["product.updated-after-order-variation"]["variations"] == {5328: 7, 5329: 4}
    assert after["product.deleted-trash"]["mug"]["status"] == "trash"
    assert not product_public_queryset().filter(id=5330).exists()
    assert set(SyncOperation.objects.values_list("state", flat=True)) == {"done"}
    order_ops = SyncOperation.objects.filter(topic="order.created")
    assert [op.resolution["result"] for op in order_ops] == ["not_found", "not_found"]


def test_every_captured_delivery_queued_at_once_is_coalesced_without_asking_woocommerce(client, sandbox):
    for name in SAMPLES_IN_ORDER:
        post(client, sample(name))
    sandbox.reset_stats()

    result = _process()

    assert result.claimed == 10 and result.done == 10 and result.woocommerce_requests == 0
    assert sandbox.stats["requests"] == 0  # the product payloads after the order made its reads useless
    mug = Product.objects.get(id=5330)
    assert (mug.status, mug.stock_quantity, mug.price) == ("trash", 28, Decimal("10.5"))
    assert dict(ProductVariation.objects.values_list("id", "stock_quantity")) == {5328: 7, 5329: 4}
    trash = SyncOperation.objects.get(action="trash")
    newest = SyncOperation.objects.get(object_id=5330, topic="product.updated", modified_at__second=14)
    resolutions = {op.id: op.resolution for op in SyncOperation.objects.filter(object_id=5330)}
    assert resolutions.pop(trash.id) == {"result": "trashed"}
    assert resolutions.pop(newest.id) == {"result": "applied", "then": "trashed", "by": trash.id}
    assert list(resolutions.values()) == [{"result": "superseded", "by": trash.id}] * 3  # 2 payloads, the order


def test_a_batch_invalidates_the_catalog_cache_once(client, django_capture_on_commit_callbacks):
    for name in SAMPLES_IN_ORDER[:5]:
        post(client, sample(name))
    before = catalog_version_get()
    catalog_counters_get((product_key(5330), product_key(5331)))  # creates them
    product_before, other_before = cache.get(product_key(5330)), cache.get(product_key(5331))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _process()

    assert len(callbacks) == 1
    assert Product.objects.filter(id=5330).exists()
    # Its detail once for the batch (variations included); the other products' answers and the global version kept.
    assert cache.get(product_key(5330)) == product_before + 1
    assert cache.get(product_key(5331)) == other_before
    assert catalog_version_get() == before


def test_a_batch_that_changes_nothing_leaves_the_cache_alone(client, django_capture_on_commit_callbacks):
    post(client, sample("product.created-simple"))
    _process()
    version = catalog_version_get()
    post(client, signed_delivery("product.created", sample("product.created-simple").body + b" "))  # same state

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = _process()

    assert result.done == 1 and result.changed == 0 and callbacks == []
    assert catalog_version_get() == version


# --- newest wins ------------------------------------------------------------------------------------------------


def test_an_older_payload_after_a_newer_one_has_no_effect_whether_queued_together_or_apart(client):
    newer, older = sample("product.updated-after-order-simple"), sample("product.created-simple")

    post(client, newer)
    post(client, older)
    _process()
    assert Product.objects.get(id=5330).stock_quantity == 28

    post(client, signed_delivery("product.updated", older.body + b"\n"))  # a replay, later, alone
    _process()

    assert Product.objects.get(id=5330).stock_quantity == 28
    replay = SyncOperation.objects.order_by("-id").first()
    assert replay.state == "done" and replay.resolution["result"] == "ignored_older"
    assert SyncOperation.objects.filter(resolution__result="superseded").count() == 1


def test_payloads_of_the_same_second_apply_in_arrival_order(client):
    post(client, sample("product.created-simple"))
    post(client, sample("product.updated-price-edit"))  # same date_modified_gmt, new price

    _process()

    assert Product.objects.get(id=5330).price == Decimal("10.5")


def test_trash_then_restore_shows_the_product_again(client):
    post(client, sample("product.created-simple"))
    _process()
    post(client, sample("product.deleted-trash"))
    _process()
    assert not product_public_queryset().filter(id=5330).exists()

    restored = _payload("product.updated-after-order-simple") | {"date_modified_gmt": "2026-12-01T05:00:00"}
    post(client, signed_delivery("product.restored", restored))
    _process()

    assert product_public_queryset().filter(id=5330).exists()


# --- orders: reading the stock from WooCommerce --------------------------------------------------------------


def _order(*items: tuple[int, int | None, int], order_id: int = 900) -> dict:
    return {
        "id": order_id,
        "status": "processing",
        "date_modified_gmt": "2026-12-01T04:15:14",
        "line_items": [
            {"id": i, "product_id": p, "variation_id": v or 0, "quantity": q} for i, (p, v, q) in enumerate(items)
        ],
    }


def _mirror_store(sandbox) -> None:
    from tests.sync.helpers import run_sync

    assert run_sync("--full").code == 0


def test_an_order_reads_the_sold_items_in_one_request_per_kind_and_applies_their_stock(client, sandbox):
    _mirror_store(sandbox)
    catalog = sandbox.catalog
    simple = [pid for pid, p in catalog.products.items() if p["type"] == "simple" and p["manage_stock"] is True][:3]
    variation_id = next(v for v, item in catalog.variations.items() if item["manage_stock"] is True)
    parent_id = catalog.variations[variation_id]["parent_id"]
    for pid in simple:
        catalog.sell(pid, 2)
    catalog.sell(variation_id, 1)
    sandbox.reset_stats()

    post(
        client, signed_delivery("order.created", _order(*[(p, None, 2) for p in simple], (parent_id, variation_id, 1)))
    )
    result = _process(store_variations=lambda: True)  # the command asks the store once per process

    assert result.done == 4
    assert sandbox.stats["by_endpoint"] == {"GET products": 1, "GET variations": 1}
    for pid in simple:
        assert Product.objects.get(id=pid).stock_quantity == catalog.products[pid]["stock_quantity"]
    assert (
        ProductVariation.objects.get(id=variation_id).stock_quantity
        == catalog.variations[variation_id]["stock_quantity"]
    )


def test_an_order_on_a_store_without_store_wide_variations_reads_them_per_product(client, make_sandbox):
    sandbox = make_sandbox(store_variations=False)
    _mirror_store(sandbox)
    variation_id = next(v for v, item in sandbox.catalog.variations.items() if item["manage_stock"] is True)
    parent_id = sandbox.catalog.variations[variation_id]["parent_id"]
    sandbox.catalog.sell(variation_id, 1)
    sandbox.reset_stats()

    post(client, signed_delivery("order.updated", _order((parent_id, variation_id, 1))))
    _process()

    assert sandbox.stats["by_endpoint"].get("GET products/<id>/variations") == 1
    assert (
        ProductVariation.objects.get(id=variation_id).stock_quantity
        == sandbox.catalog.variations[variation_id]["stock_quantity"]
    )


# --- failures ---------------------------------------------------------------------------------------------------


def test_a_store_outage_retries_with_growing_delays_then_ends_dead_and_health_says_so(client, sandbox, settings):
    settings.SYNC_QUEUE_MAX_ATTEMPTS = 4
    settings.SYNC_QUEUE_RETRY_BASE_SECONDS = 10
    _mirror_store(sandbox)
    product_id = next(iter(sandbox.catalog.products))
    variation_id, variation = next(iter(sandbox.catalog.variations.items()))
    post(
        client,
        signed_delivery("order.created", _order((product_id, None, 1), (variation["parent_id"], variation_id, 1))),
    )
    post(client, sample("product.created-simple"))  # needs no WooCommerce: applied during the outage
    sandbox.stop()
    tries = []

    now = timezone.now()
    delays = []
    for _ in range(settings.SYNC_QUEUE_MAX_ATTEMPTS):
        tries.append(sync_queue_process_batch(worker="test", client=_client, now=now, store_variations=lambda: True))
        op = SyncOperation.objects.get(topic="order.created", object_kind="product")
        if op.state == OperationState.DEAD:
            break
        assert op.state == OperationState.FAILED and "WooCommerceUnavailable" in op.last_error
        delays.append((op.next_attempt_at - now).total_seconds())
        # Both reads due again (their jitter differs), so each batch holds both.
        now = max(SyncOperation.objects.filter(state="failed").values_list("next_attempt_at", flat=True))

    assert op.state == OperationState.DEAD and op.attempts == 4 and op.finished_at is not None
    variation_op = SyncOperation.objects.get(topic="order.created", object_kind="variation")
    assert (variation_op.state, variation_op.attempts) == (OperationState.DEAD, 4)
    assert len(delays) == 3
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20 and 20 <= delays[2] <= 40  # base x 2^n, equal jitter
    # Each batch called the store once (its attempts: 1 + WOOCOMMERCE_MAX_RETRIES): the variation's read is
    # not tried against a store that has just failed.
    assert [result.claimed for result in tries] == [3, 2, 2, 2]
    assert [result.woocommerce_requests for result in tries] == [settings.WOOCOMMERCE_MAX_RETRIES + 1] * 4
    assert SyncOperation.objects.get(topic="product.created").state == OperationState.DONE
    health = client.get("/api/health/").json()
    assert health["status"] == "degraded"
    assert health["queue"]["dead"] == 2 and "dead" in health["queue"]["degraded"]

    sync_operations_retry(ids=[op.id])  # the admin's retry action, once the store is back
    op.refresh_from_db()
    assert (op.state, op.attempts) == ("pending", 0)


def test_retry_delays_grow_and_are_capped(settings):
    settings.SYNC_QUEUE_RETRY_BASE_SECONDS = 1
    settings.SYNC_QUEUE_RETRY_MAX_SECONDS = 8

    delays = [retry_delay_seconds(attempts=n) for n in range(1, 8)]

    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2 and 2 <= delays[2] <= 4
    assert all(4 <= d <= 8 for d in delays[3:])


def test_a_bad_item_fails_only_its_own_operation(client):
    good = _payload("product.created-simple")
    bad = _payload("product.created-simple") | {"id": 777, "regular_price": {"not": "a price"}}
    post(client, signed_delivery("product.created", good))
    post(client, signed_delivery("product.created", bad))

    result = _process()

    assert (result.done, result.dead) == (1, 1)
    assert Product.objects.filter(id=5330).exists() and not Product.objects.filter(id=777).exists()
    dead = SyncOperation.objects.get(object_id=777)
    assert dead.state == "dead" and "regular_price" in dead.last_error


def test_a_variation_whose_product_is_not_mirrored_is_written_after_its_product_read_from_woocommerce(client, sandbox):
    catalog = sandbox.catalog
    pid = next(p for p, item in sorted(catalog.products.items()) if item["type"] == "variable" and item["variations"])
    vid = catalog.products[pid]["variations"][0]
    post(
        client,
        signed_delivery("product.created", _payload("product.created-variation") | {"id": vid, "parent_id": pid}),
    )
    assert not Product.objects.exists()

    result = _process()

    op = SyncOperation.objects.get()
    assert (op.state, op.attempts, op.last_error) == ("done", 1, "")
    assert op.resolution["product_read"] == pid
    assert result.woocommerce_requests == 1 and sandbox.stats["by_endpoint"] == {"GET products": 1}
    _assert_row_equals_payload(catalog.product_payload(pid))
    assert ProductVariation.objects.get(id=vid).product_id == pid
    assert SyncOperation.objects.count() == 1  # the product was written for it, not queued


def test_a_variation_whose_product_cannot_be_read_is_retried_not_dropped(client):
    post(client, sample("product.created-variation"))

    _process()  # WooCommerce is unreachable in this test
    op = SyncOperation.objects.get()
    assert op.state == "failed" and op.next_attempt_at > timezone.now()
    assert op.last_error.startswith("its product #5327 is not mirrored and reading it from WooCommerce failed: ")

    post(client, sample("product.created-variable-parent"))
    _process(now=op.next_attempt_at)

    assert ProductVariation.objects.filter(id=5328).exists()
    assert set(SyncOperation.objects.values_list("state", flat=True)) == {"done"}


def test_a_killed_processors_lease_expires_and_another_takes_its_operations(client, settings):
    post(client, sample("product.created-simple"))
    now = timezone.now()
    claimed = sync_operations_claim(worker="killed", limit=10, now=now)  # then the process dies
    assert [op.state for op in claimed] == ["processing"]

    assert sync_queue_process_batch(worker="other", client=_client, now=now).claimed == 0  # leased
    later = now + timedelta(seconds=settings.SYNC_QUEUE_LEASE_SECONDS + 1)
    result = sync_queue_process_batch(worker="other", client=_client, now=later)

    assert result.done == 1
    op = SyncOperation.objects.get()
    assert (op.state, op.attempts, op.leased_by) == ("done", 2, "other")
    assert Product.objects.filter(id=5330).exists()


# --- priorities -------------------------------------------------------------------------------------------------


def _spec(object_id: int, priority: int = 0, topic: str = "product.updated") -> OperationSpec:
    return OperationSpec(
        object_kind="product", object_id=object_id, action="refresh", topic=topic, dedupe_key=f"k{object_id}:{topic}",
        priority=priority,
    )  # fmt: skip


def test_stock_before_price_before_the_rest_and_age_wins_in_the_end():
    now = timezone.now()
    sync_operations_enqueue(specs=[_spec(1, 0)], now=now - timedelta(seconds=PRIORITY_STOCK + 5))  # old, plain
    sync_operations_enqueue(specs=[_spec(2, 0)], now=now)
    sync_operations_enqueue(specs=[_spec(3, PRIORITY_PRICE)], now=now)
    sync_operations_enqueue(specs=[_spec(4, PRIORITY_STOCK)], now=now)

    claimed_one_by_one = [sync_operations_claim(worker="w", limit=1, now=now)[0].object_id for _ in range(4)]

    assert claimed_one_by_one == [1, 4, 3, 2]


def test_objects_with_recent_orders_or_many_operations_get_a_head_start():
    now = timezone.now()
    sync_operations_enqueue(specs=[_spec(10, topic="order.created")], now=now - timedelta(days=2))
    for n in range(5):
        sync_operations_enqueue(specs=[_spec(11, topic=f"product.updated-{n}")], now=now - timedelta(days=1))
    sync_operations_enqueue(specs=[_spec(12, topic="order.created")], now=now - timedelta(days=8))  # too old

    sync_operations_enqueue(specs=[_spec(10, topic="x"), _spec(11, topic="x"), _spec(12, topic="x")], now=now)

    got = dict(SyncOperation.objects.filter(topic="x").values_list("object_id", "priority"))
    assert got == {10: PRIORITY_HOT, 11: PRIORITY_HOT, 12: 0}


def test_the_receiver_ranks_a_stock_change_before_a_price_change(client):
    post(client, sample("product.created-simple"))
    _process()

    post(client, sample("product.updated-price-edit"))  # price 9.50 -> 10.50
    post(client, sample("product.updated-after-order-simple"))  # stock 30 -> 28 (and the price)

    price, stock = SyncOperation.objects.filter(state="pending").order_by("id")
    assert (price.priority, stock.priority) == (PRIORITY_PRICE, PRIORITY_STOCK)
    assert price.sort_at < price.created_at and stock.sort_at < price.sort_at
    assert price.base_values["price"] == "9.5" and price.new_values["price"] == "10.5"


# --- maintenance and the command ---------------------------------------------------------------------------------


def test_prune_deletes_old_done_operations_only(client):
    for name in ("product.created-simple", "product.updated-price-edit"):
        post(client, sample(name))
    _process()
    post(client, sample("product.created-variation"))
    _process()  # fails: its product is not mirrored and WooCommerce is unreachable
    SyncOperation.objects.filter(state="done").update(finished_at=timezone.now() - timedelta(days=20))

    assert sync_operations_prune(older_than=timezone.now() - timedelta(days=14)) == 2
    assert list(SyncOperation.objects.values_list("state", flat=True)) == ["failed"]


def test_the_command_drains_the_queue_once_and_prunes(client):
    for name in SAMPLES_IN_ORDER[:5]:
        post(client, sample(name))
    out = StringIO()

    call_command("process_sync_queue", "--once", stdout=out)

    assert "5 claimed · 5 done · 0 failed" in out.getvalue()
    SyncOperation.objects.update(finished_at=timezone.now() - timedelta(days=3))
    call_command("process_sync_queue", "--prune-days", "2", stdout=out)
    assert "pruned 5 done operation(s)" in out.getvalue()
    assert SyncOperation.objects.count() == 0


def test_the_command_help_lists_its_options_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command("process_sync_queue", "--help")
    text = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "--once" in text and "--prune-days" in text and "--batch-size" in text and "exit codes" in text


def test_health_reports_the_queue_and_is_degraded_past_its_depth_and_age_thresholds(client, settings):
    settings.SYNC_QUEUE_DEGRADED_DEPTH = 3
    settings.SYNC_QUEUE_DEGRADED_AGE_SECONDS = 60
    now = timezone.now()
    sync_operations_enqueue(specs=[_spec(1), _spec(2)], now=now - timedelta(seconds=30))

    calm = client.get("/api/health/").json()["queue"]
    sync_operations_enqueue(specs=[_spec(3)], now=now - timedelta(seconds=90))
    busy = client.get("/api/health/").json()

    assert calm["depth"] == 2 and calm["degraded"] == [] and 30 <= calm["oldest_pending_age_seconds"] < 60
    assert busy["queue"]["depth"] == 3 and busy["queue"]["dead"] == 0
    assert busy["queue"]["degraded"] == ["depth", "oldest_pending_age"]
    assert busy["status"] == "degraded"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the partial index and EXPLAIN are PostgreSQL's")
def test_the_claim_query_is_served_by_the_partial_claim_index():
    from django.db.models import Q

    now = timezone.now()
    sync_operations_enqueue(specs=[_spec(n) for n in range(1, 50)], now=now)
    SyncOperation.objects.filter(object_id__lt=40).update(state="done")
    due = (
        SyncOperation.objects.filter(Q(state__in=["pending", "failed"]), next_attempt_at__lte=now)
        .order_by("sort_at", "id")
        .values_list("id", "object_kind", "object_id")[:10]
    )
    with connection.cursor() as cursor:
        # A 49-row table would be scanned anyway, and rows other tests inserted and rolled back skew the
        # estimates: with the cheaper alternatives priced out, the plan shows whether the index *can* give
        # the claim's order on its own (its columns and partial condition match the query).
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        sql, params = due.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "syncop_claim_idx" in plan and "Sort" not in plan, plan


def test_a_processor_holding_an_earlier_operation_never_undoes_a_later_one_applied_meanwhile(client):
    # Processor A claims the publish payload, then stalls; the trash arrives and processor B applies it.
    # When A resumes (its batch's apply step, called as the batch would), the product must stay trashed.
    from sync.services.queue import BatchResult, _apply, _CatalogChanges, _outcomes_record, _plans_make

    post(client, sample("product.created-simple"))
    _process()
    post(client, sample("product.updated-after-order-simple"))
    now = timezone.now()
    held_by_a = sync_operations_claim(worker="A", limit=10, now=now)
    post(client, sample("product.deleted-trash"))
    assert sync_queue_process_batch(worker="B", client=_client).done == 1
    assert Product.objects.get(id=5330).status == "trash"

    plans = _plans_make(held_by_a)
    changes = _CatalogChanges()
    changed = _apply(plans, now=now, changes=changes)
    _outcomes_record(plans, worker="A", now=now, result=BatchResult())

    assert changed == 0 and not changes.pending()
    assert Product.objects.get(id=5330).status == "trash"
    trash = SyncOperation.objects.get(action="trash")
    assert SyncOperation.objects.get(id=held_by_a[0].id).resolution == {"result": "superseded", "by": trash.id}


def test_operations_replaced_by_a_failed_read_come_back_with_it_and_nothing_is_lost(client, sandbox, settings):
    _mirror_store(sandbox)
    product_id = next(pid for pid, p in sandbox.catalog.products.items() if p["manage_stock"] is True)
    stale = sandbox.catalog.product_payload(product_id) | {"date_modified_gmt": "2020-01-01T00:00:00"}
    post(client, signed_delivery("product.updated", stale))
    post(client, signed_delivery("order.created", _order((product_id, None, 1))))
    sandbox.stop()

    sync_queue_process_batch(worker="test", client=_client, store_variations=lambda: True)
    assert list(SyncOperation.objects.values_list("state", flat=True)) == ["failed", "failed"]

    sandbox.start()  # the store is back, on the same address
    sandbox.catalog.sell(product_id, 3)
    later = max(SyncOperation.objects.values_list("next_attempt_at", flat=True))
    result = sync_queue_process_batch(worker="test", client=_client, now=later, store_variations=lambda: True)

    assert (result.claimed, result.done) == (2, 2)
    assert Product.objects.get(id=product_id).stock_quantity == sandbox.catalog.products[product_id]["stock_quantity"]


def test_the_processor_refuses_to_start_on_a_setting_the_client_cannot_use(settings):
    settings.WOOCOMMERCE_CA_BUNDLE = "/nonexistent/ca.pem"
    err = StringIO()

    with pytest.raises(SystemExit) as exit_:
        call_command("process_sync_queue", "--once", stdout=StringIO(), stderr=err)

    assert exit_.value.code == 2
    assert "misconfigured" in err.getvalue() and "WOOCOMMERCE_CA_BUNDLE" in err.getvalue()
