"""EXPLAIN (ANALYZE, BUFFERS) of every query an uncached product-list request runs (issue 12).

Each path is requested through Django's test client with a DummyCache (so the count runs too); every
query it runs is captured and explained on the same database. Prints, per query, the execution time,
the shared buffers it touched and any sequential scan on a catalog table.

``--scale N`` first grows the bench catalog to N products in place (a scratch copy, never the bench's
own database): the existing products, their category links and variations are copied with
``INSERT … SELECT … generate_series`` under new ids, then ``VACUUM ANALYZE``.

Usage::

    createdb -h 127.0.0.1 -U postgres -T crushme_bench crushme_scratch_bench   # a copy of the bench catalog
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crushme_scratch REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/explain_api_list.py [--scale 200000] [--verbose]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = [
    "/api/products/?per_page=50",
    "/api/products/?per_page=50&category=root-3&min_price=20&max_price=150&stock_status=instock&orderby=price&order=asc",
    "/api/products/?per_page=50&orderby=price&order=asc",
    "/api/products/?per_page=50&orderby=popularity",
    "/api/products/?per_page=50&orderby=popularity&page=200",
    "/api/products/?per_page=50&search=hoodie",
]
ID_STEP = 1_000_000  # copies get id + k * ID_STEP (bench ids stay below it)


def _scale(target: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), max(id) FROM catalog_product")
        have, max_id = cursor.fetchone()
        if have >= target:
            print(f"catalog: {have} products already")
            return
        assert max_id < ID_STEP, "copies would collide with existing ids"
        copies = -(-target // have) - 1

        def columns(table: str) -> list[str]:
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
                [table],
            )
            return [row[0] for row in cursor.fetchall()]

        shifted = {"id": "t.id + k * %(step)s", "product_id": "t.product_id + k * %(step)s"}
        texts = {"name": "t.name || ' ' || k", "slug": "t.slug || '-' || k", "sku": "t.sku || '-' || k"}
        for table, skip in (
            ("catalog_product", ()),
            ("catalog_productvariation", ()),
            ("catalog_productcategory", ("id",)),
        ):
            names = [c for c in columns(table) if c not in skip]
            values = [shifted.get(c) or texts.get(c) or f"t.{c}" for c in names]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(values)} "
                f"FROM {table} t CROSS JOIN generate_series(1, %(copies)s) k",
                {"step": ID_STEP, "copies": copies},
            )
        # Trim to the target: drop the highest ids (and what hangs off them).
        cursor.execute("SELECT id FROM catalog_product ORDER BY id OFFSET %s LIMIT 1", [target])
        row = cursor.fetchone()
        if row:
            for table in ("catalog_productvariation", "catalog_productcategory"):
                cursor.execute(f"DELETE FROM {table} WHERE product_id >= %s", [row[0]])
            cursor.execute("DELETE FROM catalog_product WHERE id >= %s", [row[0]])
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SELECT (SELECT count(*) FROM catalog_product), (SELECT count(*) FROM catalog_productvariation)")
        products, variations = cursor.fetchone()
        print(f"catalog: {products} products, {variations} variations")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=0, help="grow the catalog to this many products first")
    parser.add_argument("--verbose", action="store_true", help="print every plan in full")
    parser.add_argument("paths", nargs="*", default=PATHS)
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
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0)
    if args.scale:
        _scale(args.scale)
    client = Client()
    for path in args.paths:
        client.get(path, secure=True)  # warm the buffers, as a busy server has them
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path, secure=True)
        assert response.status_code == 200, (path, response.status_code)
        print(f"\n{path}")
        for query in captured.captured_queries:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                plan = [row[0] for row in cursor.fetchall()]
            text = "\n".join(plan)
            took = re.search(r"Execution Time: ([0-9.]+) ms", text)
            hits = re.search(r"Buffers: shared hit=(\d+)", text)
            seq = sorted(set(re.findall(r"Seq Scan on (catalog_\w+)", text)))
            print(
                f"  {float(took.group(1)) if took else 0:8.2f} ms  buffers {hits.group(1) if hits else '?':>6}  "
                f"{'SEQ SCAN ' + ','.join(seq) if seq else ''}  {query['sql'][:90]}"
            )
            if args.verbose:
                print("    " + "\n    ".join(plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
