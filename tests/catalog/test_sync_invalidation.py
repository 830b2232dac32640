"""Invalidation by what changed, and the staleness rule (docs/performance.md, "Invalidation").

A change of some products orphans at once their details and the list answers whose query filters or
sorts on a changed column; every other list answer shows it within CATALOG_MAX_STALENESS_SECONDS.
The rule is pinned on a real Redis of the test's own (entries' TTLs are read from it).
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import redis
from django.core.cache import cache

from catalog.cache import ALL_GROUPS_SCOPE, catalog_counters_get, catalog_products_changed, group_key, product_key
from catalog.models import Product
from tests.catalog.fixtures import CountingProxy, redis_caches
from tests.factories import CategoryFactory, ProductFactory
from tests.sync.helpers import run_sync

BOUND = 3  # CATALOG_MAX_STALENESS_SECONDS in these tests (seconds)


@pytest.fixture
def bound(settings):
    settings.CATALOG_MAX_STALENESS_SECONDS = BOUND
    return BOUND


@pytest.fixture
def real_redis(settings, private_redis):
    settings.CACHES = redis_caches(private_redis.url)
    client = redis.Redis(host="127.0.0.1", port=private_redis.port)
    yield client
    client.close()


def _ttls(client: redis.Redis, name: str) -> list[int]:
    return [client.ttl(key) for key in client.scan_iter(match=f"*catalog:v*:{name}:*")]


def _stock(client, url: str, product_id: int) -> int | None:
    found = [p["stock_quantity"] for p in client.get(url).json()["results"] if p["id"] == product_id]
    return found[0] if found else None


@pytest.mark.django_db(transaction=True)
def test_stock_sync_invalidates_the_detail_at_once_and_the_list_within_the_bound(client, make_sandbox, bound):
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
    listed_at = time.monotonic()
    old_quantity = before.json()["stock_quantity"]

    catalog.sell(product_id, 2)
    assert client.get(detail_url).json()["stock_quantity"] == old_quantity  # still the cached answer
    assert run_sync("--stock").code == 0

    after = client.get(detail_url)
    repeated = client.get(detail_url, HTTP_IF_NONE_MATCH=after["ETag"])
    stale_etag = client.get(detail_url, HTTP_IF_NONE_MATCH=before["ETag"])
    time.sleep(max(0.0, listed_at + bound + 0.2 - time.monotonic()))
    listed_after = client.get(list_url).json()["results"][0]["stock_quantity"]

    assert listed_before == old_quantity
    assert after.json()["stock_quantity"] == old_quantity - 2  # the detail at once
    assert listed_after == old_quantity - 2  # the list within the bound
    assert after["ETag"] != before["ETag"]
    assert (repeated.status_code, repeated.content) == (304, b"")
    assert stale_etag.status_code == 200


@pytest.mark.django_db
def test_a_stock_change_orphans_the_detail_and_stock_filtered_lists_at_once_and_caps_the_others(
    client, real_redis, bound
):
    changed = ProductFactory(manage_stock=True, stock_quantity=Decimal("5"), price=Decimal("10"))
    other = ProductFactory(manage_stock=True, stock_quantity=Decimal("7"), price=Decimal("20"))
    plain, in_stock, by_price = "/api/products/", "/api/products/?stock_status=instock", "/api/products/?orderby=price"
    for url in (plain, in_stock, by_price, f"/api/products/{changed.id}/", f"/api/products/{other.id}/"):
        assert client.get(url).status_code == 200
    other_etag = client.get(f"/api/products/{other.id}/")["ETag"]

    # What the queue processor does for a sale that empties the stock: write the row, then say so.
    Product.objects.filter(id=changed.id).update(stock_quantity=Decimal("0"), stock_status="outofstock")
    catalog_products_changed(product_ids=[changed.id], fields=["stock_quantity", "stock_status"])

    detail = client.get(f"/api/products/{changed.id}/").json()
    in_stock_ids = [p["id"] for p in client.get(in_stock).json()["results"]]
    plain_stock, by_price_stock = _stock(client, plain, changed.id), _stock(client, by_price, changed.id)
    other_detail = client.get(f"/api/products/{other.id}/", HTTP_IF_NONE_MATCH=other_etag)

    assert (detail["stock_quantity"], detail["stock_status"]) == (0, "outofstock")  # at once
    assert in_stock_ids == [other.id]  # filters on stock: orphaned at once
    assert (plain_stock, by_price_stock) == (5, 5)  # neither filters nor sorts on stock: cached ...
    assert all(0 < ttl <= bound for ttl in _ttls(real_redis, "products"))  # ... at most the bound
    assert all(ttl > bound for ttl in _ttls(real_redis, "product"))  # details live their TTL: orphaned instead
    assert other_detail.status_code == 304  # another product's answer and ETag are untouched

    time.sleep(bound + 0.2)
    assert (_stock(client, plain, changed.id), _stock(client, by_price, changed.id)) == (0, 0)


@pytest.mark.django_db
def test_a_price_change_orphans_the_lists_sorted_or_filtered_by_price_at_once(client, real_redis, bound):
    cheap = ProductFactory(price=Decimal("10"))
    dear = ProductFactory(price=Decimal("20"))
    by_price, under_15 = "/api/products/?orderby=price&order=asc", "/api/products/?max_price=15"
    plain = "/api/products/"
    for url in (by_price, under_15, plain):
        client.get(url)

    Product.objects.filter(id=cheap.id).update(price=Decimal("30"))
    catalog_products_changed(product_ids=[cheap.id], fields=["price"])

    assert [p["id"] for p in client.get(by_price).json()["results"]] == [dear.id, cheap.id]
    assert client.get(under_15).json()["results"] == []
    assert {p["id"]: p["price"] for p in client.get(plain).json()["results"]}[cheap.id] == "10.00"  # within the bound


@pytest.mark.django_db
def test_a_change_bumps_the_counters_of_what_it_touches_and_nothing_else(real_redis):
    keys = (*ALL_GROUPS_SCOPE, product_key(1), product_key(2))
    catalog_counters_get(keys)
    before = {key: cache.get(key) for key in keys}

    catalog_products_changed(product_ids=[1], fields=["stock_quantity", "date_modified_gmt"])
    catalog_products_changed(product_ids=[1], fields=())  # only its variations: its detail
    catalog_products_changed(product_ids=[], fields=None)  # nothing

    bumped = {key for key in keys if cache.get(key) != before[key]}
    assert bumped == {product_key(1), group_key("modified")}
    assert cache.get(product_key(1)) == before[product_key(1)] + 2


@pytest.mark.django_db
def test_an_unknown_change_orphans_every_list_and_the_category_answers_but_not_other_details(client, real_redis):
    category = CategoryFactory()
    changed = ProductFactory(name="Before", categories=[category])
    other = ProductFactory(name="Other")
    urls = ["/api/products/", "/api/categories/", f"/api/categories/{category.id}/", f"/api/products/{other.id}/"]
    etags = {url: client.get(url)["ETag"] for url in urls}

    Product.objects.filter(id=changed.id).update(status="draft")
    catalog_products_changed(product_ids=[changed.id], fields=None)

    listed = [p["id"] for p in client.get("/api/products/").json()["results"]]
    count = client.get(f"/api/categories/{category.id}/").json()["count"]
    other_status = client.get(f"/api/products/{other.id}/", HTTP_IF_NONE_MATCH=etags[urls[3]]).status_code

    assert listed == [other.id]
    assert count == 0
    assert other_status == 304


@pytest.mark.django_db
def test_more_products_than_the_limit_bump_the_global_version(real_redis, monkeypatch):
    from catalog import cache as catalog_cache

    monkeypatch.setattr(catalog_cache, "MAX_PRODUCTS_PER_CHANGE", 2)
    version = catalog_cache.catalog_version_get()

    catalog_products_changed(product_ids=[1, 2, 3], fields=["stock_quantity"])

    assert catalog_cache.catalog_version_get() == version + 1


@pytest.mark.django_db
def test_a_cached_answer_costs_one_redis_round_trip_throttle_included(client, private_redis, settings):
    proxy = CountingProxy(private_redis.port)
    try:
        settings.CACHES = redis_caches(f"redis://127.0.0.1:{proxy.port}/0")
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "100/hour"}}
        product = ProductFactory()
        urls = ["/api/products/", "/api/products/facets/", f"/api/products/{product.id}/", "/api/categories/"]
        for url in urls:
            client.get(url)
        proxy.commands.clear()

        statuses = [client.get(url).status_code for url in urls]
        sent = list(proxy.commands)
        throttle_count = cache.get(f"throttle:anon:127.0.0.1:{int(time.time() // 3600)}")
    finally:
        proxy.close()

    assert statuses == [200] * 4
    assert sent == [b"EVALSHA"] * 4
    assert throttle_count == 8  # every request counted, in that one round trip
