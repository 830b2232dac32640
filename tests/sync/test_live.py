"""Live stock and on-demand products: WooCommerce reads inside an API request, bounded in time."""

import time
from decimal import Decimal

import pytest

from catalog.models import Product, ProductVariation
from sync.services.live import WooCommerceUnreachable, product_fetch_on_demand, product_stock_live_fetch
from tests.catalog.fixtures import isolated_cache  # noqa: F401
from tests.sync.helpers import run_sync


@pytest.fixture(autouse=True)
def _own_cache(isolated_cache):  # noqa: F811 - breaker and live-stock keys must not leak between tests
    return None


def variable_product_with_managed_variation(catalog) -> tuple[int, int]:
    for vid, variation in catalog.variations.items():
        parent = catalog.products[variation["parent_id"]]
        if (
            parent["status"] == "publish"
            and variation["manage_stock"] is True
            and (variation["stock_quantity"] or 0) > 2
        ):
            return parent["id"], vid
    raise AssertionError("no variable product with a managed variation in this catalog")


def mirrored_simple_store(make_sandbox, *, seed: int):
    """A 20-product store without variations, mirrored by --full; returns it and a published product id."""
    server = make_sandbox(products=20, variable_share=0.0, seed=seed)
    assert run_sync("--full").code == 0
    return server, next(pid for pid, p in server.catalog.products.items() if p["status"] == "publish")


@pytest.mark.django_db
def test_live_stock_is_fetched_stored_and_reused_within_its_cache_time(make_sandbox):
    server = make_sandbox(products=60, variable_share=0.5, seed=101)
    assert run_sync("--full").code == 0
    product_id, variation_id = variable_product_with_managed_variation(server.catalog)
    server.catalog.sell(variation_id, 2)
    server.reset_stats()

    first = product_stock_live_fetch(product_id=product_id, variable=True)

    assert first.source == "live"
    assert first.fetched_at is not None
    assert ProductVariation.objects.get(id=variation_id).stock_quantity == Decimal(
        server.catalog.variations[variation_id]["stock_quantity"]
    )
    assert server.stats["requests"] == 2  # the product and its variations, asked at the same time

    server.catalog.sell(variation_id, 1)
    second = product_stock_live_fetch(product_id=product_id, variable=True)

    assert second.source == "live"
    assert second.fetched_at == first.fetched_at
    assert server.stats["requests"] == 2  # served from the short cache: WooCommerce is not asked again


@pytest.mark.django_db
def test_live_stock_against_a_slow_store_answers_local_within_the_budget(make_sandbox, settings):
    settings.LIVE_STOCK_TIMEOUT_SECONDS = 0.5
    server, product_id = mirrored_simple_store(make_sandbox, seed=103)
    before = Product.objects.get(id=product_id).stock_quantity
    server.latency_ms = 5000

    started = time.monotonic()
    result = product_stock_live_fetch(product_id=product_id, variable=False)
    elapsed = time.monotonic() - started

    assert result.source == "local"
    assert result.reason == "timeout"
    assert elapsed < 0.5 + 1.0  # the store would take 5 s; the margin absorbs a loaded CI machine
    assert Product.objects.get(id=product_id).stock_quantity == before


@pytest.mark.django_db
def test_repeated_failures_open_the_circuit_and_stop_calling_woocommerce(make_sandbox, settings):
    settings.LIVE_WOOCOMMERCE_CIRCUIT_FAILURES = 3
    server, product_id = mirrored_simple_store(make_sandbox, seed=107)
    server.set_faults(rate=1.0, kinds=("500",))
    server.reset_stats()

    reasons = [product_stock_live_fetch(product_id=product_id, variable=False).reason for _ in range(5)]

    assert reasons == ["error", "error", "error", "circuit open", "circuit open"]
    assert server.stats["requests"] == 3
    with pytest.raises(WooCommerceUnreachable):
        product_fetch_on_demand(product_id=product_id)
    assert server.stats["requests"] == 3


@pytest.mark.django_db
def test_the_circuit_closes_again_after_its_open_window(make_sandbox, settings):
    settings.LIVE_WOOCOMMERCE_CIRCUIT_FAILURES = 2
    settings.LIVE_WOOCOMMERCE_CIRCUIT_OPEN_SECONDS = 1
    server, product_id = mirrored_simple_store(make_sandbox, seed=108)
    server.set_faults(rate=1.0, kinds=("500",))
    reasons = [product_stock_live_fetch(product_id=product_id, variable=False).reason for _ in range(3)]
    assert reasons == ["error", "error", "circuit open"]
    server.clear_faults()
    server.reset_stats()

    time.sleep(1.2)
    result = product_stock_live_fetch(product_id=product_id, variable=False)

    assert result.source == "live"
    assert server.stats["requests"] == 1


@pytest.mark.django_db
def test_an_unknown_product_is_fetched_on_demand_with_its_variations(make_sandbox):
    server = make_sandbox(products=40, variable_share=0.5, seed=109)
    product_id = next(
        pid for pid, p in server.catalog.products.items() if p["type"] == "variable" and p["status"] == "publish"
    )

    stored = product_fetch_on_demand(product_id=product_id)

    assert stored == product_id
    product = Product.objects.get(id=product_id)
    assert product.name == server.catalog.products[product_id]["name"]
    assert set(product.variations.values_list("id", flat=True)) == set(
        server.catalog.products[product_id]["variations"]
    )


@pytest.mark.django_db
def test_an_unknown_product_is_found_by_slug(make_sandbox):
    server = make_sandbox(products=40, variable_share=0.0, seed=113)
    product = next(p for p in server.catalog.products.values() if p["status"] == "publish" and p["slug"])

    assert product_fetch_on_demand(slug=product["slug"]) == product["id"]
    assert Product.objects.filter(id=product["id"]).exists()


@pytest.mark.django_db
def test_a_woocommerce_404_is_remembered_so_bad_ids_cannot_hammer_the_store(make_sandbox):
    server = make_sandbox(products=10, seed=127)
    server.reset_stats()

    assert product_fetch_on_demand(product_id=999_999) is None
    assert product_fetch_on_demand(product_id=999_999) is None
    assert product_fetch_on_demand(slug="no-such-product") is None
    assert product_fetch_on_demand(slug="no-such-product") is None

    assert server.stats["requests"] == 2
    assert not Product.objects.exists()


@pytest.mark.django_db
def test_a_remembered_404_is_forgotten_after_its_time(make_sandbox, settings):
    settings.ON_DEMAND_NOT_FOUND_CACHE_SECONDS = 1
    server = make_sandbox(products=10, seed=128)
    assert product_fetch_on_demand(slug="arrives-later") is None
    server.catalog.add_product(name="Arrives later", slug="arrives-later", status="publish")
    assert product_fetch_on_demand(slug="arrives-later") is None  # still remembered: WooCommerce not asked

    time.sleep(1.2)
    found = product_fetch_on_demand(slug="arrives-later")

    assert found is not None
    assert Product.objects.get(id=found).slug == "arrives-later"


@pytest.mark.django_db
def test_a_variation_id_is_not_a_product(make_sandbox):
    server = make_sandbox(products=20, variable_share=0.5, seed=131)
    variation_id = next(iter(server.catalog.variations))

    assert product_fetch_on_demand(product_id=variation_id) is None
    assert not Product.objects.filter(id=variation_id).exists()


@pytest.mark.django_db
def test_an_unreachable_store_is_an_error_and_is_not_remembered(make_sandbox, settings):
    settings.ON_DEMAND_TIMEOUT_SECONDS = 0.3
    server = make_sandbox(products=10, seed=137)
    product_id = next(pid for pid, p in server.catalog.products.items() if p["status"] == "publish")
    server.latency_ms = 2000

    with pytest.raises(WooCommerceUnreachable):
        product_fetch_on_demand(product_id=product_id)

    server.latency_ms = 0
    assert product_fetch_on_demand(product_id=product_id) == product_id
