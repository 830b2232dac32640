"""The push pipeline: claims fed to the thread pool while writes are in flight, leases renewed,
objects never pushed twice at once, a processor killed mid-pipeline."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from catalog.models import Product
from sync.models import SyncOperation
from sync.services.push import marker_ids
from sync.services.queue import sync_operations_claim, sync_operations_expire_leases, sync_queue_process_batch
from sync.services.webhooks import webhook_receive
from tests.sync.helpers import PROJECT_ROOT, run_sync, subprocess_env
from tests.sync.push_helpers import client, drain, local_edit
from tests.sync.webhook_samples import SAMPLE_SECRET, signed_delivery

# Committed rows: a second thread or a processor subprocess works on the same operations.
pytestmark = pytest.mark.django_db(transaction=True)


def _stocked_store(make_sandbox, count: int, *, stock: int = 50):
    """A sandbox of ``count`` simple products managing their stock, mirrored; returns (server, ids)."""
    server = make_sandbox(products=count, variable_share=0.0, categories=3)
    ids = sorted(pid for pid, p in server.catalog.products.items() if p["type"] == "simple" and p["status"] != "trash")
    for pid in ids:
        server.catalog.edit_product(pid, manage_stock=True, stock_quantity=stock)
    assert run_sync("--full").code == 0
    server.reset_stats()
    return server, ids


def _edits(ids: list[int], *, before: int, after: int) -> dict[int, SyncOperation]:
    return {
        pid: local_edit(object_id=pid, new={"stock_quantity": after}, base={"stock_quantity": before}) for pid in ids
    }


class _Beside(threading.Thread):
    """Runs ``step`` every ``interval`` seconds on its own database connection until stopped."""

    def __init__(self, step, interval: float) -> None:
        super().__init__(daemon=True)
        self.step, self.interval, self.results = step, interval, []
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                result = self.step()
                if result is not None:
                    self.results.append(result)
                self.halt.wait(self.interval)
        except BaseException as error:  # noqa: BLE001 - handed to the test, which fails with it
            self.error = error
        finally:
            connection.close()

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)
        assert self.error is None, self.error


def _process_beside(process, beside: _Beside):
    """``process(client)`` with ``beside`` running on its own connection meanwhile; returns what it returns."""
    beside.start()
    woo = client(pool_maxsize=8)
    try:
        return process(woo)
    finally:
        woo.close()
        beside.stop()


def test_with_the_default_claim_size_600_operations_drain_in_one_pipeline_with_5_writes_in_flight(
    make_sandbox, settings
):
    assert settings.SYNC_QUEUE_BATCH_SIZE == 200 and settings.SYNC_QUEUE_CONCURRENCY == 5  # the defaults
    server, ids = _stocked_store(make_sandbox, 600)
    assert len(ids) > 500
    ops = _edits(ids, before=50, after=53)
    server.writes.set_latency(2000)  # the 2 first batches are still in flight when the next claim's start
    woo = client(pool_maxsize=8)

    # One call: a claim of 200 (2 batches), then the pipeline claims the rest while they are in flight.
    result = sync_queue_process_batch(worker="pipeline", client=woo, store_variations=lambda: True)
    woo.close()

    assert (result.claimed, result.done, result.failed, result.dead) == (len(ids), len(ids), 0, 0)
    stats = server.stats
    assert stats["max_writes_in_flight"] == 5
    assert stats["max_requests_in_flight"] == 5  # each thread's read comes before its write, never beside it
    assert stats["writes"] == -(-len(ids) // 100)
    assert set(SyncOperation.objects.values_list("state", "attempts")) == {("done", 1)}
    for pid in ids:
        item = server.catalog.product_payload(pid)
        assert item["stock_quantity"] == 53
        assert marker_ids(item) == {ops[pid].id}  # its one operation: nothing pushed twice
    assert set(Product.objects.filter(id__in=ids).values_list("stock_quantity", flat=True)) == {53}


def test_an_edit_arriving_while_its_object_is_in_the_pipeline_waits_for_that_batch_to_be_recorded(make_sandbox):
    server, ids = _stocked_store(make_sandbox, 1500)
    _edits(ids, before=50, after=53)
    server.writes.set_latency(500)
    late: dict[int, SyncOperation] = {}

    def edit_while_in_the_pipeline():
        if late or server.stats["writes_in_flight"] == 0:
            return None
        # The pipeline holds 1,200 operations (claims of 200, 500, 500) and keeps claiming as batches
        # are recorded: a second edit of the objects of its last batch, which waits for a thread.
        waiting = SyncOperation.objects.filter(state="processing").order_by("-object_id")[:100]
        for pid in waiting.values_list("object_id", flat=True):
            late[pid] = local_edit(object_id=pid, new={"stock_quantity": 57}, base={"stock_quantity": 53})
        return len(late)

    _process_beside(drain, _Beside(edit_while_in_the_pipeline, 0.01))

    assert len(late) == 100
    assert set(SyncOperation.objects.values_list("state", "attempts")) == {("done", 1)}
    for pid in ids:
        # +3 then +4, each read after the other's write was recorded: never one overwriting the other.
        assert server.catalog.product_payload(pid)["stock_quantity"] == (57 if pid in late else 53), pid
    late_ids = {op.id for op in late.values()}
    assert set(SyncOperation.objects.filter(id__in=late_ids).values_list("resolution__result", flat=True)) == {"pushed"}


def test_leases_are_renewed_while_a_pipeline_holds_its_operations(make_sandbox, settings):
    settings.SYNC_QUEUE_LEASE_SECONDS = 2  # renewed every 0.67 s: a margin a loaded test machine keeps
    server, ids = _stocked_store(make_sandbox, 600)
    _edits(ids, before=50, after=53)
    server.writes.set_latency(2000)  # 6 batches, 5 threads: the last is recorded about 2 leases after its claim
    # What every other processor does before claiming: return expired leases to the queue.
    beside = _Beside(lambda: sync_operations_expire_leases(now=timezone.now()) or None, 0.05)
    _process_beside(drain, beside)

    assert beside.results == []  # no lease ran out
    assert set(SyncOperation.objects.values_list("state", "attempts")) == {("done", 1)}
    assert server.stats["writes"] == -(-len(ids) // 100)
    assert all(server.catalog.product_payload(pid)["stock_quantity"] == 53 for pid in ids)


def _states() -> dict[str, int]:
    return dict(SyncOperation.objects.values_list("state").annotate(n=Count("id")))


def test_a_processor_killed_mid_pipeline_then_restarted_applies_each_stock_delta_exactly_once(make_sandbox):
    server, ids = _stocked_store(make_sandbox, 1500)
    ops = _edits(ids, before=50, after=53)
    server.writes.set_latency(700)
    env = subprocess_env(SYNC_QUEUE_LEASE_SECONDS="2", SYNC_QUEUE_POLL_SECONDS="0.1")
    command = [sys.executable, "manage.py", "process_sync_queue"]
    killed = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        # Mid-pipeline: batches recorded, others claimed, and writes sent whose batches are not recorded
        # (in flight, or answered and waiting for the main thread).
        states = _states()
        done, writes = states.get("done", 0), server.stats["writes"]
        if done >= 100 and states.get("processing", 0) > 0 and writes > -(-done // 100):
            break
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed_out = killed.communicate(timeout=30)
    held = set(SyncOperation.objects.filter(state="processing").values_list("id", flat=True))
    done_before = set(SyncOperation.objects.filter(state="done").values_list("id", flat=True))
    assert held and done_before and killed.returncode == -signal.SIGKILL, (states, killed_out)

    time.sleep(2.5)  # the killed processor's leases run out; the writes it had in flight are answered
    restarted = subprocess.run([*command, "--once"], cwd=PROJECT_ROOT, env=env, capture_output=True, timeout=300)

    assert restarted.returncode == 0, restarted.stderr
    assert _states() == {"done": len(ids)}
    assert set(SyncOperation.objects.filter(id__in=done_before).values_list("attempts", flat=True)) == {1}
    assert set(SyncOperation.objects.filter(id__in=held).values_list("attempts", flat=True)) == {2}
    for pid in ids:
        item = server.catalog.product_payload(pid)
        assert item["stock_quantity"] == 53, pid  # +3 once, whether its write was in flight at the kill or not
        assert marker_ids(item) == {ops[pid].id}
    assert set(Product.objects.filter(id__in=ids).values_list("stock_quantity", flat=True)) == {53}
    # The writes in flight at the kill (and any answered but not yet recorded) were applied by the store:
    # recognised by their marker on the next read, not pushed again.
    confirmed_by_read = set(
        SyncOperation.objects.filter(resolution__result="confirmed_by_read").values_list("id", flat=True)
    )
    assert confirmed_by_read and confirmed_by_read <= held


def test_sigterm_mid_pipeline_stops_claiming_pushes_and_records_what_is_claimed_then_exits(make_sandbox):
    server, ids = _stocked_store(make_sandbox, 1500)
    _edits(ids, before=50, after=53)
    server.writes.set_latency(1000)
    loop = subprocess.Popen(
        [sys.executable, "manage.py", "process_sync_queue"],
        cwd=PROJECT_ROOT,
        env=subprocess_env(SYNC_QUEUE_POLL_SECONDS="0.1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while server.stats["writes_in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)

    loop.send_signal(signal.SIGTERM)  # during the first round of writes, with edits not claimed yet
    out, err = loop.communicate(timeout=120)

    assert loop.returncode == 0, err
    states = _states()
    assert "processing" not in states and states.get("pending", 0) > 0, states  # claiming stopped
    assert states["done"] + states["pending"] == len(ids)
    assert f"{states['done']} claimed · {states['done']} done · 0 failed" in out
    done = set(SyncOperation.objects.filter(state="done").values_list("object_id", flat=True))
    for pid in ids:
        assert server.catalog.product_payload(pid)["stock_quantity"] == (53 if pid in done else 50), pid


def _claimed_objects(worker: str) -> set[int]:
    return {op.object_id for op in sync_operations_claim(worker=worker, limit=50, now=timezone.now())}


def test_an_object_another_processor_is_pushing_waits_until_that_push_is_recorded():
    # Two pushes of one object at once would each add their delta to the value they read: one is lost.
    first = local_edit(object_id=1, new={"stock_quantity": 15}, base={"stock_quantity": 10})
    local_edit(object_id=2, new={"stock_quantity": 7}, base={"stock_quantity": 5})
    assert {op.id for op in sync_operations_claim(worker="A", limit=1, now=timezone.now())} == {first.id}
    local_edit(object_id=1, new={"stock_quantity": 16}, base={"stock_quantity": 15})  # while A pushes object 1

    assert _claimed_objects("B") == {2}

    SyncOperation.objects.filter(id=first.id).update(state="done", leased_until=None)  # A recorded its push
    assert _claimed_objects("B") == {1}


def test_a_dead_processors_object_is_claimed_again_once_its_lease_ran_out():
    first = local_edit(object_id=1, new={"stock_quantity": 15}, base={"stock_quantity": 10})
    sync_operations_claim(worker="A", limit=1, now=timezone.now())
    local_edit(object_id=1, new={"stock_quantity": 16}, base={"stock_quantity": 15})
    SyncOperation.objects.filter(id=first.id).update(leased_until=timezone.now() - timedelta(seconds=1))

    assert _claimed_objects("B") == {1}  # the lapsed lease holds nothing back (A's edit is returned to the queue)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serialises its writers by itself")
def test_two_processors_claiming_at_the_same_moment_never_both_take_a_push_of_one_object():
    # A's claim has taken object 1's edit but not committed yet when a second edit of object 1 arrives and
    # B claims: B must wait for A's commit, then leave object 1 alone, instead of taking the new edit
    # beside A's (it cannot see A's uncommitted claim).
    local_edit(object_id=1, new={"stock_quantity": 15}, base={"stock_quantity": 10})
    claimed_by_a, a_may_commit = threading.Event(), threading.Event()

    def claim_a() -> None:
        try:
            with transaction.atomic():  # A's claim commits only when this block ends
                sync_operations_claim(worker="A", limit=1, now=timezone.now())
                claimed_by_a.set()
                a_may_commit.wait(30)
        finally:
            connection.close()

    a = threading.Thread(target=claim_a)
    a.start()
    assert claimed_by_a.wait(30)
    second = local_edit(object_id=1, new={"stock_quantity": 16}, base={"stock_quantity": 15})
    b_result: list[set[int]] = []
    b = threading.Thread(target=lambda: (b_result.append(_claimed_objects("B")), connection.close()))
    b.start()
    b.join(timeout=1)
    waited = b.is_alive()
    a_may_commit.set()
    a.join(timeout=30)
    b.join(timeout=30)

    assert waited, "B's claim did not wait for A's"
    assert b_result == [set()]
    assert SyncOperation.objects.get(id=second.id).state == "pending"


def test_a_webhook_arriving_during_a_long_pipeline_is_applied_within_seconds_not_after_it(make_sandbox):
    # 2,000 queued edits are 20 batches of 1 s, 4 rounds of 5: the store's own change must not wait for them.
    server, ids = _stocked_store(make_sandbox, 2100)
    edited, other = ids[:2000], ids[-1]
    _edits(edited, before=50, after=53)
    server.writes.set_latency(1000)
    received: list[float] = []

    def webhook_once_writes_are_in_flight():
        if received or server.stats["writes_in_flight"] == 0:
            return None
        server.catalog.edit_product(other, name="Renamed in WooCommerce")
        delivery = signed_delivery("product.updated", server.catalog.product_payload(other))
        webhook_receive(topic="product.updated", body=delivery.body, signature=delivery.signature, secret=SAMPLE_SECRET)
        received.append(time.monotonic())
        return True

    result = _process_beside(
        lambda woo: sync_queue_process_batch(worker="pipeline", client=woo, store_variations=lambda: True),
        _Beside(webhook_once_writes_are_in_flight, 0.01),
    )

    webhook = SyncOperation.objects.get(origin="webhook")
    last_push = max(SyncOperation.objects.filter(origin="local_edit").values_list("finished_at", flat=True))
    assert received and result.claimed == 2001 and result.done == 2001
    assert webhook.state == "done" and Product.objects.get(id=other).name == "Renamed in WooCommerce"
    assert (last_push - webhook.finished_at).total_seconds() > 1.5  # applied mid-pipeline, not after it
    assert server.stats["writes"] == 20  # and nothing it did was pushed
