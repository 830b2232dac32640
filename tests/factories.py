"""factory_boy factories for the catalog models (ids are WooCommerce ids, so they are explicit).

    product = ProductFactory(price=Decimal("9.99"), categories=[category])
    ProductVariationFactory.create_batch(3, product=product)

Defaults make a public product (``status="publish"``, not deleted, ``visible``) in stock.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from catalog.models import Category, Product, ProductCategory, ProductVariation


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    id = factory.Sequence(lambda n: 100 + n)
    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")
    parent = None
    synced_at = factory.LazyFunction(timezone.now)


class ProductFactory(factory.django.DjangoModelFactory):
    """A public simple product; pass ``categories=[...]`` to link categories."""

    class Meta:
        model = Product
        skip_postgeneration_save = True

    id = factory.Sequence(lambda n: 10_000 + n)
    name = factory.Sequence(lambda n: f"Product {n}")
    slug = factory.Sequence(lambda n: f"product-{n}")
    permalink = factory.LazyAttribute(lambda p: f"https://shop.example/product/{p.slug}/")
    sku = factory.Sequence(lambda n: f"SKU-{n}")
    price = Decimal("10.00")
    regular_price = Decimal("10.00")
    sale_price = None
    stock_status = "instock"
    images = factory.LazyAttribute(lambda p: [{"id": p.id + 1, "src": f"https://shop.example/{p.slug}.jpg", "alt": ""}])
    dimensions = factory.LazyFunction(lambda: {"length": "", "width": "", "height": ""})
    date_created_gmt = factory.Sequence(
        lambda n: datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(hours=n)
    )
    date_modified_gmt = factory.LazyAttribute(lambda p: p.date_created_gmt)
    synced_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def categories(self, create: bool, extracted: list[Category] | None, **kwargs: object) -> None:
        if create and extracted:
            ProductCategory.objects.bulk_create(ProductCategory(product=self, category=c) for c in extracted)


class ProductVariationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductVariation

    id = factory.Sequence(lambda n: 500_000 + n)
    product = factory.SubFactory(ProductFactory, type="variable")
    sku = factory.Sequence(lambda n: f"VAR-{n}")
    price = Decimal("12.50")
    regular_price = Decimal("12.50")
    stock_status = "instock"
    attributes = factory.Sequence(lambda n: [{"id": 1, "name": "Size", "option": f"S{n}"}])
    dimensions = factory.LazyFunction(lambda: {"length": "", "width": "", "height": ""})
    date_created_gmt = factory.LazyFunction(timezone.now)
    date_modified_gmt = factory.LazyFunction(timezone.now)
    synced_at = factory.LazyFunction(timezone.now)
