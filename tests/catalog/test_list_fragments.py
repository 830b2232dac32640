"""The product list from stored fragments (PostgreSQL): never stale, byte for byte the serializer's.

A fragment is a product's bytes in the list; it is served only while its version is the product's
``list_version``, which migration 0008's triggers renew on every change that can show in the list. Each
test below changes one such thing after the page was stored and checks that the next page is the
serializer's, and that the change really shows (so a stale fragment would fail it).
"""

from __future__ import annotations

import datetime
import io
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from catalog import fast_render, presentation, selectors
from catalog.models import Category, Product, ProductCategory, ProductListEpoch, ProductListFragment, ProductVariation
from catalog.serializers import ProductListQuerySerializer
from tests.catalog.test_fast_render import _awkward_catalog
from tests.factories import CategoryFactory, ProductFactory, ProductVariationFactory

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="fragments need PostgreSQL's triggers")

UTC = datetime.UTC


def _params(**query: object) -> dict:
    return presentation.query_defaults(
        ProductListQuerySerializer, **{"per_page": 100, "orderby": "id", "order": "asc", **query}
    )


def _fast(params: dict) -> bytes:
    return presentation.ENDPOINTS["products"][0](params).body


def _reference(params: dict) -> bytes:
    return presentation.products_build_serialized(params).body


def _product(body: bytes, product_id: int) -> dict:
    return next(p for p in json.loads(body)["results"] if p["id"] == product_id)


@pytest.mark.django_db
def test_a_stored_page_is_served_from_fragments_byte_identical():
    _awkward_catalog()
    params = _params()

    cold = _fast(params)
    with CaptureQueriesContext(connection) as queries:
        warm = _fast(params)

    assert cold == warm == _reference(params)
    assert ProductListFragment.objects.count() == len(json.loads(warm)["results"])
    # the page with its fragments, and the count (no memo inside a transaction); nothing rendered or stored
    assert len(queries) == 2
    assert not any("INSERT" in q["sql"] for q in queries)


@pytest.mark.django_db
def test_a_current_fragment_is_served_as_stored_and_one_of_another_shape_is_not():
    product = ProductFactory(name="Real")
    params = _params()
    _fast(params)

    ProductListFragment.objects.filter(product_id=product.id).update(body='{"id":1,"tampered":true}')
    assert b'"tampered":true' in _fast(params)  # proof that the stored bytes are what is served

    ProductListFragment.objects.filter(product_id=product.id).update(body='{"tampered":true}', shape="other")
    assert _fast(params) == _reference(params)


@pytest.mark.django_db
def test_another_field_selection_is_another_shape(settings):
    ProductFactory()
    _fast(_params())
    settings.CATALOG_CACHE_FIELDS = {"product": ["price"]}

    body = _fast(_params())

    assert body == _reference(_params())
    assert list(json.loads(body)["results"][0]) == ["id", "price"]


def _catalog() -> tuple[Product, Product, Category, Category]:
    first = CategoryFactory(name="First", slug="first", menu_order=1)
    second = CategoryFactory(name="Second", slug="second", menu_order=2)
    simple = ProductFactory(name="Simple", price=Decimal("5.000000"), categories=[first, second])
    variable = ProductFactory(name="Variable", type="variable", categories=[first])
    ProductVariationFactory(id=901, product=variable, menu_order=1)
    ProductVariationFactory(id=902, product=variable, menu_order=2)
    return simple, variable, first, second


def _simple(check: Callable[[dict], object]) -> Callable[[tuple], object]:
    return lambda body_and_catalog: check(_product(body_and_catalog[0], body_and_catalog[1][0].id))


def _variations(body: bytes, catalog: tuple) -> list[int]:
    return _product(body, catalog[1].id)["variations"]


def _category_slugs(body: bytes, catalog: tuple) -> list[str]:
    return [c["slug"] for c in _product(body, catalog[0].id)["categories"]]


def _reinsert(catalog: tuple) -> None:
    simple = Product.objects.get(id=catalog[0].id)
    Product.objects.filter(id=simple.id).delete()
    ProductFactory(id=simple.id, name="Reborn")


CHANGES: dict[str, tuple[Callable[[tuple], object], Callable[[bytes, tuple], object]]] = {
    "name, by save()": (
        lambda c: _save_name(c[0].id, "Renamed"),
        lambda body, c: _product(body, c[0].id)["name"],
    ),
    "price, by queryset update": (
        lambda c: Product.objects.filter(id=c[0].id).update(price=Decimal("7.5")),
        lambda body, c: _product(body, c[0].id)["price"],
    ),
    "stock, by raw SQL": (
        lambda c: _sql("UPDATE catalog_product SET stock_quantity = 42 WHERE id = %s", [c[0].id]),
        lambda body, c: _product(body, c[0].id)["stock_quantity"],
    ),
    "a category link added": (
        lambda c: ProductCategory.objects.create(product_id=c[1].id, category=c[3]),
        lambda body, c: [x["slug"] for x in _product(body, c[1].id)["categories"]],
    ),
    "a category link removed": (
        lambda c: ProductCategory.objects.filter(product_id=c[0].id, category=c[2]).delete(),
        _category_slugs,
    ),
    "a category renamed": (
        lambda c: Category.objects.filter(id=c[2].id).update(name="Renamed", slug="renamed"),
        _category_slugs,
    ),
    "categories reordered": (
        lambda c: Category.objects.filter(id=c[2].id).update(menu_order=3),
        _category_slugs,
    ),
    "a variation added": (
        lambda c: ProductVariationFactory(id=903, product=c[1], menu_order=0),
        _variations,
    ),
    "a variation hidden": (
        lambda c: ProductVariation.objects.filter(id=901).update(status="private"),
        _variations,
    ),
    "a variation deleted in WooCommerce": (
        lambda c: ProductVariation.objects.filter(id=902).update(deleted_at=datetime.datetime(2025, 1, 1, tzinfo=UTC)),
        _variations,
    ),
    "variations reordered": (
        lambda c: ProductVariation.objects.filter(id=901).update(menu_order=5),
        _variations,
    ),
    "a variation removed": (
        lambda c: ProductVariation.objects.filter(id=901).delete(),
        _variations,
    ),
    "the product deleted and inserted again": (
        _reinsert,
        lambda body, c: _product(body, c[0].id)["name"],
    ),
}


def _save_name(product_id: int, name: str) -> None:
    product = Product.objects.get(id=product_id)
    product.name = name
    product.save()


def _sql(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.django_db
@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_change_that_shows_in_the_list_is_never_served_stale(change):
    catalog = _catalog()
    params = _params()
    apply, shown = CHANGES[change]
    before = _fast(params)
    assert before == _reference(params)

    apply(catalog)
    after = _fast(params)

    assert after == _reference(params)
    assert shown(after, catalog) != shown(before, catalog)  # the change shows: a stale fragment would fail


@pytest.mark.django_db
def test_what_does_not_show_keeps_the_fragment():
    simple, _, first, _ = _catalog()
    versions = dict(Product.objects.values_list("id", "list_version"))

    ProductVariation.objects.filter(id=901).update(stock_quantity=Decimal("3"), price=Decimal("1.5"))
    Category.objects.filter(id=first.id).update(count=99, description="not in the list")
    Product.objects.filter(id=simple.id).update(name="Simple")  # the same value: no change

    assert dict(Product.objects.values_list("id", "list_version")) == versions


def _epoch() -> int | None:
    return ProductListEpoch.objects.filter(id=1).values_list("value", flat=True).first()


@pytest.mark.django_db(transaction=True)
def test_the_epoch_moves_at_the_commit_of_a_change_to_what_filters_match():
    product = ProductFactory(price=Decimal("5"))
    start = _epoch()
    assert start is not None

    Product.objects.filter(id=product.id).update(stock_quantity=Decimal("9"), description="x")  # not filtered on
    assert _epoch() == start
    with transaction.atomic():
        Product.objects.filter(id=product.id).update(price=Decimal("6"))
        Product.objects.filter(id=product.id).update(stock_status="outofstock")
        assert _epoch() == start  # deferred to the commit
    after_price = _epoch()
    assert after_price != start
    ProductCategory.objects.create(product=product, category=CategoryFactory())
    assert _epoch() not in (start, after_price)


@pytest.mark.django_db(transaction=True)
def test_the_count_memo_follows_every_committed_change():
    first = ProductFactory(price=Decimal("5"))
    params = _params(min_price="1")
    assert json.loads(_fast(params))["total"] == 1

    with CaptureQueriesContext(connection) as queries:
        again = _fast(params)
    assert len(queries) == 1  # the page with its fragments: the count from the memo, nothing rendered
    assert json.loads(again)["total"] == 1

    ProductFactory(price=Decimal("6"))
    assert json.loads(_fast(params))["total"] == 2
    Product.objects.filter(id=first.id).update(price=Decimal("0.5"))
    assert json.loads(_fast(params))["total"] == 1
    Product.objects.filter(id=first.id).update(status="draft")
    assert _fast(params) == _reference(params)


def _ids(body: bytes) -> list[int]:
    return [p["id"] for p in json.loads(body)["results"]]


def _unmemoised(params: dict) -> bytes:
    with transaction.atomic():  # a transaction never uses the memos
        return _fast(params)


# What the page of a sort that moves the epoch (price, title) keeps from the memoised ids, and what moves it.
PAGE_CHANGES: dict[str, Callable[[list[Product]], None]] = {
    "price reorders": lambda p: Product.objects.filter(id=p[0].id).update(price=Decimal("99")),
    "name reorders the title sort": lambda p: Product.objects.filter(id=p[0].id).update(name="zzz last"),
    "stock status leaves the filter": lambda p: Product.objects.filter(id=p[1].id).update(stock_status="outofstock"),
    "link removed leaves the category": lambda p: ProductCategory.objects.filter(product_id=p[1].id).delete(),
    "hidden": lambda p: Product.objects.filter(id=p[1].id).update(catalog_visibility="hidden"),
    "deleted": lambda p: Product.objects.filter(id=p[1].id).delete(),
    "added": lambda p: ProductFactory(name="aaa first", price=Decimal("1"), categories=[p[0].categories.first()]),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("orderby", "name"),
    [("price", name) for name in PAGE_CHANGES if name != "name reorders the title sort"]
    + [("title", name) for name in PAGE_CHANGES if name != "price reorders"],
)
def test_a_memoised_page_follows_every_committed_change(orderby, name):
    change = PAGE_CHANGES[name]
    category = CategoryFactory(slug="shirts")
    products = [ProductFactory(name=f"shirt {n}", price=Decimal(n + 2), categories=[category]) for n in range(3)]
    params = _params(category="shirts", stock_status="instock", orderby=orderby, per_page=2)
    before = _fast(params)
    with CaptureQueriesContext(connection) as queries:
        again = _fast(params)
    assert again == before == _unmemoised(params)
    assert len(queries) == 1 and "unnest" in queries[0]["sql"]  # the ids from the memo, read by id

    change(products)

    after = _fast(params)
    assert after == _unmemoised(params)
    assert _ids(after) != _ids(before) or json.loads(after)["total"] != json.loads(before)["total"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_of_a_process_read_a_new_page_once_then_its_memo(monkeypatch):
    category = CategoryFactory(slug="shirts")
    for n in range(4):
        ProductFactory(name=f"shirt {n}", price=Decimal(n + 2), categories=[category])
    params = _params(category="shirts", orderby="price", per_page=2)
    selectors._TREES.clear()  # a fresh process: no tree of an earlier test's "shirts" to correct first
    read: list[object] = []
    page_read = selectors._page_read

    def slow_page_read(cursor, compiled, *, shape, memo_key):
        if memo_key is not None:  # a read to memoise (the references below read inside a transaction)
            read.append(memo_key)
            time.sleep(0.2)  # long enough for every other thread to arrive and wait
        return page_read(cursor, compiled, shape=shape, memo_key=memo_key)

    monkeypatch.setattr(selectors, "_page_read", slow_page_read)

    def request() -> bytes:
        try:
            return _fast(params)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: request(), range(6)))

    assert len(read) == 1  # once, not once per request: the others read the memo it stored
    assert all(answer == answers[0] for answer in answers)
    assert answers[0] == _unmemoised(params) == _reference(params)

    Product.objects.filter(name="shirt 3").update(price=Decimal("1"))  # moves the epoch: the memo is stale
    with ThreadPoolExecutor(max_workers=6) as pool:
        after = list(pool.map(lambda _: request(), range(6)))

    assert len(read) == 2
    assert all(answer == after[0] for answer in after)
    assert _ids(after[0])[0] == Product.objects.get(name="shirt 3").id
    assert after[0] == _unmemoised(params)


@pytest.mark.django_db
def test_fill_stores_every_public_product_then_nothing_more():
    _awkward_catalog()
    public = Product.objects.public().count()
    out = io.StringIO()

    call_command("list_fragments_fill", "--batch-size", "4", stdout=out)

    assert f"rendered {public} fragments" in out.getvalue()
    assert ProductListFragment.objects.count() == public
    params = _params(per_page=100)
    with CaptureQueriesContext(connection) as queries:
        body = _fast(params)
    assert body == _reference(params)
    assert not any("INSERT" in q["sql"] for q in queries)
    out = io.StringIO()
    call_command("list_fragments_fill", stdout=out)
    assert "rendered 0 fragments, pruned 0" in out.getvalue()


@pytest.mark.django_db
def test_fill_prunes_what_can_no_longer_be_served_and_dry_run_writes_nothing():
    kept, hidden = ProductFactory(), ProductFactory()
    call_command("list_fragments_fill", stdout=io.StringIO())
    Product.objects.filter(id=hidden.id).update(status="draft")
    ProductFactory()
    out = io.StringIO()

    call_command("list_fragments_fill", "--dry-run", stdout=out)
    assert "would render 1 fragments" in out.getvalue()
    assert set(ProductListFragment.objects.values_list("product_id", flat=True)) == {kept.id, hidden.id}

    call_command("list_fragments_fill", stdout=io.StringIO())
    assert hidden.id not in set(ProductListFragment.objects.values_list("product_id", flat=True))
    assert ProductListFragment.objects.count() == 2


def test_fill_refuses_a_bad_batch_size_and_has_help():
    with pytest.raises(CommandError, match="batch-size"):
        call_command("list_fragments_fill", "--batch-size", "0", stdout=io.StringIO())
    with pytest.raises(SystemExit):
        call_command("list_fragments_fill", "--help", stdout=io.StringIO())


@pytest.mark.django_db
def test_the_shape_names_the_fields_and_follows_them(settings):
    shape = fast_render.fragment_shape()
    settings.CATALOG_CACHE_FIELDS = {"product": ["price"]}
    assert fast_render.fragment_shape() != shape
    assert selectors.catalog_triggers_supported()


@pytest.mark.django_db(transaction=True)
def test_the_category_filter_follows_the_tree_outside_transactions():
    root = CategoryFactory(slug="root")
    child = CategoryFactory(slug="child", parent=root)
    ProductFactory(categories=[child])
    assert json.loads(_fast(_params(category="root")))["total"] == 1
    with CaptureQueriesContext(connection) as queries:
        _fast(_params(category="root"))
    assert len(queries) == 1  # the tree and the count from this process's memos

    Category.objects.filter(id=child.id).update(parent=None)  # moved out of the subtree
    assert json.loads(_fast(_params(category="root")))["total"] == 0
    Category.objects.filter(id=root.id).update(slug="renamed")
    assert json.loads(_fast(_params(category="renamed")))["total"] == 0
    assert json.loads(_fast(_params(category="child")))["total"] == 1
    newcomer = CategoryFactory(slug="newcomer", parent=child)  # a slug unknown a moment ago
    ProductFactory(categories=[newcomer])
    body = _fast(_params(category="child"))
    assert json.loads(body)["total"] == 2
    assert body == _reference(_params(category="child"))
    assert json.loads(_fast(_params(category="newcomer")))["total"] == 1
