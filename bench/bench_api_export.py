"""Peak RSS growth of the staff CSV export over 100,000 products (``make bench-export``).

Each measurement runs in a fresh process: set up Django, log a staff client in, take the
baseline RSS after a warm-up export of a few rows, then stream the whole export through the
real view (``GET /api/products/export.csv``) and report the peak RSS above the baseline
(``ru_maxrss``, plus sampled RSS every 5,000 rows). For contrast the same rows are also built
the naive way (a list of every product with its categories, one response string).

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crushme \\
        .venv/bin/python bench/bench_api_export.py [--products 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent


def _database_url(url: str) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path=parsed.path.rstrip("/") + "_bench_export"))


def _setup(database_url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="crushme_project.settings.test",
        DATABASE_URL=database_url,
        REDIS_URL="",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def populate(n: int) -> None:
    from bench.bench_api import _ensure_database, _populate

    _ensure_database(os.environ["DATABASE_URL"])
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    _populate(n)


def measure(mode: str) -> dict[str, float]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from catalog.models import Product

    user, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    client = Client(HTTP_HOST="localhost")  # an ALLOWED_HOSTS name
    client.force_login(user)
    if mode == "streaming":
        # Warm-up: import and compile everything the export touches, then take the baseline.
        response = client.get("/api/products/export.csv")
        next(iter(response.streaming_content))
        response.close()
    baseline, peak_before = _rss_mb(), _peak_mb()
    started = time.monotonic()
    rows = 0
    sampled = baseline
    size = 0
    if mode == "streaming":
        response = client.get("/api/products/export.csv")
        for chunk in response.streaming_content:
            size += len(chunk)
            rows += 1
            if rows % 5000 == 0:
                sampled = max(sampled, _rss_mb())
    else:
        # The usual shape: every product (with its categories) in memory, one body string.
        products = list(Product.objects.filter(deleted_at__isnull=True).order_by("id").prefetch_related("categories"))
        body = "\n".join(
            f"{p.id},{p.sku},{p.name},{p.price},{'|'.join(c.slug for c in p.categories.all())}" for p in products
        )
        rows, size = len(products), len(body)
        sampled = _rss_mb()
    return {
        "mode": mode,
        "rows": rows - (1 if mode == "streaming" else 0),
        "bytes": size,
        "seconds": round(time.monotonic() - started, 1),
        "baseline_rss_mb": round(baseline, 1),
        "peak_growth_mb": round(max(_peak_mb() - max(peak_before, baseline), sampled - baseline, 0), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--_child", choices=["populate", "streaming", "naive"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    database_url = _database_url(os.environ["DATABASE_URL"])
    if args._child:
        _setup(database_url)
        if args._child == "populate":
            populate(args.products)
        else:
            print(json.dumps(measure(args._child)))
        return 0

    def child(step: str) -> str:
        return subprocess.run(
            [sys.executable, __file__, "--products", str(args.products), "--_child", step],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    print(child("populate").strip())
    for mode in ("streaming", "naive"):
        result = json.loads(child(mode).strip().splitlines()[-1])
        print(
            f"{mode:9s} rows {result['rows']:,}  {result['bytes'] / 2**20:.1f} MB of CSV in {result['seconds']}s  "
            f"baseline RSS {result['baseline_rss_mb']} MB  peak RSS growth {result['peak_growth_mb']} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
