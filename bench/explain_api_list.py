"""EXPLAIN (ANALYZE, BUFFERS) of every query issue 12's uncached reads run (lists, search, facets, detail).

Each path is requested through Django's test client with a DummyCache (so the count runs too); every
query it runs is captured (``CaptureQueriesContext``: the SQL as sent, parameters included) and
explained on the same database. Prints, per query, the execution time, the buffers it found in
shared_buffers and those it had to read, and any sequential scan on a catalog table, with that table's
size: a scan of the 50-row category
table is PostgreSQL's right choice, one of the products is what issue 12 forbids. Ends with the
sequential scans found on tables of more than ``--small`` rows (exit status 1 when there are any).

The paths are ``bench_api.catalog_scenarios`` (the benchmark's uncached scenarios) unless given.
The catalog is the benchmark's own database (``<name>_bench``); ``--scale N`` (re)builds it with
``bench_api``'s builder first (N products, 10% variable with 4 variations, ``VACUUM ANALYZE``), so
``bench_api.py --products N`` then reuses it.

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crushme REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/explain_api_list.py [--scale 200000] [--verbose] [PATH ...]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=0, help="(re)build the bench catalog with this many products")
    parser.add_argument("--verbose", action="store_true", help="print every plan in full")
    parser.add_argument("--small", type=int, default=1000, help="a table up to this many rows may be scanned")
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crushme").rstrip("/")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.bench_api_settings",
            "BENCH_NO_CACHE": "1",
            "DATABASE_URL": base + "_bench",
            "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
            "CACHE_KEY_PREFIX": f"crushme-explain-{uuid.uuid4().hex[:8]}",
            "DJANGO_SECRET_KEY": "bench-only-" + uuid.uuid4().hex,
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "WOOCOMMERCE_URL": "http://127.0.0.1:1",
            "WOOCOMMERCE_CONSUMER_KEY": "ck_bench",
            "WOOCOMMERCE_CONSUMER_SECRET": "cs_bench",
            "LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    from bench.bench_api import _ensure_database, _populate, catalog_scenarios

    _ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from catalog.models import Product

    call_command("migrate", verbosity=0)
    if args.scale:
        _populate(args.scale)
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, reltuples::bigint FROM pg_class WHERE relname LIKE 'catalog\\_%%'")
        rows = dict(cursor.fetchall())
        cursor.execute("SELECT count(*) FROM catalog_product")
        print(f"catalog: {cursor.fetchone()[0]} products")
    detail_id = Product.objects.filter(type="variable").order_by("id").values_list("id", flat=True).first()
    paths = args.paths or [path for _, _, path in catalog_scenarios(detail_id or 0)]
    client = Client()
    flagged: list[str] = []
    for path in paths:
        # Twice: the second finds warm buffers, as a busy server would; the first runs what a process
        # memoises (the list's count), so every statement the path can run is explained once.
        runs = []
        for _ in range(2):
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path, secure=True)
            assert response.status_code == 200, (path, response.status_code)
            runs.append([query["sql"] for query in captured.captured_queries])
        statements = list(dict.fromkeys(runs[0] + runs[1]))
        took_by_sql: dict[str, float] = {}
        print(f"\n{path}")
        total = 0.0
        for sql in statements:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plan = [row[0] for row in cursor.fetchall()]
            text = "\n".join(plan)
            took = float(match.group(1)) if (match := re.search(r"Execution Time: ([0-9.]+) ms", text)) else 0.0
            total += took
            took_by_sql[sql] = took
            # The top node's buffers: hits in shared_buffers, reads from the OS (cache or disk).
            buffers = re.search(r"Buffers: shared (?:hit=(\d+))? ?(?:read=(\d+))?", text)
            hit, read = (int(n or 0) for n in buffers.groups()) if buffers else (0, 0)
            seq = sorted(set(re.findall(r"Seq Scan on (catalog_\w+)", text)))
            notes = [f"SEQ SCAN {table} ({rows.get(table, '?')} rows)" for table in seq]
            flagged += [f"{path}: {table}" for table in seq if rows.get(table, 0) > args.small]
            print(f"  {took:8.2f} ms  buffers {hit:>6} hit {read:>6} read  {' '.join(notes)}  {sql[:80]}")
            if args.verbose:
                print("    " + "\n    ".join(plan))
        print(f"  {total:8.2f} ms in {len(statements)} distinct statements")
        # What every later request of this process runs once the memos (counts, facets) hold this path.
        steady = sum(took_by_sql[sql] for sql in runs[1])
        print(f"  {steady:8.2f} ms in the {len(runs[1])} queries of the second request")
    print(f"\nsequential scans on catalog tables over {args.small} rows: {', '.join(flagged) if flagged else 'none'}")
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
