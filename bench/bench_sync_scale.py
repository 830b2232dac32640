"""``sync_woocommerce --full`` at several catalog sizes: time and peak RSS (issue 12, acceptance 3).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crushme_bench_scale \\
        .venv/bin/python bench/bench_sync_scale.py [--sizes 20000,200000] [--changed-share 0.05]

For each size (10% variable, the sandbox's generator, seed 42): an empty mirror → ``--full`` (the
initial load), then ``--full`` again after ``--changed-share`` of the products changed through the
sandbox's control API (a re-sync). Each sync runs as its own process; wall time, CPU and peak RSS come
from ``os.wait4`` (bench_sync.py's ``run_measured``), with the load average before each. Peak RSS is
compared with the first size's (target: within 15%). The database is created and dropped by the
benchmark (its name must contain "bench"); the sandbox runs in its own process.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_sync import (  # noqa: E402  (bench_sync puts the repository on sys.path)
    SEED,
    checked_database_url,
    child_env,
    database_create,
    database_drop,
    database_migrate,
    print_table,
    products_edit,
    sandbox_running,
    sync_command,
    tables_truncate,
)

TARGET_RSS_GROWTH = 0.15


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,200000", help="comma list of catalog sizes (products)")
    parser.add_argument("--changed-share", type=float, default=0.05, help="products changed before the re-sync")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    database_url = checked_database_url(
        os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/crushme_bench_scale"
    )
    database_create(database_url)
    try:
        database_migrate(database_url, who="bench_sync_scale")
        rows = run(sizes=sizes, changed_share=args.changed_share, database_url=database_url)
    finally:
        from django.db import connections

        connections.close_all()
        database_drop(database_url)
    return report(rows)


def run(*, sizes: list[int], changed_share: float, database_url: str) -> list[dict]:
    from sync.sandbox.control import SandboxControl

    rows = []
    for size in sizes:
        print(f"\n{size} products", flush=True)
        started = time.monotonic()
        with sandbox_running(products=size, database_url=database_url) as sandbox:
            print(f"  sandbox up in {time.monotonic() - started:.1f}s", flush=True)
            env = child_env(database_url=database_url, store_url=sandbox.url)
            os.environ.update({k: v for k, v in env.items() if k != "PYTHONHASHSEED"})
            import django

            django.setup()
            tables_truncate()
            initial = sync_command(f"--full, {size}, empty DB", "full", env=env, sandbox=sandbox, profile=None)
            control = SandboxControl(sandbox.url, timeout=60)
            changed = max(1, round(size * changed_share))
            edit_started = time.monotonic()
            products_edit(control=control, count=changed, exclude=set(), seed=SEED)
            control.close()
            print(f"  edited {changed} products in {time.monotonic() - edit_started:.1f}s", flush=True)
            resync = sync_command(
                f"--full, {size}, {changed_share:.0%} changed", "full", env=env, sandbox=sandbox, profile=None
            )
        rows.append({"size": size, "initial": initial, "resync": resync, "changed": changed})
    return rows


def report(rows: list[dict]) -> int:
    if not rows:
        return 1
    base = rows[0]["initial"].process.peak_rss_mb
    table = []
    for row in rows:
        for kind in ("initial", "resync"):
            figures = row[kind]
            process = figures.process
            table.append(
                [
                    f"{row['size']:,}",
                    "initial --full" if kind == "initial" else f"re-sync, {row['changed']:,} changed",
                    f"{figures.products:,} + {figures.rows - figures.products:,}",
                    f"{process.wall_seconds:.1f}s",
                    f"{figures.products_per_second:,.0f}",
                    f"{process.cpu_seconds:.1f}s",
                    f"{process.sandbox_cpu_seconds:.1f}s",
                    f"{process.peak_rss_mb:.0f} MB",
                    f"{process.peak_rss_mb / base - 1:+.1%}",
                    f"{process.loadavg_before:.2f}",
                    str(process.returncode),
                ]
            )
    print()
    print_table(
        [
            "catalog",
            "run",
            "products + variations",
            "wall",
            "products/s",
            "CPU",
            "sandbox CPU",
            "peak RSS",
            "vs first",
            "load",
            "exit",
        ],
        table,
    )
    failed = [row for row in rows for kind in ("initial", "resync") if row[kind].process.returncode != 0]
    worst = max(abs(row["initial"].process.peak_rss_mb / base - 1) for row in rows)
    met = worst <= TARGET_RSS_GROWTH and not failed
    print(
        f"\ntarget: initial --full peak RSS within {TARGET_RSS_GROWTH:.0%} of the first size: {worst:.1%}, "
        f"{'met' if met else 'NOT MET'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
