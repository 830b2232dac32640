"""Hostile query strings and path lookups get a WooCommerce-shaped 400 or 404, never a 500.

Each case is one that answered 500 before (issue 8, item 4): a NUL in a query value, a Unicode digit
that ``str.isdigit`` accepts and ``int`` refuses, ids beyond the 64-bit columns.
"""

from __future__ import annotations

import pytest

from tests.factories import CategoryFactory, ProductFactory, ProductVariationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def catalog():
    category = CategoryFactory(id=9, slug="clothing")
    product = ProductFactory(id=794, slug="premium", sku="SKU-1", categories=[category])
    ProductVariationFactory(product=ProductFactory(id=795, slug="variable"))
    return product


def _assert_invalid_param(response, param: str) -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "rest_invalid_param"
    assert body["data"]["status"] == 400
    assert param in body["data"]["params"], body


TEXT_FILTERS = {
    "/api/products/": ["search", "sku", "category", "stock_status"],
    "/api/products/facets/": ["search", "sku", "category", "stock_status"],
}


@pytest.mark.parametrize(("url", "param"), [(url, param) for url, params in TEXT_FILTERS.items() for param in params])
@pytest.mark.parametrize("value", ["%00", "abc%00", "a,%00b", "%00,clothing"])
def test_a_nul_in_any_text_filter_is_a_400_naming_it(client, url, param, value):
    response = client.get(f"{url}?{param}={value}")

    _assert_invalid_param(response, param)
    assert "null" in response.json()["data"]["params"][param].lower()


@pytest.mark.parametrize("param", ["orderby", "order"])
@pytest.mark.parametrize("value", ["%00", "date%00", "%00asc"])
def test_a_nul_in_a_choice_is_a_400(client, param, value):
    _assert_invalid_param(client.get(f"/api/products/?{param}={value}"), param)


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/api/products/", "page"),
        ("/api/products/", "per_page"),
        ("/api/products/", "min_price"),
        ("/api/products/", "on_sale"),
        ("/api/products/794/", "real_time_stock"),
        ("/api/products/795/variations/", "page"),
        ("/api/categories/", "parent"),
        ("/api/categories/", "hide_empty"),
    ],
)
def test_a_nul_in_a_number_or_boolean_is_a_400(client, url, param):
    _assert_invalid_param(client.get(f"{url}?{param}=1%00"), param)


@pytest.mark.parametrize("url", ["/api/products/%00/", "/api/categories/%00/", "/api/products/%00/variations/"])
def test_a_nul_in_a_path_lookup_is_a_400(client, url):
    _assert_invalid_param(client.get(url), "id")


@pytest.mark.parametrize(
    "lookup",
    [
        "%C2%B2",  # "²": str.isdigit() is true, int() refuses it
        "%E2%91%A0",  # "①"
        "1%C2%B2",
        "%D9%A1%D9%A2",  # Arabic-Indic "١٢": int() would read 12
    ],
)
@pytest.mark.parametrize(
    ("template", "code"),
    [
        ("/api/products/{}/", "woocommerce_rest_product_invalid_id"),
        ("/api/categories/{}/", "woocommerce_rest_term_invalid"),
        ("/api/products/{}/variations/", "woocommerce_rest_product_invalid_id"),
    ],
)
def test_a_unicode_digit_lookup_is_a_slug_not_an_id(client, make_sandbox, lookup, template, code):
    # A product the mirror lacks is asked of WooCommerce (the on-demand fetch): a store that has no such slug.
    make_sandbox(products=3)

    response = client.get(template.format(lookup))

    assert response.status_code == 404, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": code, "message": response.json()["message"], "data": {"status": 404}}


def test_a_unicode_digit_never_reads_as_an_ascii_id(client):
    # int("٩") is 9: an Arabic-Indic nine must not answer category 9.
    response = client.get("/api/categories/%D9%A9/")

    assert response.status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        f"/api/products/{2**70}/",
        f"/api/products/{2**64}/",
        f"/api/products/{2**63}/",
        f"/api/products/{2**70}/variations/",
        f"/api/categories/{2**70}/",
        f"/api/categories/{2**63}/",
        "/api/products/9999999999999999999/",
        "/api/categories/9999999999999999999/",
        "/api/products/" + "9" * 400 + "/",
    ],
)
def test_an_id_beyond_64_bits_is_a_400(client, url):
    response = client.get(url)

    _assert_invalid_param(response, "id")


@pytest.mark.parametrize(
    ("url", "param"),
    [
        (f"/api/categories/?parent={2**70}", "parent"),
        (f"/api/categories/?parent={2**63}", "parent"),
        (f"/api/products/?page={2**70}", "page"),
        (f"/api/products/?per_page={2**70}", "per_page"),
        (f"/api/products/?min_price={2**70}", "min_price"),
        (f"/api/products/795/variations/?page={2**70}", "page"),
    ],
)
def test_a_number_beyond_range_in_a_query_is_a_400(client, url, param):
    _assert_invalid_param(client.get(url), param)


@pytest.mark.parametrize("url", [f"/api/products/?category={2**70}", f"/api/products/facets/?category={2**70}"])
def test_an_unknown_huge_category_id_filters_to_nothing(client, url):
    response = client.get(url)

    assert response.status_code == 200
    assert response.json()["total"] == 0


def test_the_largest_64_bit_id_is_a_plain_lookup(client, settings):
    settings.ON_DEMAND_TIMEOUT_SECONDS = 0.5
    response = client.get(f"/api/categories/{2**63 - 1}/")

    assert response.status_code == 404
    assert response.json()["code"] == "woocommerce_rest_term_invalid"
