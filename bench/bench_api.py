"""Catalog API benchmark (``make bench-api``): gunicorn with the project's gunicorn_config.py on
loopback over a 20,000-product catalog, measured with wrk; Redis is a private redis-server.

Scenarios (``wrk -t2 -c50``, 50 products per page):

* cached and uncached (a DummyCache: every request queries and serialises), issue 12's read paths
  (``catalog_scenarios``): list (plain; filtered by category subtree + price + stock and sorted by
  price; by price; by popularity; by popularity at page 200), search (``search=hoodie``, one name in
  five), facets, detail, categories; and uncached only, search with a random term each request
  (``search_terms``: most are new to the worker, so their count is not memoised yet);
* naive list / detail / categories — DRF generic views with N+1 relations and no cache;
* ceiling — a bare Django view answering the cached list's bytes;
* recycling — the cached list with ``GUNICORN_MAX_REQUESTS`` on (``--recycling M+J,...``, each for
  ``--recycling-duration`` seconds, long enough for workers to be replaced mid-run), against the same
  list with recycling off in the same run;
* churn, round trip — issue 12's cache under one stock change per second, and the cached answer's
  single Redis round trip against the throttle's own (``bench_api_churn.py``; ``--rounds`` each).

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crushme REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/bench_api.py [--products 20000] [--duration 10] [--connections 50]
    # recycling only: --only recycling --recycling 0+0,1000+50,20000+5000 --recycling-duration 40

The catalog goes into its own database (``<name>_bench``, created and filled once by ``INSERT … SELECT
… generate_series``, reused while it has the asked size): ``--products 200000`` gives 200,000 products
(10% variable, 80,000 variations) in a minute or two. Redis is a private redis-server on an ephemeral port.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
PER_PAGE = 50
NEW_TERMS = "search uncached, new terms"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bench_database_url(url: str) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path=parsed.path.rstrip("/") + "_bench"))


def _ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


VARIABLE_EVERY = 10  # one product in 10 is variable
SIZES = ("S", "M", "L", "XL")  # variations of a variable product: 200,000 products -> 80,000 variations


def _catalog_sizes(n_products: int) -> tuple[int, int]:
    variable = len(range(0, n_products, VARIABLE_EVERY))
    return n_products, variable * len(SIZES)


def _insert_select(cursor, model, *, overrides: dict[str, str], source: str, params: dict) -> None:
    """``INSERT INTO <model's table> (every column) SELECT … FROM <source>``: the columns in ``overrides``
    take that SQL expression, every other column its field's default (so a new model field needs no
    change here)."""
    from django.db import connection

    columns, values = [], []
    for field in model._meta.concrete_fields:
        columns.append(connection.ops.quote_name(field.column))
        if field.name in overrides or field.column in overrides:
            values.append(overrides.get(field.name) or overrides[field.column])
        else:
            key = f"default_{field.column}"
            params[key] = field.get_db_prep_save(field.get_default(), connection)
            values.append(f"%({key})s")
    cursor.execute(
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {source}",
        params,
    )


def _populate(n_products: int) -> None:
    """A catalog of ``n_products``: 50 categories (10 roots x 4 children), 2 per product, 10% variable
    with 4 variations each, written by ``INSERT … SELECT … generate_series`` (200,000 products in about
    a minute), then ``VACUUM ANALYZE``."""
    import datetime

    from django.db import connection, transaction

    from catalog.models import Category, Product, ProductVariation

    products, variations = _catalog_sizes(n_products)
    if Product.objects.count() == products and ProductVariation.objects.count() == variations:
        print(f"catalog: reusing {products} products, {variations} variations")
        # What ran on it since (tests, rolled-back updates) left dead rows and pages off the visibility map,
        # which autovacuum clears in production; this machine's cluster may run with autovacuum off.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        return
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_productvariation, catalog_productcategory, catalog_product, catalog_category")
        categories = []
        for root in range(10):
            categories.append(Category(id=1000 + root * 10, name=f"Root {root}", slug=f"root-{root}", menu_order=root))
            for child in range(1, 5):
                categories.append(
                    Category(
                        id=1000 + root * 10 + child,
                        name=f"Sub {root}.{child}",
                        slug=f"sub-{root}-{child}",
                        parent_id=1000 + root * 10,
                    )
                )
        Category.objects.bulk_create(categories)
        leaves = [c.id for c in categories if c.parent_id]
        params = {
            "n": n_products,
            "every": VARIABLE_EVERY,
            "base": datetime.datetime(2023, 1, 1, tzinfo=datetime.UTC),
            "description": "<p>" + "Soft organic cotton, cut for comfort and made to last. " * 8 + "</p>",
            "nouns": ["Shirt", "Mug", "Hoodie", "Cap", "Poster"],
            "statuses": ["instock", "instock", "outofstock", "onbackorder"],
            "leaves": leaves,
            "sizes": list(SIZES),
            "last_size": len(SIZES) - 1,
        }
        variable = "(i %% %(every)s = 0)"
        image = (
            "jsonb_build_object('id', 900000 + i * 2 + {k}, 'src', 'https://shop.example/img/' || i || '-{k}.jpg', "
            "'alt', '')"
        )
        sku = "'SKU-' || lpad(i::text, greatest(6, length(i::text)), '0')"
        price = "(5 + (i * 37) %% 200 + 0.99)"
        _insert_select(
            cursor,
            Product,
            overrides={
                "id": "100000 + i",
                # "Product 00042 Hoodie": one name in five per noun, the search scenario's 20%.
                "name": "'Product ' || lpad(i::text, greatest(5, length(i::text)), '0') || ' ' "
                "|| (%(nouns)s::text[])[i %% 5 + 1]",
                "slug": "'product-' || i",
                "permalink": "'https://shop.example/product/product-' || i || '/'",
                "sku": sku,
                "type": f"CASE WHEN {variable} THEN 'variable' ELSE 'simple' END",
                "description": "%(description)s",
                "short_description": "'<p>Soft organic cotton.</p>'",
                "price": price,
                "regular_price": f"CASE WHEN {variable} THEN NULL ELSE {price} END",
                "on_sale": "i %% 7 = 0",
                "featured": "i %% 50 = 0",
                "total_sales": "(i * 7919) %% 5000",
                "manage_stock": f"NOT {variable}",
                "stock_quantity": f"CASE WHEN {variable} THEN NULL ELSE (i * 13) %% 40 END",
                "stock_status": "(%(statuses)s::text[])[i %% 4 + 1]",
                "images": f"jsonb_build_array({image.format(k=0)}, {image.format(k=1)})",
                "attributes": "jsonb_build_array(jsonb_build_object('id', 1, 'name', 'Size', 'visible', true, "
                f"'variation', {variable}, 'options', %(sizes)s::text[]))",
                "dimensions": '\'{"length": "", "width": "", "height": ""}\'::jsonb',
                "date_created_gmt": "%(base)s + i * interval '1 minute'",
                "date_modified_gmt": "%(base)s + i * interval '1 minute'",
                "synced_at": "%(base)s",
                "updated_at": "now()",
            },
            source="generate_series(0, %(n)s - 1) AS i",
            params=params,
        )
        # Two links per product: a leaf and a root (not always the leaf's own root, as before).
        cursor.execute(
            "INSERT INTO catalog_productcategory (product_id, category_id) "
            "SELECT 100000 + i, (%(leaves)s::bigint[])[i %% 40 + 1] FROM generate_series(0, %(n)s - 1) AS i "
            "UNION ALL SELECT 100000 + i, 1000 + (i %% 10) * 10 FROM generate_series(0, %(n)s - 1) AS i",
            params,
        )
        _insert_select(
            cursor,
            ProductVariation,
            overrides={
                "id": f"5000000 + i * {len(SIZES)} + k",
                "product_id": "100000 + i",
                "sku": f"{sku} || '-' || (%(sizes)s::text[])[k + 1]",
                "price": price,
                "regular_price": price,
                "manage_stock": "true",
                "stock_quantity": "k * 3",
                "attributes": "jsonb_build_array(jsonb_build_object('id', 1, 'name', 'Size', "
                "'option', (%(sizes)s::text[])[k + 1]))",
                "dimensions": '\'{"length": "", "width": "", "height": ""}\'::jsonb',
                "menu_order": "k",
                "updated_at": "now()",
            },
            source="generate_series(0, %(n)s - 1, %(every)s) AS i CROSS JOIN generate_series(0, %(last_size)s) AS k",
            params=params,
        )
    with connection.cursor() as cursor:
        # VACUUM too: the visibility map lets counts be index-only scans, as autovacuum makes them in production.
        cursor.execute("VACUUM ANALYZE")
    print(f"catalog: created {products} products, {variations} variations in {time.monotonic() - started:.1f}s")


def _selected(scenarios: dict[str, str], only: str) -> dict[str, str]:
    prefixes = [p.strip() for p in only.split(",") if p.strip()]
    return {k: v for k, v in scenarios.items() if not prefixes or any(k.startswith(p) for p in prefixes)}


def catalog_scenarios(detail_id: int) -> list[tuple[str, str, str]]:
    """Issue 12's read paths as (kind, variant, path): each runs cached as "<kind> cached<variant>" and
    uncached as "<kind> uncached<variant>"; ``explain_api_list.py`` explains the same paths."""
    lst = f"/api/products/?per_page={PER_PAGE}"
    return [
        ("list", "", lst),
        # A category subtree, a price range and a stock status, sorted by price.
        (
            "list",
            ", filtered, by price",
            f"{lst}&category=root-3&min_price=20&max_price=150&stock_status=instock&orderby=price&order=asc",
        ),
        ("list", ", by price", f"{lst}&orderby=price&order=asc"),
        ("list", ", by popularity", f"{lst}&orderby=popularity"),
        ("list", ", by popularity, page 200", f"{lst}&orderby=popularity&page=200"),
        ("search", "", f"{lst}&search=hoodie"),  # one name in five (the bench's names), trigram
        ("facets", "", "/api/products/facets/"),
        ("detail", "", f"/api/products/{detail_id}/"),
        ("categories", "", "/api/categories/"),
    ]


def search_terms() -> list[str]:
    """Words a shop's visitors might type, for the "search uncached, new terms" scenario: every
    substring of 3+ letters of the bench's five nouns (each in one name of five), "product 1"…"product 9"
    (one in nine to every one) and 2,000 numbers of 3 or 4 digits (a few dozen to a few hundred names each),
    so most requests bring a term its worker has not counted yet: the first-count cost of each new word."""
    nouns = ["shirt", "mug", "hoodie", "cap", "poster"]
    broad = sorted({noun[i:j] for noun in nouns for i in range(len(noun)) for j in range(i + 3, len(noun) + 1)})
    numbers = [f"{n:03d}" for n in range(0, 1000)] + [f"{n:04d}" for n in range(0, 10000, 10)]
    return broad + [f"product {n}" for n in range(1, 10)] + numbers


_SEARCH_TERMS_LUA = """
local terms = {%s}
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  return wrk.format("GET", "/api/products/?per_page=%d&search=" .. terms[math.random(#terms)])
end
"""


def scratch_dir() -> Path:
    """Where the benchmarks write their wrk scripts: memory when the machine has it."""
    return Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(".")


def search_terms_script() -> Path:
    """A wrk script requesting one page of a random term of ``search_terms`` each time."""
    terms = ", ".join(json.dumps(term.replace(" ", "%20")) for term in search_terms())
    script = scratch_dir() / f"bench-api-search-{uuid.uuid4().hex[:8]}.lua"
    script.write_text(_SEARCH_TERMS_LUA % (terms, PER_PAGE))
    return script


class Server:
    """This project's gunicorn on an ephemeral loopback port, up once ``ready_path`` answers 200
    (a POST of ``ready_data`` when given, else a GET); bench_queue.py starts it too."""

    def __init__(
        self,
        env: dict[str, str],
        name: str,
        *,
        ready_path: str = "/api/categories/",
        ready_data: bytes | None = None,
        log_prefix: str = "bench-api",
    ) -> None:
        self.port = _free_port()
        self.name = name
        env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        self.log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"{log_prefix}-{name}-{self.port}.log", "w")  # noqa: SIM115
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
                request = urllib.request.Request(f"{self.url}{ready_path}", data=ready_data)
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"gunicorn ({name}) did not start; see {self.log.name}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=60) as response:
            return response.read()

    def drain(self, timeout: float = 120) -> None:
        """Wait until requests abandoned by the previous wrk run are done (a quick probe is quick)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                self.get("/bench/ceiling/")
            except OSError:  # HTTPError included: a pool timeout while the backlog drains
                pass
            else:
                if time.monotonic() - started < 0.05:
                    return
            time.sleep(0.5)

    def workers_booted(self) -> int:
        """Workers started so far (the log's "Booting worker" lines): 2 at start, +1 per replacement."""
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace").count("Booting worker")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=60)
        self.log.close()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _cpu_seconds_by_program() -> Counter[str]:
    """CPU seconds (user + system) used so far by every process of this machine, summed by program name
    (``/proc/<pid>/stat``'s comm: gunicorn workers, postgres backends, redis-server, wrk)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: Counter[str] = Counter()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        used[name] += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return used


def wrk(url: str, *, duration: int, connections: int, threads: int, script: str | None = None) -> dict[str, float]:
    cpu_before = _cpu_seconds_by_program()
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s", "--latency"]
        + (["-s", script] if script else [])
        + [url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * _UNITS[unit]

    requests = int(re.search(r"(\d+) requests in", out).group(1))
    cpu = _cpu_seconds_by_program()
    cpu.subtract(cpu_before)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
        # Where the machine's CPU went, in ms per request (processes that ended during the run are missed).
        "cpu_ms": {
            name: round(1000 * seconds / max(requests, 1), 3) for name, seconds in cpu.most_common(4) if seconds > 0
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker-class", default=os.environ.get("GUNICORN_WORKER_CLASS", "gevent"))
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--only", default="", help="comma list of scenario name prefixes to run (default: all)")
    parser.add_argument(
        "--recycling",
        default="0+0,1000+50,20000+5000",
        metavar="M+J,...",
        help="GUNICORN_MAX_REQUESTS+JITTER configurations of the recycling scenarios (0+0: off, the baseline)",
    )
    parser.add_argument("--recycling-duration", type=int, default=40, help="seconds per recycling wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the churn and round-trip runs")
    parser.add_argument(
        "--staleness", type=int, default=60, help="CATALOG_MAX_STALENESS_SECONDS of the servers (60: production's)"
    )
    args = parser.parse_args()

    database_url = _bench_database_url(os.environ["DATABASE_URL"])
    # A private Redis: the shared one carries other test runs' traffic, which would blur the figures.
    redis_port = _free_port()
    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    try:
        return _run(args, database_url, redis_url)
    finally:
        redis_server.terminate()
        redis_server.wait(timeout=30)


def _run(args: argparse.Namespace, database_url: str, redis_url: str) -> int:
    prefix = f"crushme-bench-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.bench_api_settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": prefix,
        "DJANGO_SECRET_KEY": "bench-only-" + uuid.uuid4().hex,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "WOOCOMMERCE_URL": "http://127.0.0.1:1",
        "WOOCOMMERCE_CONSUMER_KEY": "ck_bench",
        "WOOCOMMERCE_CONSUMER_SECRET": "cs_bench",
        "GUNICORN_WORKER_CLASS": args.worker_class,
        "GUNICORN_ACCESS_LOG": os.devnull,
        "GUNICORN_MAX_REQUESTS": "0",  # recycling mid-run would measure worker boot, not serving
        "CATALOG_MAX_STALENESS_SECONDS": str(args.staleness),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    _ensure_database(database_url)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command

    from bench.bench_api_urls import CEILING_KEY
    from catalog.models import Product

    call_command("migrate", verbosity=0)
    _populate(args.products)
    # As deploy.sh does before a restart: every product's list fragment stored ahead (only missing ones render).
    call_command("list_fragments_fill")
    detail_id = Product.objects.filter(type="variable").order_by("id").values_list("id", flat=True).first()

    results: dict[str, dict[str, float]] = {}
    run = {"duration": args.duration, "connections": args.connections, "threads": args.threads}
    lst = f"/api/products/?per_page={PER_PAGE}"
    cached = Server(env, "cached")
    try:
        cache.set(CEILING_KEY, cached.get(lst), None)  # same bytes the cached list answers
        paths = catalog_scenarios(detail_id)
        for _, _, path in paths:
            cached.get(path)  # warm
        # Light scenarios first; the naive ones leave abandoned requests behind (drained between runs).
        scenarios = {
            "ceiling (bare view, cached bytes)": "/bench/ceiling/",
            **{f"{kind} cached{variant}": path for kind, variant, path in paths},
            "list naive": f"/bench/naive/products/?per_page={PER_PAGE}",
            "detail naive": f"/bench/naive/products/{detail_id}/",
            "categories naive": "/bench/naive/categories/",
        }
        for name, path in _selected(scenarios, args.only).items():
            cached.drain()
            results[name] = wrk(cached.url + path, **run)
            print(f"{name:36s} {results[name]}", flush=True)
    finally:
        cached.stop()
    # The gevent tail came from keep-alive connections pinned unevenly to workers (and served unfairly
    # inside one): the same scenarios with keep-alive on, the default before it became 0.
    keepalive_scenarios = {
        "ceiling, keepalive 5": "/bench/ceiling/",
        "list cached, keepalive 5": lst,
    }
    selected = _selected(keepalive_scenarios, args.only)
    if selected:
        keepalive = Server({**env, "GUNICORN_KEEPALIVE": "5"}, "keepalive")
        try:
            cache.set(CEILING_KEY, keepalive.get(lst), None)
            for name, path in selected.items():
                keepalive.drain()
                results[name] = wrk(keepalive.url + path, **run)
                print(f"{name:36s} {results[name]}", flush=True)
        finally:
            keepalive.stop()

    # Worker recycling: each configuration in its own gunicorn, the workers replaced as the run goes.
    # A configuration listed twice runs twice ("0+0,1000+50,0+0" brackets the others with the baseline,
    # which shows the machine's drift during the run).
    recycling: dict[str, tuple[str, str]] = {}
    for item in args.recycling.split(","):
        max_requests, _, jitter = item.strip().partition("+")
        name = f"recycling {max_requests}+{jitter}"
        while name in recycling:
            name += "'"
        recycling[name] = (max_requests, jitter or "0")
    for name, (max_requests, jitter) in _selected(recycling, args.only).items():
        server = Server({**env, "GUNICORN_MAX_REQUESTS": max_requests, "GUNICORN_MAX_REQUESTS_JITTER": jitter}, name)
        try:
            server.get(lst)
            server.drain()
            booted = server.workers_booted()
            results[name] = wrk(server.url + lst, **{**run, "duration": args.recycling_duration})
            results[name]["workers_booted"] = server.workers_booted() - booted
            print(f"{name:36s} {results[name]}", flush=True)
        finally:
            server.stop()

    from django.conf import settings

    from bench.bench_api_churn import churn_scenarios

    churn_results, churn_summary, churn_targets = churn_scenarios(
        server_factory=Server,
        env=env,
        run=run,
        wrk=wrk,
        only=lambda scenarios: _selected(scenarios, args.only),
        rounds=args.rounds,
        staleness_bound=settings.CATALOG_MAX_STALENESS_SECONDS,
    )
    results.update(churn_results)

    uncached_scenarios = {f"{kind} uncached{variant}": path for kind, variant, path in catalog_scenarios(detail_id)}
    # Not a path of its own: a wrk script sends a random term of search_terms() each time.
    uncached_scenarios[NEW_TERMS] = "/"
    uncached = Server({**env, "BENCH_NO_CACHE": "1"}, "uncached") if _selected(uncached_scenarios, args.only) else None
    if uncached is not None:
        # Each worker's pool opens connections as a burst waits for them (2 at start, up to 10): measured
        # first, that warm-up was in the first scenario's p99 alone (145.6 ms, then 109.3 and 119.2 ms on the
        # same server). The health check grows the pools without touching a catalog memo.
        wrk(uncached.url + "/api/health/", **{**run, "duration": 2})
    try:
        for name, path in _selected(uncached_scenarios, args.only).items():
            uncached.drain()
            if name == NEW_TERMS:
                script = search_terms_script()
                try:
                    results[name] = wrk(uncached.url + path, script=str(script), **run)
                finally:
                    script.unlink(missing_ok=True)
            else:
                results[name] = wrk(uncached.url + path, **run)
            print(f"{name:36s} {results[name]}", flush=True)
    finally:
        if uncached is not None:
            uncached.stop()

    rps = {name: r["rps"] for name, r in results.items()}
    ratios = {
        "cached list / naive list": ("list cached", "list naive"),
        "cached list / ceiling": ("list cached", "ceiling (bare view, cached bytes)"),
        "cached list / ceiling, keepalive 5": ("list cached, keepalive 5", "ceiling, keepalive 5"),
        "uncached list / naive list": ("list uncached", "list naive"),
        "uncached list / ceiling": ("list uncached", "ceiling (bare view, cached bytes)"),
        "uncached filtered list / ceiling": ("list uncached, filtered, by price", "ceiling (bare view, cached bytes)"),
        "uncached deep page / ceiling": ("list uncached, by popularity, page 200", "ceiling (bare view, cached bytes)"),
    }
    summary = {name: rps[a] / rps[b] for name, (a, b) in ratios.items() if a in rps and b in rps}
    summary.update(churn_summary)
    baselines = [name for name, (m, _) in recycling.items() if m == "0" and name in results]
    if baselines:
        off_rps = sum(results[name]["rps"] for name in baselines) / len(baselines)
        off_p99 = sum(results[name]["p99_ms"] for name in baselines) / len(baselines)
        for name, (max_requests, _) in recycling.items():
            if max_requests != "0" and name in results:
                summary[f"{name} / recycling off, req/s"] = results[name]["rps"] / off_rps
                summary[f"{name} / recycling off, p99"] = results[name]["p99_ms"] / off_p99
    print(
        f"\nworker class {args.worker_class}, {args.products} products, wrk -t{args.threads} -c{args.connections}"
        f" -d{args.duration}s, {PER_PAGE} products per page\n"
    )
    print("| scenario | req/s | p50 ms | p99 ms | non-2xx | workers replaced |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        replaced = r.get("workers_booted")
        print(
            f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['non_2xx']} "
            f"| {'' if replaced is None else replaced} |"
        )
    print()
    for name, ratio in summary.items():
        print(f"{name}: {ratio:.2f}")
    print()
    # The targets the API is held to (docs/performance.md), for the default configuration (gevent, keep-alive 0).
    targets = [
        ("cached list / naive list", summary.get("cached list / naive list"), 30.0, ">="),
        ("cached list / ceiling", summary.get("cached list / ceiling"), 0.60, ">="),
        ("uncached list / naive list", summary.get("uncached list / naive list"), 3.0, ">="),
        ("p99 ms of the cached list", results.get("list cached", {}).get("p99_ms"), 100.0, "<="),
        # Issue 12 (its acceptance is at 20,000 products, c=50).
        ("uncached list / ceiling", summary.get("uncached list / ceiling"), 0.40, ">="),
        ("uncached filtered list / ceiling", summary.get("uncached filtered list / ceiling"), 0.25, ">="),
        ("p99 ms of the uncached list", results.get("list uncached", {}).get("p99_ms"), 150.0, "<="),
    ]
    if args.products >= 200_000:
        # Issue 12, acceptance 3: every uncached read at 200,000 products, c=50.
        targets += [
            (f"p99 ms of {name}", results[name]["p99_ms"], 250.0, "<=")
            for name in uncached_scenarios
            if name in results and name != NEW_TERMS  # reported, not one of the reads
        ]
    targets += churn_targets
    for name, value, bound, op in targets:
        if value is not None:
            met = value >= bound if op == ">=" else value <= bound
            print(f"target {name} {op} {bound:g}: {value:.2f} {'met' if met else 'NOT MET'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"run": vars(args), "results": results, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
