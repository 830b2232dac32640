"""Facet and category counts memoised per process by the list epoch (PostgreSQL): exact after every write.

Outside a transaction ``product_facets`` and ``category_listing`` keep their counts per filter with the list
epoch read in the counting statement; a request that reads the same epoch with its category tree reuses them.
Each test below writes one kind of change after the counts were memoised and checks that the next answer is
what a fresh count gives (counted inside a transaction, where the memo is never used) and that the change
really shows, so a memo kept past its epoch would fail it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from catalog import selectors
from catalog.models import Category, Product, ProductCategory
from catalog.selectors import ProductFilters
from tests.factories import CategoryFactory, ProductFactory

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the epoch needs PostgreSQL's triggers"),
    pytest.mark.django_db(transaction=True),
]

FILTERED = ProductFilters(min_price=Decimal("1"), stock_statuses=("instock",))


def _catalog() -> dict[str, object]:
    root = CategoryFactory(slug="root")
    child = CategoryFactory(slug="child", parent=root)
    other = CategoryFactory(slug="other")
    cheap = ProductFactory(price=Decimal("5"), categories=[child])
    dear = ProductFactory(price=Decimal("50"), categories=[root, other], stock_status="outofstock")
    ProductFactory(price=Decimal("20"), categories=[other])
    return {"root": root, "child": child, "other": other, "cheap": cheap, "dear": dear}


def _answers() -> tuple[object, ...]:
    """What facets (plain, filtered, by category) and the category listing answer now."""
    facets = tuple(
        selectors.product_facets(filters=f) for f in (ProductFilters(), FILTERED, ProductFilters(categories=("root",)))
    )
    return (*facets, selectors.category_listing().counts)


def _fresh() -> tuple[object, ...]:
    with transaction.atomic():  # a transaction never uses the memos
        return _answers()


def test_counts_come_from_the_memo_at_the_same_epoch():
    _catalog()
    cold = _answers()

    with CaptureQueriesContext(connection) as facets:
        selectors.product_facets(filters=FILTERED)
    with CaptureQueriesContext(connection) as listing:
        selectors.category_listing()

    assert len(facets) == 1  # the tree with the epoch; the counts from the memo
    assert len(listing) == 1  # the categories with the epoch
    assert cold == _answers() == _fresh()


def _stock_status(c: dict) -> None:
    Product.objects.filter(id=c["cheap"].id).update(stock_status="outofstock")


def _price(c: dict) -> None:
    Product.objects.filter(id=c["dear"].id).update(price=Decimal("500"))


def _link_added(c: dict) -> None:
    ProductCategory.objects.create(product=c["cheap"], category=c["other"])


def _link_removed(c: dict) -> None:
    ProductCategory.objects.filter(product=c["dear"], category=c["root"]).delete()


def _hidden(c: dict) -> None:
    Product.objects.filter(id=c["cheap"].id).update(catalog_visibility="hidden")


def _unpublished(c: dict) -> None:
    Product.objects.filter(id=c["dear"].id).update(status="draft")


def _deleted(c: dict) -> None:
    Product.objects.filter(id=c["cheap"].id).delete()


def _added(c: dict) -> None:
    ProductFactory(price=Decimal("7"), categories=[c["child"]])


def _moved_out_of_the_subtree(c: dict) -> None:
    Category.objects.filter(id=c["child"].id).update(parent=None)


CHANGES: dict[str, Callable[[dict], None]] = {
    "stock status": _stock_status,
    "price": _price,
    "link added": _link_added,
    "link removed": _link_removed,
    "product hidden": _hidden,
    "product unpublished": _unpublished,
    "product deleted": _deleted,
    "product added": _added,
    "category moved": _moved_out_of_the_subtree,
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_every_committed_change_is_counted_at_once(change):
    c = _catalog()
    before = _answers()
    _answers()  # from the memo

    change(c)

    after = _answers()
    assert after == _fresh()
    assert after != before


def test_a_stock_quantity_or_a_category_name_keeps_the_counts_and_shows_the_name():
    c = _catalog()
    _answers()
    Product.objects.filter(id=c["cheap"].id).update(stock_quantity=Decimal("3"))
    Category.objects.filter(id=c["child"].id).update(name="Renamed")

    with CaptureQueriesContext(connection) as queries:
        facets = selectors.product_facets(filters=ProductFilters())

    assert len(queries) == 1  # neither moves the epoch: the counts stay memoised
    assert [node.name for node, _ in facets.categories if node.id == c["child"].id] == ["Renamed"]
    assert facets == _fresh()[0]


def test_concurrent_requests_of_a_process_count_once(monkeypatch):
    _catalog()
    counted: list[str] = []
    count = selectors._aggregate_count

    def slow_count(key, **kwargs):
        counted.append(key[1])
        time.sleep(0.2)  # long enough for every other thread to arrive and wait
        return count(key, **kwargs)

    monkeypatch.setattr(selectors, "_aggregate_count", slow_count)

    def request() -> object:
        try:
            return selectors.product_facets(filters=ProductFilters(featured=False))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: request(), range(6)))

    assert sorted(counted) == ["by-stock", "category-counts"]  # once each, not once per request
    assert all(answer == answers[0] for answer in answers)
    assert answers[0] == _fresh_facets(ProductFilters(featured=False))


def _fresh_facets(filters: ProductFilters) -> object:
    with transaction.atomic():
        return selectors.product_facets(filters=filters)
