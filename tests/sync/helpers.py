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
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, models

from catalog.models import Category, Product, ProductVariation

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
    except CommandError as error:  # what manage.py prints and exits with
        stderr.write(f"CommandError: {error}\n")
        code = error.returncode
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


# Columns the mirror keeps for itself; every other concrete column must equal the store's value.
_LOCAL_COLUMNS = {"id", "synced_at", "sync_hash", "updated_at", "deleted_at", "list_version"}


def store_columns(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if f.name not in _LOCAL_COLUMNS]


def expected_column(field: models.Field, raw: dict[str, Any]) -> Any:
    """What the mirror must hold in ``field`` for the raw WooCommerce item ``raw``.

    Written from WooCommerce's documented shapes and the model's declaration alone, never through
    the sync's parsers: a parser bug must show up as a difference here.
    """
    if isinstance(field, models.ForeignKey):  # category.parent: WooCommerce sends 0 for a root
        return raw[field.name] or None
    if field.name == "stock_managed_by_parent":
        return raw["manage_stock"] == "parent"
    if field.name == "manage_stock":
        return raw["manage_stock"] in (True, "parent")
    if field.name == "image" and raw[field.name] in ([], {}):  # PHP's empty array: no image
        return None
    value = raw[field.name]
    if isinstance(field, models.DateTimeField):
        return None if value is None else datetime.strptime(value, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    if isinstance(field, models.DecimalField):
        if value in ("", None):
            return None if field.null else field.default
        return Decimal(str(value))
    if isinstance(field, models.BooleanField):
        assert isinstance(value, bool), f"{field.name}: {value!r}"
        return value
    if isinstance(field, models.IntegerField):
        return None if value is None else int(value)
    if isinstance(field, models.CharField | models.TextField):
        return value or (field.default if isinstance(field.default, str) else "")
    if isinstance(field, models.JSONField):
        return value
    raise AssertionError(f"no rule for {field.model.__name__}.{field.name}: teach expected_column")


def mirror_differences(catalog, *, mirrored_only: bool = False) -> list[str]:
    """Every difference between the sandbox and the mirror, field by field ([] when equal).

    ``mirrored_only``: rows not mirrored yet are not a difference (after a partial run), but every
    mirrored row must still equal the store and no row may be extra. Expected values come from the
    raw payloads through ``expected_column``, never from the sync's own parsing.
    """
    problems: list[str] = []

    def ids_differ(what: str, expected: set[int], mirrored: set[int]) -> None:
        missing = set() if mirrored_only else expected - mirrored
        extra = mirrored - expected
        if missing or extra:
            problems.append(f"{what} ids differ: missing {sorted(missing)[:10]}, extra {sorted(extra)[:10]}")

    def columns_differ(what: str, row: models.Model, raw: dict[str, Any], columns: list[models.Field]) -> None:
        for field in columns:
            expected, mirrored_value = expected_column(field, raw), getattr(row, field.attname)
            if mirrored_value != expected:
                problems.append(f"{what} {row.pk}.{field.name}: mirror {mirrored_value!r} != store {expected!r}")

    category_payloads = {cid: catalog.category_payload(cid) for cid in list(catalog.categories)}
    mirrored_categories = {c.id: c for c in Category.objects.all()}
    ids_differ("category", set(category_payloads), set(mirrored_categories))
    category_columns = store_columns(Category)
    for cid, raw in category_payloads.items():
        if (row := mirrored_categories.get(cid)) is not None:
            columns_differ("category", row, raw, category_columns)

    payloads = expected_live_products(catalog)
    mirrored = {p.id: p for p in Product.objects.filter(deleted_at__isnull=True).exclude(status="trash")}
    ids_differ("live product", set(payloads), set(mirrored))
    links: dict[int, set[int]] = {}
    for product_id, category_id in Product.categories.through.objects.values_list("product_id", "category_id"):
        links.setdefault(product_id, set()).add(category_id)
    product_columns = store_columns(Product)
    variation_payloads: dict[int, tuple[int, dict[str, Any]]] = {}
    for pid, raw in payloads.items():
        if (row := mirrored.get(pid)) is None:
            continue
        columns_differ("product", row, raw, product_columns)
        store_categories = {ref["id"] for ref in raw["categories"]}
        if links.get(pid, set()) != store_categories:
            problems.append(f"product {pid} categories: mirror {links.get(pid)} != store {store_categories}")
        for vid in raw["variations"]:
            variation_payloads[vid] = (pid, catalog.variation_payload(vid))

    mirrored_variations = {v.id: v for v in ProductVariation.objects.filter(deleted_at__isnull=True)}
    ids_differ("live variation", set(variation_payloads), set(mirrored_variations))
    variation_columns = [f for f in store_columns(ProductVariation) if f.name != "product"]
    for vid, (pid, raw) in variation_payloads.items():
        if (row := mirrored_variations.get(vid)) is None:
            continue
        if row.product_id != pid:
            problems.append(f"variation {vid}.product: mirror {row.product_id} != store {pid}")
        columns_differ("variation", row, raw, variation_columns)
    return problems
