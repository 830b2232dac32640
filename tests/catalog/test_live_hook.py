"""The catalog's live hook: wired by the sync app at start-up, and the mirror alone without it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from catalog import services
from catalog.models import Product
from sync.services.live import WooCommerceLiveSource
from tests.sync.helpers import run_sync

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_live_source() -> Iterator[None]:
    wired = services._live_source
    services.live_source_register(None)
    yield
    services.live_source_register(wired)


def test_the_sync_app_wires_the_woocommerce_live_source_at_start_up():
    assert isinstance(services._live_source, WooCommerceLiveSource)


def test_without_a_live_source_an_unknown_product_is_404_and_woocommerce_is_not_asked(
    client, make_sandbox, no_live_source
):
    server = make_sandbox(products=10, seed=241)
    product = next(p for p in server.catalog.products.values() if p["status"] == "publish")

    response = client.get(f"/api/products/{product['id']}/")

    assert response.status_code == 404
    assert server.stats["requests"] == 0
    assert not Product.objects.exists()


def test_without_a_live_source_real_time_stock_answers_local_and_says_why(client, make_sandbox, no_live_source):
    server = make_sandbox(products=20, variable_share=0.0, seed=251)
    assert run_sync("--full").code == 0
    product = Product.objects.filter(status="publish", catalog_visibility="visible").first()
    server.reset_stats()

    response = client.get(f"/api/products/{product.id}/", {"real_time_stock": "true"})

    assert response.status_code == 200
    assert response.json()["stock_source"]["source"] == "local"
    assert response.json()["stock_source"]["reason"] == "no live source"
    assert server.stats["requests"] == 0
