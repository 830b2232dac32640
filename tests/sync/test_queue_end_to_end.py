"""End to end over real HTTP: the sandbox store delivers signed webhooks to a live server, a running
processor applies them, and the catalog API's detail shows the change (with a new ETag) within 2 s, its
lists within CATALOG_MAX_STALENESS_SECONDS."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
import requests
from django.db import connection, connections

from sync.models import SyncOperation
from sync.sandbox.control import SandboxControl
from sync.services.queue import sync_queue_process_batch
from sync.woocommerce.client import WooCommerceClient
from tests.sync.helpers import run_sync
from tests.sync.webhook_samples import SAMPLE_SECRET

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="end to end runs on PostgreSQL"),
]

TOPICS = ("product.created", "product.updated", "product.deleted", "product.restored", "order.created", "order.updated")
DEADLINE_SECONDS = 2.0


@pytest.fixture
def running_processor() -> Iterator[None]:
    """``process_sync_queue``'s loop on a thread (its own database connection), polling every 50 ms."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        client = WooCommerceClient.from_settings(max_retries=0)
        try:
            while not stop.is_set():
                if not sync_queue_process_batch(worker="e2e", client=client, store_variations=lambda: True).claimed:
                    stop.wait(0.05)
        except Exception as error:  # noqa: BLE001 - reported by the test at teardown, not swallowed
            errors.append(error)
        finally:
            client.close()
            connections.close_all()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=30)
    assert not errors, errors


@pytest.fixture
def store(make_sandbox, live_server, settings):
    """A mirrored sandbox store delivering every 0.2 s to the live server, with the six webhooks."""
    settings.WOOCOMMERCE_WEBHOOK_SECRET = SAMPLE_SECRET
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None, "staff": None},
    }
    server = make_sandbox(products=30, webhook_delivery_interval=0.2)
    assert run_sync("--full").code == 0
    control = SandboxControl(server.url)
    for topic in TOPICS:
        control.add_webhook(
            topic=topic, delivery_url=f"{live_server.url}/api/webhooks/woocommerce/", secret=SAMPLE_SECRET
        )
    yield server
    control.close()


def _get(live_server, path: str) -> requests.Response:
    return requests.get(f"{live_server.url}{path}", timeout=10)


def _until(check: Callable[[], bool], *, timeout: float = 15.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic()
        time.sleep(0.02)
    raise AssertionError("timed out")


def _shown_within_deadline(
    live_server, *, action: Callable[[], object], object_id: int | None, topic: str, path: str, check
) -> requests.Response:
    """Run ``action`` in the store, wait for the API at ``path`` to pass ``check``, and assert it did
    within 2 s of the delivery's arrival.

    The delivery's arrival is when its operation row appears (``topic``, or any topic for "*": a
    restore's product.updated and product.restored carry the same state, so they are one operation).
    """
    arrivals = SyncOperation.objects.all() if object_id is None else SyncOperation.objects.filter(object_id=object_id)
    if topic != "*":
        arrivals = arrivals.filter(topic=topic)
    known = set(arrivals.values_list("id", flat=True))
    action()
    _until(lambda: set(arrivals.values_list("id", flat=True)) - known)
    arrived = time.monotonic()
    holder: dict[str, requests.Response] = {}

    def shown() -> bool:
        holder["response"] = _get(live_server, path)
        return check(holder["response"])

    seen = _until(shown)
    assert seen - arrived <= DEADLINE_SECONDS, f"{path} showed the change {seen - arrived:.2f} s after the delivery"
    return holder["response"]


def _simple_product(server) -> int:
    return next(
        pid
        for pid, p in sorted(server.catalog.products.items())
        if p["type"] == "simple" and p["status"] == "publish" and p["manage_stock"] is True
        and (p["stock_quantity"] or 0) >= 5 and p["catalog_visibility"] == "visible"
    )  # fmt: skip


def test_an_order_of_2_units_reaches_the_api_detail_and_list_with_a_new_etag(
    store, live_server, running_processor, settings
):
    settings.CATALOG_MAX_STALENESS_SECONDS = 2  # how long the list may still show the old stock
    pid = _simple_product(store)
    sku = store.catalog.products[pid]["sku"]
    before = _get(live_server, f"/api/products/{pid}/")
    listing_before = _get(live_server, f"/api/products/?sku={sku}")
    listed_at = time.monotonic()
    stock = before.json()["stock_quantity"]

    detail = _shown_within_deadline(
        live_server,
        action=lambda: store.create_order(line_items=[{"product_id": pid, "quantity": 2}]),
        object_id=pid,
        topic="order.created",
        path=f"/api/products/{pid}/",
        check=lambda r: r.json()["stock_quantity"] == stock - 2,
    )
    assert detail.headers["ETag"] != before.headers["ETag"]
    # The list filters on the SKU, not on stock: it shows the change once its cached answer, capped at the
    # staleness bound, has expired.
    time.sleep(max(0.0, listed_at + settings.CATALOG_MAX_STALENESS_SECONDS + 0.2 - time.monotonic()))
    listing = _get(live_server, f"/api/products/?sku={sku}")
    assert [item["stock_quantity"] for item in listing.json()["results"]] == [stock - 2]
    assert listing.headers["ETag"] != listing_before.headers["ETag"]


def test_a_price_edit_reaches_the_api(store, live_server, running_processor):
    pid = _simple_product(store)
    before = _get(live_server, f"/api/products/{pid}/")
    new_price = str(Decimal(before.json()["regular_price"] or "10") + Decimal("1.25"))

    detail = _shown_within_deadline(
        live_server,
        action=lambda: store.catalog.edit_product(pid, regular_price=new_price),
        object_id=pid,
        topic="product.updated",
        path=f"/api/products/{pid}/",
        check=lambda r: Decimal(r.json()["regular_price"]) == Decimal(new_price),
    )
    assert detail.headers["ETag"] != before.headers["ETag"]


def test_a_variations_stock_reaches_the_api(store, live_server, running_processor):
    catalog = store.catalog
    vid, variation = next(
        (v, item)
        for v, item in sorted(catalog.variations.items())
        if item["manage_stock"] is True and catalog.products[item["parent_id"]]["status"] == "publish"
        and item["status"] == "publish"
    )  # fmt: skip
    pid = variation["parent_id"]
    before = _get(live_server, f"/api/products/{pid}/variations/")

    def shows_77(response) -> bool:
        return {v["id"]: v["stock_quantity"] for v in response.json()["results"]}.get(vid) == 77

    after = _shown_within_deadline(
        live_server,
        action=lambda: catalog.edit_variation(vid, stock_quantity=77),
        object_id=vid,
        topic="product.updated",
        path=f"/api/products/{pid}/variations/",
        check=shows_77,
    )
    assert after.headers["ETag"] != before.headers["ETag"]
    details = _get(live_server, f"/api/products/{pid}/").json()["variation_details"]
    assert {v["id"]: v["stock_quantity"] for v in details}[vid] == 77


def test_a_trash_takes_the_product_out_of_the_api_and_a_restore_brings_it_back(store, live_server, running_processor):
    pid = _simple_product(store)
    sku = store.catalog.products[pid]["sku"]
    assert _get(live_server, f"/api/products/{pid}/").status_code == 200

    _shown_within_deadline(
        live_server,
        action=lambda: store.catalog.trash_product(pid),
        object_id=pid,
        topic="product.deleted",
        path=f"/api/products/{pid}/",
        check=lambda r: r.status_code == 404,
    )
    assert _get(live_server, f"/api/products/?sku={sku}").json()["results"] == []

    _shown_within_deadline(
        live_server,
        action=lambda: SandboxControl(store.url).restore_product(pid, status="publish"),  # untrash in wp-admin
        object_id=pid,
        topic="*",
        path=f"/api/products/{pid}/",
        check=lambda r: r.status_code == 200,
    )
    assert [item["id"] for item in _get(live_server, f"/api/products/?sku={sku}").json()["results"]] == [pid]


def test_a_new_product_appears_in_the_api(store, live_server, running_processor):
    listing_before = _get(live_server, "/api/products/?sku=E2E-NEW-1")
    assert listing_before.json()["results"] == []

    created: list[int] = []

    def add() -> None:
        created.append(
            store.catalog.add_product(
                name="Brand new mug", sku="E2E-NEW-1", regular_price="12.00", manage_stock=True, stock_quantity=9
            )
        )

    listing = _shown_within_deadline(
        live_server,
        action=add,
        object_id=None,
        topic="product.created",
        path="/api/products/?sku=E2E-NEW-1",
        check=lambda r: len(r.json()["results"]) == 1,
    )
    assert [item["id"] for item in listing.json()["results"]] == created
    detail = _get(live_server, f"/api/products/{created[0]}/").json()
    assert detail["name"] == "Brand new mug" and detail["stock_quantity"] == 9
    assert listing.headers["ETag"] != listing_before.headers["ETag"]
