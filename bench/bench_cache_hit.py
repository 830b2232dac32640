"""What a cached catalog answer costs in-process, with the throttle counted in the cache lookup's Redis
round trip (issue 12) or in its own (as before), alternating in one run.

Serial requests through the whole Django and DRF stack (the test client, so no HTTP server and no
concurrency: the figure is the cost of one answer, not a saturation throughput), on the API benchmark's
catalog (``<DATABASE_URL>_bench``, built by ``bench_api.py``) and a private redis-server. Blocks of
``--requests`` requests alternate between the two modes (the order flips every block); medians of the
per-request time per block are reported with the Redis commands each answer sent.

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crushme .venv/bin/python bench/bench_cache_hit.py \\
        [--products 20000] [--blocks 20] [--requests 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200, help="requests per block")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from bench.bench_api import _bench_database_url, _ensure_database, _free_port, _populate

    database_url = _bench_database_url(os.environ["DATABASE_URL"])
    redis_port = _free_port()
    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.bench_api_settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "CACHE_KEY_PREFIX": f"crushme-bench-{uuid.uuid4().hex[:8]}",
            "DJANGO_SECRET_KEY": "bench-only-" + uuid.uuid4().hex,
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "WOOCOMMERCE_URL": "http://127.0.0.1:1",
            "WOOCOMMERCE_CONSUMER_KEY": "ck_bench",
            "WOOCOMMERCE_CONSUMER_SECRET": "cs_bench",
            "LOG_LEVEL": "WARNING",
        }
    )
    try:
        time.sleep(0.3)
        return _run(args, _ensure_database, _populate, database_url, redis_port)
    finally:
        redis_server.terminate()
        redis_server.wait(timeout=30)


def _run(args, ensure_database, populate, database_url: str, redis_port: int) -> int:
    import django

    ensure_database(database_url)
    django.setup()
    import redis
    from django.core.management import call_command
    from django.test import Client

    from bench.bench_throttle import ApartThrottle
    from catalog.apis import CatalogApi
    from catalog.models import Product
    from common.throttling import RoleRateThrottle

    call_command("migrate", verbosity=0)
    populate(args.products)
    detail_id = Product.objects.filter(type="variable").order_by("id").values_list("id", flat=True).first()
    paths = {"list": "/api/products/?per_page=50", "detail": f"/api/products/{detail_id}/"}
    modes = {"one round trip": RoleRateThrottle, "throttle apart": ApartThrottle}
    client = Client()
    stats = redis.Redis(port=redis_port)
    for path in paths.values():
        assert client.get(path).status_code == 200  # cached from here on

    per_request: dict[tuple[str, str], list[float]] = {(w, m): [] for w in paths for m in modes}
    commands: dict[tuple[str, str], float] = {}
    for block in range(args.blocks):
        order = list(modes.items()) if block % 2 == 0 else list(reversed(modes.items()))
        for what, path in paths.items():
            for mode, throttle in order:
                CatalogApi.throttle_classes = [throttle]
                before = stats.info("stats")["total_commands_processed"]
                started = time.perf_counter()
                for _ in range(args.requests):
                    client.get(path)
                per_request[(what, mode)].append((time.perf_counter() - started) / args.requests * 1e6)
                # INFO's own command is counted too; a script's inner calls are not round trips but are counted:
                # the figure below is the commands Redis ran per answer, whatever their origin.
                commands[(what, mode)] = (stats.info("stats")["total_commands_processed"] - before - 1) / args.requests
    load = os.getloadavg()
    print(f"{args.blocks} blocks of {args.requests} serial requests per mode; load average {load[0]:.1f}\n")
    print(
        "| answer | mode | median µs per request | min-max of the block medians "
        "| Redis commands run per answer (scripts' inner calls included) |"
    )
    print("|---|---|---:|---:|---:|")
    for (what, mode), values in per_request.items():
        print(
            f"| {what} | {mode} | {statistics.median(values):.0f} | {min(values):.0f}-{max(values):.0f} "
            f"| {commands[(what, mode)]:.1f} |"
        )
    print()
    for what in paths:
        one = statistics.median(per_request[(what, "one round trip")])
        two = statistics.median(per_request[(what, "throttle apart")])
        print(f"{what}: one round trip / throttle apart, time per request: {one / two:.2f} ({two - one:+.0f} µs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
