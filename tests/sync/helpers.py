"""Helpers for the sync tests: running the command, comparing the mirror with the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connection

from catalog.models import Category, Product, ProductVariation
from sync.woocommerce.types import PRODUCT_FIELDS, VARIATION_FIELDS, parse_category, parse_product, parse_variation

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CommandResult:
    code: int
    stdout: str
    stderr: str


@contextmanager
def after_first_products_page(server, action: Callable[[], object]) -> Iterator[None]:
    """Run ``action`` on a thread once the store has answered its first product listing page
    (to change the store while a sync reads it); waits for it on leaving the block."""

    def wait_then_act() -> None:
        deadline = time.monotonic() + 30
        while server.stats["by_endpoint"].get("GET products", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        action()

    thread = threading.Thread(target=wait_then_act)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def run_sync(*args: str) -> CommandResult:
    """Run ``manage.py sync_woocommerce`` in-process; returns its exit code and output."""
    stdout, stderr = StringIO(), StringIO()
    try:
        call_command("sync_woocommerce", *args, stdout=stdout, stderr=stderr)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return CommandResult(code=code, stdout=stdout.getvalue(), stderr=stderr.getvalue())


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a ``manage.py`` subprocess that uses this test's database and sandbox."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        database_url = f"sqlite:///{db['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crushme_project.settings.base",
        "DATABASE_URL": database_url,
        "REDIS_URL": "",
        "WOOCOMMERCE_URL": settings.WOOCOMMERCE_URL,
        "WOOCOMMERCE_CONSUMER_KEY": settings.WOOCOMMERCE_CONSUMER_KEY,
        "WOOCOMMERCE_CONSUMER_SECRET": settings.WOOCOMMERCE_CONSUMER_SECRET,
        "WOOCOMMERCE_BACKOFF_SECONDS": "0.01",
        "WOOCOMMERCE_BACKOFF_MAX_SECONDS": "0.2",
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    return env


def start_sync_process(*args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "sync_woocommerce", *args],
        cwd=PROJECT_ROOT,
        env=subprocess_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_python(*args: str) -> subprocess.CompletedProcess:
    """``python <args>`` in a fresh interpreter on this test's database and sandbox; waits up to 60 s."""
    return subprocess.run(
        [sys.executable, *args], cwd=PROJECT_ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=60
    )


def expected_live_products(catalog) -> dict[int, dict]:
    """Sandbox products a mirror must hold as live rows: everything but the trash."""
    return {pid: catalog.product_payload(pid) for pid, p in list(catalog.products.items()) if p["status"] != "trash"}


def mirror_differences(catalog, *, mirrored_only: bool = False) -> list[str]:
    """Every difference between the sandbox and the mirror, field by field ([] when equal).

    ``mirrored_only``: rows not mirrored yet are not a difference (after a partial run), but every
    mirrored row must still equal the store and no row may be extra.
    """
    problems: list[str] = []

    def ids_differ(what: str, expected: set[int], mirrored: set[int]) -> None:
        missing = set() if mirrored_only else expected - mirrored
        extra = mirrored - expected
        if missing or extra:
            problems.append(f"{what} ids differ: missing {sorted(missing)[:10]}, extra {sorted(extra)[:10]}")

    expected_categories = {cid: parse_category(catalog.category_payload(cid)) for cid in list(catalog.categories)}
    mirrored_categories = {c.id: c for c in Category.objects.all()}
    ids_differ("category", set(expected_categories), set(mirrored_categories))
    for cid, record in expected_categories.items():
        row = mirrored_categories.get(cid)
        if row is None:
            continue
        for name, value in record.model_fields().items():
            if getattr(row, name) != value:
                problems.append(f"category {cid}.{name}: mirror {getattr(row, name)!r} != store {value!r}")

    payloads = expected_live_products(catalog)
    mirrored = {p.id: p for p in Product.objects.filter(deleted_at__isnull=True).exclude(status="trash")}
    ids_differ("live product", set(payloads), set(mirrored))
    links: dict[int, set[int]] = {}
    for product_id, category_id in Product.categories.through.objects.values_list("product_id", "category_id"):
        links.setdefault(product_id, set()).add(category_id)
    expected_variations = {}
    for pid, payload in payloads.items():
        record = parse_product(payload)
        row = mirrored.get(pid)
        if row is None:
            continue
        for name in PRODUCT_FIELDS:
            if getattr(row, name) != getattr(record, name):
                problems.append(
                    f"product {pid}.{name}: mirror {getattr(row, name)!r} != store {getattr(record, name)!r}"
                )
        if links.get(pid, set()) != {ref.id for ref in record.categories}:
            problems.append(f"product {pid} categories: mirror {links.get(pid)} != store {record.categories}")
        for vid in record.variation_ids:
            expected_variations[vid] = parse_variation(catalog.variation_payload(vid), product_id=pid)

    mirrored_variations = {v.id: v for v in ProductVariation.objects.filter(deleted_at__isnull=True)}
    ids_differ("live variation", set(expected_variations), set(mirrored_variations))
    for vid, record in expected_variations.items():
        row = mirrored_variations.get(vid)
        if row is None:
            continue
        for name in VARIATION_FIELDS:
            if getattr(row, name) != getattr(record, name):
                problems.append(
                    f"variation {vid}.{name}: mirror {getattr(row, name)!r} != store {getattr(record, name)!r}"
                )
    return problems
