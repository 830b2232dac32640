"""JSON shapes of the catalog API and validation of its query parameters.

Output keeps WooCommerce REST API v3 names and formats so a frontend written against
WooCommerce can switch: ``id`` is the WooCommerce id, money is a decimal string (``"21.99"``,
``""`` when unset), dates are ``_gmt`` strings without a zone suffix, ``stock_quantity`` is a
number or null, a variation's ``manage_stock`` is ``true``, ``false`` or ``"parent"``.

Prices are stored with 6 decimal places; they are printed without trailing zeros but with at
least ``CATALOG_PRICE_DECIMALS`` (2, the store's setting) decimals: ``21.990000`` → ``"21.99"``,
``21.000000`` → ``"21.00"``, ``0.125000`` → ``"0.125"``.

Which fields a response carries (and so what is cached) is set per model by
``CATALOG_CACHE_FIELDS`` (``{"product": [...], "variation": [...], "category": [...]}``;
missing or ``None`` means every field; ``id`` is always kept).

A product's and a variation's columns are not listed here: ``MirrorSerializer`` serves every field
the model declares ``mirrored`` and public (``catalog.fields``), shown by its type and kind. Each
serializer produces the body it documents in the schema; none is a description only.
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField

from catalog.fields import mirror_of, mirrored_fields
from catalog.models import Category, Product, ProductVariation, StockStatus
from catalog.selectors import ORDERINGS, CategoryListing, ProductFacets, ProductFilters

WC_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
WC_DATETIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$"
MAX_PER_PAGE = 100
# WordPress slugs: lowercase words, digits, "-" and "_", non-ASCII kept percent-encoded ("%d0%bf").
SLUG_PATTERN = r"[\w%-]{1,200}"
SLUG_RE = re.compile(rf"^{SLUG_PATTERN}\Z")  # \Z: "$" would let a trailing newline through
# An id is ASCII digits only: "²".isdigit() is true but int() refuses it, and int("١٢") reads 12.
ID_RE = re.compile(r"[0-9]{1,200}")
# WooCommerce ids are stored in 64-bit signed columns (PositiveBigIntegerField).
MAX_ID = 2**63 - 1


def format_price(value: Decimal | None) -> str:
    """WooCommerce money string: ``""`` for NULL, trailing zeros trimmed down to the store decimals."""
    if value is None:
        return ""
    decimals = settings.CATALOG_PRICE_DECIMALS
    text = f"{value:f}"
    if "." in text:
        whole, frac = text.split(".")
        frac = frac.rstrip("0")
    else:
        whole, frac = text, ""
    return f"{whole}.{frac.ljust(decimals, '0')}" if decimals or frac else whole


def format_quantity(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def format_datetime(value: datetime.datetime | None) -> str | None:
    """WooCommerce ``*_gmt`` string: UTC, no zone; a naive value is taken as UTC already."""
    if not value:
        return None
    if value.utcoffset() is not None:
        value = value.astimezone(datetime.UTC)
    # isoformat, not strftime: strftime("%Y") prints year 1 as "1", and the schema promises 4 digits.
    return value.replace(tzinfo=None).isoformat(timespec="seconds")


# --- Output fields ---------------------------------------------------------------


@extend_schema_field({"type": "string", "example": "21.99"})
class PriceField(serializers.Field):
    """Decimal → WooCommerce money string (``""`` when unset)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def get_attribute(self, instance: Any) -> str:
        # Formatting here, not in to_representation: DRF prints None as null, WooCommerce as "".
        return format_price(super().get_attribute(instance))

    def to_representation(self, value: str) -> str:
        return value


@extend_schema_field({"type": "number", "nullable": True})
class QuantityField(serializers.Field):
    """Stock quantity as a JSON number: an integer when whole (most stores), else a float."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Decimal) -> int | float:
        return format_quantity(value)


@extend_schema_field(
    {
        "type": "string",
        "pattern": WC_DATETIME_PATTERN,
        "example": "2024-02-22T09:19:20",
        "description": "UTC, ISO 8601 without a zone, as WooCommerce's *_gmt fields.",
    }
)
class WooDateTimeField(serializers.DateTimeField):
    """A datetime as WooCommerce prints its ``*_gmt`` fields: UTC, no zone (``2024-02-22T09:19:20``).

    Nullable unless told otherwise: every date column of the mirror may be NULL (WooCommerce sends null
    for a sale without an end, and for dates a draft never had).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(format=WC_DATETIME_FORMAT, default_timezone=datetime.UTC, **kwargs)

    def to_representation(self, value: datetime.datetime | None) -> str | None:
        return format_datetime(value)


class ConfigurableFieldsMixin:
    """Drop the fields not listed for this model in ``CATALOG_CACHE_FIELDS`` (``always_kept`` stay)."""

    cache_fields_key = ""
    always_kept: tuple[str, ...] = ("id",)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()  # type: ignore[misc]
        wanted = getattr(settings, "CATALOG_CACHE_FIELDS", {}).get(self.cache_fields_key)
        if wanted is None:
            return fields
        keep = {*self.always_kept, *wanted}
        return {name: f for name, f in fields.items() if name in keep}


class CategoryRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    slug = serializers.CharField(read_only=True)


class DimensionsSerializer(serializers.Serializer):
    length = serializers.CharField(read_only=True)
    width = serializers.CharField(read_only=True)
    height = serializers.CharField(read_only=True)


def mirror_api_field(model_field: models.Field) -> serializers.Field:
    """The API field of a mirrored column, from its declaration (``catalog.fields``) and its type."""
    mirror = mirror_of(model_field)
    kind = mirror.kind if mirror else ""
    doc = (mirror.doc if mirror else "") or model_field.help_text
    kwargs: dict[str, Any] = {"help_text": str(doc)} if doc else {}
    if kind == "price":
        return PriceField(**kwargs)
    if kind == "quantity":
        return QuantityField(allow_null=True, **kwargs)
    if kind == "dimensions":
        return DimensionsSerializer(read_only=True, **kwargs)
    if kind == "enum":
        return serializers.ChoiceField(choices=model_field.choices, read_only=True, **kwargs)
    if isinstance(model_field, models.DecimalField):
        return serializers.DecimalField(
            max_digits=model_field.max_digits, decimal_places=model_field.decimal_places, read_only=True, **kwargs
        )
    if isinstance(model_field, models.DateTimeField):
        return WooDateTimeField(**kwargs)
    if isinstance(model_field, models.BooleanField):
        return serializers.BooleanField(read_only=True, **kwargs)
    if isinstance(model_field, models.IntegerField):
        if model_field.null:
            kwargs["allow_null"] = True
        return serializers.IntegerField(read_only=True, **kwargs)
    if isinstance(model_field, models.JSONField):
        if model_field.null:
            kwargs["allow_null"] = True
        return serializers.JSONField(read_only=True, **kwargs)
    if isinstance(model_field, models.CharField | models.TextField):
        return serializers.CharField(read_only=True, **kwargs)
    raise TypeError(f"no API field for {model_field.model.__name__}.{model_field.name}")


class MirrorSerializer(serializers.Serializer):
    """A serializer whose fields are the public mirrored columns of ``model`` (declared once, on the
    model) plus what the class declares (computed keys, relations, or a different shape for a column).

    ``key_order`` keeps WooCommerce's order of the keys it names; every other field follows, the
    model's in field order, then the declared ones.
    """

    model: type[models.Model]
    key_order: tuple[str, ...] = ()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields: dict[str, serializers.Field] = {
            model_field.name: mirror_api_field(model_field)
            for model_field in mirrored_fields(self.model)
            if mirror_of(model_field).public  # type: ignore[union-attr]
        }
        fields.update(super().get_fields())
        ordered = {name: fields.pop(name) for name in self.key_order if name in fields}
        return {**ordered, **fields}


class ProductSerializer(ConfigurableFieldsMixin, MirrorSerializer):
    """A product as in WooCommerce REST API v3 (``variations`` are ids, as there)."""

    cache_fields_key = "product"
    model = Product
    key_order = (
        "id", "name", "slug", "permalink", "date_created_gmt", "date_modified_gmt", "type", "status", "featured",
        "catalog_visibility", "description", "short_description", "sku", "price", "regular_price", "sale_price",
        "date_on_sale_from_gmt", "date_on_sale_to_gmt", "on_sale", "purchasable", "total_sales", "external_url",
        "button_text", "manage_stock", "stock_quantity", "stock_status", "backorders", "backorders_allowed",
        "backordered", "low_stock_amount", "weight", "dimensions", "average_rating", "rating_count", "categories",
        "tags", "images", "attributes", "default_attributes", "variations", "menu_order",
    )  # fmt: skip

    id = serializers.IntegerField(read_only=True, help_text="WooCommerce product id.")
    backorders_allowed = serializers.SerializerMethodField()
    backordered = serializers.SerializerMethodField()
    categories = CategoryRefSerializer(many=True, read_only=True)
    variations = serializers.SerializerMethodField(help_text="Ids of the public variations.")

    def get_backorders_allowed(self, obj: Product) -> bool:
        return obj.backorders != "no"

    def get_backordered(self, obj: Product) -> bool:
        return obj.stock_status == StockStatus.ONBACKORDER

    def get_variations(self, obj: Product) -> list[int]:
        return [v.id for v in obj.public_variations]


class VariationSerializer(ConfigurableFieldsMixin, MirrorSerializer):
    """A variation as in WooCommerce REST API v3, plus ``parent_id`` (as its store-wide listing)."""

    cache_fields_key = "variation"
    model = ProductVariation
    key_order = (
        "id", "parent_id", "date_created_gmt", "date_modified_gmt", "description", "permalink", "sku", "price",
        "regular_price", "sale_price", "date_on_sale_from_gmt", "date_on_sale_to_gmt", "on_sale", "status",
        "purchasable", "manage_stock", "stock_quantity", "stock_status", "backorders", "backorders_allowed",
        "backordered", "low_stock_amount", "weight", "dimensions", "image", "attributes", "menu_order",
    )  # fmt: skip

    id = serializers.IntegerField(read_only=True, help_text="WooCommerce variation id.")
    parent_id = serializers.IntegerField(source="product_id", read_only=True)
    manage_stock = serializers.SerializerMethodField(help_text='true, false, or "parent" (stock kept by the product).')
    backorders_allowed = serializers.SerializerMethodField()
    backordered = serializers.SerializerMethodField()

    def get_manage_stock(self, obj: ProductVariation) -> bool | str:
        return "parent" if obj.stock_managed_by_parent else obj.manage_stock

    def get_backorders_allowed(self, obj: ProductVariation) -> bool:
        return obj.backorders != "no"

    def get_backordered(self, obj: ProductVariation) -> bool:
        return obj.stock_status == StockStatus.ONBACKORDER


class ProductDetailSerializer(ProductSerializer):
    """A product with its public variations in full (``variations`` stays the list of ids)."""

    variation_details = VariationSerializer(source="public_variations", many=True, read_only=True)


class StockSourceSerializer(serializers.Serializer):
    # Where a live detail's stock figures come from: the ``ProductDetail`` (catalog.services) that the
    # serializer's context carries as ``detail``; left out without one. A comment, not a docstring:
    # drf-spectacular would print it in the schema.

    source = serializers.ChoiceField(choices=["live", "local"], source="stock_source", read_only=True)
    synced_at = WooDateTimeField(
        help_text="live: when WooCommerce answered; local: when the sync last wrote the local row (UTC)."
    )
    reason = serializers.CharField(
        source="stock_note",
        read_only=True,
        help_text='Why the figures are local: "timeout", "circuit open", "error" or "not found"; empty when live.',
    )

    def get_attribute(self, instance: Any) -> Any:
        detail = self.context.get("detail")
        if detail is None:
            raise SkipField()
        return detail


class ProductLiveDetailSerializer(ProductDetailSerializer):
    """The product detail; with ``real_time_stock=true`` it says where the stock figures come from."""

    # Serialize the product with ``context={"detail": detail}`` for stock_source.

    # Not read_only: drf-spectacular marks every read-only field required, and the cached detail
    # (without real_time_stock) has no stock_source.
    stock_source = StockSourceSerializer(required=False, help_text="Only with real_time_stock=true.")


class CategorySerializer(ConfigurableFieldsMixin, serializers.Serializer):
    """A category as in WooCommerce REST API v3 plus its place in the tree."""

    # Serializes a Category of a ``CategoryListing`` (catalog.selectors) given as ``context["listing"]``:
    # the tree and the counts come from the listing.
    cache_fields_key = "category"

    id = serializers.IntegerField(read_only=True, help_text="WooCommerce term id.")
    name = serializers.CharField(read_only=True)
    slug = serializers.CharField(read_only=True)
    parent = serializers.SerializerMethodField(help_text="Parent id; 0 for a root (or a missing parent).")
    description = serializers.CharField(read_only=True)
    display = serializers.CharField(read_only=True)
    image = serializers.JSONField(read_only=True, allow_null=True)
    menu_order = serializers.IntegerField(read_only=True)
    count = serializers.SerializerMethodField(help_text="Public listed products directly in the category.")
    depth = serializers.SerializerMethodField(help_text="0 for a root.")
    children = serializers.SerializerMethodField(help_text="Child ids, in order.")

    @property
    def listing(self) -> CategoryListing:
        return self.context["listing"]

    def get_parent(self, category: Category) -> int:
        return self.listing.tree.nodes[category.id].parent or 0

    def get_count(self, category: Category) -> int:
        return self.listing.counts.get(category.id, 0)

    def get_depth(self, category: Category) -> int:
        return self.listing.tree.depth[category.id]

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_children(self, category: Category) -> list[int]:
        return list(self.listing.tree.children.get(category.id, ()))


class CategoryDetailSerializer(CategorySerializer):
    always_kept = ("id", "ancestors")

    ancestors = serializers.SerializerMethodField(help_text="From the root down to the parent.")

    @extend_schema_field(CategoryRefSerializer(many=True))
    def get_ancestors(self, category: Category) -> list[dict[str, Any]]:
        nodes = self.listing.tree.nodes
        return [
            {"id": i, "name": nodes[i].name, "slug": nodes[i].slug} for i in self.listing.tree.ancestors(category.id)
        ]


class PriceRangeSerializer(serializers.Serializer):
    # Serializes a ProductFacets (catalog.selectors).
    min_price = serializers.SerializerMethodField(help_text='Lowest price; "" when no product matches.')
    max_price = serializers.SerializerMethodField()

    def get_min_price(self, facets: ProductFacets) -> str:
        return format_price(facets.price_min)

    def get_max_price(self, facets: ProductFacets) -> str:
        return format_price(facets.price_max)


class CategoryCountSerializer(CategoryRefSerializer):
    count = serializers.IntegerField(read_only=True)


class StockStatusCountSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=StockStatus.choices, read_only=True)
    count = serializers.IntegerField(read_only=True)


class FacetsSerializer(serializers.Serializer):
    # Serializes a ProductFacets (catalog.selectors).
    total = serializers.IntegerField(read_only=True, help_text="Products matching every filter.")
    price_range = PriceRangeSerializer(source="*", read_only=True, help_text="Ignoring min_price/max_price.")
    categories = serializers.SerializerMethodField(help_text="Direct counts, ignoring category.")
    stock_status = serializers.SerializerMethodField(help_text="Ignoring stock_status.")

    @extend_schema_field(CategoryCountSerializer(many=True))
    def get_categories(self, facets: ProductFacets) -> list[dict[str, Any]]:
        return [{"id": n.id, "name": n.name, "slug": n.slug, "count": c} for n, c in facets.categories]

    @extend_schema_field(StockStatusCountSerializer(many=True))
    def get_stock_status(self, facets: ProductFacets) -> list[dict[str, Any]]:
        counts = facets.stock_statuses
        return [{"status": s, "count": counts[s]} for s in StockStatus.values if counts.get(s)]


class ErrorDataSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    params = serializers.DictField(
        child=serializers.CharField(), required=False, help_text="Invalid parameter → reason (400 only)."
    )


class ErrorSerializer(serializers.Serializer):
    """WooCommerce-shaped error: ``{code, message, data: {status, params?}}``."""

    code = serializers.CharField(help_text="rest_invalid_param, woocommerce_rest_product_invalid_id, …")
    message = serializers.CharField()
    data = ErrorDataSerializer()


# --- Query parameters ---------------------------------------------------------------


class CommaListField(serializers.CharField):
    """``"a,b"`` → ``("a", "b")``: WooCommerce takes lists as comma strings (PHP keeps one value per key)."""

    def __init__(self, *, item_pattern: re.Pattern[str] | None = None, choices: list[str] | None = None, **kw: Any):
        self.item_pattern = item_pattern
        self.item_choices = choices
        kw.setdefault("required", False)
        kw.setdefault("allow_blank", True)
        kw.setdefault("max_length", 2000)
        super().__init__(**kw)

    def to_internal_value(self, data: Any) -> tuple[str, ...]:
        text = super().to_internal_value(data)
        # DRF runs the validators (NUL, max_length) on the parsed value, a tuple that hides both: run them
        # on the text as sent. A NUL would otherwise reach PostgreSQL, which refuses it (a 500).
        self.run_validators(text)
        items = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
        for item in items:
            if self.item_choices is not None and item not in self.item_choices:
                raise serializers.ValidationError(f"{item!r} is not one of {', '.join(self.item_choices)}.")
            if self.item_pattern is not None and not self.item_pattern.match(item):
                raise serializers.ValidationError(f"{item!r} is not a valid id or slug.")
        return items


def _optional_bool(help_text: str) -> serializers.BooleanField:
    return serializers.BooleanField(required=False, allow_null=True, default=None, help_text=help_text)


class PaginationQuerySerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1, help_text="Page number, from 1.")
    per_page = serializers.IntegerField(min_value=1, max_value=MAX_PER_PAGE, default=10, help_text="1 to 100.")


class ProductFilterQuerySerializer(serializers.Serializer):
    search = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=200, help_text="Words in the name, or an exact SKU."
    )
    sku = CommaListField(default=(), help_text="Exact SKUs, comma separated.")
    category = CommaListField(
        default=(), item_pattern=SLUG_RE, help_text="Category ids or slugs, comma separated; includes subcategories."
    )
    min_price = serializers.DecimalField(
        max_digits=20, decimal_places=6, min_value=Decimal(0), required=False, default=None, allow_null=True
    )
    max_price = serializers.DecimalField(
        max_digits=20, decimal_places=6, min_value=Decimal(0), required=False, default=None, allow_null=True
    )
    stock_status = CommaListField(
        default=(), choices=list(StockStatus.values), help_text="instock, outofstock, onbackorder; comma separated."
    )
    on_sale = _optional_bool("Only products on sale (true) or not on sale (false).")
    featured = _optional_bool("Only featured (true) or not featured (false) products.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        low, high = attrs.get("min_price"), attrs.get("max_price")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"max_price": "Must be greater than or equal to min_price."})
        return attrs

    @staticmethod
    def to_filters(data: dict[str, Any]) -> ProductFilters:
        return ProductFilters(
            search=data["search"].strip(),
            skus=tuple(data["sku"]),
            categories=tuple(normalize_slug(c) for c in data["category"]),
            min_price=data["min_price"],
            max_price=data["max_price"],
            stock_statuses=tuple(data["stock_status"]),
            on_sale=data["on_sale"],
            featured=data["featured"],
        )


class ProductListQuerySerializer(PaginationQuerySerializer, ProductFilterQuerySerializer):
    orderby = serializers.ChoiceField(choices=list(ORDERINGS), default="date", help_text="Sort key (ties by id).")
    order = serializers.ChoiceField(choices=["asc", "desc"], default="desc")


class ProductDetailQuerySerializer(serializers.Serializer):
    real_time_stock = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Ask for the stock figures straight from WooCommerce (not cached); the answer says its source.",
    )


class CategoryListQuerySerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    per_page = serializers.IntegerField(
        min_value=1, max_value=MAX_PER_PAGE, required=False, default=None, allow_null=True, help_text="Omit for all."
    )
    parent = serializers.IntegerField(
        min_value=0,
        max_value=MAX_ID,
        required=False,
        default=None,
        allow_null=True,
        help_text="Only children of this id (0: roots).",
    )
    hide_empty = serializers.BooleanField(required=False, default=False, help_text="Leave out categories with count 0.")


def normalize_slug(value: str) -> str:
    """WordPress stores non-ASCII slugs percent-encoded in lowercase; Django hands them decoded."""
    if value.isascii():
        return value.lower() if "%" in value else value
    return quote(value, safe="-_").lower()


def lookup_parse(value: str) -> tuple[int | None, str | None]:
    """``"123"`` → ``(123, None)``; a slug → ``(None, slug)``; raises ValidationError when malformed."""
    if ID_RE.fullmatch(value):
        if int(value) > MAX_ID:
            raise serializers.ValidationError({"id": f"Id is too large (at most {MAX_ID})."})
        return int(value), None
    if not SLUG_RE.match(value):
        raise serializers.ValidationError(
            {"id": "Not an id nor a slug (letters, digits, '-', '_' or percent-encoding, at most 200)."}
        )
    return None, normalize_slug(value)
