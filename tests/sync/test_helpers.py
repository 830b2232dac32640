"""The sync tests' own yardstick: ``mirror_differences`` must see a wrong column and a wrong link."""

from decimal import Decimal

import pytest

from catalog.models import Category, Product, ProductVariation
from tests.sync.helpers import mirror_differences, run_sync


@pytest.mark.django_db
def test_mirror_differences_names_every_column_and_link_that_differs_from_the_store(make_sandbox):
    server = make_sandbox(products=40, variable_share=0.3, categories=6, seed=17)
    assert run_sync("--full").code == 0
    assert mirror_differences(server.catalog) == []
    product = Product.objects.filter(type="simple", category_links__isnull=False).order_by("id").first()
    variation = ProductVariation.objects.order_by("id").first()
    category = Category.objects.order_by("id").first()

    Product.objects.filter(id=product.id).update(
        regular_price=Decimal("12345.5"), date_modified_gmt=None, images=[{"id": 1}]
    )
    flipped = not variation.stock_managed_by_parent
    ProductVariation.objects.filter(id=variation.id).update(stock_managed_by_parent=flipped)
    Category.objects.filter(id=category.id).update(display="nonsense")
    product.category_links.all().delete()

    problems = mirror_differences(server.catalog)

    assert sorted(p.split(":")[0] for p in problems) == sorted(
        [
            f"product {product.id}.regular_price",
            f"product {product.id}.date_modified_gmt",
            f"product {product.id}.images",
            f"product {product.id} categories",
            f"variation {variation.id}.stock_managed_by_parent",
            f"category {category.id}.display",
        ]
    )


@pytest.mark.django_db
def test_mirror_differences_names_missing_and_extra_rows(make_sandbox):
    server = make_sandbox(products=20, variable_share=0.0, seed=19)
    assert run_sync("--full").code == 0
    gone = Product.objects.order_by("id").first()
    Product.objects.filter(id=gone.id).delete()

    assert mirror_differences(server.catalog) == [f"live product ids differ: missing [{gone.id}], extra []"]
    assert mirror_differences(server.catalog, mirrored_only=True) == []
