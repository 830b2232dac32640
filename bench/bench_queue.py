"""Sync queue benchmark (``make bench-queue``): webhook ingest, applying queued updates, pushing staff edits.

1. **Ingest**: gunicorn with the project's ``gunicorn_config.py`` on loopback, ``wrk -c50`` POSTing
   distinct signed ``product.updated`` deliveries (the captured sample's body with other ids and
   stock) to ``/api/webhooks/woocommerce/``: deliveries per second, p50/p99, and the rows queued.
2. **Apply**: 10,000 queued updates of mirrored products (new stock and price), applied by
   ``manage.py process_sync_queue --once`` in a subprocess (wall time, operations per second, peak
   RSS), then 10,000 more by the seed's one-operation-at-a-time loop (claim one row, parse, upsert it
   in its own transaction, mark it done, invalidate the cache) in the same run, on the same database.
3. **Push drain**: 10,000 staff stock edits pushed by ``process_sync_queue --once`` to a sandbox store
   answering each write request in 1 s: the wall time against the bound 1.2 x (batches x 1 s /
   concurrency), the most write requests in flight, and the seed's one-operation-at-a-time loop
   (read, PUT, mirror, done) on a few more, extrapolated (``--push-only`` runs this part alone). The
   processor runs with its own ``SYNC_QUEUE_BATCH_SIZE`` / ``SYNC_QUEUE_CONCURRENCY`` unless
   ``--push-batch-size`` / ``--push-concurrency`` say otherwise; every run checks that each product's
   marker names exactly its one operation and that at most the concurrency were in flight.

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crushme REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/bench_queue.py [--duration 10] [--connections 50] [--operations 10000]

Everything goes into its own database (``<name>_bench_queue``, emptied first) and a private
redis-server on an ephemeral port.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from bench_api import Server, _free_port

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "fixtures" / "woocommerce" / "webhooks" / "product.updated-after-order-simple.json"
SECRET = "bench-" + uuid.uuid4().hex
PATH = "/api/webhooks/woocommerce/"
FIRST_ID = 1_000_000

WRK_SCRIPT = r"""
local lines = {}
local position = 0
local step = 1
local next_thread = 0

function setup(thread)
  thread:set("offset", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  for line in io.lines(args[1]) do
    lines[#lines + 1] = line
  end
  position = offset
  step = tonumber(args[2])
end

function request()
  local line = lines[(position % #lines) + 1]
  position = position + step
  local space = string.find(line, " ", 1, true)
  local headers = {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "WooCommerce/11.0.1 Hookshot (WordPress/7.0.4)",
    ["X-WC-Webhook-Topic"] = "product.updated",
    ["X-WC-Webhook-Resource"] = "product",
    ["X-WC-Webhook-Event"] = "updated",
    ["X-WC-Webhook-ID"] = "16",
    ["X-WC-Webhook-Signature"] = string.sub(line, 1, space - 1),
  }
  return wrk.format("POST", "__PATH__", headers, string.sub(line, space + 1))
end
""".replace("__PATH__", PATH)


def _bench_database_url(url: str) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path=parsed.path.rstrip("/") + "_bench_queue"))


def _recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _template() -> dict:
    captured = json.loads(SAMPLE.read_text())
    return json.loads(base64.b64decode(captured["body_base64"]))


def _payload(template: dict, product_id: int, *, stock: int, price: str, modified: str) -> dict:
    return {
        **template,
        "id": product_id,
        "sku": f"BQ-{product_id}",
        "slug": f"bench-{product_id}",
        "stock_quantity": stock,
        "regular_price": price,
        "price": price,
        "date_modified_gmt": modified,
    }


def _body(payload: dict) -> bytes:
    # As WooCommerce writes it: compact, with "/" escaped.
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()


def _sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(url: str, *, script: Path, deliveries: Path, duration: int, connections: int, threads: int) -> dict:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s", "--latency",
         "-s", str(script), url, "--", str(deliveries), str(threads)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * _UNITS[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = re.search(r"(\d+) requests in", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(requests.group(1)),
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--operations", type=int, default=10_000, help="queued updates applied by each method")
    parser.add_argument("--deliveries", type=int, default=20_000, help="distinct signed deliveries wrk cycles through")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--ingest-only", action="store_true", help="measure the ingest only")
    parser.add_argument("--push-only", action="store_true", help="measure the push drain only")
    parser.add_argument("--push-operations", type=int, default=10_000, help="stock edits pushed to the sandbox")
    parser.add_argument("--push-latency-ms", type=int, default=1000, help="the sandbox's time per write request")
    parser.add_argument(
        "--push-concurrency", type=int, default=None, help="SYNC_QUEUE_CONCURRENCY (default: the processor's setting)"
    )
    parser.add_argument(
        "--push-batch-size",
        type=int,
        default=None,
        help="the processor's --batch-size, its first claim (default: SYNC_QUEUE_BATCH_SIZE, as in production)",
    )
    parser.add_argument("--push-naive", type=int, default=20, help="operations the one-at-a-time loop pushes")
    parser.add_argument("--push-profile", help="write a cProfile of the processor's drain without latency to this file")
    args = parser.parse_args()

    database_url = _bench_database_url(os.environ["DATABASE_URL"])
    redis_port = _free_port()
    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        return _run(args, database_url, f"redis://127.0.0.1:{redis_port}/0")
    finally:
        redis_server.terminate()
        redis_server.wait(timeout=30)


def _run(args: argparse.Namespace, database_url: str, redis_url: str) -> int:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crushme_project.settings.base",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": f"crushme-bench-queue-{uuid.uuid4().hex[:8]}",
        "DJANGO_SECRET_KEY": "bench-only-" + uuid.uuid4().hex,
        "WOOCOMMERCE_URL": "http://127.0.0.1:1",
        "WOOCOMMERCE_WEBHOOK_SECRET": SECRET,
        "GUNICORN_ACCESS_LOG": os.devnull,
        "GUNICORN_MAX_REQUESTS": "0",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    _recreate_database(database_url)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from sync.models import SyncOperation

    template = _template()
    results: dict = {"connections": args.connections, "duration_s": args.duration, "operations": args.operations}
    if args.push_only:
        results["push"] = _push_drain(args, env)
        print(f"database {connection.vendor}; machine shared with other jobs: figures vary between runs")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
        return 0

    # --- 1. ingest ------------------------------------------------------------------------------------------
    with tempfile.TemporaryDirectory() as tmp:
        deliveries = Path(tmp) / "deliveries.txt"
        with deliveries.open("w") as handle:
            for n in range(args.deliveries):
                body = _body(
                    _payload(template, 5_000_000 + n, stock=n % 90, price="10.50", modified="2026-12-01T04:15:14")
                )
                handle.write(f"{_sign(body)} {body.decode()}\n")
        script = Path(tmp) / "deliver.lua"
        script.write_text(WRK_SCRIPT)
        server = Server(env, "ingest", ready_path=PATH, ready_data=b"webhook_id=1", log_prefix="bench-queue")
        try:
            run = {"duration": args.duration, "connections": args.connections, "threads": args.threads}
            wrk(server.url + PATH, script=script, deliveries=deliveries, duration=2, connections=10, threads=1)  # warm
            SyncOperation.objects.all().delete()
            ingest = wrk(server.url + PATH, script=script, deliveries=deliveries, **run)
        finally:
            server.stop()
    ingest["queued_rows"] = SyncOperation.objects.count()
    results["ingest"] = ingest
    print(
        f"ingest: {ingest['rps']:.0f} deliveries/s, p50 {ingest['p50_ms']:.1f} ms, p99 {ingest['p99_ms']:.1f} ms "
        f"(target <= 50 ms), {ingest['requests']} requests, {ingest['non_2xx']} non-2xx, "
        f"{ingest['queued_rows']} rows queued"
    )
    SyncOperation.objects.all().delete()
    if args.ingest_only:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
        return 0

    # --- 2. apply: the processor against the one-at-a-time loop ------------------------------------------------
    _mirror(template, args.operations)
    _queue_updates(template, args.operations, stock_base=1, modified="2026-12-01T05:00:00")
    started = time.perf_counter()
    processor = subprocess.Popen(
        [sys.executable, "manage.py", "process_sync_queue", "--once"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    peak_kb = _watch_peak_rss_kb(processor)
    out, err = processor.communicate(timeout=3600)
    batched_s = time.perf_counter() - started
    assert processor.returncode == 0, out + err
    assert SyncOperation.objects.filter(state="done").count() == args.operations, out + err
    _check_applied(args.operations, stock_base=1)
    peak_rss_mb = peak_kb / 1024
    results["batched"] = {
        "seconds": round(batched_s, 2),
        "ops_per_s": round(args.operations / batched_s, 1),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "summary": out.strip(),
    }
    print(
        f"processor: {args.operations} updates in {batched_s:.2f} s = {args.operations / batched_s:.0f} ops/s, "
        f"peak RSS {peak_rss_mb:.1f} MB (process start included)"
    )

    SyncOperation.objects.all().delete()
    _queue_updates(template, args.operations, stock_base=2, modified="2026-12-01T06:00:00")
    started = time.perf_counter()
    naive_done = _naive_loop()
    naive_s = time.perf_counter() - started
    _check_applied(args.operations, stock_base=2)
    results["naive"] = {"seconds": round(naive_s, 2), "ops_per_s": round(naive_done / naive_s, 1)}
    results["speedup"] = round(naive_s / batched_s, 2)
    print(
        f"one at a time: {naive_done} updates in {naive_s:.2f} s = {naive_done / naive_s:.0f} ops/s "
        f"-> the processor is {naive_s / batched_s:.2f}x faster"
    )
    SyncOperation.objects.all().delete()
    results["push"] = _push_drain(args, env)
    print(f"database {connection.vendor}; machine shared with other jobs: figures vary between runs")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


# --- 3. push drain: staff edits pushed to a sandbox store answering each write in --push-latency-ms ------------


def _push_drain(args: argparse.Namespace, env: dict) -> dict:
    """``--push-operations`` stock edits (one per product) drained by ``process_sync_queue --once`` against
    the sandbox, checked against the bound 1.2 x (batches x latency / concurrency), then the seed's loop
    (one operation at a time: read, PUT, write the mirror, mark it done) on ``--push-naive`` more."""
    from django.conf import settings
    from django.db.models import Count
    from django.utils import timezone

    from sync.models import SyncOperation
    from sync.sandbox.catalog import SandboxCatalog
    from sync.sandbox.server import SandboxServer
    from sync.services.products import product_records_parse, product_upsert_page
    from sync.services.push import marker_ids

    count, naive_count = args.push_operations, args.push_naive
    # The processor's own settings unless told otherwise: the bench measures what production runs.
    concurrency = args.push_concurrency or settings.SYNC_QUEUE_CONCURRENCY
    batch_size = args.push_batch_size or settings.SYNC_QUEUE_BATCH_SIZE
    catalog = SandboxCatalog.generate(
        products=int((count + naive_count) * 1.1) + 50, variable_share=0.0, categories=5, seed=7
    )
    ids = sorted(pid for pid, p in catalog.products.items() if p["type"] == "simple" and p["status"] != "trash")
    ids = ids[: count + naive_count]
    assert len(ids) == count + naive_count, "the generated catalog is too small"
    for pid in ids:
        catalog.edit_product(pid, manage_stock=True, stock_quantity=50)
    key, secret = "ck_bench_" + uuid.uuid4().hex, "cs_bench_" + uuid.uuid4().hex
    with SandboxServer(catalog, host="127.0.0.1", port=0, consumer_key=key, consumer_secret=secret) as server:
        now = timezone.now()
        for start in range(0, len(ids), 500):
            records, failures = product_records_parse(catalog.product_payload(pid) for pid in ids[start : start + 500])
            assert not failures, failures
            product_upsert_page(records=records, synced_at=now)
        push_env = {
            **env,
            "WOOCOMMERCE_URL": server.url,
            "WOOCOMMERCE_CONSUMER_KEY": key,
            "WOOCOMMERCE_CONSUMER_SECRET": secret,
            "SYNC_QUEUE_CONCURRENCY": str(concurrency),
            "SYNC_QUEUE_BATCH_SIZE": str(batch_size),
        }

        def drain(
            latency_ms: int, before: int, after: int, profile: str | None = None
        ) -> tuple[float, float, dict, str]:
            SyncOperation.objects.all().delete()
            _push_enqueue(ids[:count], before=before, after=after)
            server.writes.set_latency(latency_ms)
            server.reset_stats()
            started = time.perf_counter()
            command = ["manage.py", "process_sync_queue", "--once"]
            if profile:
                command = ["-m", "cProfile", "-o", profile, *command]
            # CPU seconds rather than wall time: far less sensitive to other jobs on a shared machine. The
            # sandbox serves from this process (threads), the processor is the child.
            children_before, own_before = resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time()
            processor = subprocess.run(
                [sys.executable, *command], cwd=ROOT, env=push_env, capture_output=True, text=True, timeout=3600
            )
            wall_s = time.perf_counter() - started
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            processor_cpu_s = (children.ru_utime + children.ru_stime) - (
                children_before.ru_utime + children_before.ru_stime
            )
            sandbox_cpu_s = time.process_time() - own_before
            batches_sent = -(-count // 100)
            print(
                f"  CPU (latency {latency_ms} ms): processor {processor_cpu_s:.2f} s = "
                f"{1000 * processor_cpu_s / batches_sent:.0f} ms per batch of 100 (start-up included), "
                f"sandbox {sandbox_cpu_s:.2f} s = {1000 * sandbox_cpu_s / batches_sent:.0f} ms per batch"
            )
            cpu[latency_ms] = (processor_cpu_s, sandbox_cpu_s)
            assert processor.returncode == 0, processor.stdout + processor.stderr
            # The command's own clock starts after Django's start-up, which the bound is not about.
            drained_s = float(re.findall(r"· ([0-9.]+)s$", processor.stdout.strip())[-1])
            states = dict(SyncOperation.objects.values("state").annotate(n=Count("id")).values_list("state", "n"))
            assert states == {"done": count}, (states, processor.stdout, processor.stderr)
            wrong = [pid for pid in ids[:count] if catalog.product_payload(pid)["stock_quantity"] != after]
            assert not wrong, f"{len(wrong)} products without the pushed stock, e.g. {wrong[:5]}"
            # Nothing pushed twice: each product's marker names exactly its one operation.
            op_of = dict(SyncOperation.objects.values_list("object_id", "id"))
            twice = [pid for pid in ids[:count] if marker_ids(catalog.product_payload(pid)) != {op_of[pid]}]
            assert not twice, f"{len(twice)} products whose marker is not their one operation, e.g. {twice[:5]}"
            assert server.stats["max_writes_in_flight"] <= concurrency, server.stats
            assert server.stats["max_requests_in_flight"] <= concurrency, server.stats  # reads included
            gaps = sorted(
                value
                for value in SyncOperation.objects.values_list("resolution__read_to_write_ms", flat=True)
                if value is not None
            )
            if gaps:
                gap_ms[latency_ms] = (gaps[len(gaps) // 2], gaps[int(len(gaps) * 0.99)])
                print(
                    f"  read -> write gap (latency {latency_ms} ms): p50 {gaps[len(gaps) // 2]:.1f} ms, "
                    f"p99 {gaps[int(len(gaps) * 0.99)]:.1f} ms, max {gaps[-1]:.1f} ms"
                )
            return drained_s, wall_s, server.stats, processor.stdout.strip()

        cpu: dict[int, tuple[float, float]] = {}
        gap_ms: dict[int, tuple[float, float]] = {}
        service_s, _, _, _ = drain(0, 50, 53, profile=args.push_profile)
        drained_s, wall_s, stats, summary = drain(args.push_latency_ms, 53, 56)
        batches = -(-count // 100)
        bound_s = 1.2 * batches * (args.push_latency_ms / 1000) / concurrency
        pushed_twice = stats["writes"] - batches  # every batch holds 100 distinct products
        print(
            f"push drain: {count} stock edits in {drained_s:.2f} s ({wall_s:.2f} s with the process start-up) "
            f"against the bound {bound_s:.2f} s "
            f"(1.2 x {batches} batches x {args.push_latency_ms} ms / {concurrency}; first claim {batch_size}) "
            f"-> {'within' if drained_s <= bound_s else 'OVER'} the bound; {stats['writes']} write requests, "
            f"max {stats['max_writes_in_flight']} writes in flight ({stats['max_requests_in_flight']} requests, "
            f"reads included), {pushed_twice} extra writes"
        )
        print(
            f"  the same drain with no write latency: {service_s:.2f} s (the sandbox's own work per batch and "
            f"the processor's, {1000 * service_s / batches:.0f} ms per batch of 100, on the shared machine)"
        )

        SyncOperation.objects.all().delete()
        _push_enqueue(ids[count:], before=56, after=59)
        from sync.woocommerce.client import WooCommerceClient

        woo = WooCommerceClient(url=server.url, consumer_key=key, consumer_secret=secret, max_retries=0)
        started = time.perf_counter()
        naive_done = _push_naive_loop(woo)
        naive_s = time.perf_counter() - started
        woo.close()
        assert naive_done == naive_count
    per_op = naive_s / naive_count
    speedup = per_op * count / drained_s
    print(
        f"one at a time: {naive_count} stock edits in {naive_s:.2f} s = {per_op:.2f} s each -> {count} would take "
        f"{per_op * count:.0f} s; the batched push is {speedup:.0f}x faster (target >= 20x)"
    )
    return {
        "operations": count,
        "seconds": round(drained_s, 2),
        "seconds_without_latency": round(service_s, 2),
        "wall_seconds_with_start_up": round(wall_s, 2),
        "bound_seconds": round(bound_s, 2),
        "within_bound": drained_s <= bound_s,
        "concurrency": concurrency,
        "first_claim": batch_size,
        "write_requests": stats["writes"],
        "read_to_write_p50_ms": gap_ms.get(args.push_latency_ms, (None, None))[0],
        "read_to_write_p99_ms": gap_ms.get(args.push_latency_ms, (None, None))[1],
        "max_writes_in_flight": stats["max_writes_in_flight"],
        "max_requests_in_flight": stats["max_requests_in_flight"],
        "naive_seconds_per_op": round(per_op, 3),
        "speedup": round(speedup, 1),
        "processor_cpu_seconds": round(cpu[args.push_latency_ms][0], 2),
        "processor_cpu_ms_per_batch": round(1000 * cpu[args.push_latency_ms][0] / batches),
        "sandbox_cpu_seconds": round(cpu[args.push_latency_ms][1], 2),
        "summary": summary,
    }


def _push_enqueue(ids: list[int], *, before: int, after: int) -> None:
    """One staff stock edit (before -> after) per product, in the shape the PATCH endpoint queues."""
    from django.utils import timezone

    from sync.models import SyncOperation

    now = timezone.now()
    SyncOperation.objects.bulk_create(
        [
            SyncOperation(
                origin="local_edit",
                object_kind="product",
                object_id=pid,
                action="update",
                new_values={"stock_quantity": after},
                base_values={"stock_quantity": before},
                dedupe_key=f"local_edit:{uuid.uuid4()}",
                sort_at=now,
                next_attempt_at=now,
                created_at=now,
            )
            for pid in ids
        ],
        batch_size=1000,
    )


def _push_naive_loop(woo) -> int:
    """The seed's loop: one operation at a time, read the product, PUT the new stock, write the answer to
    the mirror, mark the operation done, invalidate the cache."""
    from django.db import transaction
    from django.utils import timezone

    from catalog.cache import catalog_version_bump
    from sync.models import SyncOperation
    from sync.services.products import product_records_parse, product_upsert_page

    done = 0
    while True:
        with transaction.atomic():
            op = SyncOperation.objects.filter(state="pending").order_by("id").select_for_update().first()
            if op is None:
                return done
            current = woo.get(f"products/{op.object_id}").data
            delta = op.new_values["stock_quantity"] - op.base_values["stock_quantity"]
            answer = woo.write("PUT", f"products/{op.object_id}", {"stock_quantity": current["stock_quantity"] + delta})
            records, _ = product_records_parse([answer.data])
            product_upsert_page(records=records, synced_at=timezone.now())
            op.state = "done"
            op.attempts += 1
            op.finished_at = timezone.now()
            op.save(update_fields=["state", "attempts", "finished_at", "updated_at"])
        catalog_version_bump()
        done += 1


def _watch_peak_rss_kb(process: subprocess.Popen) -> int:
    """The process's peak RSS (the kernel's VmHWM), read until it exits (sampled every 20 ms)."""
    peak = 0
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            match = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
        except OSError:
            break
        if match:
            peak = max(peak, int(match.group(1)))
        time.sleep(0.02)
    return peak


def _mirror(template: dict, count: int) -> None:
    """The products the updates are about, mirrored as the sync would (one parse + upsert per 500)."""
    from django.utils import timezone

    from sync.services.products import product_records_parse, product_upsert_page

    now = timezone.now()
    for start in range(0, count, 500):
        payloads = [
            _payload(template, FIRST_ID + n, stock=0, price="9.00", modified="2026-12-01T04:00:00")
            for n in range(start, min(start + 500, count))
        ]
        records, failures = product_records_parse(payloads)
        assert not failures, failures
        product_upsert_page(records=records, synced_at=now)


def _queue_updates(template: dict, count: int, *, stock_base: int, modified: str) -> None:
    """``count`` queued product.updated operations, as the receiver would store them (one per product)."""
    from django.utils import timezone

    from sync.services.queue import OperationSpec, payload_modified_at, sync_operations_enqueue

    now = timezone.now()
    for start in range(0, count, 1000):
        specs = []
        for n in range(start, min(start + 1000, count)):
            payload = _payload(template, FIRST_ID + n, stock=stock_base + n % 50, price="11.00", modified=modified)
            specs.append(
                OperationSpec(
                    object_kind="product",
                    object_id=FIRST_ID + n,
                    action="upsert",
                    topic="product.updated",
                    payload=payload,
                    modified_at=payload_modified_at(payload),
                    dedupe_key=f"bench:{modified}:{n}",
                )
            )
        sync_operations_enqueue(specs=specs, now=now)


def _check_applied(count: int, *, stock_base: int) -> None:
    from catalog.models import Product

    wrong = [
        pid
        for pid, stock in Product.objects.filter(id__gte=FIRST_ID).values_list("id", "stock_quantity")
        if stock != stock_base + (pid - FIRST_ID) % 50
    ]
    assert not wrong, f"{len(wrong)} products not updated, e.g. {wrong[:5]}"


def _naive_loop() -> int:
    """The seed's loop: one pending row at a time, each parsed, written and marked in its own transaction,
    the cache invalidated after each (what the queue did before batching and coalescing)."""
    from django.db import transaction
    from django.utils import timezone

    from catalog.cache import catalog_version_bump
    from sync.models import SyncOperation
    from sync.services.products import product_records_parse, product_upsert_page

    done = 0
    while True:
        with transaction.atomic():
            op = SyncOperation.objects.filter(state="pending").order_by("id").select_for_update().first()
            if op is None:
                return done
            records, _ = product_records_parse([op.payload])
            product_upsert_page(records=records, synced_at=timezone.now())
            op.state = "done"
            op.attempts += 1
            op.finished_at = timezone.now()
            op.save(update_fields=["state", "attempts", "finished_at", "updated_at"])
        catalog_version_bump()
        done += 1


if __name__ == "__main__":
    raise SystemExit(main())
