"""Acceptance 1 of issue 11 end to end over real HTTP: a staff PATCH on the live server, the processor running
on a thread, the sandbox store written through the real client, its echo webhook delivered back to the live
server. The edit shows in the store and the API within 2 s; the echo is no conflict and no second push."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from sync.models import SyncOperation
from tests.sync.test_queue_end_to_end import _simple_product, _until, running_processor, store  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="end to end runs on PostgreSQL"),
]

DEADLINE_SECONDS = 2.0


@pytest.fixture
def staff_token(django_user_model) -> str:
    return Token.objects.create(user=django_user_model.objects.create_user("clerk", is_staff=True)).key


def _patch(live_server, path: str, body: dict, token: str) -> requests.Response:
    return requests.patch(
        f"{live_server.url}{path}", json=body, headers={"Authorization": f"Token {token}"}, timeout=10
    )


def test_a_staff_price_edit_reaches_the_store_and_the_api_within_2_s_and_its_echo_is_not_pushed_again(
    store,  # noqa: F811
    live_server,
    running_processor,  # noqa: F811
    staff_token,
):
    pid = _simple_product(store)
    url = f"/api/products/{pid}/"
    before = requests.get(f"{live_server.url}{url}", timeout=10)
    regular = Decimal(before.json()["regular_price"] or "10") + Decimal("3.25")
    new_price = f"{regular:.2f}"
    store.reset_stats()

    started = time.monotonic()
    accepted = _patch(live_server, url, {"regular_price": new_price}, staff_token)
    assert accepted.status_code == 202, accepted.text
    shown_at = _until(lambda: requests.get(f"{live_server.url}{url}", timeout=10).json()["regular_price"] == new_price)

    assert shown_at - started <= DEADLINE_SECONDS, f"the API showed the edit {shown_at - started:.2f} s after the PATCH"
    assert store.catalog.products[pid]["regular_price"] == new_price
    operation_url = accepted.headers["Location"]
    assert operation_url.endswith(f"/api/sync/operations/{accepted.json()['id']}/")
    status = requests.get(operation_url, headers={"Authorization": f"Token {staff_token}"}, timeout=10).json()
    assert status["state"] == "done", status
    assert status["resolution"]["pushed"] == {"regular_price": new_price}

    # The store's echo (product.updated carrying our marker) comes back through the receiver: applied as
    # an echo, no conflict, and nothing is written to the store a second time.
    echo = SyncOperation.objects.filter(origin="webhook", object_id=pid, created_at__gt=status["created_at"])
    _until(lambda: echo.filter(state="done").exists(), timeout=10)
    time.sleep(0.5)  # room for a wrong second push to happen
    assert [op.resolution.get("result") for op in echo] == ["echo"]
    assert store.stats["writes"] == 1
    assert SyncOperation.objects.filter(state__in=["pending", "processing", "failed", "dead"]).count() == 0
    assert requests.get(f"{live_server.url}{url}", timeout=10).json()["regular_price"] == new_price


def test_a_value_the_store_would_coerce_gets_400_and_is_never_sent(
    store,  # noqa: F811
    live_server,
    running_processor,  # noqa: F811
    staff_token,
):
    pid = _simple_product(store)
    before = dict(store.catalog.products[pid])
    store.reset_stats()

    responses = [
        _patch(live_server, f"/api/products/{pid}/", body, staff_token)
        for body in ({"regular_price": "abc"}, {"stock_quantity": "x"})
    ]
    anonymous = requests.patch(f"{live_server.url}/api/products/{pid}/", json={"regular_price": "1.00"}, timeout=10)
    time.sleep(0.5)  # a running processor would have pushed anything queued by now

    assert [r.status_code for r in responses] == [400, 400]
    assert anonymous.status_code == 403
    assert SyncOperation.objects.filter(origin="local_edit").count() == 0
    assert store.stats["writes"] == 0
    assert store.catalog.products[pid]["regular_price"] == before["regular_price"]
    assert store.catalog.products[pid]["stock_quantity"] == before["stock_quantity"]
