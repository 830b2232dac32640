"""Parsing WooCommerce payloads: the documented samples, and the odd values real stores send."""

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from sync.woocommerce.types import (
    PRODUCT_API_FIELDS,
    PRODUCT_DIGEST_KEYS,
    PRODUCT_FIELDS,
    VARIATION_API_FIELDS,
    PayloadError,
    parse_category,
    parse_product,
    parse_stock,
    parse_variation,
    raw_digest,
)

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "woocommerce"


def sample(name: str):
    return json.loads((SAMPLES / name).read_text())


def test_simple_product_sample_maps_every_field():
    record = parse_product(sample("product.json"))

    assert record.id == 794
    assert record.name == "Premium Quality"
    assert record.slug == "premium-quality-19"
    assert record.type == "simple"
    assert record.status == "publish"
    assert record.price == Decimal("21.99")
    assert record.regular_price == Decimal("21.99")
    assert record.sale_price is None  # "" means unset
    assert record.stock_quantity is None
    assert record.manage_stock is False
    assert record.stock_status == "instock"
    assert record.date_modified_gmt == datetime(2017, 3, 23, 20, 1, 14, tzinfo=UTC)
    assert [(ref.id, ref.slug) for ref in record.categories] == [(9, "clothing"), (14, "t-shirts")]
    assert len(record.images) == 2
    assert set(record.model_fields()) == set(PRODUCT_FIELDS)


@pytest.mark.parametrize("name", ["product.json", "product-variable.json"])
def test_the_digest_is_the_format_stored_in_sync_hash(name):
    raw = sample(name)
    values = [raw.get(key) for key in PRODUCT_DIGEST_KEYS] + [[c["id"] for c in raw["categories"]], raw["variations"]]
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)

    assert raw_digest(raw, PRODUCT_DIGEST_KEYS) == hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@pytest.mark.parametrize("name", ["product.json", "product-variable.json"])
def test_a_product_trimmed_to_the_listing_fields_parses_and_digests_as_the_whole_payload(name):
    raw = sample(name)
    trimmed = {key: value for key, value in raw.items() if key in PRODUCT_API_FIELDS}

    assert {"_links", "meta_data", "related_ids"} <= set(raw) - set(trimmed)
    assert parse_product(trimmed) == parse_product(raw)  # columns, links, variation ids and digest
    assert parse_stock(trimmed) == parse_stock(raw)


def test_a_variation_trimmed_to_the_listing_fields_parses_and_digests_as_the_whole_payload():
    raw = {**sample("variation.json"), "parent_id": 22}  # as the store-wide listing sends it
    trimmed = {key: value for key, value in raw.items() if key in VARIATION_API_FIELDS}

    assert "_links" in raw and "_links" not in trimmed
    assert parse_variation(trimmed) == parse_variation(raw)
    assert parse_stock(trimmed) == parse_stock(raw)


def test_variable_product_sample_has_empty_prices():
    record = parse_product(sample("product-variable.json"))

    assert record.type == "variable"
    assert record.price is None
    assert record.regular_price is None
    assert record.variation_ids == ()


def test_variation_sample_needs_its_product_id_from_the_caller():
    raw = sample("variation.json")

    with pytest.raises(PayloadError) as error:
        parse_variation(raw)
    assert error.value.field == "parent_id"

    record = parse_variation(raw, product_id=22)
    assert record.product_id == 22
    assert record.id == 732
    assert record.price == Decimal("9.00")
    assert record.image["id"] == 423
    assert record.attributes == [{"id": 6, "name": "Color", "option": "Black"}]


def test_store_wide_variation_carries_parent_id():
    raw = {**sample("variation.json"), "parent_id": 22}
    assert parse_variation(raw).product_id == 22


def test_category_samples_top_level_parent_and_empty_image():
    categories = {c.id: c for c in map(parse_category, sample("category-list-page.json"))}

    assert categories[15].parent_id == 11
    assert categories[9].parent_id is None  # WooCommerce's 0
    assert categories[15].image is None  # PHP's [] for "no image"
    assert categories[9].image["id"] == 730


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),
        (None, None),
        (False, None),
        ("10", Decimal("10")),
        (12.5, Decimal("12.5")),
        ("1.2345678", Decimal("1.234568")),
    ],
)
def test_money_values_are_coerced(value, expected):
    record = parse_product({**sample("product.json"), "price": value})
    assert record.price == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", "abc"),
        ("price", True),
        ("price", "NaN"),
        ("id", None),
        ("id", -3),
        ("id", "x1"),
        ("on_sale", "maybe"),
        ("date_modified_gmt", "yesterday"),
        ("images", {"src": "x"}),
        ("sku", "x" * 201),
        ("stock_quantity", "lots"),
        ("categories", [{"id": "abc"}]),
    ],
)
def test_bad_values_raise_payload_error_naming_the_field(field, value):
    with pytest.raises(PayloadError) as error:
        parse_product({**sample("product.json"), field: value})
    assert error.value.field.startswith(field)
    assert field in str(error.value)


def test_decimal_stock_numeric_ids_and_zone_suffixes_are_accepted():
    record = parse_product(
        {
            **sample("product.json"),
            "id": "794",
            "manage_stock": True,
            "stock_quantity": 2.5,
            "date_modified_gmt": "2024-01-02T03:04:05Z",
            "date_created_gmt": "2024-01-02T05:04:05+02:00",
        }
    )
    assert record.id == 794
    assert record.stock_quantity == Decimal("2.5")
    assert record.date_modified_gmt == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert record.date_created_gmt == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_variation_stock_managed_by_parent():
    record = parse_variation({**sample("variation.json"), "manage_stock": "parent"}, product_id=22)
    assert record.manage_stock is True
    assert record.stock_managed_by_parent is True


def test_not_an_object_is_a_payload_error():
    with pytest.raises(PayloadError):
        parse_product(["not", "a", "product"])


def test_stock_record_from_trimmed_fields():
    record = parse_stock(
        {
            "id": 5,
            "parent_id": 4,
            "manage_stock": "parent",
            "stock_quantity": 3,
            "stock_status": "instock",
            "price": "9.50",
            "regular_price": "10",
            "sale_price": "9.50",
            "on_sale": True,
        }
    )
    assert record.parent_id == 4
    assert record.stock_managed_by_parent is True
    assert record.model_fields(variation=True)["stock_managed_by_parent"] is True
    assert "stock_managed_by_parent" not in record.model_fields(variation=False)
    assert record.price == Decimal("9.50")
