"""GET /api/products/ and /api/products/<lookup>/: shape, filters, sorts, pagination, visibility, errors."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from tests.factories import CategoryFactory, ProductFactory, ProductVariationFactory

pytestmark = pytest.mark.django_db

LIST = "/api/products/"


def ids(response) -> list[int]:
    return [p["id"] for p in response.json()["results"]]


def test_list_uses_woocommerce_field_names_and_formats(client):
    category = CategoryFactory(id=9, name="Clothing", slug="clothing")
    product = ProductFactory(
        id=794,
        name="Premium Quality",
        price=Decimal("21.990000"),
        regular_price=Decimal("24.000000"),
        sale_price=Decimal("21.990000"),
        on_sale=True,
        manage_stock=True,
        stock_quantity=Decimal("7.000000"),
        date_created_gmt=datetime.datetime(2017, 3, 23, 20, 1, 14, tzinfo=datetime.UTC),
        categories=[category],
    )
    variation = ProductVariationFactory(product=product)

    response = client.get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["total_pages"], body["page"], body["per_page"]) == (1, 1, 1, 10)
    item = body["results"][0]
    assert item["id"] == 794
    assert item["price"] == "21.99"
    assert item["regular_price"] == "24.00"
    assert item["sale_price"] == "21.99"
    assert item["on_sale"] is True
    assert item["stock_quantity"] == 7
    assert item["stock_status"] == "instock"
    assert item["categories"] == [{"id": 9, "name": "Clothing", "slug": "clothing"}]
    assert item["variations"] == [variation.id]
    assert item["date_created_gmt"] == "2017-03-23T20:01:14"
    assert item["images"] == product.images
    assert item["dimensions"] == {"length": "", "width": "", "height": ""}
    assert response["X-WP-Total"] == "1"
    assert response["X-WP-TotalPages"] == "1"
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        (None, ""),
        (Decimal("21.000000"), "21.00"),
        (Decimal("0.125000"), "0.125"),
        (Decimal("1234567.500000"), "1234567.50"),
        (Decimal("0"), "0.00"),
    ],
)
def test_prices_print_as_woocommerce_decimal_strings(client, stored, shown):
    ProductFactory(price=stored, regular_price=stored)

    item = client.get(LIST).json()["results"][0]

    assert (item["price"], item["regular_price"]) == (shown, shown)


def test_decimal_stock_quantity_stays_a_number(client):
    ProductFactory(manage_stock=True, stock_quantity=Decimal("2.500000"))

    assert client.get(LIST).json()["results"][0]["stock_quantity"] == 2.5


def test_only_published_not_deleted_products_are_listed(client):
    public = ProductFactory()
    ProductFactory(status="draft")
    ProductFactory(status="private")
    ProductFactory(status="trash")
    ProductFactory(deleted_at=datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC))

    assert ids(client.get(LIST)) == [public.id]


def test_catalog_visibility_rules_for_listing_and_search(client):
    visible = ProductFactory(name="Blue shirt", catalog_visibility="visible")
    catalog_only = ProductFactory(name="Blue catalog shirt", catalog_visibility="catalog")
    search_only = ProductFactory(name="Blue search shirt", catalog_visibility="search")
    ProductFactory(name="Blue hidden shirt", catalog_visibility="hidden")

    listed = set(ids(client.get(LIST)))
    searched = set(ids(client.get(LIST, {"search": "blue"})))

    assert listed == {visible.id, catalog_only.id}
    assert searched == {visible.id, search_only.id}


def test_search_matches_name_case_insensitively_or_exact_sku(client):
    by_name = ProductFactory(name="Ninja Hoodie", sku="H-1")
    by_sku = ProductFactory(name="Cap", sku="NINJ-7")
    ProductFactory(name="Mug", sku="M-1")

    assert set(ids(client.get(LIST, {"search": "ninja"}))) == {by_name.id}
    assert set(ids(client.get(LIST, {"search": "NINJ-7"}))) == {by_sku.id}


def test_sku_filter_takes_a_comma_list_of_exact_skus(client):
    a = ProductFactory(sku="A-1")
    b = ProductFactory(sku="B-2")
    ProductFactory(sku="A-10")

    assert set(ids(client.get(LIST, {"sku": "A-1,B-2"}))) == {a.id, b.id}


def test_category_filter_by_id_or_slug_includes_subcategories(client):
    clothing = CategoryFactory(slug="clothing")
    shirts = CategoryFactory(slug="shirts", parent=clothing)
    polos = CategoryFactory(slug="polos", parent=shirts)
    music = CategoryFactory(slug="music")
    in_clothing = ProductFactory(categories=[clothing])
    in_polos = ProductFactory(categories=[polos])
    in_both = ProductFactory(categories=[shirts, music])
    ProductFactory(categories=[music])

    assert set(ids(client.get(LIST, {"category": "clothing"}))) == {in_clothing.id, in_polos.id, in_both.id}
    assert set(ids(client.get(LIST, {"category": str(shirts.id)}))) == {in_polos.id, in_both.id}
    assert client.get(LIST, {"category": "shirts"}).json()["total"] == 2  # no duplicate for in_both
    assert set(ids(client.get(LIST, {"category": f"polos,{music.slug}"}))) == {
        in_polos.id,
        in_both.id,
        *ids(client.get(LIST, {"category": "music"})),
    }


def test_unknown_category_matches_nothing(client):
    ProductFactory(categories=[CategoryFactory()])

    response = client.get(LIST, {"category": "no-such-category"})

    assert response.status_code == 200
    assert response.json()["total"] == 0


def test_price_range_filter_is_inclusive(client):
    cheap = ProductFactory(price=Decimal("5"))
    mid = ProductFactory(price=Decimal("10"))
    ProductFactory(price=Decimal("20.01"))
    ProductFactory(price=None)

    assert set(ids(client.get(LIST, {"min_price": "10", "max_price": "20"}))) == {mid.id}
    assert set(ids(client.get(LIST, {"max_price": "10.00"}))) == {cheap.id, mid.id}


def test_stock_status_filter_takes_a_comma_list(client):
    instock = ProductFactory(stock_status="instock")
    backorder = ProductFactory(stock_status="onbackorder")
    ProductFactory(stock_status="outofstock")

    assert set(ids(client.get(LIST, {"stock_status": "instock,onbackorder"}))) == {instock.id, backorder.id}


@pytest.mark.parametrize("param", ["on_sale", "featured"])
def test_boolean_filters(client, param):
    yes = ProductFactory(**{param: True})
    no = ProductFactory(**{param: False})

    assert ids(client.get(LIST, {param: "true"})) == [yes.id]
    assert ids(client.get(LIST, {param: "false"})) == [no.id]
    assert set(ids(client.get(LIST))) == {yes.id, no.id}


@pytest.mark.parametrize(
    ("orderby", "field", "values"),
    [
        ("price", "price", [Decimal("3"), Decimal("1"), Decimal("2")]),
        ("popularity", "total_sales", [30, 10, 20]),
        ("title", "name", ["Charlie", "Alpha", "Bravo"]),
        ("menu_order", "menu_order", [3, 1, 2]),
        (
            "date",
            "date_created_gmt",
            [datetime.datetime(2024, 1, d, tzinfo=datetime.UTC) for d in (3, 1, 2)],
        ),
        (
            "modified",
            "date_modified_gmt",
            [datetime.datetime(2024, 2, d, tzinfo=datetime.UTC) for d in (3, 1, 2)],
        ),
    ],
)
def test_every_orderby_sorts_both_ways(client, orderby, field, values):
    created = [ProductFactory(**{field: value}) for value in values]
    ascending = [created[1].id, created[2].id, created[0].id]

    assert ids(client.get(LIST, {"orderby": orderby, "order": "asc"})) == ascending
    assert ids(client.get(LIST, {"orderby": orderby, "order": "desc"})) == ascending[::-1]


def test_orderby_id_and_default_order_is_newest_first(client):
    products = ProductFactory.create_batch(3)

    assert ids(client.get(LIST, {"orderby": "id", "order": "asc"})) == [p.id for p in products]
    # Default: orderby=date, order=desc (WooCommerce's defaults).
    assert ids(client.get(LIST)) == [p.id for p in reversed(products)]


def test_orderby_id_descending_does_not_follow_the_dates(client):
    products = ProductFactory.create_batch(3)
    oldest = products[0].date_created_gmt
    type(products[2]).objects.filter(id=products[2].id).update(date_created_gmt=oldest - datetime.timedelta(days=1))

    assert ids(client.get(LIST, {"orderby": "id", "order": "desc"})) == [p.id for p in reversed(products)]
    assert ids(client.get(LIST, {"orderby": "date", "order": "desc"})) == [
        products[1].id,
        products[0].id,
        products[2].id,
    ]


def test_ties_are_broken_by_id_so_pages_are_stable(client):
    products = ProductFactory.create_batch(5, price=Decimal("9"))

    first = ids(client.get(LIST, {"orderby": "price", "order": "asc", "per_page": 2}))
    second = ids(client.get(LIST, {"orderby": "price", "order": "asc", "per_page": 2, "page": 2}))
    third = ids(client.get(LIST, {"orderby": "price", "order": "asc", "per_page": 2, "page": 3}))

    assert first + second + third == [p.id for p in products]


def test_pagination_totals_in_body_and_headers(client):
    ProductFactory.create_batch(7)

    response = client.get(LIST, {"per_page": 3, "page": 3})

    assert response.json()["total"] == 7
    assert response.json()["total_pages"] == 3
    assert len(response.json()["results"]) == 1
    assert (response["X-WP-Total"], response["X-WP-TotalPages"]) == ("7", "3")


def test_page_past_the_end_is_an_empty_page_with_totals(client):
    ProductFactory.create_batch(2)

    response = client.get(LIST, {"page": 5})

    assert response.status_code == 200
    assert response.json()["results"] == []
    assert (response["X-WP-Total"], response["X-WP-TotalPages"]) == ("2", "1")


def test_empty_catalog_has_zero_pages(client):
    response = client.get(LIST)

    assert response.json() == {"total": 0, "total_pages": 0, "page": 1, "per_page": 10, "results": []}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "1000"}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"min_price": "abc"}, "min_price"),
        ({"max_price": "NaN"}, "max_price"),
        ({"min_price": "-1"}, "min_price"),
        ({"min_price": "20", "max_price": "10"}, "max_price"),
        ({"orderby": "rating_desc"}, "orderby"),
        ({"order": "up"}, "order"),
        ({"stock_status": "nonsense"}, "stock_status"),
        ({"stock_status": "instock,nonsense"}, "stock_status"),
        ({"on_sale": "maybe"}, "on_sale"),
        ({"featured": "2"}, "featured"),
        ({"category": "bad slug!"}, "category"),
        ({"search": "x" * 201}, "search"),
    ],
)
def test_bad_parameters_get_400_naming_the_field_and_reason(client, params, field):
    response = client.get(LIST, params)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "rest_invalid_param"
    assert body["data"]["status"] == 400
    assert list(body["data"]["params"]) == [field]
    assert body["data"]["params"][field]  # a reason, not an empty string
    assert field in body["message"]


def test_unknown_parameters_are_ignored_like_woocommerce(client):
    product = ProductFactory()

    assert ids(client.get(LIST, {"utm_source": "mail"})) == [product.id]


def test_repeated_parameter_keeps_the_last_value_like_php(client):
    ProductFactory.create_batch(3)

    assert client.get(f"{LIST}?per_page=1&per_page=2").json()["per_page"] == 2


# --- Detail -------------------------------------------------------------------------


def test_detail_by_id_and_by_slug_with_variations(client):
    product = ProductFactory(type="variable", slug="ship-your-idea", price=Decimal("9"))
    second = ProductVariationFactory(product=product, menu_order=2)
    first = ProductVariationFactory(
        product=product, menu_order=1, manage_stock=True, stock_managed_by_parent=True, price=Decimal("9.000000")
    )
    ProductVariationFactory(product=product, status="private")
    ProductVariationFactory(product=product, deleted_at=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))

    by_id = client.get(f"/api/products/{product.id}/")
    by_slug = client.get("/api/products/ship-your-idea/")

    assert by_id.status_code == by_slug.status_code == 200
    assert by_id.json() == by_slug.json()
    body = by_id.json()
    assert body["id"] == product.id
    assert body["variations"] == [first.id, second.id]
    details = body["variation_details"]
    assert [v["id"] for v in details] == [first.id, second.id]
    assert details[0]["manage_stock"] == "parent"
    assert details[0]["price"] == "9.00"
    assert details[0]["parent_id"] == product.id
    assert details[1]["manage_stock"] is False
    assert details[0]["attributes"] == first.attributes


def test_hidden_product_is_reachable_by_id(client):
    product = ProductFactory(catalog_visibility="hidden")

    assert client.get(f"/api/products/{product.id}/").status_code == 200


@pytest.mark.parametrize("status", ["draft", "private", "trash"])
def test_detail_of_unpublished_product_is_404(client, status):
    product = ProductFactory(status=status)

    response = client.get(f"/api/products/{product.id}/")

    assert response.status_code == 404
    assert response.json() == {
        "code": "woocommerce_rest_product_invalid_id",
        "message": "Invalid ID.",
        "data": {"status": 404},
    }


def test_detail_of_deleted_or_unknown_product_is_404(client, sandbox):
    deleted = ProductFactory(deleted_at=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))

    assert client.get(f"/api/products/{deleted.id}/").status_code == 404
    assert sandbox.stats["requests"] == 0  # known to the mirror: WooCommerce is not asked
    assert client.get("/api/products/987654321/").status_code == 404  # unknown to WooCommerce too
    assert client.get("/api/products/no-such-slug/").status_code == 404
    assert sandbox.stats["requests"] == 2


@pytest.mark.parametrize("lookup", ["bad%20slug", "a.b", "x" * 201, "it's", "9" * 25])
def test_malformed_lookup_is_400(client, lookup):
    response = client.get(f"/api/products/{lookup}/")

    assert response.status_code == 400
    assert response.json()["code"] == "rest_invalid_param"
    assert list(response.json()["data"]["params"]) == ["id"]


def test_non_ascii_slug_matches_the_percent_encoded_woocommerce_slug(client):
    product = ProductFactory(slug="%d0%bf%d1%80%d0%b8%d0%b2%d0%b5%d1%82")

    response = client.get("/api/products/%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82/")

    assert response.status_code == 200
    assert response.json()["id"] == product.id


def test_detail_real_time_stock_with_woocommerce_unreachable_answers_local_data_marked_as_such(client):
    synced = datetime.datetime(2024, 6, 1, 12, 0, tzinfo=datetime.UTC)
    product = ProductFactory(synced_at=synced, stock_quantity=Decimal("4"), manage_stock=True)

    response = client.get(f"/api/products/{product.id}/", {"real_time_stock": "true"})  # the test store URL is closed

    assert response.status_code == 200
    assert response.json()["stock_source"] == {"source": "local", "synced_at": "2024-06-01T12:00:00", "reason": "error"}
    assert response.json()["stock_quantity"] == 4
    assert response["Cache-Control"] == "private, no-store"
    assert "stock_source" not in client.get(f"/api/products/{product.id}/").json()


def test_detail_real_time_stock_rejects_a_non_boolean(client):
    product = ProductFactory()

    response = client.get(f"/api/products/{product.id}/", {"real_time_stock": "soon"})

    assert response.status_code == 400
    assert list(response.json()["data"]["params"]) == ["real_time_stock"]


# --- Variations -----------------------------------------------------------------------


def test_variations_endpoint_lists_public_variations_paginated(client):
    product = ProductFactory(type="variable")
    variations = [ProductVariationFactory(product=product, menu_order=i) for i in range(3)]
    ProductVariationFactory(product=product, status="private")

    first = client.get(f"/api/products/{product.id}/variations/", {"per_page": 2})
    second = client.get(f"/api/products/{product.id}/variations/", {"per_page": 2, "page": 2})

    assert first.status_code == 200
    assert [v["id"] for v in first.json()["results"]] == [variations[0].id, variations[1].id]
    assert [v["id"] for v in second.json()["results"]] == [variations[2].id]
    assert (first["X-WP-Total"], first["X-WP-TotalPages"]) == ("3", "2")


def test_variations_of_unknown_or_unpublished_product_is_404(client):
    draft = ProductFactory(status="draft")
    ProductVariationFactory(product=draft)

    assert client.get(f"/api/products/{draft.id}/variations/").status_code == 404
    assert client.get("/api/products/424242/variations/").status_code == 404


def test_variations_bad_paging_is_400(client):
    product = ProductFactory()

    response = client.get(f"/api/products/{product.id}/variations/", {"per_page": "101"})

    assert response.status_code == 400
    assert list(response.json()["data"]["params"]) == ["per_page"]
