"""GET /api/products/facets/: price range and counts for a filter sidebar."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

FACETS = "/api/products/facets/"


def test_facets_of_the_whole_catalog(client):
    shirts = CategoryFactory(name="Shirts", slug="shirts")
    mugs = CategoryFactory(name="Mugs", slug="mugs")
    ProductFactory(price=Decimal("5"), categories=[shirts], stock_status="instock")
    ProductFactory(price=Decimal("25.5"), categories=[shirts, mugs], stock_status="outofstock")
    ProductFactory(price=Decimal("99"), categories=[mugs], stock_status="instock")
    ProductFactory(price=Decimal("1"), status="draft", categories=[mugs])

    response = client.get(FACETS)

    assert response.status_code == 200
    assert response.json() == {
        "total": 3,
        "price_range": {"min_price": "5.00", "max_price": "99.00"},
        "categories": [  # tree order: menu_order, then name
            {"id": mugs.id, "name": "Mugs", "slug": "mugs", "count": 2},
            {"id": shirts.id, "name": "Shirts", "slug": "shirts", "count": 2},
        ],
        "stock_status": [{"status": "instock", "count": 2}, {"status": "outofstock", "count": 1}],
    }
    assert response["ETag"]


def test_each_facet_ignores_its_own_filter(client):
    shirts = CategoryFactory(slug="shirts")
    mugs = CategoryFactory(slug="mugs")
    ProductFactory(price=Decimal("5"), categories=[shirts], stock_status="instock")
    ProductFactory(price=Decimal("15"), categories=[shirts], stock_status="outofstock")
    ProductFactory(price=Decimal("50"), categories=[mugs], stock_status="instock")

    body = client.get(FACETS, {"category": "shirts", "stock_status": "instock", "max_price": "10"}).json()

    assert body["total"] == 1
    # Price range: shirts in stock, any price.
    assert body["price_range"] == {"min_price": "5.00", "max_price": "5.00"}
    # Stock counts: shirts up to 10, any stock status.
    assert body["stock_status"] == [{"status": "instock", "count": 1}]
    # Category counts: in stock up to 10, any category.
    assert [(c["slug"], c["count"]) for c in body["categories"]] == [("shirts", 1)]


def test_facets_of_nothing(client):
    body = client.get(FACETS, {"search": "nothing-matches"}).json()

    assert body == {"total": 0, "price_range": {"min_price": "", "max_price": ""}, "categories": [], "stock_status": []}


def test_facets_bad_parameter_is_400(client):
    response = client.get(FACETS, {"stock_status": "sold"})

    assert response.status_code == 400
    assert list(response.json()["data"]["params"]) == ["stock_status"]
