"""Processors as real processes: two at once on the same operations, and one killed with SIGKILL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from catalog.models import Product
from sync.models import SyncOperation
from sync.services.queue import OperationSpec, sync_operations_enqueue
from tests.sync.helpers import PROJECT_ROOT, subprocess_env
from tests.sync.webhook_samples import sample

pytestmark = pytest.mark.django_db(transaction=True)

FIRST_ID = 100_000


def _enqueue_product_updates(count: int) -> None:
    template = json.loads(sample("product.updated-after-order-simple").body)
    specs = []
    for n in range(count):
        payload = {**template, "id": FIRST_ID + n, "sku": f"Q-{n}", "stock_quantity": n % 50}
        specs.append(
            OperationSpec(
                object_kind="product",
                object_id=FIRST_ID + n,
                action="upsert",
                topic="product.updated",
                payload=payload,
                dedupe_key=f"test:{n}",
            )
        )
    for start in range(0, count, 500):
        sync_operations_enqueue(specs=specs[start : start + 500], now=timezone.now())


def _processor(*args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "process_sync_queue", *args],
        cwd=PROJECT_ROOT,
        env=subprocess_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _states() -> dict[str, int]:
    return dict(SyncOperation.objects.values_list("state").annotate(n=Count("id")))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED concurrency needs PostgreSQL")
def test_two_processors_on_the_same_2000_operations_apply_each_exactly_once():
    _enqueue_product_updates(2000)

    processors = [_processor("--once", "--batch-size", "20") for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in processors]

    assert [p.returncode for p in processors] == [0, 0], outputs
    ops = SyncOperation.objects.all()
    assert ops.count() == 2000
    assert set(ops.values_list("state", flat=True)) == {"done"}
    assert set(ops.values_list("attempts", flat=True)) == {1}  # each claimed once, by one processor
    workers = dict(ops.values_list("leased_by").annotate(n=Count("id")))
    assert len(workers) == 2 and sum(workers.values()) == 2000, workers  # both took part
    claimed = [int(out.split(" claimed")[0].rsplit(" ", 1)[-1]) for out, _ in outputs]
    assert sum(claimed) == 2000
    assert Product.objects.filter(id__gte=FIRST_ID).count() == 2000
    assert list(Product.objects.filter(id=FIRST_ID + 77).values_list("sku", "stock_quantity")) == [("Q-77", 27)]


def test_a_processor_killed_mid_batch_loses_nothing_and_doubles_nothing():
    _enqueue_product_updates(2000)
    killed = _processor(SYNC_QUEUE_LEASE_SECONDS="2", SYNC_QUEUE_BATCH_SIZE="400", SYNC_QUEUE_POLL_SECONDS="0.1")
    deadline = time.monotonic() + 120
    # Mid-batch: some batches done, one claimed (processing) and not finished.
    while time.monotonic() < deadline:
        states = _states()
        if states.get("done", 0) >= 400 and states.get("processing", 0) > 0:
            break
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=30)
    at_kill = SyncOperation.objects.filter(state="processing")
    in_flight = set(at_kill.values_list("id", flat=True))
    done_before = set(SyncOperation.objects.filter(state="done").values_list("id", flat=True))
    assert in_flight and done_before and killed.returncode == -signal.SIGKILL

    time.sleep(2.2)  # the killed processor's lease runs out
    restarted = _processor("--once")
    _out, err = restarted.communicate(timeout=300)

    assert restarted.returncode == 0, err
    ops = SyncOperation.objects.all()
    assert set(ops.values_list("state", flat=True)) == {"done"}
    assert Product.objects.filter(id__gte=FIRST_ID).count() == 2000
    # Nothing doubled: what was done before the kill was never claimed again; only the killed
    # batch was, once.
    assert set(ops.filter(id__in=done_before).values_list("attempts", flat=True)) == {1}
    assert set(ops.filter(id__in=in_flight).values_list("attempts", flat=True)) == {2}
    assert ops.exclude(id__in=in_flight).filter(attempts__gt=1).count() == 0


def test_the_processor_loop_stops_cleanly_on_sigterm():
    _enqueue_product_updates(50)
    loop = _processor(SYNC_QUEUE_POLL_SECONDS="0.1")
    deadline = time.monotonic() + 60
    while SyncOperation.objects.filter(state="done").count() < 50 and time.monotonic() < deadline:
        time.sleep(0.05)

    loop.send_signal(signal.SIGTERM)
    out, err = loop.communicate(timeout=30)

    assert loop.returncode == 0, err
    assert "50 claimed · 50 done" in out
    assert SyncOperation.objects.filter(state="processing").count() == 0
