"""Sync queue benchmark (``make bench-queue``): webhook ingest through gunicorn, and applying queued updates.

1. **Ingest**: gunicorn with the project's ``gunicorn_config.py`` on loopback, ``wrk -c50`` POSTing
   distinct signed ``product.updated`` deliveries (the captured sample's body with other ids and
   stock) to ``/api/webhooks/woocommerce/``: deliveries per second, p50/p99, and the rows queued.
2. **Apply**: 10,000 queued updates of mirrored products (new stock and price), applied by
   ``manage.py process_sync_queue --once`` in a subprocess (wall time, operations per second, peak
   RSS), then 10,000 more by the seed's one-operation-at-a-time loop (claim one row, parse, upsert it
   in its own transaction, mark it done, invalidate the cache) in the same run, on the same database.

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
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


class Server:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = _free_port()
        env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        self.log = open(Path(tempfile.gettempdir()) / f"bench-queue-{self.port}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn_config.py", "crushme_project.wsgi:application"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                request = urllib.request.Request(f"{self.url}{PATH}", data=b"webhook_id=1", method="POST")
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"gunicorn did not start; see {self.log.name}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=60)
        self.log.close()


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
        server = Server(env)
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
    print(f"database {connection.vendor}; machine shared with other jobs: figures vary between runs")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


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
