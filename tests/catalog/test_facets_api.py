"""GET /api/products/facets/: price range and counts for a filter sidebar."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

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


def test_whole_catalog_category_counts_leave_out_every_product_a_listing_does_not_show(client):
    # Without other filters the counts are links minus the links of unlisted products; with a filter
    # matching everything they come from the join of links and products: both must agree.
    shirts = CategoryFactory(slug="shirts")
    unlisted_only = CategoryFactory(slug="unlisted-only")
    ProductFactory(categories=[shirts], catalog_visibility="visible")
    ProductFactory(categories=[shirts], catalog_visibility="catalog")
    for unlisted in (
        {"status": "draft"},
        {"status": "trash"},
        {"status": "private"},
        {"deleted_at": timezone.now()},
        {"catalog_visibility": "hidden"},
        {"catalog_visibility": "search"},
    ):
        ProductFactory(categories=[shirts, unlisted_only], **unlisted)

    whole = client.get(FACETS).json()["categories"]
    joined = client.get(FACETS, {"min_price": "0"}).json()["categories"]
    listing = {c["slug"]: c["count"] for c in client.get("/api/categories/").json()["results"]}

    assert [(c["slug"], c["count"]) for c in whole] == [("shirts", 2)]
    assert joined == whole
    assert listing == {"shirts": 2, "unlisted-only": 0}


def test_price_and_stock_facets_from_one_pass_each_keep_their_own_rows(client):
    ProductFactory(price=Decimal("5"), stock_status="instock")
    ProductFactory(price=Decimal("30"), stock_status="instock")
    ProductFactory(price=Decimal("40"), stock_status="onbackorder")
    ProductFactory(price=Decimal("20"), stock_status="outofstock")  # in the price range, not in the stock filter
    ProductFactory(price=Decimal("2"), stock_status="onbackorder")  # below min_price
    ProductFactory(price=Decimal("90"), stock_status="outofstock")  # above max_price

    body = client.get(FACETS, {"stock_status": "instock,onbackorder", "min_price": "10", "max_price": "50"}).json()

    assert body["total"] == 2  # 30 in stock, 40 on backorder
    # Price range: in stock or on backorder, any price.
    assert body["price_range"] == {"min_price": "2.00", "max_price": "40.00"}
    # Stock counts: 10 to 50, any stock status.
    assert {s["status"]: s["count"] for s in body["stock_status"]} == {"instock": 1, "onbackorder": 1, "outofstock": 1}
