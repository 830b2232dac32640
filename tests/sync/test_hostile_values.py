"""The parser and the client's decoder against hostile values: cleaned, clamped, or a PayloadError naming the field."""

import json
from decimal import Decimal

import pytest

from sync.woocommerce.client import decode_json
from sync.woocommerce.types import (
    INT32_MAX,
    PayloadError,
    UnreadableItem,
    clean_text,
    item_id_or_none,
    parse_category,
    parse_product,
    parse_stock,
)

PRODUCT = {"id": 10, "name": "Shirt", "type": "simple", "status": "publish"}


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [("a\x00b", "ab"), ("a\ud800b", "a\ufffdb"), ("\udfff\x00", "\ufffd"), ("ok ✓ 😀", "ok ✓ 😀"), ("", "")],
)
def test_clean_text_removes_nul_and_replaces_lone_surrogates(text, cleaned):
    assert clean_text(text) == cleaned
    clean_text(text).encode("utf-8")  # always encodable


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1e999999999999", None),  # an exponent that makes abs() trap in the decimal context
        ("99999999999999.9999999", None),  # rounds up to 10^14 at 6 places
        ("NaN", None),
        ("sNaN", None),
        ("Infinity", None),
        ("99999999999999.9999994", Decimal("99999999999999.999999")),
        ("1e-999999999999", Decimal("0")),
        ("12.3456789", Decimal("12.345679")),
        ("99999999999999.999999", Decimal("99999999999999.999999")),  # the largest value written plainly
        ("100000000000000", None),  # 10^14: out of the column's range
        ("0021.500000", Decimal("21.5")),
        (" 21.5 ", Decimal("21.5")),
        ("21.", Decimal("21")),
        ("-0.5", Decimal("-0.5")),
    ],
)
def test_prices_are_kept_or_fail_never_crash(value, expected):
    if expected is None:
        with pytest.raises(PayloadError) as error:
            parse_stock({"id": 1, "regular_price": value})
        assert error.value.field == "regular_price"
    else:
        assert parse_stock({"id": 1, "regular_price": value}).regular_price == expected


@pytest.mark.parametrize(
    ("value", "rating"),
    [("12345", "5.00"), ("-3", "0.00"), ("1e999999999", "5.00"), ("4.567", "4.57"), ("", "0"), (None, "0")],
)
def test_average_rating_is_clamped_to_five_stars(value, rating):
    assert parse_product({**PRODUCT, "average_rating": value}).average_rating == Decimal(rating)


@pytest.mark.parametrize(
    "date",
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "0001-01-01T12:00:00", "2024-02-30T00:00:00", "x"],
)
def test_impossible_or_unshowable_dates_fail_the_item(date):
    with pytest.raises(PayloadError) as error:
        parse_product({**PRODUCT, "date_created_gmt": date})
    assert error.value.field == "date_created_gmt"


def test_ids_beyond_bigint_fail_and_integers_beyond_their_column_are_clamped():
    with pytest.raises(PayloadError, match="id out of range"):
        parse_product({**PRODUCT, "id": 2**63})
    with pytest.raises(PayloadError, match="categories"):
        parse_product({**PRODUCT, "categories": [{"id": str(2**64), "name": "x", "slug": "x"}]})
    record = parse_product({**PRODUCT, "menu_order": "1" * 30, "rating_count": -5, "low_stock_amount": -(2**40)})
    assert (record.menu_order, record.rating_count, record.low_stock_amount) == (INT32_MAX, 0, -INT32_MAX - 1)
    assert parse_category({"id": 3, "name": "c", "count": 2**40}).count == INT32_MAX


def test_json_fields_are_cleaned_and_depth_bounded():
    record = parse_product({**PRODUCT, "images": [{"alt\x00": "a\ud800", "n": [1.5, None, True]}]})
    assert record.images == [{"alt": "a\ufffd", "n": [1.5, None, True]}]
    with pytest.raises(PayloadError, match="nested deeper than 64"):
        parse_product({**PRODUCT, "attributes": json.loads("[" * 65 + "]" * 65)})
    parse_product({**PRODUCT, "attributes": json.loads("[" * 63 + "]" * 63)})
    with pytest.raises(PayloadError, match="not a finite number"):
        parse_product({**PRODUCT, "dimensions": {"length": float("nan")}})


def test_a_long_value_is_quoted_short_in_the_error():
    with pytest.raises(PayloadError) as error:
        parse_product({**PRODUCT, "regular_price": "x" * 100_000})
    assert len(str(error.value)) < 150
    assert "(100002 characters)" in str(error.value)


def test_decode_json_isolates_entries_json_cannot_decode():
    deep = b"[" * 100_000 + b"]" * 100_000
    body = b'[{"id":1},{"id":2,"a":' + deep + b'},{"id":"3","n":' + b"7" * 5000 + b'},"s",{"id":4}]'

    items = decode_json(body)

    assert items[0] == {"id": 1} and items[3] == "s" and items[4] == {"id": 4}
    assert isinstance(items[1], UnreadableItem) and items[1].id == 2 and "nested too deep" in items[1].reason
    assert isinstance(items[2], UnreadableItem) and items[2].id == 3 and "cannot be decoded" in items[2].reason
    assert [item_id_or_none(item) for item in items] == [1, 2, 3, None, 4]
    with pytest.raises(PayloadError, match="nested too deep"):
        parse_product(items[1])
    unreadable_object = decode_json(b'{"id":9,"x":' + deep + b"}")
    assert isinstance(unreadable_object, UnreadableItem) and unreadable_object.id == 9


@pytest.mark.parametrize(
    "body",
    [b'[{"id":1},', b"[" * 5000, b"<html>502</html>", b'[{"id":1}] trailing', b'[{"id":"1]"}, {"id": 2}'],
)
def test_decode_json_still_rejects_a_body_that_is_not_json(body):
    with pytest.raises(ValueError):
        decode_json(body)


def test_decode_json_keeps_brackets_and_commas_inside_strings():
    body = b'[{"id":1,"s":"a,]}[{\\"b"},' + b"[" * 2000 + b"]" * 2000 + b"]"
    items = decode_json(body)
    assert items[0] == {"id": 1, "s": 'a,]}[{"b'}
    assert isinstance(items[1], UnreadableItem)
