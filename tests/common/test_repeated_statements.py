"""The catalog's repeated reads: parameters merged into the text, prepared on their connection once run
``prepare_threshold`` times (PostgreSQL), and counted and logged as Django's own statements are."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.db import PREPARED_MAX, LiteralStatementCursor, repeated_statements_cursor
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")

HOSTILE = ["plain", "it's", "%", "%%", "%s", "\\", "'; SELECT 1; --", "ß\u0130🙂", "$1", ""]


def _prepared_texts() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_merged_parameter_reads_back_exactly_what_was_sent(value):
    with repeated_statements_cursor() as cursor:
        for _ in range(3):  # past the threshold: the prepared text answers the same
            cursor.execute("SELECT %s, %s", (value, 7))
            assert cursor.fetchall() == [(value, 7)]


def test_a_text_without_parameters_is_sent_as_it_is():
    with repeated_statements_cursor() as cursor:
        cursor.execute("SELECT '100%%'")
        assert cursor.fetchone() == ("100%%",)
        cursor.execute("SELECT %s", ("100%",))
        assert cursor.fetchone() == ("100%",)


def test_statements_are_counted_and_logged_like_djangos_prepared_or_not():
    product = ProductFactory(name="Counted")

    with CaptureQueriesContext(connection) as captured, repeated_statements_cursor() as cursor:
        for _ in range(4):  # the third and fourth run a prepared statement on PostgreSQL
            cursor.execute("SELECT name FROM catalog_product WHERE id = %s", (product.id,))
            assert cursor.fetchone() == ("Counted",)

    assert [query["sql"] for query in captured.captured_queries] == [
        f"SELECT name FROM catalog_product WHERE id = {product.id}"
    ] * 4


@postgres_only
def test_a_text_run_twice_is_prepared_on_its_connection_and_then_not_planned_again():
    assert connection.connection is None or connection.connection.prepare_threshold == 2
    sql = "SELECT count(*) FROM catalog_product WHERE name = %s"
    text = "SELECT count(*) FROM catalog_product WHERE name = 'prepared-probe'"

    with repeated_statements_cursor() as cursor:
        assert isinstance(cursor.cursor, LiteralStatementCursor)
        for runs in range(1, 5):
            cursor.execute(sql, ("prepared-probe",))
            assert cursor.fetchone() == (0,)
            # psycopg counts the runs below the threshold, prepares at the run after it, then reuses.
            assert (text in _prepared_texts()) == (runs >= 3)
    assert _prepared_texts().count(text) == 1


@postgres_only
def test_djangos_own_statements_are_never_prepared():
    for _ in range(5):
        list(ProductFactory._meta.model.objects.filter(name="never-prepared").values_list("id"))

    assert not [text for text in _prepared_texts() if "never-prepared" in text]


@postgres_only
def test_values_are_literals_in_the_prepared_text_so_each_value_plans_on_its_own():
    with repeated_statements_cursor() as cursor:
        for value in ("first", "first", "first", "second", "second", "second"):
            cursor.execute("SELECT %s::text", (value,))

    prepared = _prepared_texts()
    assert "SELECT 'first'::text" in prepared
    assert "SELECT 'second'::text" in prepared
    assert not [text for text in prepared if "$1" in text]


def test_elsewhere_it_is_djangos_own_cursor():
    with repeated_statements_cursor() as cursor:
        is_literal = isinstance(cursor.cursor, LiteralStatementCursor)

    assert is_literal == (connection.vendor == "postgresql")


@postgres_only
def test_a_connection_keeps_at_most_prepared_max_statements_the_least_used_deallocated():
    with repeated_statements_cursor() as cursor:
        for value in range(PREPARED_MAX + 5):
            for _ in range(3):
                cursor.execute("SELECT %s::int + 0", (value,))
        cursor.execute("SELECT 1")  # psycopg deallocates the evicted ones before its next statement

    prepared = _prepared_texts()
    assert len(prepared) == PREPARED_MAX
    assert f"SELECT {PREPARED_MAX + 4}::int + 0" in prepared  # the latest kept
    assert "SELECT 0::int + 0" not in prepared  # the least recently used gone from the server too
