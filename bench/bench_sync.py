"""Sync benchmark: ``sync_woocommerce`` vs a naive ``update_or_create`` loop.

    make bench-sync                               # 20,000 products, 10% variable (~10 minutes)
    make bench-sync BENCH_SYNC_ARGS=--quick       # 5,000 products, a smoke run
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crushme_bench_sync .venv/bin/python bench/bench_sync.py

Every figure is printed next to a baseline measured in the same run:

1. initial load (empty database → ``--full``) vs the naive loop (``bench/sync_naive.py``) on an empty
   database: products/s, rows/s (with variations), wall time, CPU s per 1,000 products, peak RSS. The
   naive loop runs twice: with one transaction per page (the stronger baseline, used for the verdicts)
   and in autocommit (no transaction: every statement waits for its own commit);
   queries per page (in this process, ``CaptureQueriesContext`` around one page write of 50 products and
   one of 50 variations, for our services and the naive loop: initial, unchanged, one change, stock page);
2. re-sync after 5% of the products changed (``regular_price`` edited through the sandbox control API)
   vs the naive loop over the same store;
3. store-bound: the sandbox answering each request in 300 ms, ``--full`` wall time vs requests x 300 ms;
4. peak RSS of ``--full`` at N vs 3N products;
5. ``--stock`` over the unchanged catalog, for the record.

The sync and the naive loop each run as their own process (CPU and peak RSS from ``os.wait4``), and the
sandbox store as another (its memory is not counted; its CPU time is reported). The benchmark creates and
drops its own PostgreSQL database (``DATABASE_URL``, default ``crushme_bench_sync``; it refuses a name
without "bench" in it) and uses the local-memory cache. Results also go to ``bench/results/sync-*.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse, urlunparse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PYTHON = sys.executable
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crushme_bench_sync"
CONSUMER_KEY, CONSUMER_SECRET = "ck_bench_sync", "cs_bench_sync"
PER_PAGE = 50
LATENCY_MS = 300
CHANGED_SHARE = 0.05
SEED = 42
CATALOG_TABLES = (
    "catalog_productvariation",
    "catalog_productcategory",
    "catalog_product",
    "catalog_category",
    "sync_syncrun",
)
SUMMARY = re.compile(
    r"sync_woocommerce --(?P<mode>\w+): (?P<status>\w+) in (?P<seconds>[\d.]+)s · (?P<pages>\d+) pages"
    r" · (?P<requests>\d+) requests · create (?P<created>\d+) · update (?P<updated>\d+)"
    r" · unchanged (?P<unchanged>\d+) · delete (?P<deleted>\d+) · failed (?P<failed>\d+)"
)

# The targets the sync is held to (docs/performance.md, "Sync").
TARGET_INITIAL = 4.0  # ours ≥ 4 x naive products/s
TARGET_RESYNC = 10.0  # ours ≥ 10 x naive products/s
TARGET_STORE_BOUND = 1.1  # wall ≤ 1.1 x requests x latency
TARGET_RSS_GROWTH = 0.15  # peak RSS at 3N within 15% of N


# --- database ------------------------------------------------------------------------------------------


def checked_database_url(url: str) -> str:
    name = urlparse(url).path.lstrip("/")
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit(f"bench_sync: DATABASE_URL must be PostgreSQL, got {url.split(':')[0]}")
    if "bench" not in name or name == "crushme" or name.startswith("test"):
        raise SystemExit(f"bench_sync: refusing database {name!r}: it drops it at the end; use e.g. crushme_bench_sync")
    return url


def _admin_url(url: str) -> str:
    return urlunparse(urlparse(url)._replace(path="/postgres"))


def database_create(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_migrate(url: str, *, tree: Path = REPO, who: str = "bench_sync") -> None:
    """Run ``manage.py migrate`` of the code in ``tree`` on ``url``; SystemExit naming ``who`` when it fails."""
    migrate = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput"],
        cwd=tree,
        env=child_env(database_url=url, store_url=""),
        capture_output=True,
        text=True,
    )
    if migrate.returncode != 0:
        raise SystemExit(f"{who}: migrate failed:\n{migrate.stderr[-3000:]}")


def database_drop(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def tables_truncate(*, keep_categories: bool = False) -> None:
    from django.db import connection

    tables = [t for t in CATALOG_TABLES if not (keep_categories and t in ("catalog_category", "sync_syncrun"))]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")


def mirror_counts() -> tuple[int, int]:
    from catalog.models import Product, ProductVariation

    return Product.objects.count(), ProductVariation.objects.count()


# --- processes -----------------------------------------------------------------------------------------


# Measured processes read compiled bytecode, as a deployed install's do (deploy.sh's manage.py commands
# write it): with PYTHONDONTWRITEBYTECODE in the environment, every process would compile the project's
# modules again (about 55 ms of the 1.1 CPU seconds of a 5,000-product re-sync). A cache of its own keeps
# the checkout clean; the first process (migrate) fills it, bytecode is checked against each source's mtime.
BYTECODE_CACHE = Path(tempfile.gettempdir()) / "crushme-bench-pycache"


def child_env(*, database_url: str, store_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "crushme_project.settings.base",
            "DATABASE_URL": database_url,
            "REDIS_URL": "",  # local-memory cache
            "CACHE_KEY_PREFIX": f"crushme-bench-sync-{os.getpid()}",
            "DB_POOL_ENABLED": "false",
            "DJANGO_DEBUG": "false",  # DEBUG keeps every query in memory
            "LOG_LEVEL": "WARNING",  # production's default
            "WOOCOMMERCE_URL": store_url,
            "WOOCOMMERCE_CONSUMER_KEY": CONSUMER_KEY,
            "WOOCOMMERCE_CONSUMER_SECRET": CONSUMER_SECRET,
            "WOOCOMMERCE_SYNC_BATCH_SIZE": str(PER_PAGE),
            "PYTHONHASHSEED": "0",
            "PYTHONPYCACHEPREFIX": str(BYTECODE_CACHE),
        }
    )
    return env


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a running process (the sandbox), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class ProcessRun:
    label: str
    returncode: int
    wall_seconds: float
    cpu_seconds: float  # user + sys of the process (and any children it waited for)
    user_seconds: float
    sys_seconds: float
    peak_rss_mb: float
    sandbox_cpu_seconds: float
    loadavg_before: float
    code: str  # code_state() when the process started
    stdout: str
    stderr: str


def run_measured(label: str, argv: list[str], *, env: dict[str, str], sandbox_pid: int, cwd: Path = REPO) -> ProcessRun:
    """Run ``argv`` (in ``cwd``) to completion; wall time, CPU and peak RSS from ``os.wait4`` of that process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        load = os.getloadavg()[0]
        code = code_state() if cwd == REPO else f"tree {cwd.name}"
        sandbox_before = process_cpu_seconds(sandbox_pid)
        started = time.monotonic()
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        sandbox_cpu = process_cpu_seconds(sandbox_pid) - sandbox_before
        out.seek(0)
        err.seek(0)
        run = ProcessRun(
            label=label,
            returncode=process.returncode,
            wall_seconds=wall,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            user_seconds=usage.ru_utime,
            sys_seconds=usage.ru_stime,
            peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
            sandbox_cpu_seconds=sandbox_cpu,
            loadavg_before=load,
            code=code,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )
    status_note = "" if run.returncode == 0 else f" EXIT {run.returncode}"
    print(
        f"  [{label}] {run.wall_seconds:.1f}s wall, {run.cpu_seconds:.1f}s CPU, "
        f"peak RSS {run.peak_rss_mb:.0f} MB, code {run.code}{status_note}",
        flush=True,
    )
    if run.returncode != 0:
        print(f"    stdout: {run.stdout.strip()[-2000:]}\n    stderr: {run.stderr.strip()[-2000:]}", flush=True)
    return run


@dataclass
class Sandbox:
    url: str
    pid: int
    products: int


@contextmanager
def sandbox_running(*, products: int, database_url: str, seed: int = SEED):
    """``manage.py woocommerce_sandbox`` in its own process on an ephemeral port."""
    argv = [
        PYTHON,
        "manage.py",
        "woocommerce_sandbox",
        "--port",
        "0",
        "--products",
        str(products),
        "--variable-share",
        "0.1",
        "--seed",
        str(seed),
        "--consumer-key",
        CONSUMER_KEY,
        "--consumer-secret",
        CONSUMER_SECRET,
    ]
    process = subprocess.Popen(
        argv,
        cwd=REPO,
        env=child_env(database_url=database_url, store_url=""),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url, lines = None, []
    deadline = time.monotonic() + 300
    assert process.stdout is not None
    while time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline()
        lines.append(line)
        if match := re.search(r"WooCommerce sandbox: (http://127\.0\.0\.1:\d+)", line):
            url = match.group(1)
            break
    if url is None:
        process.kill()
        process.wait()
        raise SystemExit("bench_sync: the sandbox did not start:\n" + "".join(lines))
    print(f"  sandbox: {products} products at {url} ({lines[0].strip()})", flush=True)
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # drain its output
    try:
        yield Sandbox(url=url, pid=process.pid, products=products)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- sync runs -----------------------------------------------------------------------------------------


@dataclass
class SyncFigures:
    label: str
    process: ProcessRun
    products: int  # products in the mirror after the run (= products the listing returned)
    rows: int  # products + variations
    summary: dict = field(default_factory=dict)  # parsed summary line (ours) or the naive loop's JSON
    # A naive run over a sample (--naive-sample): its wall time and CPU extrapolated to the whole catalog.
    sampled_products: int | None = None
    estimated_wall_seconds: float | None = None
    estimated_cpu_seconds: float | None = None

    @property
    def wall_seconds(self) -> float:
        return self.estimated_wall_seconds if self.estimated_wall_seconds is not None else self.process.wall_seconds

    @property
    def cpu_seconds(self) -> float:
        return self.estimated_cpu_seconds if self.estimated_cpu_seconds is not None else self.process.cpu_seconds

    @property
    def products_per_second(self) -> float:
        return self.products / self.wall_seconds

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.wall_seconds

    @property
    def cpu_per_1000_products(self) -> float:
        return self.cpu_seconds / self.products * 1000

    @property
    def requests(self) -> int | None:
        value = self.summary.get("requests")
        return int(value) if value is not None else None


def sync_command(label: str, mode: str, *, env: dict[str, str], sandbox: Sandbox, profile: Path | None) -> SyncFigures:
    argv = [PYTHON, "manage.py", "sync_woocommerce", f"--{mode}"]
    if profile is not None:
        argv = [PYTHON, "-m", "cProfile", "-o", str(profile), "manage.py", "sync_woocommerce", f"--{mode}"]
    run = run_measured(label, argv, env=env, sandbox_pid=sandbox.pid)
    match = SUMMARY.search(run.stdout)
    summary = match.groupdict() if match else {}
    if match:
        print(f"    {match.group(0)}", flush=True)
    else:
        print(f"    no summary line in the output: {run.stdout.strip()[-500:]!r}", flush=True)
    products, variations = mirror_counts()
    return SyncFigures(label=label, process=run, products=products, rows=products + variations, summary=summary)


def naive_command(
    label: str, *, env: dict[str, str], sandbox: Sandbox, autocommit: bool, sample: int = 0
) -> SyncFigures:
    """The naive loop as its own process; with ``sample``, over the first ``sample`` products only,
    extrapolated: wall = (process wall - listing time) + listing time x store products / sampled
    products (the same for CPU), i.e. the start-up and the categories once, the per-product work
    for the whole catalog."""
    argv = [PYTHON, str(REPO / "bench" / "sync_naive.py"), *(["--autocommit"] if autocommit else [])]
    if sample:
        argv += ["--sample-products", str(sample)]
    run = run_measured(label, argv, env=env, sandbox_pid=sandbox.pid)
    lines = run.stdout.strip().splitlines()
    summary = json.loads(lines[-1]) if run.returncode == 0 and lines else {}
    if summary:
        print(f"    naive: {summary}", flush=True)
    if not sample or not summary:
        products, variations = mirror_counts()
        return SyncFigures(label=label, process=run, products=products, rows=products + variations, summary=summary)
    products, variations = summary["store_products"], summary["store_variations"]
    scale = products / summary["products"]
    wall = run.wall_seconds - summary["listing_seconds"] + summary["listing_seconds"] * scale
    cpu = run.cpu_seconds - summary["listing_cpu_seconds"] + summary["listing_cpu_seconds"] * scale
    print(
        f"    sample of {summary['products']} products + {summary['variations']} variations: "
        f"{summary['listing_seconds']:.1f}s in the listings, {run.wall_seconds - summary['listing_seconds']:.1f}s "
        f"else; extrapolated to {products} products + {variations} variations: {wall:.1f}s wall, {cpu:.1f}s CPU",
        flush=True,
    )
    return SyncFigures(
        label=label,
        process=run,
        products=products,
        rows=products + variations,
        summary=summary,
        sampled_products=summary["products"],
        estimated_wall_seconds=wall,
        estimated_cpu_seconds=cpu,
    )


def products_edit(*, control, count: int, exclude: set[int], seed: int) -> list[int]:
    """Change ``regular_price`` of ``count`` simple products picked at random (not in ``exclude``)."""
    from catalog.models import Product

    candidates = list(
        Product.objects.filter(type="simple", deleted_at__isnull=True)
        .exclude(status="trash")
        .exclude(id__in=exclude)
        .order_by("id")
        .values_list("id", "regular_price")
    )
    picked = random.Random(seed).sample(candidates, count)
    for product_id, regular_price in picked:
        control.edit_product(product_id, regular_price=f"{(regular_price or Decimal('10')) + Decimal('1.25'):.2f}")
    return [product_id for product_id, _ in picked]


# --- queries per page (in this process) ----------------------------------------------------------------


def queries_per_page(*, sandbox: Sandbox, control, naive_variants: list[str]) -> dict[str, dict[str, int]]:
    """Queries of one page write (50 products, 50 variations) in each situation, ours vs naive.

    The database holds the categories only (``--categories`` ran); each path starts from no products.
    The "transaction" naive page runs in ``transaction.atomic()`` as ``sync_naive.py`` does (so each
    ``update_or_create`` adds a SAVEPOINT and its RELEASE); the "autocommit" one does not.
    """
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone
    from sync_naive import naive_products_write, naive_stock_write, naive_variations_write

    from catalog.models import Product, ProductVariation
    from sync.services.products import (
        product_records_parse,
        product_upsert_page,
        variation_records_parse,
        variation_upsert_page,
    )
    from sync.services.stock import stock_apply_page, stock_records_parse
    from sync.woocommerce.client import WooCommerceClient
    from sync.woocommerce.types import STOCK_API_FIELDS

    stable = {"orderby": "id", "order": "asc"}
    stock_fields = ",".join(STOCK_API_FIELDS)
    results: dict[str, dict[str, int]] = {"ours": {}, **{f"naive {variant}": {} for variant in naive_variants}}
    edit_round = 0

    def naive_writers(autocommit: bool) -> dict:
        def page(write, records, **kwargs) -> int:
            with nullcontext() if autocommit else transaction.atomic():
                return write(records, **kwargs)

        return {
            "products": lambda items: page(
                naive_products_write, product_records_parse(items)[0], synced_at=timezone.now()
            ),
            "variations": lambda items: page(
                naive_variations_write, variation_records_parse(items)[0], synced_at=timezone.now()
            ),
            "stock_products": lambda items: page(
                naive_stock_write,
                stock_records_parse(items, resource="product")[0],
                variation=False,
                synced_at=timezone.now(),
            ),
            "stock_variations": lambda items: page(
                naive_stock_write,
                stock_records_parse(items, resource="variation")[0],
                variation=True,
                synced_at=timezone.now(),
            ),
        }

    def count(path: str, key: str, write) -> None:
        with CaptureQueriesContext(connection) as captured:
            write()
        results[path][key] = len(captured.captured_queries)

    with WooCommerceClient.from_settings() as client:

        def product_page(fields: str | None = None) -> list[dict]:
            params = {"status": "any", **stable, **({"_fields": fields} if fields else {})}
            return client.get_page("products", page=1, per_page=PER_PAGE, params=params).items

        def variation_page(fields: str | None = None) -> list[dict]:
            params = {**stable, **({"_fields": fields} if fields else {})}
            return client.get_page("variations", page=1, per_page=PER_PAGE, params=params).items

        writers = {
            "ours": {
                "products": lambda items: product_upsert_page(
                    records=product_records_parse(items)[0], synced_at=timezone.now()
                ),
                "variations": lambda items: variation_upsert_page(
                    records=variation_records_parse(items)[0], synced_at=timezone.now()
                ),
                "stock_products": lambda items: stock_apply_page(
                    model=Product,
                    records=stock_records_parse(items, resource="product")[0],
                    synced_at=timezone.now(),
                ),
                "stock_variations": lambda items: stock_apply_page(
                    model=ProductVariation,
                    records=stock_records_parse(items, resource="variation")[0],
                    synced_at=timezone.now(),
                ),
            },
            **{f"naive {variant}": naive_writers(variant == "autocommit") for variant in naive_variants},
        }

        for path, write in writers.items():
            tables_truncate(keep_categories=True)
            products, variations = product_page(), variation_page()
            count(path, "initial products", lambda: write["products"](products))  # noqa: B023
            # The variation page's parents must be mirrored first; some are beyond the first product page.
            listed = {item["id"] for item in products}
            missing = sorted({item["parent_id"] for item in variations} - listed)
            if missing:
                extra = client.get("products", {"include": missing, "status": "any", "per_page": 100}).data
                write["products"](extra)
            count(path, "initial variations", lambda: write["variations"](variations))  # noqa: B023
            count(path, "unchanged products", lambda: write["products"](product_page()))  # noqa: B023
            count(path, "unchanged variations", lambda: write["variations"](variation_page()))  # noqa: B023

            edit_round += 1
            simple = next(item for item in products if item["type"] == "simple")
            control.edit_product(simple["id"], regular_price=f"{100 + edit_round}.00")
            control.edit_variation(variations[0]["id"], regular_price=f"{100 + edit_round}.00")
            count(path, "1 change products", lambda: write["products"](product_page()))  # noqa: B023
            count(path, "1 change variations", lambda: write["variations"](variation_page()))  # noqa: B023

            # A stock page: one item sold since the last run (stock down, date_modified untouched).
            stocked = next((item for item in products if item.get("manage_stock") is True), simple)
            control.sell(stocked["id"], 1)
            count(path, "stock page products", lambda: write["stock_products"](product_page(stock_fields)))  # noqa: B023
            stocked_variation = next((item for item in variations if item.get("manage_stock") is True), None)
            if stocked_variation is not None:
                control.sell(stocked_variation["id"], 1)
            count(
                path,
                "stock page variations",
                lambda: write["stock_variations"](variation_page(stock_fields)),  # noqa: B023
            )
    tables_truncate()
    return results


# --- profile -------------------------------------------------------------------------------------------


def profile_summary(path: Path, *, top: int = 25) -> list[str]:
    """Main-thread shares (cProfile sees the main thread only; fetching happens on the prefetch thread,
    so time the writer waits for the store shows up in ``BackgroundFetch.result``)."""
    import pstats

    stats = pstats.Stats(str(path))
    total = stats.total_tt
    groups = {
        "waiting for the prefetch thread (HTTP + JSON decode)": ("sync/services/paging.py", "result"),
        "product_upsert_page": ("sync/services/products.py", "product_upsert_page"),
        "variation_upsert_page": ("sync/services/products.py", "variation_upsert_page"),
        "stock_apply_page": ("sync/services/stock.py", "stock_apply_page"),
        "rows_diff (SELECT + compare)": ("sync/services/upsert.py", "rows_diff"),
        "rows_upsert (bulk_create update_conflicts)": ("sync/services/upsert.py", "rows_upsert"),
        "QuerySet.bulk_create": ("django/db/models/query.py", "bulk_create"),
        "parse_product": ("sync/woocommerce/types.py", "parse_product"),
        "parse_variation": ("sync/woocommerce/types.py", "parse_variation"),
        "psycopg cursor execute": ("psycopg/cursor.py", "execute"),
        "products_reconcile_deletions": ("sync/services/reconcile.py", "products_reconcile_deletions"),
        "django.setup": ("django/__init__.py", "setup"),
    }
    lines = [f"total main-thread time {total:.2f}s"]
    for name, (file_suffix, function) in groups.items():
        cumulative = sum(
            row[3] for (file, _, func), row in stats.stats.items() if file.endswith(file_suffix) and func == function
        )
        if cumulative:
            lines.append(f"  {name:<55} {cumulative:7.2f}s  {cumulative / total:6.1%}")
    lines.append(f"  top {top} by own time:")
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    for (file, line, func), (_, calls, own, cumulative, _) in rows:
        short = "/".join(Path(file).parts[-3:])
        lines.append(f"    {own:7.2f}s own {cumulative:7.2f}s cum {calls:>9} calls  {short}:{line}({func})")
    return lines


# --- report --------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    from django.db import connection

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "unknown",
    )
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return {
        "commit": head.stdout.strip(),
        "code": code_state(),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "postgresql": pg,
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


CODE_PATHS = ("sync", "catalog", "common", "crushme_project", "manage.py")


def code_state() -> str:
    """The code under test: git tree ids of the app folders plus a digest of their uncommitted changes
    (the checkout is shared: the sync may change while the benchmark runs, which would mix two versions
    in one report). Commits elsewhere (tests, docs) leave it unchanged."""
    import hashlib

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout

    trees = git("rev-parse", *(f"HEAD:{path}" for path in CODE_PATHS))
    diff = git("diff", "HEAD", "--", *CODE_PATHS)
    state = hashlib.sha1(trees.encode()).hexdigest()[:8]
    return f"{state}+dirty:{hashlib.sha1(diff.encode()).hexdigest()[:8]}" if diff else state


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    print("  " + "  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def _ratio(a: float, b: float, suffix: str = "") -> str:
    return f"{a / b:.2f}x{suffix}" if b else "-"


def comparison_table(ours: SyncFigures, naive: dict[str, SyncFigures]) -> None:
    """Ours next to each naive variant, with the ratio ours vs that variant."""
    headers = ["", "ours (--full)"]
    for variant in naive:
        headers += [f"naive ({variant})", "ours vs it"]
    metrics = [
        (
            "products/s",
            lambda f: f"{f.products_per_second:,.0f}",
            lambda o, n: _ratio(o.products_per_second, n.products_per_second),
        ),
        (
            "rows/s (incl. variations)",
            lambda f: f"{f.rows_per_second:,.0f}",
            lambda o, n: _ratio(o.rows_per_second, n.rows_per_second),
        ),
        (
            "wall time",
            lambda f: f"{f.wall_seconds:.1f}s" + (" (extrapolated)" if f.sampled_products else ""),
            lambda o, n: _ratio(n.wall_seconds, o.wall_seconds, " faster"),
        ),
        (
            "CPU s / 1,000 products (user+sys)",
            lambda f: f"{f.cpu_per_1000_products:.2f}",
            lambda o, n: _ratio(n.cpu_per_1000_products, o.cpu_per_1000_products, " less"),
        ),
        (
            "peak RSS of the sync process",
            lambda f: f"{f.process.peak_rss_mb:.0f} MB",
            lambda o, n: _ratio(o.process.peak_rss_mb, n.process.peak_rss_mb),
        ),
        ("requests", lambda f: str(f.requests), lambda o, n: ""),
        (
            "of the wall: fetching / parse + write",
            lambda f: (
                f"{f.summary['fetch_seconds']:.1f}s / {f.summary['parse_write_seconds']:.1f}s"
                if "fetch_seconds" in f.summary
                else "(overlapped)"
            ),
            lambda o, n: "",
        ),
        ("sandbox CPU during the run", lambda f: f"{f.process.sandbox_cpu_seconds:.1f}s", lambda o, n: ""),
        ("load average before the run", lambda f: f"{f.process.loadavg_before:.2f}", lambda o, n: ""),
    ]
    rows = []
    for name, show, compare in metrics:
        row = [name, show(ours)]
        for figures in naive.values():
            row += [show(figures), compare(ours, figures)]
        rows.append(row)
    print_table(headers, rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 products instead of 20,000 (a smoke run).")
    parser.add_argument("--products", type=int, default=None, help="Catalog size (default 20,000; --quick 5,000).")
    parser.add_argument("--skip-store-bound", action="store_true", help="Skip the 300 ms latency run.")
    parser.add_argument("--skip-memory", action="store_true", help="Skip the 3x catalog memory run.")
    parser.add_argument("--skip-stock", action="store_true", help="Skip the --stock run (step 3).")
    parser.add_argument(
        "--naive",
        choices=["both", "transaction", "autocommit"],
        default="both",
        help="Naive variants to measure: one transaction per page (the verdicts' baseline: the stronger one) "
        "and/or autocommit (no transaction, every statement commits; far slower). Default both.",
    )
    parser.add_argument(
        "--naive-sample",
        type=int,
        default=0,
        metavar="K",
        help="Time the naive loop on the first K products (and their variations) only and extrapolate to the "
        "whole catalog (start-up once, the listing time x products / K): 200,000 products in minutes. "
        "Default 0: the whole catalog.",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="Also run the initial load and the re-sync of our sync under cProfile and print where time goes.",
    )
    args = parser.parse_args()
    naive_variants = ["transaction", "autocommit"] if args.naive == "both" else [args.naive]
    products = args.products or (5_000 if args.quick else 20_000)
    database_url = checked_database_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)

    print(
        f"bench_sync: {products} products (10% variable), {PER_PAGE} per page, "
        f"database {urlparse(database_url).path[1:]}"
    )
    database_create(database_url)
    try:
        database_migrate(database_url)
    except SystemExit:
        database_drop(database_url)
        raise

    results: dict = {}
    try:
        results = run_all(args=args, naive_variants=naive_variants, products=products, database_url=database_url)
    finally:
        from django.db import connections

        connections.close_all()
        database_drop(database_url)
    return 0 if results.get("all_pass") else 1


def run_all(*, args: argparse.Namespace, naive_variants: list[str], products: int, database_url: str) -> dict:
    from sync.sandbox.control import SandboxControl

    profile_dir = Path(tempfile.mkdtemp(prefix="bench-sync-profile-")) if args.profile else None
    with sandbox_running(products=products, database_url=database_url) as sandbox:
        env = child_env(database_url=database_url, store_url=sandbox.url)
        # This process talks to the same database and store (queries per page, picking products to edit).
        os.environ.update({k: env[k] for k in env if k not in ("PYTHONHASHSEED",)})
        import django

        django.setup()
        control = SandboxControl(sandbox.url, timeout=60)
        info = machine()
        print(f"  machine: {info}", flush=True)

        print("\n[1/6] queries per page (in-process, one page write each)", flush=True)
        tables_truncate()
        categories = sync_command("--categories", "categories", env=env, sandbox=sandbox, profile=None)
        if categories.process.returncode != 0:
            raise SystemExit("bench_sync: --categories failed")
        queries = queries_per_page(sandbox=sandbox, control=control, naive_variants=naive_variants)

        print("\n[2/6] initial load: empty database → --full (the naive loops follow in 4/6)", flush=True)
        tables_truncate()
        initial = sync_command("ours --full, empty DB", "full", env=env, sandbox=sandbox, profile=None)
        stock = None
        if not args.skip_stock:
            print("\n[3/6] --stock over the unchanged catalog", flush=True)
            stock = sync_command("ours --stock, unchanged", "stock", env=env, sandbox=sandbox, profile=None)

        changed = max(1, round(products * CHANGED_SHARE))
        print(f"\n[4/6] re-sync: {changed} products ({CHANGED_SHARE:.0%}) edited, then --full", flush=True)
        started = time.monotonic()
        edited = products_edit(control=control, count=changed, exclude=set(), seed=SEED)
        print(f"  edited {len(edited)} products through the control API in {time.monotonic() - started:.1f}s")
        resync = sync_command("ours --full, 5% changed", "full", env=env, sandbox=sandbox, profile=None)

        naive: dict[str, tuple[SyncFigures, SyncFigures]] = {}
        edited_all = set(edited)
        sample = args.naive_sample
        for round_number, variant in enumerate(naive_variants, start=1):
            autocommit = variant == "autocommit"
            if not sample:
                print(f"\n  naive loop ({variant}): empty database, then again after 5% changed", flush=True)
                tables_truncate()
                naive_initial = naive_command(
                    f"naive {variant}, empty DB", env=env, sandbox=sandbox, autocommit=autocommit
                )
            else:
                # The sampled re-sync runs over the whole mirror (as ours did), then the sampled initial load.
                print(
                    f"\n  naive loop ({variant}), first {sample} products, extrapolated: after 5% changed "
                    "(whole mirror), then on an empty database",
                    flush=True,
                )
                if round_number > 1:
                    tables_truncate()
                    sync_command("refill: ours --full (not measured)", "full", env=env, sandbox=sandbox, profile=None)
            edited_now = products_edit(control=control, count=changed, exclude=edited_all, seed=SEED + round_number)
            edited_all.update(edited_now)
            print(f"  edited {len(edited_now)} other products")
            naive_resync = naive_command(
                f"naive {variant}, 5% changed", env=env, sandbox=sandbox, autocommit=autocommit, sample=sample
            )
            if sample:
                tables_truncate()
                naive_initial = naive_command(
                    f"naive {variant}, empty DB", env=env, sandbox=sandbox, autocommit=autocommit, sample=sample
                )
            naive[variant] = (naive_initial, naive_resync)

        profiles: dict[str, list[str]] = {}
        if profile_dir is not None:
            print("\n  profiles (cProfile, main thread)", flush=True)
            tables_truncate()
            path = profile_dir / "initial.prof"
            sync_command("profiled --full, empty DB", "full", env=env, sandbox=sandbox, profile=path)
            profiles["initial"] = profile_summary(path)
            products_edit(control=control, count=changed, exclude=edited_all, seed=SEED + 10)
            path = profile_dir / "resync.prof"
            sync_command("profiled --full, 5% changed", "full", env=env, sandbox=sandbox, profile=path)
            profiles["resync"] = profile_summary(path)

        store_bound = None
        if not args.skip_store_bound:
            print(
                f"\n[5/6] store-bound: every API response delayed {LATENCY_MS} ms, empty database → --full", flush=True
            )
            control.configure(latency_ms=LATENCY_MS)
            tables_truncate()
            try:
                store_bound = sync_command(
                    f"ours --full, {LATENCY_MS} ms/page", "full", env=env, sandbox=sandbox, profile=None
                )
            finally:
                control.configure(latency_ms=0)
        control.close()

    large = None
    if not args.skip_memory:
        print(f"\n[6/6] memory: --full from a {products * 3}-product store, empty database", flush=True)
        with sandbox_running(products=products * 3, database_url=database_url) as big:
            tables_truncate()
            large = sync_command(
                f"ours --full, {products * 3} products, empty DB",
                "full",
                env=child_env(database_url=database_url, store_url=big.url),
                sandbox=big,
                profile=None,
            )

    return report(
        products=products,
        info=info,
        queries=queries,
        initial=initial,
        resync=resync,
        naive=naive,
        stock=stock,
        store_bound=store_bound,
        large=large,
        profiles=profiles,
    )


def report(
    *,
    products: int,
    info: dict,
    queries: dict,
    initial: SyncFigures,
    resync: SyncFigures,
    naive: dict[str, tuple[SyncFigures, SyncFigures]],
    stock: SyncFigures | None,
    store_bound: SyncFigures | None,
    large: SyncFigures | None,
    profiles: dict[str, list[str]],
) -> dict:
    naive_runs = [run for pair in naive.values() for run in pair]
    runs = [initial, resync, *naive_runs, *(r for r in (stock, store_bound, large) if r)]
    failed = [run.label for run in runs if run.process.returncode != 0]
    # The verdicts compare against the stronger baseline measured.
    baseline = "transaction" if "transaction" in naive else next(iter(naive))
    # Raw figures first, so that a failure while printing loses nothing.
    results_dir = REPO / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"sync-{time.strftime('%Y%m%dT%H%M%S')}.json"
    payload = {
        "products": products,
        "machine": info,
        "naive_baseline": baseline,
        "queries_per_page": queries,
        "runs": {
            run.label: {
                **{k: v for k, v in asdict(run.process).items() if k not in ("stdout", "stderr")},
                "products": run.products,
                "rows": run.rows,
                "summary": run.summary,
                "sampled_products": run.sampled_products,
                "estimated_wall_seconds": run.estimated_wall_seconds,
                "estimated_cpu_seconds": run.estimated_cpu_seconds,
            }
            for run in runs
        },
        "profiles": profiles,
    }
    path.write_text(json.dumps(payload, indent=2, default=str))
    print(f"\n=== Sync benchmark: {products} products, 10% variable — {info['date']} ===")
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}, PostgreSQL {info['postgresql']}, Python {info['python']}")
    codes = {run.process.code for run in runs}
    if len(codes) == 1:
        print(f"code: commit {info['commit']}, app folders {info['code']} (unchanged during the run)")
    else:
        print(
            "!! the code under test CHANGED during the run: "
            + "; ".join(f"{run.label}: {run.process.code}" for run in runs)
        )
    print(
        "naive loop: update_or_create per row + product.categories.set(); 'transaction' = one transaction per "
        "page, 'autocommit' = none (each statement commits). Verdicts against: " + baseline
    )
    if failed:
        print(f"!! runs that did not exit 0: {', '.join(failed)} (their figures are not trustworthy)")
    for run in naive_runs:
        if run.sampled_products:
            print(
                f"{run.label}: timed on {run.sampled_products} products, extrapolated to {run.products} "
                f"({run.process.wall_seconds:.1f}s measured → {run.wall_seconds:.1f}s)"
            )
        elif run.rows != initial.rows:
            print(f"!! ours mirrored {initial.rows} rows, {run.label} {run.rows}")

    verdicts: list[tuple[str, bool, str]] = []

    print(
        f"\n1. Initial load (empty database), {initial.products} products"
        f" + {initial.rows - initial.products} variations"
    )
    comparison_table(initial, {variant: pair[0] for variant, pair in naive.items()})
    base = naive[baseline][0]
    ratio = initial.products_per_second / base.products_per_second
    verdicts.append(
        (
            f"initial load ≥ {TARGET_INITIAL:.0f}x naive ({baseline}) products/s",
            ratio >= TARGET_INITIAL,
            f"{initial.products_per_second:,.0f} vs {base.products_per_second:,.0f} products/s = {ratio:.2f}x",
        )
    )

    print("\n   queries per page write (50 items; in-process CaptureQueriesContext)")
    paths = list(queries)
    print_table(
        ["page", *paths],
        [[key, *(str(queries[path].get(key, "-")) for path in paths)] for key in queries["ours"]],
    )

    print(
        f"\n2. Re-sync after {CHANGED_SHARE:.0%} of the products changed "
        f"(ours: {resync.summary.get('updated', '?')} updated, {resync.summary.get('unchanged', '?')} unchanged)"
    )
    comparison_table(resync, {variant: pair[1] for variant, pair in naive.items()})
    base = naive[baseline][1]
    ratio = resync.products_per_second / base.products_per_second
    verdicts.append(
        (
            f"re-sync (5% changed) ≥ {TARGET_RESYNC:.0f}x naive ({baseline}) products/s",
            ratio >= TARGET_RESYNC,
            f"{resync.products_per_second:,.0f} vs {base.products_per_second:,.0f} products/s = {ratio:.2f}x",
        )
    )
    for variant, (naive_initial, naive_resync) in naive.items():
        if variant != baseline:
            print(
                f"   (vs naive {variant}: initial "
                f"{initial.products_per_second / naive_initial.products_per_second:.2f}x, re-sync "
                f"{resync.products_per_second / naive_resync.products_per_second:.2f}x)"
            )

    if store_bound is not None and store_bound.requests:
        floor = store_bound.requests * LATENCY_MS / 1000
        ratio = store_bound.process.wall_seconds / floor
        sync_seconds = float(store_bound.summary.get("seconds", "nan"))
        print(f"\n3. Store-bound: every response delayed {LATENCY_MS} ms")
        print_table(
            ["", "value"],
            [
                ["requests (summary line)", str(store_bound.requests)],
                [f"requests x {LATENCY_MS} ms", f"{floor:.1f}s"],
                ["--full wall time (process)", f"{store_bound.process.wall_seconds:.1f}s"],
                ["--full duration (summary line)", f"{sync_seconds:.1f}s"],
                ["wall / (requests x latency)", f"{ratio:.3f}"],
                ["CPU of the sync process", f"{store_bound.process.cpu_seconds:.1f}s"],
            ],
        )
        verdicts.append(
            (
                f"store-bound wall ≤ {TARGET_STORE_BOUND}x requests x {LATENCY_MS} ms",
                ratio <= TARGET_STORE_BOUND,
                f"{store_bound.process.wall_seconds:.1f}s vs {floor:.1f}s = {ratio:.3f}x",
            )
        )

    if large is not None:
        growth = large.process.peak_rss_mb / initial.process.peak_rss_mb - 1
        print(f"\n4. Memory: peak RSS of --full (empty database) at {initial.products} vs {large.products} products")
        print_table(
            ["", f"{initial.products} products", f"{large.products} products"],
            [
                ["peak RSS", f"{initial.process.peak_rss_mb:.0f} MB", f"{large.process.peak_rss_mb:.0f} MB"],
                ["wall time", f"{initial.process.wall_seconds:.1f}s", f"{large.process.wall_seconds:.1f}s"],
                ["products/s", f"{initial.products_per_second:,.0f}", f"{large.products_per_second:,.0f}"],
            ],
        )
        verdicts.append(
            (
                f"peak RSS at {large.products} within {TARGET_RSS_GROWTH:.0%} of {initial.products}",
                abs(growth) <= TARGET_RSS_GROWTH,
                f"{initial.process.peak_rss_mb:.0f} MB → {large.process.peak_rss_mb:.0f} MB ({growth:+.1%})",
            )
        )

    if stock is not None:
        print(f"\n5. --stock over the unchanged catalog ({stock.rows} products + variations)")
        print_table(
            ["", "value"],
            [
                ["rows/s", f"{stock.rows_per_second:,.0f}"],
                ["wall time", f"{stock.process.wall_seconds:.1f}s"],
                ["requests", str(stock.requests)],
                [
                    "updated / unchanged",
                    f"{stock.summary.get('updated', '?')} / {stock.summary.get('unchanged', '?')}",
                ],
                ["CPU s / 1,000 rows", f"{stock.process.cpu_seconds / stock.rows * 1000:.2f}"],
                ["peak RSS", f"{stock.process.peak_rss_mb:.0f} MB"],
            ],
        )

    for name, lines in profiles.items():
        print(f"\nProfile of our --full ({name}):")
        print("\n".join(lines))

    print("\nVerdicts")
    for name, ok, detail in verdicts:
        print(f"  {verdict(ok)}  {name}: {detail}")
    all_pass = all(ok for _, ok, _ in verdicts) and not failed
    payload["verdicts"] = [{"target": name, "pass": ok, "detail": detail} for name, ok, detail in verdicts]
    path.write_text(json.dumps(payload, indent=2, default=str))
    print(f"\nresults: {path.relative_to(REPO)}")
    return {"all_pass": all_pass}


if __name__ == "__main__":
    sys.exit(main())
