"""Acceptance: after a real sync changes a product's stock, the next API answer shows it although the
old one was cached, and a repeated request with the new ETag gets 304."""

from __future__ import annotations

import pytest

from tests.sync.helpers import run_sync

pytestmark = pytest.mark.django_db(transaction=True)


def test_stock_sync_invalidates_the_cached_answers(client, make_sandbox):
    server = make_sandbox(products=30, variable_share=0.0, seed=7)
    assert run_sync("--full").code == 0
    catalog = server.catalog
    product_id = next(
        pid
        for pid, p in catalog.products.items()
        if p["manage_stock"]
        and p["status"] == "publish"
        and p["catalog_visibility"] == "visible"
        and (p["stock_quantity"] or 0) > 3
    )
    detail_url = f"/api/products/{product_id}/"
    list_url = f"/api/products/?sku={catalog.products[product_id]['sku']}"
    before = client.get(detail_url)
    listed_before = client.get(list_url).json()["results"][0]["stock_quantity"]
    old_quantity = before.json()["stock_quantity"]

    catalog.sell(product_id, 2)
    assert client.get(detail_url).json()["stock_quantity"] == old_quantity  # still the cached answer
    assert run_sync("--stock").code == 0

    after = client.get(detail_url)
    listed_after = client.get(list_url).json()["results"][0]["stock_quantity"]
    repeated = client.get(detail_url, HTTP_IF_NONE_MATCH=after["ETag"])
    stale_etag = client.get(detail_url, HTTP_IF_NONE_MATCH=before["ETag"])

    assert listed_before == old_quantity
    assert after.json()["stock_quantity"] == old_quantity - 2
    assert listed_after == old_quantity - 2
    assert after["ETag"] != before["ETag"]
    assert (repeated.status_code, repeated.content) == (304, b"")
    assert stale_etag.status_code == 200
