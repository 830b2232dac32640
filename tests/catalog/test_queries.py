"""Query-count pins: constant whatever the page size (lists ≤ 4, detail ≤ 3)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.cache import catalog_version_bump
from tests.factories import CategoryFactory, ProductFactory, ProductVariationFactory

pytestmark = pytest.mark.django_db


def _catalog(n: int) -> tuple[list, list]:
    parent = CategoryFactory()
    categories = [CategoryFactory(parent=parent), CategoryFactory()]
    products = ProductFactory.create_batch(n, categories=categories, type="variable")
    for product in products:
        ProductVariationFactory.create_batch(2, product=product)
    return products, [parent, *categories]


@pytest.mark.parametrize("n", [10, 100])
def test_product_list_runs_at_most_4_queries(client, django_assert_max_num_queries, n):
    _catalog(n)

    with django_assert_max_num_queries(4):
        response = client.get("/api/products/", {"per_page": n})

    assert len(response.json()["results"]) == n
    assert all(len(p["variations"]) == 2 and len(p["categories"]) == 2 for p in response.json()["results"])


@pytest.mark.parametrize("n", [10, 100])
def test_product_list_with_category_filter_adds_only_the_tree_query(client, django_assert_max_num_queries, n):
    _, categories = _catalog(n)

    with django_assert_max_num_queries(5):  # + the category tree, cold
        cold = client.get("/api/products/", {"per_page": n, "category": categories[0].slug})
    with django_assert_max_num_queries(4):  # tree cached
        warm = client.get("/api/products/", {"per_page": n, "category": categories[0].slug, "orderby": "price"})

    assert len(cold.json()["results"]) == len(warm.json()["results"]) == n


@pytest.mark.parametrize("n", [10, 100])
def test_product_detail_runs_at_most_3_queries(client, django_assert_max_num_queries, n):
    product = ProductFactory(type="variable", categories=CategoryFactory.create_batch(3))
    ProductVariationFactory.create_batch(n, product=product)

    with django_assert_max_num_queries(3):
        by_id = client.get(f"/api/products/{product.id}/")
    with django_assert_max_num_queries(3):
        by_slug = client.get(f"/api/products/{product.slug}/")

    assert len(by_id.json()["variation_details"]) == len(by_slug.json()["variation_details"]) == n


@pytest.mark.parametrize("n", [10, 100])
def test_other_endpoints_are_constant_too(client, django_assert_max_num_queries, n):
    products, categories = _catalog(n)
    CategoryFactory.create_batch(n)

    with django_assert_max_num_queries(4):
        client.get("/api/products/facets/", {"category": categories[0].id})
    with django_assert_max_num_queries(2):
        assert len(client.get("/api/categories/").json()["results"]) == n + 3
    with django_assert_max_num_queries(3):
        client.get(f"/api/products/{products[0].id}/variations/", {"per_page": 100})


def test_a_cached_response_runs_no_query(client):
    _catalog(10)
    client.get("/api/products/")

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/products/")

    assert response.status_code == 200
    assert len(queries) == 0


def test_uncached_after_bump_runs_the_queries_again(client):
    _catalog(10)
    client.get("/api/products/")
    catalog_version_bump()

    with CaptureQueriesContext(connection) as queries:
        client.get("/api/products/")

    assert 2 <= len(queries) <= 4
