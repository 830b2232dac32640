"""The sandbox store's webhooks and orders, over real HTTP: registered through the stock ``woocommerce``
client, delivered to a tiny receiver on loopback that records every request byte for byte."""

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from woocommerce import API

from sync.sandbox.control import SandboxControl, SandboxControlError
from sync.sandbox.webhook_http import signature

KEY = "ck_test_key"
SECRET = "cs_test_secret"
HOOK_SECRET = "sample-secret & <é> 'q' %41"  # the captured samples' secret: HTML and UTF-8 used as is
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sandbox_webhooks"
SIGNED_HEADERS = {
    "User-Agent",
    "Accept",
    "Content-Type",
    "Content-Length",
    "X-WC-Webhook-Source",
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Resource",
    "X-WC-Webhook-Event",
    "X-WC-Webhook-Signature",
    "X-WC-Webhook-ID",
    "X-WC-Webhook-Delivery-ID",
}


# --- a receiver that records -------------------------------------------------------------------------


class Receiver:
    """``http.server`` on 127.0.0.1:0. Answers ``status`` (or the next of ``statuses``) after ``delay``."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.ping_status = 200
        self.statuses: list[int] = []
        self.delay = 0.0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                is_ping = self.headers.get("Content-Type") == "application/x-www-form-urlencoded"
                with receiver._lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body, "ping": is_ping}
                    )
                    status = receiver.ping_status if is_ping else (
                        receiver.statuses.pop(0) if receiver.statuses else receiver.status
                    )  # fmt: skip
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/webhooks/woocommerce/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def deliveries(self) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if not r["ping"]]

    @property
    def pings(self) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["ping"]]

    def topics(self) -> list[tuple[str, int | None]]:
        """(topic, payload id) of each delivery, in arrival order."""
        return [(r["headers"]["X-WC-Webhook-Topic"], json.loads(r["body"]).get("id")) for r in self.deliveries]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


def wc(server, key: str = KEY, secret: str = SECRET) -> API:
    return API(url=server.url, consumer_key=key, consumer_secret=secret, timeout=10)


def add_webhook(server, receiver: Receiver, topic: str, secret: str = HOOK_SECRET) -> int:
    response = wc(server).post(
        "webhooks", {"name": f"CrushMe {topic}", "topic": topic, "delivery_url": receiver.url, "secret": secret}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def new_simple(server, **fields) -> int:
    values = {"name": "Sample mug", "regular_price": "9.50", "manage_stock": True, "stock_quantity": 30}
    return server.catalog.add_product(**{**values, **fields})


def new_variable(server) -> tuple[int, int, int]:
    sizes = [
        {
            "regular_price": price,
            "manage_stock": True,
            "stock_quantity": stock,
            "attributes": [{"name": "Size", "option": size}],
        }
        for price, stock, size in (("19.90", 10, "S"), ("21.90", 5, "M"))
    ]
    product_id = server.catalog.add_product(name="Sample tee", type="variable", variations=sizes)
    small, medium = server.catalog.products[product_id]["variations"]
    return product_id, small, medium


def verifies(request: dict, secret: str = HOOK_SECRET) -> bool:
    expected = base64.b64encode(hmac.new(secret.encode(), request["body"], hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, request["headers"]["X-WC-Webhook-Signature"])


# --- signing ------------------------------------------------------------------------------------------


def test_signature_matches_a_captured_delivery():
    sample = json.loads((FIXTURES / "product.updated-price-edit.json").read_text())
    body = base64.b64decode(sample["body_base64"])

    assert signature(body, HOOK_SECRET) == sample["headers"]["X-WC-Webhook-Signature"]
    assert signature(body, HOOK_SECRET + " ") != sample["headers"]["X-WC-Webhook-Signature"]


# --- registration ---------------------------------------------------------------------------------------


def test_post_webhooks_creates_it_active_pings_it_and_never_shows_the_secret(sandbox, receiver):
    response = wc(sandbox).post(
        "webhooks",
        {"name": "Stock", "topic": "product.updated", "delivery_url": receiver.url, "secret": "s3", "status": "paused"},
    )

    assert response.status_code == 201
    webhook = response.json()
    assert webhook["status"] == "active"  # a status sent on create is ignored
    assert "secret" not in webhook
    assert set(webhook) == {
        "id", "name", "status", "topic", "resource", "event", "hooks", "delivery_url",
        "date_created", "date_created_gmt", "date_modified", "date_modified_gmt", "_links",
    }  # fmt: skip
    assert (webhook["topic"], webhook["resource"], webhook["event"]) == ("product.updated", "product", "updated")
    assert response.headers["Location"].endswith(f"/wp-json/wc/v3/webhooks/{webhook['id']}")
    ping = json.loads((FIXTURES / "ping-on-create.json").read_text())
    [request] = receiver.requests  # sent synchronously, before the 201
    assert request["body"] == f"webhook_id={webhook['id']}".encode()
    assert request["headers"]["Content-Type"] == ping["headers"]["Content-Type"]
    assert request["headers"]["User-Agent"] == ping["headers"]["User-Agent"]
    assert not any(name.startswith("X-WC-") for name in request["headers"])
    assert "secret" not in wc(sandbox).get(f"webhooks/{webhook['id']}").json()


def test_webhook_crud_over_rest(sandbox, receiver):
    api = wc(sandbox)
    first = add_webhook(sandbox, receiver, "product.updated")
    second = add_webhook(sandbox, receiver, "order.created")
    api.put(f"webhooks/{second}", {"status": "paused"})

    listing = api.get("webhooks", params={"per_page": 1})
    assert listing.status_code == 200
    assert listing.headers["X-WP-Total"] == "2"
    assert listing.headers["X-WP-TotalPages"] == "2"
    assert [w["id"] for w in api.get("webhooks", params={"status": "paused"}).json()] == [second]
    assert [w["id"] for w in api.get("webhooks", params={"orderby": "id", "order": "asc"}).json()] == [first, second]
    assert api.get("webhooks", params={"status": "gone"}).json()["code"] == "rest_invalid_param"

    updated = api.put(f"webhooks/{first}", {"delivery_url": receiver.url + "?v=2", "name": "Renamed"}).json()
    assert (updated["name"], updated["delivery_url"]) == ("Renamed", receiver.url + "?v=2")
    bad_status = api.put(f"webhooks/{first}", {"status": "sleeping"})
    assert (bad_status.status_code, bad_status.json()["code"]) == (400, "rest_invalid_param")

    not_forced = api.delete(f"webhooks/{first}")
    assert (not_forced.status_code, not_forced.json()["code"]) == (501, "woocommerce_rest_trash_not_supported")
    assert api.delete(f"webhooks/{first}", params={"force": "true"}).json()["id"] == first
    missing = api.get(f"webhooks/{first}")
    assert (missing.status_code, missing.json()["code"]) == (404, "woocommerce_rest_shop_webhook_invalid_id")


BAD_TOPIC = "woocommerce_rest_shop_webhook_invalid_topic"
BAD_URL = "woocommerce_rest_shop_webhook_invalid_delivery_url"
URL = "http://127.0.0.1:9/x"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"topic": "product.exploded", "delivery_url": URL}, BAD_TOPIC),
        ({"topic": ["product.updated"], "delivery_url": URL}, BAD_TOPIC),
        ({"delivery_url": URL}, BAD_TOPIC),
        ({"topic": "product.updated", "delivery_url": "ftp://127.0.0.1/x"}, BAD_URL),
        ({"topic": "product.updated", "delivery_url": "http://127.0.0.1:99999/x"}, BAD_URL),
        ({"topic": "product.updated", "delivery_url": {"u": 1}}, BAD_URL),
        ({"topic": "product.updated", "delivery_url": URL, "secret": 5}, "rest_invalid_param"),
    ],
)
def test_bad_webhook_bodies_get_400_and_create_nothing(sandbox, body, code):
    response = wc(sandbox).post("webhooks", body)

    assert (response.status_code, response.json()["code"]) == (400, code)
    assert sandbox.webhooks.all() == []


def test_a_read_only_key_cannot_register_webhooks(sandbox, receiver):
    sandbox.add_api_key("ck_ro", "cs_ro", permissions="read")

    body = {"topic": "product.updated", "delivery_url": receiver.url}
    response = wc(sandbox, "ck_ro", "cs_ro").post("webhooks", body)

    assert response.status_code == 401
    assert sandbox.webhooks.all() == []
    assert receiver.requests == []


# --- delivery -------------------------------------------------------------------------------------------


def test_a_price_edit_is_delivered_signed_with_the_real_headers(sandbox, receiver):
    product_id = new_simple(sandbox)
    webhook_id = add_webhook(sandbox, receiver, "product.updated")

    assert wc(sandbox).put(f"products/{product_id}", {"regular_price": "10.50"}).status_code == 200
    assert receiver.deliveries == []  # never synchronous
    [record] = sandbox.deliver_webhooks()

    assert (record["webhook_id"], record["topic"], record["resource_id"]) == (webhook_id, "product.updated", product_id)
    assert (record["status_code"], record["error"], record["success"]) == (200, None, True)
    [request] = receiver.deliveries
    headers = request["headers"]
    sample = json.loads((FIXTURES / "product.updated-price-edit.json").read_text())["headers"]
    assert set(sample) == SIGNED_HEADERS
    assert set(headers) >= SIGNED_HEADERS
    assert not {n for n in headers if n.startswith("X-")} - SIGNED_HEADERS
    assert headers["User-Agent"] == sample["User-Agent"] == "WooCommerce/11.0.1 Hookshot (WordPress/7.0.4)"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-WC-Webhook-Source"] == sandbox.url + "/"
    assert (headers["X-WC-Webhook-Topic"], headers["X-WC-Webhook-Resource"], headers["X-WC-Webhook-Event"]) == (
        "product.updated",
        "product",
        "updated",
    )
    assert headers["X-WC-Webhook-ID"] == str(webhook_id)
    assert headers["X-WC-Webhook-Delivery-ID"] == record["delivery_id"]
    assert len(headers["X-WC-Webhook-Delivery-ID"]) == 32
    assert verifies(request)
    assert not verifies(request, "another secret")
    assert b"\\/" in request["body"] and b"http://" not in request["body"]  # slashes escaped as WooCommerce does
    payload = json.loads(request["body"])
    assert payload == wc(sandbox).get(f"products/{product_id}").json()
    assert payload["regular_price"] == "10.50"


def test_rapid_edits_collapse_into_one_delivery_built_at_delivery_time(sandbox, receiver):
    product_id = new_simple(sandbox)
    add_webhook(sandbox, receiver, "product.updated")
    api = wc(sandbox)

    api.put(f"products/{product_id}", {"regular_price": "10.50"})
    api.put(f"products/{product_id}", {"regular_price": "11.50"})
    sandbox.catalog.edit_product(product_id, stock_quantity=12)
    assert sandbox.webhooks.pending_count == 1
    records = sandbox.deliver_webhooks()

    assert len(records) == 1
    [request] = receiver.deliveries
    payload = json.loads(request["body"])
    assert (payload["regular_price"], payload["stock_quantity"]) == ("11.50", 12)
    assert sandbox.deliver_webhooks() == []  # nothing left, nothing re-sent


def test_deliveries_go_out_in_creation_order_per_webhook_and_resource(sandbox, receiver):
    first, second = new_simple(sandbox), new_simple(sandbox, name="Other")
    add_webhook(sandbox, receiver, "product.updated")
    add_webhook(sandbox, receiver, "product.deleted")

    sandbox.catalog.edit_product(second, regular_price="1.00")
    sandbox.catalog.edit_product(first, regular_price="2.00")
    sandbox.catalog.trash_product(second)
    sandbox.catalog.edit_product(second, regular_price="3.50")  # pending already for (updated, second)
    sandbox.deliver_webhooks()

    assert receiver.topics() == [("product.updated", second), ("product.updated", first), ("product.deleted", second)]
    assert json.loads(receiver.deliveries[0]["body"])["regular_price"] == "3.50"
    assert receiver.deliveries[2]["body"] == f'{{"id":{second}}}'.encode()


def test_what_fires_for_each_change(sandbox, receiver):
    """The table of §11: created, edited, trashed, restored (REST and wp-admin), deleted for good."""
    for topic in ("product.created", "product.updated", "product.deleted", "product.restored"):
        add_webhook(sandbox, receiver, topic)
    api = wc(sandbox)

    def run() -> list[tuple[str, int | None]]:
        seen = len(receiver.deliveries)
        sandbox.deliver_webhooks()
        return receiver.topics()[seen:]

    created = api.post("products", {"name": "Fresh", "regular_price": "5.00"}).json()["id"]
    assert run() == [("product.created", created)]
    api.delete(f"products/{created}")
    assert run() == [("product.deleted", created)]
    api.put(f"products/{created}", {"status": "publish"})
    assert run() == [("product.updated", created)]  # restore through REST: no product.restored
    api.delete(f"products/{created}")
    run()
    sandbox.catalog.restore_product(created, "publish")  # untrash in wp-admin
    assert run() == [("product.updated", created), ("product.restored", created)]
    api.delete(f"products/{created}", params={"force": "true"})
    assert run() == []  # a permanent delete sends nothing

    parent, small, medium = new_variable(sandbox)
    assert run() == [("product.created", parent), ("product.created", small), ("product.created", medium)]
    api.put(f"products/{parent}/variations/{small}", {"stock_quantity": 7})
    [delivery] = run()
    assert delivery == ("product.updated", small)  # the variation itself, not its parent
    variation = json.loads(receiver.deliveries[-1]["body"])
    assert (variation["type"], variation["parent_id"], variation["stock_quantity"]) == ("variation", parent, 7)
    sandbox.catalog.trash_product(parent)
    assert run() == [("product.deleted", parent), ("product.deleted", small), ("product.deleted", medium)]
    sandbox.catalog.add_category(name="Mugs")
    assert run() == []  # category edits send nothing


def test_an_edit_then_a_permanent_delete_delivers_the_error_object(sandbox, receiver):
    product_id = new_simple(sandbox)
    add_webhook(sandbox, receiver, "product.updated")
    api = wc(sandbox)

    api.put(f"products/{product_id}", {"regular_price": "12.00"})
    api.delete(f"products/{product_id}", params={"force": "true"})
    sandbox.deliver_webhooks()

    [request] = receiver.deliveries
    assert json.loads(request["body"]) == {
        "code": "woocommerce_rest_product_invalid_id",
        "message": "Invalid ID.",
        "data": {"status": 404},
    }
    assert verifies(request)


def test_a_no_op_write_is_echoed_with_date_modified_bumped_and_meta_data_as_sent(sandbox, receiver):
    product_id = new_simple(sandbox)
    sandbox.catalog.edit_product(product_id, date_modified_gmt="2020-01-01T00:00:00")
    add_webhook(sandbox, receiver, "product.updated")
    marker = [{"key": "_sync_origin", "value": "op-42"}]

    assert wc(sandbox).put(f"products/{product_id}", {}).status_code == 200
    response = wc(sandbox).put(f"products/{product_id}", {"meta_data": marker}).json()
    sandbox.deliver_webhooks()

    [request] = receiver.deliveries
    echo = json.loads(request["body"])
    assert echo["date_modified_gmt"] != "2020-01-01T00:00:00"
    assert echo["date_modified_gmt"] == response["date_modified_gmt"]
    assert [(m["key"], m["value"]) for m in echo["meta_data"]] == [("_sync_origin", "op-42")]


def test_only_active_webhooks_on_the_topic_queue_deliveries(sandbox, receiver):
    product_id = new_simple(sandbox)
    paused = add_webhook(sandbox, receiver, "product.updated")
    add_webhook(sandbox, receiver, "order.created")
    wc(sandbox).put(f"webhooks/{paused}", {"status": "paused"})

    sandbox.catalog.edit_product(product_id, regular_price="3.00")

    assert sandbox.webhooks.pending_count == 0
    assert sandbox.deliver_webhooks() == []


def test_deleting_a_webhook_drops_its_pending_deliveries(sandbox, receiver):
    product_id = new_simple(sandbox)
    webhook_id = add_webhook(sandbox, receiver, "product.updated")
    sandbox.catalog.edit_product(product_id, regular_price="3.00")

    wc(sandbox).delete(f"webhooks/{webhook_id}", params={"force": "true"})

    assert sandbox.deliver_webhooks() == []
    assert receiver.deliveries == []


# --- orders ---------------------------------------------------------------------------------------------


def test_a_paid_order_sells_stock_and_queues_order_then_product_events(sandbox, receiver):
    mug = new_simple(sandbox, sku="SAMPLE-MUG", regular_price="10.50")
    tee, small, medium = new_variable(sandbox)
    sandbox.catalog.edit_product(mug, date_modified_gmt="2020-01-01T00:00:00")
    sandbox.catalog.edit_variation(medium, date_modified_gmt="2020-01-01T00:00:00")
    for topic in ("order.created", "order.updated", "product.updated"):
        add_webhook(sandbox, receiver, topic)

    response = wc(sandbox).post(
        "orders",
        {
            "status": "processing",
            "set_paid": True,
            "line_items": [
                {"product_id": mug, "quantity": 2},
                {"product_id": tee, "variation_id": medium, "quantity": 1},
            ],
        },
    )

    assert response.status_code == 201
    order = response.json()
    assert (order["status"], order["total"], order["date_paid_gmt"] is not None) == ("processing", "42.90", True)
    assert [(i["product_id"], i["variation_id"], i["quantity"]) for i in order["line_items"]] == [
        (mug, 0, 2),
        (tee, medium, 1),
    ]
    api = wc(sandbox)
    mug_now, medium_now = api.get(f"products/{mug}").json(), api.get(f"products/{tee}/variations/{medium}").json()
    assert (mug_now["stock_quantity"], medium_now["stock_quantity"]) == (28, 4)
    assert mug_now["date_modified_gmt"] != "2020-01-01T00:00:00"
    assert medium_now["date_modified_gmt"] != "2020-01-01T00:00:00"
    assert api.get(f"products/{tee}/variations/{small}").json()["stock_quantity"] == 10
    sandbox.deliver_webhooks()
    assert receiver.topics() == [
        ("order.created", order["id"]),
        ("order.updated", order["id"]),
        ("product.updated", mug),
        ("product.updated", medium),
    ]
    assert all(verifies(request) for request in receiver.deliveries)
    created = json.loads(receiver.deliveries[0]["body"])
    assert created == api.get(f"orders/{order['id']}").json()
    assert json.loads(receiver.deliveries[3]["body"])["type"] == "variation"


def test_twenty_parallel_orders_take_exactly_twenty_units(sandbox):
    mug = new_simple(sandbox, stock_quantity=100)
    statuses: list[int] = []

    def buy() -> None:
        api = wc(sandbox)
        response = api.post("orders", {"set_paid": True, "line_items": [{"product_id": mug, "quantity": 1}]})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=buy) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [201] * 20
    assert sandbox.catalog.products[mug]["stock_quantity"] == 80


def test_an_unpaid_pending_order_sells_nothing(sandbox, receiver):
    mug = new_simple(sandbox)
    add_webhook(sandbox, receiver, "order.created")
    add_webhook(sandbox, receiver, "product.updated")

    order = wc(sandbox).post("orders", {"line_items": [{"product_id": mug, "quantity": 3}]}).json()
    sandbox.deliver_webhooks()

    assert order["status"] == "pending"
    assert sandbox.catalog.products[mug]["stock_quantity"] == 30
    assert receiver.topics() == [("order.created", order["id"])]


@pytest.mark.parametrize(
    "line_items",
    [
        None,
        [],
        "mug",
        [{"product_id": 999_999, "quantity": 1}],
        [{"product_id": "MUG", "quantity": 1}],
        [{"product_id": "<mug>", "quantity": "x"}],
        [{"product_id": "<mug>", "quantity": 2.5}],
        [{"product_id": "<mug>", "quantity": 0}],
        [{"product_id": "<mug>", "quantity": True}],
        [{"product_id": "<mug>", "quantity": 1}, {"product_id": "<tee>", "quantity": 1}],  # variable, no variation
        [{"product_id": "<mug>", "quantity": 1}, {"product_id": "<mug>", "variation_id": 424242, "quantity": 1}],
    ],
)
def test_a_bad_order_gets_400_and_sells_nothing(sandbox, receiver, line_items):
    mug = new_simple(sandbox)
    tee, _, _ = new_variable(sandbox)
    add_webhook(sandbox, receiver, "order.created")
    add_webhook(sandbox, receiver, "product.updated")
    if isinstance(line_items, list):
        line_items = [
            {k: {"<mug>": mug, "<tee>": tee}.get(v, v) if isinstance(v, str) else v for k, v in item.items()}
            for item in line_items
        ]
    before = json.dumps(sandbox.catalog.products[mug])

    response = wc(sandbox).post("orders", {"set_paid": True, "line_items": line_items})

    assert response.status_code == 400
    assert response.json()["data"]["status"] == 400
    assert json.dumps(sandbox.catalog.products[mug]) == before
    assert sandbox.webhooks.pending_count == 0
    assert sandbox.catalog.orders.orders == {}


def test_orders_through_python_and_the_control_interface(sandbox, receiver):
    mug = new_simple(sandbox)
    add_webhook(sandbox, receiver, "product.updated")

    order = sandbox.create_order(line_items=[{"product_id": mug, "quantity": 2}])
    with SandboxControl(sandbox.url) as control:
        second = control.create_order([{"product_id": mug, "quantity": 1}])
        with pytest.raises(SandboxControlError) as error:
            control.create_order([{"product_id": mug, "quantity": -1}])
        records = control.deliver_webhooks()

    assert (order["status"], second["status"]) == ("processing", "processing")
    assert error.value.status == 400
    assert sandbox.catalog.products[mug]["stock_quantity"] == 27
    assert [(r["topic"], r["resource_id"], r["status_code"]) for r in records] == [("product.updated", mug, 200)]
    assert json.loads(receiver.deliveries[0]["body"])["stock_quantity"] == 27


# --- failures -------------------------------------------------------------------------------------------


def edit_and_deliver(sandbox, product_id: int) -> dict:
    sandbox.catalog.edit_product(product_id, regular_price="4.50")
    [record] = sandbox.deliver_webhooks()
    return record


def failure_count(sandbox, webhook_id: int) -> int:
    with SandboxControl(sandbox.url) as control:
        [webhook] = [w for w in control.webhooks()["webhooks"] if w["id"] == webhook_id]
    return webhook["failure_count"]


def test_the_seventh_failure_in_a_row_disables_the_webhook_and_reactivation_keeps_the_count(sandbox, receiver):
    mug = new_simple(sandbox)
    webhook_id = add_webhook(sandbox, receiver, "product.updated")
    receiver.status = 500
    api = wc(sandbox)

    for attempt in range(1, 7):
        record = edit_and_deliver(sandbox, mug)
        assert (record["status_code"], record["success"], record["webhook_status"]) == (500, False, "active")
        assert failure_count(sandbox, webhook_id) == attempt
    record = edit_and_deliver(sandbox, mug)

    assert record["webhook_status"] == "disabled"
    assert api.get(f"webhooks/{webhook_id}").json()["status"] == "disabled"
    assert len(receiver.deliveries) == 7  # never retried
    sandbox.catalog.edit_product(mug, regular_price="5.50")
    assert sandbox.webhooks.pending_count == 0  # a disabled webhook queues nothing

    assert api.put(f"webhooks/{webhook_id}", {"status": "active"}).json()["status"] == "active"
    assert failure_count(sandbox, webhook_id) == 6  # kept: one more failure disables it again
    assert edit_and_deliver(sandbox, mug)["webhook_status"] == "disabled"

    api.put(f"webhooks/{webhook_id}", {"status": "active"})
    receiver.status = 200
    assert edit_and_deliver(sandbox, mug)["success"] is True
    assert failure_count(sandbox, webhook_id) == 0


@pytest.mark.parametrize(
    ("status", "success"), [(200, True), (204, True), (301, True), (302, True), (303, False), (404, False)]
)
def test_success_is_200_to_302(sandbox, receiver, status, success):
    mug = new_simple(sandbox)
    webhook_id = add_webhook(sandbox, receiver, "product.updated")
    receiver.statuses = [500, status]

    edit_and_deliver(sandbox, mug)
    record = edit_and_deliver(sandbox, mug)

    assert record["success"] is success
    assert failure_count(sandbox, webhook_id) == (0 if success else 2)


def test_unreachable_and_slow_receivers_count_as_failures(make_sandbox, receiver):
    sandbox = make_sandbox(webhook_timeout=0.3)
    mug = new_simple(sandbox)
    webhook_id = add_webhook(sandbox, receiver, "product.updated")
    receiver.delay = 1.0

    slow = edit_and_deliver(sandbox, mug)
    receiver.delay = 0
    wc(sandbox).put(f"webhooks/{webhook_id}", {"delivery_url": "http://127.0.0.1:9/closed"})
    refused = edit_and_deliver(sandbox, mug)

    assert (slow["status_code"], slow["success"]) == (None, False)
    assert "timed out" in slow["error"]
    assert (refused["status_code"], refused["success"]) == (None, False)
    assert "Connection" in refused["error"] or "refused" in refused["error"]
    assert failure_count(sandbox, webhook_id) == 2


def test_a_ping_not_answered_200_is_sent_again_after_each_delivery(sandbox, receiver):
    mug = new_simple(sandbox)
    receiver.ping_status = 204
    webhook_id = add_webhook(sandbox, receiver, "product.updated")

    edit_and_deliver(sandbox, mug)
    receiver.ping_status = 200
    edit_and_deliver(sandbox, mug)
    edit_and_deliver(sandbox, mug)

    assert [r["body"] for r in receiver.pings] == [f"webhook_id={webhook_id}".encode()] * 3
    assert [r["status_code"] for r in sandbox.webhooks.pings] == [204, 204, 200]


# --- fault injection, the control interface, the background runner ------------------------------------


def test_injected_failures_lose_the_delivery_and_count(sandbox, receiver):
    mug, other = new_simple(sandbox), new_simple(sandbox, name="Other")
    webhook_id = add_webhook(sandbox, receiver, "product.updated")
    sandbox.webhooks.set_faults(fail_rate=1.0)

    lost = edit_and_deliver(sandbox, mug)
    sandbox.webhooks.set_faults(fail_rate=0.5, seed=3)
    for product_id in (mug, other) * 10:
        sandbox.catalog.edit_product(product_id, regular_price="6.50")
        sandbox.deliver_webhooks()

    assert (lost["status_code"], lost["error"], lost["success"]) == (None, "injected failure", False)
    records = sandbox.webhook_deliveries[1:]
    failed = [r for r in records if not r["success"]]
    assert 0 < len(failed) < 20  # seeded: some lost, some delivered
    assert len(receiver.deliveries) == 20 - len(failed)  # a lost delivery never reaches the receiver
    assert all(r["error"] == "injected failure" for r in failed)
    assert sandbox.webhooks.pending_count == 0  # and is not retried
    trailing = len(records) - max((i + 1 for i, r in enumerate(records) if r["success"]), default=0)
    assert failure_count(sandbox, webhook_id) == trailing  # consecutive failures since the last success


def test_a_slow_network_holds_up_the_whole_queue(sandbox, receiver):
    first, second = new_simple(sandbox), new_simple(sandbox, name="Other")
    add_webhook(sandbox, receiver, "product.updated")
    sandbox.webhooks.set_faults(delay_ms=200)
    sandbox.catalog.edit_product(first, regular_price="7.50")
    sandbox.catalog.edit_product(second, regular_price="7.50")

    started = time.monotonic()
    records = sandbox.deliver_webhooks()
    elapsed = time.monotonic() - started

    assert [r["success"] for r in records] == [True, True]
    assert all(r["duration"] >= 0.2 for r in records)
    assert elapsed >= 0.4  # one after another, never in parallel


def test_the_control_interface_runs_inspects_disables_and_faults(sandbox, receiver):
    mug = new_simple(sandbox)
    with SandboxControl(sandbox.url) as control:
        webhook = control.add_webhook(topic="product.updated", delivery_url=receiver.url, secret=HOOK_SECRET)
        control.edit_product(mug, regular_price="8.50")
        state = control.webhooks()
        assert state["pending"] == 1
        assert state["pending_deliveries"] == [{"webhook_id": webhook["id"], "resource_id": mug}]
        [record] = control.deliver_webhooks()
        assert (record["topic"], record["resource_id"], record["status_code"]) == ("product.updated", mug, 200)

        assert control.set_webhook_faults(fail_rate=1, delay_ms=10)["faults"] == {
            "fail_rate": 1.0,
            "delay_ms": 10.0,
            "seed": 1,
        }
        control.sell(mug, 1)
        [lost] = control.deliver_webhooks()
        assert control.clear_webhook_faults() == {"faults": None}
        listed = control.webhooks()
        assert [(w["id"], w["failure_count"], w["status"]) for w in listed["webhooks"]] == [
            (webhook["id"], 1, "active")
        ]
        assert len(listed["deliveries"]) == 2
        assert [p["status_code"] for p in listed["pings"]] == [200]

        assert control.disable_webhook(webhook["id"])["status"] == "disabled"
        assert control.edit_webhook(webhook["id"], status="active", failure_count=6)["failure_count"] == 6
        for bad in ({"fail_rate": 2}, {"fail_rate": "x"}, {"delay_ms": -1}, {"retries": 3}):
            with pytest.raises(SandboxControlError) as error:
                control._call("POST", "webhooks/faults", bad)
            assert error.value.status == 400
        with pytest.raises(SandboxControlError) as missing:
            control.disable_webhook(999)
        assert missing.value.status == 404
        with pytest.raises(SandboxControlError) as bad_topic:
            control.add_webhook(topic="product.exploded", delivery_url=receiver.url, secret="s")
        assert bad_topic.value.status == 400

    assert lost["error"] == "injected failure"
    [delivered] = receiver.deliveries  # the injected failure never reached the receiver
    assert verifies(delivered)


def test_the_background_runner_delivers_without_being_asked(make_sandbox, receiver):
    sandbox = make_sandbox(webhook_delivery_interval=0.1)
    mug = new_simple(sandbox)
    add_webhook(sandbox, receiver, "product.updated")

    wc(sandbox).put(f"products/{mug}", {"regular_price": "9.75"})
    deadline = time.monotonic() + 5
    while not receiver.deliveries and time.monotonic() < deadline:
        time.sleep(0.05)

    [request] = receiver.deliveries
    assert json.loads(request["body"])["regular_price"] == "9.75"
    sandbox.stop()
    assert sandbox.webhooks._thread is None  # stopped with the server


# --- the command ------------------------------------------------------------------------------------------


def test_command_help_documents_the_webhook_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command("woocommerce_sandbox", "--help")

    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "--webhook-interval" in out and "--webhook-timeout" in out


@pytest.mark.parametrize("option", [("--webhook-interval", "-1"), ("--webhook-timeout", "0")])
def test_command_refuses_bad_webhook_options(option):
    with pytest.raises(CommandError, match="--webhook-interval must be within"):
        call_command("woocommerce_sandbox", "--products", "1", *option)


def test_the_command_delivers_webhooks_from_its_background_queue(receiver):
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "crushme_project.settings.test", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(manage), "woocommerce_sandbox", "--port", "0", "--products", "5", "--seed", "2"]
    command += ["--consumer-key", "ck_cmd", "--consumer-secret", "cs_cmd", "--webhook-interval", "0.2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("WooCommerce sandbox:"):
                url = line.split()[-1]
        assert url is not None
        api = API(url=url, consumer_key="ck_cmd", consumer_secret="cs_cmd", timeout=5)
        body = {"topic": "product.updated", "delivery_url": receiver.url, "secret": HOOK_SECRET}
        assert api.post("webhooks", body).status_code == 201
        product_id = api.get("products", params={"per_page": 1}).json()[0]["id"]
        assert api.put(f"products/{product_id}", {"regular_price": "12.50"}).status_code == 200
        deadline = time.monotonic() + 10
        while not receiver.deliveries and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)

    [request] = receiver.deliveries
    assert verifies(request)
    assert json.loads(request["body"])["regular_price"] == "12.50"
    assert process.returncode == 0


# --- writes as a real store takes them (issue 11) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "price", "stock"),
    [
        ({"regular_price": "abc"}, 200, "", 30),  # a price is a string: wc_format_decimal clears it
        ({"stock_quantity": "x"}, 400, "9.50", 30),
        ({"stock_quantity": 2.5}, 400, "9.50", 30),
        ({"stock_quantity": "-5"}, 200, "9.50", -5),
        ({"stock_quantity": {"n": 1}}, 400, "9.50", 30),
        ({"regular_price": ["9"]}, 400, "9.50", 30),
    ],
)
def test_a_single_put_validates_stock_and_clears_a_bad_price(sandbox, body, status, price, stock):
    mug = new_simple(sandbox)

    response = wc(sandbox).put(f"products/{mug}", body)

    assert response.status_code == status
    if status == 400:
        assert response.json()["code"] == "rest_invalid_param"
    product = sandbox.catalog.products[mug]
    assert (product["regular_price"], product["stock_quantity"]) == (price, stock)


def test_a_batch_coerces_bad_values_silently(sandbox):
    mug, other, third = new_simple(sandbox), new_simple(sandbox, name="Other"), new_simple(sandbox, name="Third")
    parent, small, medium = new_variable(sandbox)
    api = wc(sandbox)

    products = api.post(
        "products/batch",
        {
            "update": [
                {"id": mug, "regular_price": "abc"},
                {"id": other, "stock_quantity": "x"},
                {"id": third, "stock_quantity": 2.5},
                {"id": 999_999, "stock_quantity": 1},
            ]
        },
    )
    variations = api.post(
        f"products/{parent}/variations/batch",
        {"update": [{"id": small, "stock_quantity": "x"}, {"id": medium, "regular_price": "abc"}, {"id": mug}]},
    )

    assert products.status_code == 200
    assert [(i.get("regular_price"), i.get("stock_quantity")) for i in products.json()["update"][:3]] == [
        ("", 30),
        ("9.50", 0),
        ("9.50", 2),
    ]
    assert products.json()["update"][3]["error"]["code"] == "woocommerce_rest_product_invalid_id"
    assert variations.status_code == 200
    small_now, medium_now, error = variations.json()["update"]
    assert (small_now["stock_quantity"], medium_now["regular_price"]) == (0, "")
    assert (error["id"], error["error"]["code"], error["error"]["data"]["status"]) == (
        mug,
        "woocommerce_rest_product_variation_invalid_id",
        404,
    )
    too_many = api.post(f"products/{parent}/variations/batch", {"update": [{"id": small}] * 101})
    assert (too_many.status_code, too_many.json()["code"]) == (413, "woocommerce_rest_request_entity_too_large")


def test_every_write_bumps_date_modified_and_ignores_one_in_the_body(sandbox):
    mug = new_simple(sandbox)
    sandbox.catalog.edit_product(mug, date_modified_gmt="2020-01-01T00:00:00")

    response = wc(sandbox).put(f"products/{mug}", {"date_modified_gmt": "2019-05-05T05:05:05"})

    assert response.status_code == 200
    assert response.json()["date_modified_gmt"] not in ("2020-01-01T00:00:00", "2019-05-05T05:05:05")


def test_meta_data_is_merged_and_shown_as_sent(sandbox, receiver):
    mug = new_simple(sandbox, meta_data=[{"id": 7, "key": "_supplier_code", "value": "SUP-1"}])
    add_webhook(sandbox, receiver, "product.updated")
    api = wc(sandbox)

    first = api.put(f"products/{mug}", {"meta_data": [{"key": "_sync_origin", "value": "op-1"}]}).json()
    second = api.put(f"products/{mug}", {"meta_data": [{"key": "_sync_origin", "value": "op-2"}, "junk"]}).json()
    sandbox.deliver_webhooks()

    assert [(m["key"], m["value"]) for m in first["meta_data"]] == [
        ("_supplier_code", "SUP-1"),
        ("_sync_origin", "op-1"),
    ]
    assert second["meta_data"] == [
        {"id": 7, "key": "_supplier_code", "value": "SUP-1"},
        {"id": first["meta_data"][1]["id"], "key": "_sync_origin", "value": "op-2"},
    ]
    echo = json.loads(receiver.deliveries[0]["body"])
    assert echo["meta_data"] == second["meta_data"]
    assert echo["date_modified_gmt"] == second["date_modified_gmt"]


def test_write_latency_and_the_writes_in_flight_are_counted(sandbox):
    products = [new_simple(sandbox, name=f"Mug {n}") for n in range(5)]
    with SandboxControl(sandbox.url) as control:
        control.set_write_latency(800)
        control.reset_stats()
        barrier = threading.Barrier(5)

        def write(product_id: int) -> None:
            api = wc(sandbox)
            barrier.wait()
            assert api.put(f"products/{product_id}", {"regular_price": "1.50"}).status_code == 200

        threads = [threading.Thread(target=write, args=(product_id,)) for product_id in products]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        wc(sandbox).get("products", params={"per_page": 1})  # reads are not writes
        stats = control.stats()  # each request left the count before its answer went out
        with pytest.raises(SandboxControlError):
            control.set_write_latency(-1)

    assert (stats["writes"], stats["writes_in_flight"], stats["max_writes_in_flight"]) == (5, 0, 5)
    assert (stats["requests_in_flight"], stats["max_requests_in_flight"]) == (0, 5)  # the read came alone
    assert elapsed >= 0.8  # max_writes_in_flight == 5: the latency is outside the catalog's lock
    assert all(sandbox.catalog.products[p]["regular_price"] == "1.50" for p in products)


def test_a_variation_created_through_rest_is_delivered_as_itself(sandbox, receiver):
    parent, _, _ = new_variable(sandbox)
    add_webhook(sandbox, receiver, "product.created")
    body = {"regular_price": "23.90", "attributes": [{"name": "Size", "option": "L"}]}

    response = wc(sandbox).post(f"products/{parent}/variations", body)
    missing = wc(sandbox).post("products/999999/variations", body)
    sandbox.deliver_webhooks()

    assert response.status_code == 201
    assert missing.status_code == 404
    created = json.loads(receiver.deliveries[0]["body"])
    assert receiver.topics() == [("product.created", response.json()["id"])]
    assert (created["type"], created["parent_id"], created["regular_price"]) == ("variation", parent, "23.90")


def test_a_bad_delivery_interval_is_refused_before_anything_starts(make_sandbox):
    with pytest.raises(ValueError, match="webhook_delivery_interval"):
        make_sandbox(webhook_delivery_interval=0)
