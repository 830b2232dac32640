"""In-process profile of uncached product-list requests (issue 12): where one request's time goes.

Runs the real view through Django's test client with the bench's settings and a DummyCache (every
request queries and serialises), over the bench's catalog (``<name>_bench``, the one
``bench/bench_api.py`` fills and reuses), with random filters, sorts and pages, 50 products per page.

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crushme REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/profile_api_list.py \\
        [--requests 200] [--profile] [--seed 1] [--path '/api/products/?per_page=50'] [--gc [--gc-freeze]]

Prints the mean time per request; ``--profile`` adds a cProfile summary (cumulative, top 30);
``--path`` requests one path every time and adds the mean time of each of its queries. ``--gc`` prints the
garbage collector's pauses per generation during the requests (a full collection stalls every greenlet
of a gevent worker); ``--gc-freeze`` first freezes what is loaded, as ``gunicorn_config.py`` does.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ORDERS = ["date", "price", "popularity", "title", "menu_order", "id"]


def _queries(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        params = [f"per_page=50&page={rng.randint(1, 20)}&orderby={rng.choice(ORDERS)}"]
        params.append(f"order={rng.choice(['asc', 'desc'])}")
        if rng.random() < 0.3:
            params.append(f"min_price={rng.randint(1, 40)}&max_price={rng.randint(60, 200)}")
        if rng.random() < 0.2:
            params.append("stock_status=instock")
        out.append("/api/products/?" + "&".join(params))
    return out


def _pause_recorder(pauses: dict[int, list[float]]):
    started = [0.0]

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - started[0])

    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-out", help="with --profile, also dump the cProfile stats to this file (pstats)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--products",
        type=int,
        help="catalog size: the bench's catalog is rebuilt when it has another size (default: reuse it, "
        "whatever its size; build 20,000 products when it is empty)",
    )
    parser.add_argument("--path", help="request this path every time (and print its queries' times)")
    parser.add_argument("--gc", action="store_true", help="print the garbage collector's pauses")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after the warm-up, as the workers do")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crushme").rstrip("/")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.bench_api_settings",
            "BENCH_NO_CACHE": "1",
            "DATABASE_URL": base + "_bench",
            "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
            "CACHE_KEY_PREFIX": f"crushme-profile-{uuid.uuid4().hex[:8]}",
            "DJANGO_SECRET_KEY": "bench-only-" + uuid.uuid4().hex,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "WOOCOMMERCE_URL": "http://127.0.0.1:1",
            "WOOCOMMERCE_CONSUMER_KEY": "ck_bench",
            "WOOCOMMERCE_CONSUMER_SECRET": "cs_bench",
            "LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    from bench.bench_api import _ensure_database, _populate

    _ensure_database(os.environ["DATABASE_URL"])
    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    from catalog.models import Product

    # A catalog built by bench_api.py --products 200000 takes minutes: never rebuilt unless asked for.
    _populate(args.products or Product.objects.count() or 20_000)

    client = Client()
    paths = [args.path] * args.requests if args.path else _queries(args.requests, args.seed)
    for path in paths[:10]:  # warm imports, the connection and the URLconf
        assert client.get(path, secure=True).status_code == 200
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    if args.gc:
        gc.callbacks.append(_pause_recorder(pauses))
    profiler = cProfile.Profile() if args.profile else None
    started, cpu_started = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for path in paths:
        response = client.get(path, secure=True)
        assert response.status_code == 200, (path, response.status_code)
    if profiler:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    # CPU time of this process (Django's side, PostgreSQL's excluded): steadier than wall time on a busy machine.
    print(
        f"{len(paths)} uncached list requests: {elapsed / len(paths) * 1000:.2f} ms per request, "
        f"{cpu / len(paths) * 1000:.2f} ms CPU"
    )
    if args.gc:
        gc.callbacks.clear()
        for generation, taken in pauses.items():
            taken.sort()
            if taken:
                print(
                    f"  gc generation {generation}: {len(taken)} collections, {sum(taken) * 1000:.0f} ms in all, "
                    f"median {taken[len(taken) // 2] * 1000:.2f} ms, max {taken[-1] * 1000:.1f} ms"
                )
        print(f"  objects tracked: {len(gc.get_objects())}, frozen: {gc.get_freeze_count()}")
    if args.path:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            for path in paths:
                client.get(path, secure=True)
        for i, query in enumerate(captured.captured_queries[: len(captured.captured_queries) // len(paths)]):
            took = sum(float(q["time"]) for q in captured.captured_queries[i :: len(captured) // len(paths)])
            print(f"  query {i}: {took / len(paths) * 1000:.2f} ms  {query['sql'][:80]}")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
        if args.profile_out:
            profiler.dump_stats(args.profile_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
