"""``rows_upsert`` on its own, on the database the suite runs on (PostgreSQL's JSON path or SQLite's VALUES)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection

from catalog.models import Category, Product
from sync.services.upsert import rows_diff, rows_upsert
from tests.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

SYNCED = datetime.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=datetime.UTC)
CATEGORY_COLUMNS = ("name", "slug", "parent_id", "description", "display", "image", "menu_order", "count")


def category_row(category_id: int, **values) -> dict:
    return {
        "name": f"Category {category_id}",
        "slug": f"category-{category_id}",
        "parent_id": None,
        "description": "",
        "display": "default",
        "image": None,
        "menu_order": 0,
        "count": 0,
        **values,
    }


def test_new_ids_are_inserted_and_known_ids_updated_in_one_call():
    CategoryFactory(id=1, name="Old name", slug="old")
    rows = {1: category_row(1, name="New name"), 2: category_row(2, parent_id=1, menu_order=-3)}

    sent = rows_upsert(model=Category, rows=rows, ids=[1, 2], fields=CATEGORY_COLUMNS, synced_at=SYNCED)

    assert sent == 2
    assert list(Category.objects.order_by("id").values("id", "name", "slug", "parent_id", "menu_order")) == [
        {"id": 1, "name": "New name", "slug": "category-1", "parent_id": None, "menu_order": 0},
        {"id": 2, "name": "Category 2", "slug": "category-2", "parent_id": 1, "menu_order": -3},
    ]
    assert set(Category.objects.values_list("synced_at", "updated_at")) == {(SYNCED, SYNCED)}


def test_only_the_ids_asked_for_are_written():
    untouched = CategoryFactory(id=7, name="Keep me")
    rows = {7: category_row(7, name="Not this"), 8: category_row(8)}

    assert rows_upsert(model=Category, rows=rows, ids=[8], fields=CATEGORY_COLUMNS, synced_at=SYNCED) == 1

    kept = Category.objects.get(id=7)
    assert (kept.name, kept.synced_at) == ("Keep me", untouched.synced_at)
    assert Category.objects.filter(id=8).exists()


def test_no_ids_is_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert rows_upsert(model=Category, rows={}, ids=[], fields=CATEGORY_COLUMNS, synced_at=SYNCED) == 0


def test_every_column_type_round_trips_exactly():
    ProductFactory(id=500)  # an update, not only an insert
    values = {
        "name": "Chaise « Ölçü » 'quoted' \"double\" \\ backslash",
        "price": Decimal("1234567.123456"),
        "regular_price": Decimal("0.000001"),
        "sale_price": None,
        "stock_quantity": Decimal("-2.5"),
        "average_rating": Decimal("4.25"),
        "date_on_sale_from_gmt": datetime.datetime(2026, 1, 31, 23, 59, 59, tzinfo=datetime.UTC),
        "date_on_sale_to_gmt": None,
        "images": [{"id": 3, "src": "https://shop.example/a.jpg", "alt": "ä \u2603"}],
        "dimensions": {"length": "1", "width": "", "height": "3.5"},
        "attributes": [],
        "featured": True,
        "low_stock_amount": None,
        "total_sales": 2**40,
    }
    # An insert sends every column, as the sync does: the others at their model defaults.
    row = {
        field.attname: field.get_default()
        for field in Product._meta.concrete_fields
        if field.name not in ("id", "synced_at", "updated_at", "list_version")  # list_version: set by triggers
    }
    row.update(values)
    rows = {500: row, 501: row}

    rows_upsert(model=Product, rows=rows, ids=[500, 501], fields=tuple(row), synced_at=SYNCED)

    for product in Product.objects.filter(id__in=[500, 501]):
        assert {name: getattr(product, name) for name in values} == values
    assert rows_diff(model=Product, rows=rows, fields=tuple(row)).unchanged == 2


def test_a_page_larger_than_the_databases_parameter_limit_is_written_whole():
    limit = connection.features.max_query_params or 999
    count = limit // len(CATEGORY_COLUMNS) + 50  # more rows than one statement's placeholders can carry
    rows = {category_id: category_row(category_id) for category_id in range(1, count + 1)}

    sent = rows_upsert(model=Category, rows=rows, ids=list(rows), fields=CATEGORY_COLUMNS, synced_at=SYNCED)

    assert sent == count
    assert Category.objects.count() == count
    assert rows_diff(model=Category, rows=rows, fields=CATEGORY_COLUMNS).unchanged == count
