"""A product is described once: every column list follows the fields declared ``mirrored`` on the model."""

from __future__ import annotations

import pytest
from django.utils import timezone

from catalog.apis import _EXPORT_ORDER, EXPORT_COLUMNS
from catalog.fields import mirror_of, mirrored_fields
from catalog.models import Product, ProductVariation
from catalog.selectors import PRODUCT_COLUMNS
from catalog.serializers import ProductDetailSerializer, ProductSerializer, VariationSerializer
from sync.woocommerce.types import (
    PRODUCT_DIGEST_KEYS,
    PRODUCT_FIELDS,
    STOCK_FIELDS,
    VARIATION_DIGEST_KEYS,
    VARIATION_FIELDS,
)
from tests.factories import ProductFactory, ProductVariationFactory


def names(model, **flags) -> set[str]:
    return {f.name for f in mirrored_fields(model) if all(getattr(mirror_of(f), k) == v for k, v in flags.items())}


def test_the_sync_writes_every_mirrored_column_and_only_those():
    assert set(PRODUCT_FIELDS) == names(Product)
    assert set(VARIATION_FIELDS) == names(ProductVariation) | {"product_id"}
    assert len(PRODUCT_FIELDS) == 37  # the 36 the hand-written lists held, and global_unique_id
    assert len(VARIATION_FIELDS) == 26


def test_the_digest_covers_what_stock_runs_do_not_rewrite():
    assert set(STOCK_FIELDS) == names(Product, stock=True)
    assert set(PRODUCT_DIGEST_KEYS) == names(Product, stock=False)
    assert set(VARIATION_DIGEST_KEYS) == names(ProductVariation, stock=False)
    assert not set(PRODUCT_DIGEST_KEYS) & set(STOCK_FIELDS)


def test_the_api_loads_and_serves_the_public_columns():
    public = names(Product, public=True)
    assert set(PRODUCT_COLUMNS) == {"id", "synced_at", *public}
    assert public <= set(ProductSerializer().fields)
    assert names(ProductVariation, public=True) <= set(VariationSerializer().fields)
    assert "stock_managed_by_parent" not in VariationSerializer().fields  # shown through manage_stock


@pytest.mark.parametrize("serializer", [ProductSerializer, VariationSerializer])
def test_key_order_names_only_fields_the_serializer_has(serializer):
    fields = list(serializer().fields)
    assert set(serializer.key_order) <= set(fields)
    assert fields[: len(serializer.key_order)] == list(serializer.key_order)


def test_the_detail_adds_its_variations_after_the_product_keys():
    fields = list(ProductDetailSerializer().fields)
    assert fields[-1] == "variation_details"


def test_export_columns_are_the_exported_fields_in_the_known_order():
    headers = [name for name, _value in EXPORT_COLUMNS]
    assert set(headers) == {"id", "categories", "synced_at", *names(Product, exported=True)}
    assert set(_EXPORT_ORDER) <= set(headers)
    assert headers[: len(_EXPORT_ORDER)] == list(_EXPORT_ORDER)


@pytest.mark.django_db
def test_public_is_published_and_not_deleted_for_products_and_variations():
    shown = ProductFactory(status="publish")
    ProductFactory(status="draft")
    ProductFactory(status="publish", deleted_at=timezone.now())
    variation = ProductVariationFactory(product=shown, status="publish")
    ProductVariationFactory(product=shown, status="private")
    ProductVariationFactory(product=shown, status="publish", deleted_at=timezone.now())

    assert list(Product.objects.public()) == [shown]
    assert list(ProductVariation.objects.public()) == [variation]
