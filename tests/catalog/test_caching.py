"""Response cache: version bump invalidation, ETag/304, Cache-Control, and Redis outages."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from catalog.cache import VERSION_UNAVAILABLE, catalog_version_bump, catalog_version_get
from catalog.models import Product
from tests.catalog.fixtures import free_port, redis_caches
from tests.factories import CategoryFactory, ProductFactory, ProductVariationFactory

pytestmark = pytest.mark.django_db


def test_cached_list_shows_new_stock_right_after_a_version_bump(client):
    product = ProductFactory(manage_stock=True, stock_quantity=Decimal("5"))
    assert client.get("/api/products/").json()["results"][0]["stock_quantity"] == 5

    # What a sync does: write the rows, then bump once committed.
    Product.objects.filter(id=product.id).update(stock_quantity=Decimal("2"))
    stale = client.get("/api/products/").json()["results"][0]["stock_quantity"]
    catalog_version_bump()
    fresh = client.get("/api/products/").json()["results"][0]["stock_quantity"]

    assert stale == 5  # served from the cache: the bump is what makes it fresh, not a TTL
    assert fresh == 2


@pytest.mark.parametrize(
    "path",
    [
        "/api/products/",
        "/api/products/facets/",
        "/api/products/{id}/",
        "/api/products/{id}/variations/",
        "/api/categories/",
        "/api/categories/{category}/",
    ],
)
def test_every_catalog_endpoint_is_cached_and_invalidated_by_the_bump(client, path):
    category = CategoryFactory(name="Before")
    product = ProductFactory(name="Before", categories=[category])
    ProductVariationFactory(product=product, description="Before")
    url = path.format(id=product.id, category=category.id)
    before = client.get(url).content

    Product.objects.filter(id=product.id).update(name="After", price=Decimal("11"))
    product.variations.update(description="After", price=Decimal("13"))
    category.__class__.objects.filter(id=category.id).update(name="After")

    assert client.get(url).content == before
    catalog_version_bump()
    assert client.get(url).content != before


def test_etag_and_304_on_if_none_match(client):
    ProductFactory()
    first = client.get("/api/products/")
    etag = first["ETag"]

    again = client.get("/api/products/", HTTP_IF_NONE_MATCH=etag)
    weak = client.get("/api/products/", HTTP_IF_NONE_MATCH=f'"other", W/{etag}')
    other = client.get("/api/products/", HTTP_IF_NONE_MATCH='"something-else"')

    assert etag.startswith('"') and etag.endswith('"')
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", etag)
    assert again["Cache-Control"] in ("public, max-age=59", "public, max-age=58")  # see the staleness tests
    assert weak.status_code == 304
    assert other.status_code == 200


def test_etag_changes_with_the_content_after_a_sync(client):
    product = ProductFactory(stock_status="instock")
    etag = client.get(f"/api/products/{product.id}/")["ETag"]

    Product.objects.filter(id=product.id).update(stock_status="outofstock")
    catalog_version_bump()
    response = client.get(f"/api/products/{product.id}/", HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 200
    assert response.json()["stock_status"] == "outofstock"
    assert response["ETag"] != etag


def test_a_bump_without_a_change_keeps_the_etag(client):
    ProductFactory()
    etag = client.get("/api/products/")["ETag"]

    catalog_version_bump()

    assert client.get("/api/products/", HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_equivalent_queries_share_one_entry(client):
    ProductFactory(name="A")
    client.get("/api/products/", {"page": "1", "per_page": "10", "orderby": "date"})

    Product.objects.update(name="B")

    # Defaults spelled out, unknown params and key order do not create a new entry.
    assert client.get("/api/products/", {"utm": "x"}).json()["results"][0]["name"] == "A"


def test_version_starts_high_and_bump_increments(client):
    first = catalog_version_get()

    assert first > 1_600_000_000_000  # a millisecond timestamp: a lost key never reuses old numbers
    assert catalog_version_bump() == first + 1
    assert catalog_version_get() == first + 1


def test_bump_creates_the_version_when_missing():
    assert catalog_version_bump() > 1_600_000_000_000


@pytest.mark.parametrize(
    ("path", "policy"),
    [
        # Built just now: what is left of the 60 s bound, rounded down (59 unless the request took seconds).
        ("/api/products/", ("public, max-age=59", "public, max-age=58")),
        ("/api/products/facets/", ("public, max-age=59", "public, max-age=58")),
        ("/api/products/{id}/", "public, max-age=60"),
        ("/api/products/{id}/variations/", "public, max-age=60"),
        ("/api/categories/", "public, max-age=300"),
        ("/api/categories/{category}/", "public, max-age=300"),
        ("/api/products/?per_page=0", "no-store"),
        ("/api/products/999999/", "no-store"),
    ],
)
def test_cache_control_per_endpoint(client, path, policy):
    category = CategoryFactory()
    product = ProductFactory(categories=[category])

    response = client.get(path.format(id=product.id, category=category.id))

    assert response["Cache-Control"] in (policy if isinstance(policy, tuple) else (policy,))


def test_a_list_leaves_browsers_only_what_is_left_of_the_staleness_bound(client, settings):
    # A list may show stock up to CATALOG_MAX_STALENESS_SECONDS old from our cache: a browser keeping it
    # another full max-age would show it older than the bound (docs/performance.md, "The rule").
    settings.CATALOG_MAX_STALENESS_SECONDS = 5
    product = ProductFactory()

    fresh = client.get("/api/products/")
    time.sleep(2.1)
    aged = client.get("/api/products/")
    revalidated = client.get("/api/products/", HTTP_IF_NONE_MATCH=aged["ETag"])
    detail = client.get(f"/api/products/{product.id}/")
    categories = client.get("/api/categories/")

    assert aged.content == fresh.content and revalidated.status_code == 304  # the same cached answer
    assert fresh["Cache-Control"] in ("public, max-age=4", "public, max-age=5")
    assert aged["Cache-Control"] in ("public, max-age=0", "public, max-age=1", "public, max-age=2")
    assert revalidated["Cache-Control"] in ("public, max-age=0", "public, max-age=1", "public, max-age=2")
    assert detail["Cache-Control"] == "public, max-age=5"  # ours is orphaned at once: the client's copy is all
    assert categories["Cache-Control"] == "public, max-age=300"  # counts of products, no stock nor price


def test_cache_control_max_age_is_configurable(client, settings):
    settings.CACHE_CONTROL_MAX_AGE = {**settings.CACHE_CONTROL_MAX_AGE, "catalog:product-list": 7}

    assert client.get("/api/products/")["Cache-Control"] == "public, max-age=7"


def test_staff_answers_are_private(client):
    staff = get_user_model().objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)

    assert client.get("/api/products/")["Cache-Control"] == "private, no-store"


def test_other_urls_are_left_alone(client):
    assert "Cache-Control" not in client.get("/api/schema/")


# --- Redis outages ---------------------------------------------------------------------


def _get_all(client, product, category) -> dict[str, int]:
    urls = [
        "/api/products/",
        "/api/products/?category=" + category.slug,
        "/api/products/facets/",
        f"/api/products/{product.id}/",
        f"/api/products/{product.id}/variations/",
        "/api/categories/",
        f"/api/categories/{category.id}/",
    ]
    return {url: client.get(url).status_code for url in urls}


def test_with_redis_stopped_every_endpoint_answers_from_the_database(client, settings, private_redis, caplog):
    settings.CACHES = redis_caches(private_redis.url)
    category = CategoryFactory()
    product = ProductFactory(categories=[category], manage_stock=True, stock_quantity=Decimal("3"))
    ProductVariationFactory(product=product)
    assert set(_get_all(client, product, category).values()) == {200}  # cache filled

    private_redis.stop()
    Product.objects.filter(id=product.id).update(stock_quantity=Decimal("1"))
    with caplog.at_level(logging.ERROR, logger="common.cache"):
        statuses = _get_all(client, product, category)
        detail = client.get(f"/api/products/{product.id}/")

    assert set(statuses.values()) == {200}, statuses
    assert detail.json()["stock_quantity"] == 1  # from the database, not the lost cache
    assert detail["ETag"]
    assert any("cache" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records)


def test_with_redis_never_reachable_the_api_answers_and_throttling_fails_open(client, settings):
    settings.CACHES = redis_caches(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "1/hour"}}
    product = ProductFactory()

    statuses = [client.get(f"/api/products/{product.id}/").status_code for _ in range(3)]

    assert statuses == [200, 200, 200]


def test_bump_with_redis_down_logs_and_returns_unavailable(settings, caplog):
    settings.CACHES = redis_caches(f"redis://127.0.0.1:{free_port()}/0")

    with caplog.at_level(logging.ERROR, logger="common.cache"):
        version = catalog_version_bump()

    assert version == VERSION_UNAVAILABLE
    assert "version bump" in caplog.text


def test_cache_comes_back_after_the_backoff(client, settings, private_redis):
    settings.CACHES = redis_caches(private_redis.url)
    settings.CACHE_FAILURE_BACKOFF_SECONDS = 0.2
    product = ProductFactory(name="A")
    port = private_redis.port
    private_redis.stop()
    assert client.get(f"/api/products/{product.id}/").status_code == 200  # marks the cache down

    restarted = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        time.sleep(0.3)
        client.get(f"/api/products/{product.id}/")  # caches "A" again
        Product.objects.update(name="B")
        assert client.get(f"/api/products/{product.id}/").json()["name"] == "A"
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(port)


class SilentRedis:
    """Accepts connections and reads every command, never answers: each command times out.

    ``commands_received()`` counts what clients sent since the last call (RESP commands start with ``*``).
    """

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(50)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []

    def commands_received(self) -> int:
        while True:
            try:
                connection, _ = self.listener.accept()
            except BlockingIOError:
                break
            connection.setblocking(False)
            self.connections.append(connection)
        received = b""
        for connection in self.connections:
            while True:
                try:
                    chunk = connection.recv(65536)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                received += chunk
        return sum(1 for line in received.split(b"\r\n") if line.startswith(b"*"))

    def close(self) -> None:
        for connection in self.connections:
            connection.close()
        self.listener.close()


def test_a_hanging_redis_costs_one_timeout_then_is_skipped(client, settings):
    silent = SilentRedis()
    try:
        settings.CACHES = redis_caches(f"redis://127.0.0.1:{silent.port}/0")
        product = ProductFactory()

        first = client.get(f"/api/products/{product.id}/")
        asked_first = silent.commands_received()
        second = client.get(f"/api/products/{product.id}/")
        asked_second = silent.commands_received()
    finally:
        silent.close()

    assert (first.status_code, second.status_code) == (200, 200)
    # One command waited its SOCKET_TIMEOUT and marked the cache down ...
    assert asked_first == 1
    # ... and inside the back-off window no cache call is made at all (the throttle and the
    # response cache would otherwise each wait SOCKET_TIMEOUT again).
    assert asked_second == 0
