"""``search=`` on PostgreSQL: the copy of the searchable names the triggers keep (migration 0011), and the
plans a search page is read by (``catalog.selectors.product_list_fragments``: ``_search_plan``), each checked
against the serializer's page, which matches on the product table itself."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import selectors
from catalog.models import Product, ProductListFragment, ProductSearchName
from tests.catalog.test_list_fragments import _fast, _params, _reference
from tests.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the names copy needs PostgreSQL's triggers")

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _copy() -> dict[int, tuple[str, str]]:
    return {row.product_id: (row.name, row.sku) for row in ProductSearchName.objects.all()}


def _row_version(product_id: int) -> str | None:
    """The copy's row version (xmin): changes whenever the row is written."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT xmin::text FROM catalog_productsearchname WHERE product_id = %s", [product_id])
        row = cursor.fetchone()
    return row[0] if row else None


@pytest.mark.django_db
def test_the_copy_holds_exactly_the_products_a_search_can_show():
    visible = ProductFactory(name="Blue shirt", sku="B-1")
    search_only = ProductFactory(name="Blue search", sku="B-2", catalog_visibility="search")
    ProductFactory(catalog_visibility="catalog")
    ProductFactory(catalog_visibility="hidden")
    ProductFactory(status="draft")
    ProductFactory(deleted_at=NOW)

    assert _copy() == {visible.id: ("Blue shirt", "B-1"), search_only.id: ("Blue search", "B-2")}


@pytest.mark.django_db
def test_every_write_that_changes_what_a_search_finds_reaches_the_copy():
    product = ProductFactory(name="Old name", sku="S-1")
    rows = Product.objects.filter(id=product.id)

    rows.update(name="New name")
    assert _copy() == {product.id: ("New name", "S-1")}
    rows.update(sku="S-2")
    assert _copy() == {product.id: ("New name", "S-2")}
    for leaves, returns in [
        ({"catalog_visibility": "catalog"}, {"catalog_visibility": "search"}),
        ({"catalog_visibility": "hidden"}, {"catalog_visibility": "visible"}),
        ({"status": "draft"}, {"status": "publish"}),
        ({"deleted_at": NOW}, {"deleted_at": None}),
    ]:
        rows.update(**leaves)
        assert _copy() == {}, leaves
        rows.update(**returns)
        assert _copy() == {product.id: ("New name", "S-2")}, returns

    product.refresh_from_db()
    product.name = "Bulk name"
    Product.objects.bulk_update([product], ["name"])
    assert _copy() == {product.id: ("Bulk name", "S-2")}

    [added] = Product.objects.bulk_create([Product(id=product.id + 1, name="Added", sku="S-3")])
    assert _copy()[added.id] == ("Added", "S-3")

    Product.objects.filter(id=product.id).delete()
    assert _copy() == {added.id: ("Added", "S-3")}


@pytest.mark.django_db
def test_stock_and_price_writes_leave_the_copy_alone():
    product = ProductFactory(name="Steady", price=Decimal("5"))
    before = _row_version(product.id)
    assert before is not None

    Product.objects.filter(id=product.id).update(
        price=Decimal("6"), stock_quantity=Decimal("3"), stock_status="outofstock", description="changed", featured=True
    )

    assert _row_version(product.id) == before


@pytest.mark.django_db
def test_truncating_the_products_empties_the_copy():
    ProductFactory.create_batch(3)
    assert len(_copy()) == 3

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the list epoch's deferred trigger (migration 0008)
        cursor.execute("TRUNCATE catalog_product CASCADE")

    assert _copy() == {}


def _search_catalog() -> None:
    """Names and SKUs a search may or may not find, with dates, prices and popularity that differ, and
    products a search never shows."""
    for n in range(14):
        ProductFactory(
            name=["Blue shirt", "blue HOODIE", "Red mug", "Navy blue cap"][n % 4] + f" {n}",
            sku=f"SKU-{n}",
            price=Decimal(n % 5 + 1),
            total_sales=(n * 7) % 11,
            menu_order=n % 3,
            date_created_gmt=NOW + datetime.timedelta(hours=(n * 5) % 14),
            catalog_visibility=["visible", "visible", "search", "visible"][n % 4],
        )
    ProductFactory(name="Blue draft", status="draft")
    ProductFactory(name="Blue catalog-only", catalog_visibility="catalog")
    ProductFactory(name="Unrelated", sku="blue")  # found by its exact SKU


@pytest.mark.django_db
@pytest.mark.parametrize("ids_max", [0, 4, 1000], ids=["walk always", "ids when few", "ids always"])
@pytest.mark.parametrize("orderby", list(selectors.ORDERINGS))
def test_a_search_page_is_the_serializers_whatever_plan_reads_it(monkeypatch, ids_max, orderby):
    _search_catalog()
    monkeypatch.setattr(selectors, "SEARCH_IDS_MAX", ids_max)

    for term in ["blue", "HOODIE", "sku-3", "SKU-3", "zzz", "%", "_", "e"]:
        for order in ("asc", "desc"):
            for page in (1, 2, 9):
                params = _params(search=term, orderby=orderby, order=order, per_page=3, page=page)
                assert _fast(params) == _reference(params), (term, order, page)


@pytest.mark.django_db
@pytest.mark.parametrize("ids_max", [0, 1000], ids=["join", "ids"])
def test_a_search_with_other_filters_is_the_serializers_whatever_plan_reads_it(monkeypatch, ids_max):
    _search_catalog()
    shirts = CategoryFactory(slug="shirts")
    for product in Product.objects.filter(name__icontains="shirt"):
        product.categories.add(shirts)
    monkeypatch.setattr(selectors, "SEARCH_IDS_MAX", ids_max)

    for filters in [
        {"category": "shirts"},
        {"min_price": "2", "max_price": "4"},
        {"stock_status": "instock", "orderby": "price"},
        {"category": "nowhere"},
    ]:
        for term in ["blue", "sku-5", "zzz"]:
            for page in (1, 2):
                params = _params(search=term, per_page=3, page=page, **filters)
                assert _fast(params) == _reference(params), (filters, term, page)


@pytest.mark.django_db
def test_a_search_page_runs_at_most_4_queries_with_every_fragment_to_render():
    _search_catalog()
    params = _params(search="blue", per_page=100)

    with CaptureQueriesContext(connection) as queries:
        body = _fast(params)

    # the matches, the page, the rows to render and the fragments stored (no memo inside a transaction)
    assert len(queries) <= 4
    assert json.loads(body)["total"] == 12  # 10 names with "blue" that a search shows, and the SKU "blue"

    ProductListFragment.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        _fast(_params(search="blue", min_price="1", per_page=100))
    assert len(queries) <= 5  # with another filter, the count too (as a category filter adds the tree)


@pytest.mark.django_db(transaction=True)
def test_the_matches_memo_follows_every_committed_change():
    selectors._SEARCHES.clear()
    product = ProductFactory(name="Plain mug")
    ProductFactory(name="Teal mug")
    assert json.loads(_fast(_params(search="teal")))["total"] == 1

    with CaptureQueriesContext(connection) as queries:
        again = _fast(_params(search="teal"))
    assert len(queries) == 1  # the page: the matches from this process's memo, nothing rendered
    assert json.loads(again)["total"] == 1

    Product.objects.filter(id=product.id).update(name="Teal cup")  # a committed rename moves the epoch
    renamed = json.loads(_fast(_params(search="teal")))
    assert renamed["total"] == 2
    assert {p["name"] for p in renamed["results"]} == {"Teal cup", "Teal mug"}

    Product.objects.filter(id=product.id).update(catalog_visibility="catalog")
    assert json.loads(_fast(_params(search="teal")))["total"] == 1

    Product.objects.filter(name="Teal mug").delete()
    assert json.loads(_fast(_params(search="teal")))["total"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_search_with_a_filter_follows_a_committed_rename_too():
    selectors._SEARCHES.clear()
    product = ProductFactory(name="Plain mug", price=Decimal("3"))
    ProductFactory(name="Teal mug", price=Decimal("3"))
    params = _params(search="teal", min_price="2")
    assert json.loads(_fast(params))["total"] == 1
    with CaptureQueriesContext(connection) as queries:
        _fast(params)
    assert len(queries) == 1  # the page: the matches and the count from this process's memos

    Product.objects.filter(id=product.id).update(name="Teal cup")
    renamed = json.loads(_fast(params))
    assert renamed["total"] == 2
    assert {p["name"] for p in renamed["results"]} == {"Teal cup", "Teal mug"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "term",
    ["\\", "\\%", "a'b", '"', "%%", "__", "🧦", "ß", "İ", "x" * 200, "%ED%A0%80", "blue%20shirt", "%C3%A9"],
)
def test_any_term_answers_the_serializers_page_and_never_a_500(client, term):
    """Raw UTF-8 in the query string ("ß", not "%C3%9F", as curl sends it) is read as UTF-8 too."""
    _search_catalog()
    ProductFactory(name='Blue shirt 🧦 ß \\ 50% a\'b "q" __x__ é')

    response = client.get(f"/api/products/?per_page=5&search={term}")

    assert response.status_code == 200, response.content
    # The API's defaults (newest first), not _params' (by id), so that the pages compare.
    params = _params(search=response.wsgi_request.GET["search"].strip(), per_page=5, orderby="date", order="desc")
    assert response.json() == json.loads(_fast(params)) == json.loads(_reference(params))
