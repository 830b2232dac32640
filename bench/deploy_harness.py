"""Shared pieces of the deployment benchmarks (bench_memory.py, bench_sync_limits.py).

Each benchmark gets its own PostgreSQL database (created and dropped here, never the shared ones'
data), its own WooCommerce sandbox on an ephemeral port, and this project's gunicorn started with
gunicorn_config.py. Traffic goes to 127.0.0.1 only; every loop is bounded in count and time.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.deploy.servers import gunicorn_env, http_get, postgres_url, running_gunicorn  # noqa: E402, F401

PYTHON = sys.executable
RESULTS = REPO / "bench" / "results"


def admin_dsn() -> str:
    return postgres_url(name="postgres")


@contextmanager
def bench_database(prefix: str) -> Iterator[str]:
    """A fresh, migrated database; yields its DATABASE_URL and drops it afterwards."""
    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres_url(name=name)
    try:
        manage("migrate", "--noinput", database_url=url, check=True)
        yield url
    finally:
        with psycopg.connect(admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage_env(*, database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "crushme_project.settings.base",
            "DATABASE_URL": database_url,
            "DB_POOL_ENABLED": "false",
            "CACHE_KEY_PREFIX": f"crushme-bench-{os.getpid()}",
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


def manage(*args: str, database_url: str, check: bool = False, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=REPO,
        env=manage_env(database_url=database_url, **extra),
        capture_output=True,
        text=True,
        timeout=1800,
        check=check,
    )


@contextmanager
def sandbox(*, products: int, seed: int = 42) -> Iterator[str]:
    """``manage.py woocommerce_sandbox`` on an ephemeral port; yields its URL."""
    process = subprocess.Popen(
        [PYTHON, "manage.py", "woocommerce_sandbox", "--port", "0", "--products", str(products), "--seed", str(seed)],
        cwd=REPO,
        env=manage_env(database_url="sqlite:///unused-bench.sqlite3"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = None
    deadline = time.monotonic() + 120
    lines = []
    while time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline()
        lines.append(line)
        if match := re.search(r"WooCommerce sandbox: (http://127\.0\.0\.1:\d+)", line):
            url = match.group(1)
            break
    if url is None:
        process.kill()
        raise RuntimeError("sandbox did not start:\n" + "".join(lines))
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    try:
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def catalog_paths(base_url: str, *, limit: int = 200) -> list[str]:
    """A realistic mix of API paths: listing pages, product details, categories, facets, health."""
    product_ids: list[int] = []
    for page in (1, 2, 3):
        status, body = http_get(f"{base_url}/api/products/?per_page=100&page={page}")
        if status != 200:
            raise RuntimeError(f"/api/products/ answered {status}: {body[:300]!r}")
        product_ids += [item["id"] for item in json.loads(body)["results"]]
    product_ids = product_ids[:limit]
    paths = [f"/api/products/?page={page}" for page in range(1, 6)]
    paths += ["/api/products/?ordering=price", "/api/categories/", "/api/products/facets/", "/api/health/"]
    paths += [f"/api/products/{pid}/" for pid in product_ids]
    return paths


def write_result(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True))
    return path
