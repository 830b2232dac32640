"""The product list's fast path (rows + orjson, catalog.fast_render) answers the DRF serializer's bytes.

The serializer documents the list's shape (OpenAPI); the fast path must print exactly what it would:
same keys, order, money and date strings, numbers, nulls and escapes. These tests are the guard that
keeps the two in step: a change to one side only fails here.
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.renderers import JSONRenderer

from catalog import fast_render, presentation, selectors
from catalog.models import Category, Product
from catalog.serializers import (
    CategoryListQuerySerializer,
    CategorySerializer,
    ProductDetailSerializer,
    ProductListQuerySerializer,
)
from catalog.services import CatalogNotFound
from tests.factories import CategoryFactory, ProductFactory, ProductVariationFactory

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
PARIS = datetime.timezone(datetime.timedelta(hours=2))


def _awkward_catalog() -> None:
    root = CategoryFactory(name="Zèbres & <Co>", slug="zebres", menu_order=0)
    child = CategoryFactory(name="Ärmel", slug="armel", parent=root, menu_order=0)
    same_name = CategoryFactory(name="Ärmel", slug="armel-2", menu_order=0)  # ties broken by id
    first = CategoryFactory(name="Zz last by name, first by menu_order", slug="first", menu_order=-5)
    ProductFactory(
        name='<b>Bold</b> & "quoted" <script>alert(1)</script>',
        slug="html",
        price=Decimal("21.990000"),
        regular_price=Decimal("21.000000"),
        sale_price=Decimal("0.125000"),
        date_on_sale_from_gmt=None,
        date_on_sale_to_gmt=datetime.datetime(2030, 5, 6, 7, 8, 9, tzinfo=PARIS),
        stock_quantity=Decimal("2.500000"),
        manage_stock=True,
        low_stock_amount=None,
        average_rating=Decimal("4.50"),
        rating_count=7,
        total_sales=2**62,
        on_sale=True,
        featured=True,
        backorders="notify",
        stock_status="onbackorder",
        categories=[child, same_name, first, root],
        tags=[{"id": 1, "name": "étiquette ☃", "slug": "etiquette"}],
        images=[{"id": 3, "src": "https://shop.example/a b.jpg", "alt": "line\u2028sep\u2029para", "w": 0.5}],
        attributes=[{"id": 0, "name": "Größe", "options": ["S", "M"], "visible": True, "variation": True}],
        dimensions={"length": "10", "width": "", "height": "2.5"},
        description="Ça coûte 10 € — 🧸\n\ttab\\backslash\x01control",
    )
    ProductFactory(
        name="Nulls everywhere",
        slug="nulls",
        price=None,
        regular_price=None,
        sale_price=None,
        date_created_gmt=None,
        date_modified_gmt=None,
        stock_quantity=None,
        dimensions={},  # keys missing: DRF leaves them out
        images=[],
        weight="",
        average_rating=Decimal("0"),
        categories=[first],
    )
    ProductFactory(
        name="Year one, negative stock",
        slug="odd",
        price=Decimal("1234567.100000"),
        regular_price=Decimal("5"),
        date_created_gmt=datetime.datetime(1, 1, 1, tzinfo=UTC),
        stock_quantity=Decimal("-3.000000"),
        low_stock_amount=0,
        dimensions={"length": 10, "width": None, "height": "x"},  # a store sending numbers and nulls
        catalog_visibility="catalog",
        categories=[root],
    )
    # float(Decimal("0.000001")) is 1e-06 for json, 0.000001 for orjson.
    ProductFactory(name="Micro stock", slug="micro", stock_quantity=Decimal("0.000001"), categories=[child])
    variable = ProductFactory(
        name="Variable", slug="variable", type="variable", price=Decimal("12.500000"), categories=[child, root]
    )
    ProductVariationFactory(product=variable, menu_order=2)
    ProductVariationFactory(product=variable, menu_order=1)
    ProductVariationFactory(product=variable, menu_order=1)
    ProductVariationFactory(product=variable, status="private")  # not public: not in "variations"
    ProductVariationFactory(product=variable, deleted_at=datetime.datetime(2024, 1, 1, tzinfo=UTC))
    ProductFactory(name="Draft", slug="draft", status="draft")
    ProductFactory(name="Search only", slug="search-only", catalog_visibility="search")
    for n in range(12):
        ProductFactory(name=f"Filler {n}", price=Decimal(f"{n}.{n}0"), total_sales=n % 3, categories=[same_name])


QUERIES = [
    {},
    {"per_page": 100},
    {"per_page": 3, "page": 2},
    {"per_page": 5, "page": 9},  # past the end: empty results, totals set
    {"orderby": "price", "order": "asc", "per_page": 100},
    {"orderby": "popularity", "per_page": 7},
    {"orderby": "title", "order": "asc", "per_page": 50},
    {"category": "zebres", "per_page": 50},
    {"category": "armel-2,first", "min_price": "1", "max_price": "8", "stock_status": "instock"},
    {"search": "bold", "per_page": 50},
    {"search": "search", "per_page": 50},
    {"on_sale": "true", "featured": "true"},
]


@pytest.mark.parametrize("query", QUERIES, ids=[json.dumps(q) for q in QUERIES])
def test_the_fast_list_is_byte_identical_to_the_serializer(query):
    _awkward_catalog()
    params = presentation.query_defaults(ProductListQuerySerializer, **query)

    fast = presentation.ENDPOINTS["products"][0](params)
    stored = presentation.ENDPOINTS["products"][0](params)  # on PostgreSQL: from the fragments the first stored
    reference = presentation.products_build_serialized(params)

    assert fast.body == stored.body == reference.body
    assert fast.headers == stored.headers == reference.headers
    assert fast.etag == stored.etag == reference.etag


def test_the_awkward_values_are_really_in_the_compared_bytes():
    _awkward_catalog()
    params = presentation.query_defaults(ProductListQuerySerializer, per_page=100, orderby="id", order="asc")

    body = presentation.ENDPOINTS["products"][0](params).body

    # Not a tautology: both sides could agree on something wrong. The shape WooCommerce clients expect.
    html = next(p for p in json.loads(body)["results"] if p["slug"] == "html")
    assert (html["price"], html["regular_price"], html["sale_price"]) == ("21.99", "21.00", "0.125")
    assert html["date_on_sale_from_gmt"] is None
    assert html["date_on_sale_to_gmt"] == "2030-05-06T05:08:09"
    assert html["stock_quantity"] == 2.5
    assert html["backordered"] is True and html["backorders_allowed"] is True
    slugs = [c["slug"] for c in html["categories"]]  # menu_order, name (the database's collation), id
    assert slugs[0] == "first" and sorted(slugs) == ["armel", "armel-2", "first", "zebres"]
    assert slugs.index("armel") < slugs.index("armel-2")
    assert b"line\\u2028sep\\u2029para" in body
    nulls = next(p for p in json.loads(body)["results"] if p["slug"] == "nulls")
    assert (nulls["price"], nulls["stock_quantity"], nulls["date_created_gmt"]) == ("", None, None)
    assert nulls["dimensions"] == {}
    variable = next(p for p in json.loads(body)["results"] if p["slug"] == "variable")
    assert len(variable["variations"]) == 3


def test_a_field_subset_from_settings_is_followed(settings):
    settings.CATALOG_CACHE_FIELDS = {"product": ["price", "categories", "variations", "date_created_gmt"]}
    _awkward_catalog()
    params = presentation.query_defaults(ProductListQuerySerializer, per_page=100)

    fast = presentation.ENDPOINTS["products"][0](params)

    assert fast.body == presentation.products_build_serialized(params).body
    assert list(json.loads(fast.body)["results"][0]) == ["id", "date_created_gmt", "price", "categories", "variations"]


@pytest.mark.parametrize(
    "value",
    [
        {"small": 0.00001, "tiny": 1.5e-07, "big": 1e16, "half": 0.5},  # orjson prints the first two otherwise
        {"huge": 2**64 + 1},  # beyond orjson's 64 bits
        {"deep": json.loads("[" * 300 + "]" * 300)},  # beyond orjson's 254 levels
        {"text": "\u2028\u2029 é \x7f \x00 </script>"},
        {"slug": "0.0000-looks-like-a-float", "exp": "1e-5"},  # a false alarm in a string: still identical
    ],
)
def test_the_encoder_prints_what_drf_prints(value):
    assert fast_render.render_bytes(value) == JSONRenderer().render(value)


def test_a_product_with_json_orjson_refuses_is_still_listed_identically():
    _awkward_catalog()
    ProductFactory(name="Huge image id", images=[{"id": 2**70, "ratio": 1e-06}], categories=[])
    params = presentation.query_defaults(ProductListQuerySerializer, per_page=100)

    fast = presentation.ENDPOINTS["products"][0](params)

    assert fast.body == presentation.products_build_serialized(params).body
    assert b'"id":1180591620717411303424' in fast.body


def test_the_api_answers_the_fast_bytes(client):
    _awkward_catalog()
    params = presentation.query_defaults(ProductListQuerySerializer, per_page=20)

    response = client.get("/api/products/", {"per_page": 20})

    assert response.status_code == 200
    assert response.content == presentation.products_build_serialized(params).body


def _detail_reference(product_id: int) -> bytes:
    return JSONRenderer().render(ProductDetailSerializer(selectors.product_get(product_id=product_id)).data)


def _awkward_variations() -> Product:
    variable = Product.objects.get(slug="variable")
    ProductVariationFactory(
        product=variable,
        menu_order=0,
        price=None,
        regular_price=Decimal("0.000001"),
        stock_managed_by_parent=True,
        manage_stock=True,
        stock_quantity=Decimal("-1.500000"),
        stock_status="onbackorder",
        backorders="notify",
        image={"id": 9, "src": "https://shop.example/v é.jpg", "alt": "\u2028"},
        attributes=[{"id": 0, "name": "Größe", "option": "XL ☃"}],
        dimensions={"length": 3},
        date_created_gmt=datetime.datetime(2030, 5, 6, 7, 8, 9, tzinfo=PARIS),
        date_modified_gmt=None,
        description="<p>line\nbreak</p>",
    )
    return variable


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the detail's fast path reads rows on PostgreSQL")
def test_the_fast_detail_is_byte_identical_to_the_serializer():
    _awkward_catalog()
    _awkward_variations()
    public = Product.objects.public().order_by("id")

    for product in public:
        fast = presentation.ENDPOINTS["product"][0]({"id": product.id, "slug": None})
        by_slug = presentation.ENDPOINTS["product"][0]({"id": None, "slug": product.slug})
        assert fast.body == by_slug.body == _detail_reference(product.id), product.slug
    variable = json.loads(presentation.ENDPOINTS["product"][0]({"id": None, "slug": "variable"}).body)
    assert len(variable["variation_details"]) == 4  # the private and the deleted ones left out
    assert variable["variation_details"][0]["manage_stock"] == "parent"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the detail's fast path reads rows on PostgreSQL")
def test_the_fast_detail_follows_a_field_subset_and_404s_what_is_not_public(settings):
    settings.CATALOG_CACHE_FIELDS = {
        "product": ["price", "categories", "variation_details"],
        "variation": ["sku", "manage_stock"],
    }
    _awkward_catalog()
    variable = _awkward_variations()
    draft = Product.objects.get(slug="draft")

    fast = presentation.ENDPOINTS["product"][0]({"id": variable.id, "slug": None})

    assert fast.body == _detail_reference(variable.id)
    assert set(json.loads(fast.body)["variation_details"][0]) == {"id", "sku", "manage_stock"}
    with pytest.raises(CatalogNotFound):
        presentation.ENDPOINTS["product"][0]({"id": draft.id, "slug": None})


def _categories_reference(params: dict) -> bytes:
    """``categories_build`` as it was: the serializer over model instances, DRF's renderer."""
    listing = selectors.category_listing()
    instances = {category.id: category for category in Category.objects.all()}
    ids = [
        i
        for i in listing.tree.order
        if (params["parent"] is None or (listing.tree.nodes[i].parent or 0) == params["parent"])
        and (not params["hide_empty"] or listing.counts.get(i))
    ]
    per_page = params["per_page"] or max(len(ids), 1)
    page = [instances[i] for i in ids[(params["page"] - 1) * per_page : params["page"] * per_page]]
    data = CategorySerializer(page, many=True, context={"listing": listing}).data
    body = {"total": len(ids), "total_pages": -(-len(ids) // per_page), "page": params["page"], "per_page": per_page}
    return JSONRenderer().render({**body, "results": data})


@pytest.mark.parametrize("query", [{}, {"per_page": 2, "page": 2}, {"hide_empty": True}, {"parent": 0}])
def test_the_fast_category_listing_is_byte_identical_to_the_serializer(query):
    _awkward_catalog()
    root = Category.objects.get(slug="zebres")
    Category.objects.filter(id=root.id).update(
        description="<p>Ça & «quotes»\u2028</p>", image={"id": 1, "src": "https://shop.example/é.jpg", "w": 0.5}
    )
    CategoryFactory(name="Orphan", slug="orphan", parent_id=999_999, display="subcategories")
    params = presentation.query_defaults(CategoryListQuerySerializer, **query)

    fast = presentation.categories_build(params)

    assert fast.body == _categories_reference(params)
    shown = {category["id"]: category for category in json.loads(fast.body)["results"]}
    if root.id in shown:  # the awkward values are in the compared bytes
        assert shown[root.id]["image"]["w"] == 0.5 and b"\\u2028" in fast.body
