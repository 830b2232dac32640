"""Configurable fields per model, and the same behaviour on the local-memory cache (no REDIS_URL)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.cache import catalog_version_bump
from catalog.models import Product
from tests.factories import CategoryFactory, ProductFactory, ProductVariationFactory

pytestmark = pytest.mark.django_db


def test_cached_fields_are_configurable_per_model(client, settings):
    settings.CATALOG_CACHE_FIELDS = {"product": ["name", "price"], "variation": ["sku"], "category": ["slug"]}
    category = CategoryFactory(slug="mugs")
    product = ProductFactory(categories=[category])
    variation = ProductVariationFactory(product=product)

    listed = client.get("/api/products/").json()["results"][0]
    detail = client.get(f"/api/products/{product.id}/").json()
    categories = client.get("/api/categories/").json()["results"]

    assert set(listed) == {"id", "name", "price"}
    assert set(detail) == {"id", "name", "price"}  # variation_details is a product field too
    assert categories == [{"id": category.id, "slug": "mugs"}]
    assert client.get(f"/api/products/{product.id}/variations/").json()["results"] == [
        {"id": variation.id, "sku": variation.sku}
    ]


@pytest.fixture
def locmem(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"catalog-test-{uuid.uuid4().hex}",
        }
    }


def test_local_memory_cache_caches_and_invalidates(client, locmem):
    product = ProductFactory(name="A")
    client.get(f"/api/products/{product.id}/")

    Product.objects.update(name="B")
    with CaptureQueriesContext(connection) as queries:
        cached = client.get(f"/api/products/{product.id}/").json()["name"]
    catalog_version_bump()
    fresh = client.get(f"/api/products/{product.id}/").json()["name"]

    assert (cached, len(queries), fresh) == ("A", 0, "B")


def test_local_memory_cache_throttles(client, locmem, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "2/hour"}}

    assert [client.get("/api/categories/").status_code for _ in range(3)] == [200, 200, 429]
