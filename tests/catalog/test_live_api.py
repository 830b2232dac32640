"""The product detail's WooCommerce reads through the API: ?real_time_stock=true and on-demand products."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from catalog.models import Product
from tests.sync.helpers import run_sync

pytestmark = pytest.mark.django_db


def published(catalog, *, type_: str | None = None) -> dict:
    return next(
        p
        for p in catalog.products.values()
        if p["status"] == "publish"
        and (type_ is None or p["type"] == type_)
        and p["catalog_visibility"] == "visible"
        and p["manage_stock"]
    )


def test_real_time_stock_against_a_healthy_store_returns_and_stores_the_live_value(client, make_sandbox):
    server = make_sandbox(products=40, variable_share=0.0, seed=211)
    assert run_sync("--full").code == 0
    product = published(server.catalog, type_="simple")
    server.catalog.sell(product["id"], 1)
    live_quantity = Decimal(server.catalog.products[product["id"]]["stock_quantity"])

    response = client.get(f"/api/products/{product['id']}/", {"real_time_stock": "true"})

    assert response.status_code == 200
    body = response.json()
    assert body["stock_source"]["source"] == "live"
    assert body["stock_source"]["reason"] == ""
    assert Decimal(str(body["stock_quantity"])) == live_quantity
    assert Product.objects.get(id=product["id"]).stock_quantity == live_quantity
    assert response["Cache-Control"] == "private, no-store"


def test_real_time_stock_against_a_store_with_5s_latency_answers_local_within_the_budget(
    client, make_sandbox, settings
):
    settings.LIVE_STOCK_TIMEOUT_SECONDS = 1.0
    server = make_sandbox(products=40, variable_share=0.0, seed=223)
    assert run_sync("--full").code == 0
    product = published(server.catalog, type_="simple")
    local_quantity = Product.objects.get(id=product["id"]).stock_quantity
    server.catalog.sell(product["id"], 1)
    server.latency_ms = 5000

    started = time.monotonic()
    response = client.get(f"/api/products/{product['id']}/", {"real_time_stock": "true"})
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed < 1.0 + 1.0  # the store would take 5 s; the margin absorbs a loaded CI machine
    body = response.json()
    assert body["stock_source"]["source"] == "local"
    assert body["stock_source"]["reason"] == "timeout"
    assert Decimal(str(body["stock_quantity"])) == local_quantity


def test_an_unknown_product_is_fetched_from_woocommerce_stored_and_returned(client, make_sandbox):
    server = make_sandbox(products=30, variable_share=0.5, seed=227)
    product = next(
        p
        for p in server.catalog.products.values()
        if p["status"] == "publish" and p["type"] == "variable" and p["catalog_visibility"] == "visible"
    )
    assert not Product.objects.exists()

    response = client.get(f"/api/products/{product['id']}/")

    assert response.status_code == 200
    assert response.json()["name"] == product["name"]
    assert sorted(response.json()["variations"]) == sorted(product["variations"])
    assert Product.objects.filter(id=product["id"]).exists()

    server.reset_stats()
    assert client.get(f"/api/products/{product['id']}/").status_code == 200
    assert server.stats["requests"] == 0  # now mirrored


def test_an_unknown_draft_is_stored_but_not_published(client, make_sandbox):
    server = make_sandbox(products=60, seed=229)
    draft = next(p for p in server.catalog.products.values() if p["status"] == "draft")

    assert client.get(f"/api/products/{draft['id']}/").status_code == 404
    assert Product.objects.get(id=draft["id"]).status == "draft"
    server.reset_stats()
    assert client.get(f"/api/products/{draft['id']}/").status_code == 404
    assert server.stats["requests"] == 0


def test_an_id_woocommerce_does_not_know_is_404_and_remembered(client, make_sandbox):
    server = make_sandbox(products=10, seed=233)

    assert client.get("/api/products/424242/").status_code == 404
    assert client.get("/api/products/424242/").status_code == 404
    assert client.get("/api/products/424242/", {"real_time_stock": "true"}).status_code == 404

    assert server.stats["requests"] == 1


def test_an_unknown_product_with_woocommerce_down_is_503_not_404(client, make_sandbox, settings):
    settings.ON_DEMAND_TIMEOUT_SECONDS = 0.3
    server = make_sandbox(products=10, seed=239)
    product = published(server.catalog)
    server.set_faults(rate=1.0, kinds=("502",))

    response = client.get(f"/api/products/{product['id']}/")

    assert response.status_code == 503
    assert response.json()["code"] == "rest_product_unavailable"
    server.clear_faults()
    assert client.get(f"/api/products/{product['id']}/").status_code == 200  # a failure is not remembered
