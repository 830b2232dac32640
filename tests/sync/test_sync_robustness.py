"""sync_woocommerce under failure: faults, bad credentials, concurrency, kills, signals, start-up."""

import signal
import time

import pytest
from django.conf import settings

from catalog.models import Category, Product, ProductVariation
from sync.models import SyncRun
from sync.services.products import product_upsert_page
from tests.sync.helpers import (
    after_first_products_page,
    mirror_differences,
    run_python,
    run_sync,
    start_sync_process,
)


def last_run() -> SyncRun:
    return SyncRun.objects.order_by("-id").first()


def wait_for(condition, *, timeout: float = 30.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.mark.django_db
def test_faulty_store_ends_partial_with_failed_pages_named_then_next_run_completes(make_sandbox, settings):
    settings.WOOCOMMERCE_TIMEOUT = 0.5
    settings.WOOCOMMERCE_MAX_RETRIES = 2
    server = make_sandbox(products=600, variable_share=0.1, seed=41)
    server.set_faults(
        rate=0.2,
        kinds=("500", "502", "504", "429", "timeout", "malformed", "drop"),
        seed=7,  # the draws follow the request order: products pages 8 and 30 fail beyond their retries
        retry_after=0,
        timeout_seconds=1.0,
    )

    faulty = run_sync("--full", "--batch-size", "20")

    assert faulty.code == 3, faulty.stderr
    run = last_run()
    assert server.stats["faults_injected"] >= 3
    assert run.status == "partial"
    assert sorted((p["endpoint"], p["page"]) for p in run.failed_pages) == [("products", 8), ("products", 30)]
    assert run.error_summary.startswith("failed pages: products page 8, products page 30")
    # Nothing half-written: every mirrored category, product (with its category links) and variation
    # equals the store field by field; what is missing is what the failed pages held.
    assert Product.objects.exists()
    assert mirror_differences(server.catalog, mirrored_only=True) == []

    server.clear_faults()
    healed = run_sync("--full", "--batch-size", "20")

    assert healed.code == 0, healed.stderr
    assert mirror_differences(server.catalog) == []


@pytest.mark.django_db
def test_a_store_failing_big_pages_is_read_in_smaller_pages(make_sandbox, settings, caplog):
    settings.WOOCOMMERCE_MAX_RETRIES = 1
    server = make_sandbox(products=130, variable_share=0.2, seed=45, page_limit=20)

    result = run_sync("--full", "--batch-size", "50")

    assert result.code == 0, result.stderr
    assert last_run().status == "succeeded"
    assert mirror_differences(server.catalog) == []
    assert server.stats["by_status"]["504"] > 0
    assert "reading it again 25 at a time" in caplog.text
    assert "reading it again 5 at a time" in caplog.text


@pytest.mark.django_db
def test_a_store_that_goes_down_mid_listing_is_given_up_after_three_failed_pages(make_sandbox, settings):
    settings.WOOCOMMERCE_MAX_RETRIES = 0
    server = make_sandbox(products=200, variable_share=0.0, seed=46, latency_ms=50)

    with after_first_products_page(server, lambda: server.set_faults(rate=1.0, kinds=("500",), paths=r"/products$")):
        result = run_sync("--products", "--batch-size", "10")

    assert result.code == 3, result.stderr
    run = last_run()
    assert run.status == "partial"
    assert len(run.failed_pages) == 3
    assert "3 pages in a row failed" in run.error_summary
    # 20 pages in the listing: after the first one or two, three failures, then nothing more is asked.
    assert server.stats["by_endpoint"]["GET products"] <= 5
    assert run.listing_complete is False


@pytest.mark.django_db
def test_a_bad_item_is_reported_and_the_rest_of_its_page_lands(make_sandbox):
    server = make_sandbox(products=30, variable_share=0.0, seed=43)
    broken = next(pid for pid, p in server.catalog.products.items() if p["status"] == "publish")
    server.catalog.edit_product(broken, total_sales="lots")  # a plugin-mangled value

    result = run_sync("--full")

    assert result.code == 3, result.stderr
    run = last_run()
    assert run.status == "partial"
    assert run.failed == 1
    assert run.failed_items[0]["id"] == broken
    assert "total_sales" in run.failed_items[0]["error"]
    expected = {pid for pid, p in server.catalog.products.items() if p["status"] != "trash"} - {broken}
    assert set(Product.objects.values_list("id", flat=True)) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("wrong", ["key", "secret"])
def test_wrong_credentials_end_at_once_with_exit_4_and_write_nothing(make_sandbox, settings, wrong):
    server = make_sandbox(products=30, seed=47)
    if wrong == "key":
        settings.WOOCOMMERCE_CONSUMER_KEY = "ck_wrong"
    else:
        settings.WOOCOMMERCE_CONSUMER_SECRET = "cs_wrong"

    started = time.monotonic()
    result = run_sync("--full")

    assert result.code == 4
    assert time.monotonic() - started < 5
    assert server.stats["requests"] == 1
    assert "WOOCOMMERCE_CONSUMER" in result.stderr or "key" in result.stderr.lower()
    assert "cs_wrong" not in result.stderr + result.stdout
    assert Category.objects.count() == 0
    assert Product.objects.count() == 0
    run = last_run()
    assert run.status == "failed"
    assert "Unauthorized" in run.error_summary


@pytest.mark.django_db
def test_unreachable_store_fails_with_exit_1(settings):
    settings.WOOCOMMERCE_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    settings.WOOCOMMERCE_CONNECT_TIMEOUT = 0.5

    result = run_sync("--categories")

    assert result.code == 1, result.stderr
    assert last_run().status == "failed"


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--stock", "--full"),
        ("--full", "--batch-size", "0"),
        ("--full", "--batch-size", "101"),
        ("--stock", "--all"),
    ],
)
def test_usage_errors_exit_2_from_the_command_line(args):
    process = run_python("manage.py", "sync_woocommerce", *args)
    assert process.returncode == 2, process.stderr
    assert "error" in process.stderr.lower()


def test_help_documents_modes_and_exit_codes(capsys):
    result = run_sync("--help")
    out = capsys.readouterr().out + result.stdout
    assert result.code == 0
    for text in ("--stock", "--products", "--categories", "--full", "--dry-run", "exit codes:"):
        assert text in out
    documented = {line.split()[0] for line in out.split("exit codes:")[1].splitlines() if line[:3].strip().isdigit()}
    assert documented == {"0", "1", "2", "3", "4", "5", "6", "7", "75"}


@pytest.mark.django_db
@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="PostgreSQL property: SQLite splits bulk statements by its bound-variable limit",
)
def test_page_writes_use_a_constant_number_of_queries(make_sandbox, django_assert_max_num_queries):
    from sync.services.products import product_records_parse

    server = make_sandbox(products=120, variable_share=0.0, categories=5, seed=53)
    payloads = [server.catalog.product_payload(pid) for pid in sorted(server.catalog.products)]
    small, _ = product_records_parse(payloads[:10])
    large, _ = product_records_parse(payloads[10:110])
    from django.utils import timezone

    now = timezone.now()
    # compare + links + stale variations (3 reads), category stubs (1 read, 1 insert), the upsert,
    # the link replacement (2), and SAVEPOINT/RELEASE because the test already holds a transaction.
    with django_assert_max_num_queries(10) as small_queries:
        product_upsert_page(records=small, synced_at=now)
    with django_assert_max_num_queries(10) as large_queries:
        product_upsert_page(records=large, synced_at=now)
    assert len(large_queries.captured_queries) == len(small_queries.captured_queries)
    # An unchanged page reads once: its links and variation lists are covered by the row digest.
    with django_assert_max_num_queries(3) as unchanged:
        product_upsert_page(records=large, synced_at=now)
    assert all(q["sql"].startswith(("SELECT", "SAVEPOINT", "RELEASE")) for q in unchanged.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_a_second_sync_while_one_runs_exits_at_once_with_75(make_sandbox):
    server = make_sandbox(products=200, seed=59)
    server.latency_ms = 200
    first = start_sync_process("--full", "--batch-size", "10")
    try:
        wait_for(lambda: SyncRun.objects.filter(status="running").exists())
        started = time.monotonic()
        second = run_sync("--stock")
        assert second.code == 75
        assert time.monotonic() - started < 3
        assert "already running" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
def test_sigkill_leaves_whole_pages_and_the_next_run_succeeds(make_sandbox):
    server = make_sandbox(products=300, variable_share=0.0, seed=61)
    server.latency_ms = 150
    process = start_sync_process("--full", "--batch-size", "25")
    try:
        wait_for(lambda: Product.objects.count() >= 50, timeout=60)
    finally:
        process.kill()
        process.wait(timeout=10)
    count = Product.objects.count()
    assert count % 25 == 0, f"{count} products: a page was half-written"
    listed = sorted(pid for pid, p in server.catalog.products.items() if p["status"] != "trash")
    assert sorted(Product.objects.values_list("id", flat=True)) == listed[:count]
    assert SyncRun.objects.get().status == "running"  # the killed run could not record its end

    server.latency_ms = 0
    result = run_sync("--full")

    assert result.code == 0, result.stderr
    assert mirror_differences(server.catalog) == []
    statuses = list(SyncRun.objects.order_by("id").values_list("status", flat=True))
    assert statuses == ["failed", "succeeded"]  # the orphan was closed by the next run


@pytest.mark.django_db(transaction=True)
def test_sigterm_finishes_the_page_records_partial_and_exits_6(make_sandbox):
    server = make_sandbox(products=300, variable_share=0.0, seed=67)
    server.latency_ms = 150
    process = start_sync_process("--full", "--batch-size", "25")
    wait_for(lambda: Product.objects.count() >= 25, timeout=60)
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=30)

    assert code == 6, process.stderr.read()
    run = SyncRun.objects.get()
    assert run.status == "partial"
    assert "interrupted" in run.error_summary
    assert Product.objects.count() % 25 == 0
    assert Product.objects.count() < 300


# A fresh interpreter boots the WSGI application (django.setup(), every AppConfig.ready()) and serves
# catalog requests through it, as a gunicorn worker does; then it idles so that any background work
# started at boot would have time to reach the store.
BOOT_AND_SERVE = """
import sys, time
from wsgiref.util import setup_testing_defaults
from crushme_project.wsgi import application

for path in ("/api/health/", "/api/products/", "/api/categories/"):
    environ = {"PATH_INFO": path}
    setup_testing_defaults(environ)
    statuses = []
    body = application(environ, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(body)
    print(path, statuses[0], flush=True)
time.sleep(1.0)
"""


@pytest.mark.django_db(transaction=True)
def test_booting_the_wsgi_application_makes_no_request_and_starts_no_sync(make_sandbox):
    server = make_sandbox(products=10, seed=71)

    booted = run_python("-c", BOOT_AND_SERVE)

    assert booted.returncode == 0, booted.stderr
    assert booted.stdout.split("\n")[:3] == [
        "/api/health/ 200 OK",
        "/api/products/ 200 OK",
        "/api/categories/ 200 OK",
    ]
    assert server.stats["requests"] == 0
    assert SyncRun.objects.count() == 0


@pytest.mark.django_db
def test_variations_of_a_product_whose_page_failed_are_failed_items_not_crashes(make_sandbox, settings):
    settings.WOOCOMMERCE_MAX_RETRIES = 0
    server = make_sandbox(products=60, variable_share=0.5, seed=73)
    server.set_faults(count=1, kinds=("500",), paths=r"/products$")

    result = run_sync("--products", "--batch-size", "100")

    assert result.code == 3, result.stderr
    run = last_run()
    assert run.failed_pages[0]["endpoint"] == "products"
    live_variations = [
        v for v in server.catalog.variations.values() if server.catalog.products[v["parent_id"]]["status"] != "trash"
    ]
    assert run.failed == len(live_variations) > 0
    assert "not mirrored" in run.failed_items[0]["error"]
    assert ProductVariation.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("WOOCOMMERCE_CA_BUNDLE", "/nonexistent/ca.pem", "WOOCOMMERCE_CA_BUNDLE"),
        ("WOOCOMMERCE_CONSUMER_KEY", "", "WOOCOMMERCE_CONSUMER_KEY"),
        ("WOOCOMMERCE_TIMEOUT", 0, "WOOCOMMERCE_TIMEOUT"),
    ],
)
def test_a_setting_the_client_cannot_use_exits_4_with_one_line_naming_it(settings, setting, value, named):
    setattr(settings, setting, value)

    result = run_sync("--stock")

    assert result.code == 4
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "misconfigured" in result.stderr and named in result.stderr
    assert SyncRun.objects.count() == 0  # nothing started, nothing recorded
