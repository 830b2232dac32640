"""A/B of two versions of the sync: ``sync_woocommerce --full`` from each git revision, alternating.

    .venv/bin/python bench/sync_ab.py e0d2802 HEAD [--products 20000] [--rounds 3] [--resync-only]

Each revision is exported with ``git archive`` into a temporary directory (the shared checkout is not
touched) and run with this virtualenv against one sandbox store and one scratch database
(``DATABASE_URL`` when it names a ``*bench*`` database, else ``crushme_bench_sync_ab``; created and dropped
here). Per round and revision: an initial load (empty database → ``--full``) and a re-sync after 5% of the
products changed (``regular_price`` edited through the control API); with ``--resync-only``, one initial
load at the start, then only the re-syncs (each after its own 5% of edits). The order of the revisions
alternates between rounds so that a drift in the machine's load does not favour one. Both revisions must
have the same migrations.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
from decimal import Decimal
from pathlib import Path

from bench_sync import (
    CATALOG_TABLES,
    CHANGED_SHARE,
    PYTHON,
    REPO,
    SUMMARY,
    checked_database_url,
    child_env,
    database_create,
    database_drop,
    database_migrate,
    run_measured,
    sandbox_running,
)

DATABASE_URL = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/crushme_bench_sync_ab"


def export(revision: str, into: Path) -> tuple[str, Path]:
    sha = subprocess.run(
        ["git", "rev-parse", "--short", revision], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    target = into / sha
    target.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", sha], cwd=REPO, capture_output=True, check=True)
    archive_path = into / f"{sha}.tar"
    archive_path.write_bytes(archive.stdout)
    with tarfile.open(archive_path) as tar:
        tar.extractall(target, filter="data")
    return sha, target


def migrations(tree: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(tree)): path.read_bytes()
        for app in ("catalog", "sync")
        for path in sorted((tree / app / "migrations").glob("*.py"))
    }


def psql(sql: str, *, fetch: bool = False) -> list[tuple]:
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if fetch else []


def edit_products(control, *, count: int, exclude: set[int], seed: int) -> set[int]:
    rows = psql(
        "SELECT id, regular_price FROM catalog_product WHERE type = 'simple' AND status <> 'trash' "
        "AND deleted_at IS NULL ORDER BY id",
        fetch=True,
    )
    picked = random.Random(seed).sample([row for row in rows if row[0] not in exclude], count)
    for product_id, regular_price in picked:
        control.edit_product(product_id, regular_price=f"{(regular_price or Decimal('10')) + Decimal('1.25'):.2f}")
    return {product_id for product_id, _ in picked}


def full_sync(tree: Path, label: str, *, env: dict[str, str], sandbox_pid: int) -> dict:
    argv = [PYTHON, "manage.py", "sync_woocommerce", "--full"]
    run = run_measured(label, argv, env=env, sandbox_pid=sandbox_pid, cwd=tree)
    match = SUMMARY.search(run.stdout)
    if run.returncode != 0 or not match:
        raise SystemExit(f"sync_ab: {label} failed (exit {run.returncode}):\n{run.stdout[-1000:]}{run.stderr[-2000:]}")
    return {
        "wall": run.wall_seconds,
        "cpu": run.cpu_seconds,
        "rss": run.peak_rss_mb,
        "load": run.loadavg_before,
        **match.groupdict(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revision_a")
    parser.add_argument("revision_b")
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--resync-only",
        action="store_true",
        help="One initial load at the start (not reported), then only re-syncs, alternating the revisions.",
    )
    args = parser.parse_args()
    checked_database_url(DATABASE_URL)

    from sync.sandbox.control import SandboxControl

    with tempfile.TemporaryDirectory(prefix="bench-sync-ab-") as tmp:
        trees = dict(export(revision, Path(tmp)) for revision in (args.revision_a, args.revision_b))
        if len(trees) != 2:
            raise SystemExit("sync_ab: the two revisions are the same commit")
        first, second = list(trees.values())
        if migrations(first) != migrations(second):
            raise SystemExit("sync_ab: the revisions have different migrations; compare them on separate databases")
        database_create(DATABASE_URL)
        results: dict[str, dict[str, list[dict]]] = {sha: {"initial": [], "resync": []} for sha in trees}
        try:
            database_migrate(DATABASE_URL, tree=second, who="sync_ab")
            with sandbox_running(products=args.products, database_url=DATABASE_URL) as sandbox:
                env = child_env(database_url=DATABASE_URL, store_url=sandbox.url)
                control = SandboxControl(sandbox.url, timeout=60)
                edited: set[int] = set()
                changed = max(1, round(args.products * CHANGED_SHARE))
                if args.resync_only:
                    full_sync(second, "initial load (not reported)", env=env, sandbox_pid=sandbox.pid)
                for round_number in range(args.rounds):
                    order = list(trees.items()) if round_number % 2 == 0 else list(reversed(trees.items()))
                    for position, (sha, tree) in enumerate(order):
                        label = f"round {round_number + 1} {sha}"
                        if not args.resync_only:
                            psql(f"TRUNCATE {', '.join(CATALOG_TABLES)} CASCADE")
                            results[sha]["initial"].append(
                                full_sync(tree, f"{label} initial", env=env, sandbox_pid=sandbox.pid)
                            )
                        seed = round_number * 7 + 1 + position * 1_000
                        edited |= edit_products(control, count=changed, exclude=edited, seed=seed)
                        results[sha]["resync"].append(
                            full_sync(tree, f"{label} 5% changed", env=env, sandbox_pid=sandbox.pid)
                        )
                control.close()
        finally:
            database_drop(DATABASE_URL)

    print(f"\nA/B of sync_woocommerce --full, {args.products} products, {args.rounds} rounds (medians; all runs)")
    for scenario in ("initial", "resync"):
        if not any(runs[scenario] for runs in results.values()):
            continue
        print(f"  {scenario}:")
        for sha, runs in results.items():
            walls = [run["wall"] for run in runs[scenario]]
            cpus = [run["cpu"] for run in runs[scenario]]
            loads = [run["load"] for run in runs[scenario]]
            print(
                f"    {sha}: wall {statistics.median(walls):6.2f}s  CPU {statistics.median(cpus):6.2f}s"
                f"   (wall {', '.join(f'{w:.2f}' for w in walls)}; CPU {', '.join(f'{c:.2f}' for c in cpus)};"
                f" load average before {min(loads):.2f}-{max(loads):.2f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
