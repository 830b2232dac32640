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
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import Product, ProductVariation, StockStatus
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
        if not value:
            return None
        # isoformat, not strftime: strftime("%Y") prints year 1 as "1", and the schema promises 4 digits.
        return self.enforce_timezone(value).replace(tzinfo=None).isoformat(timespec="seconds")


class ConfigurableFieldsMixin:
    """Drop the fields not listed for this model in ``CATALOG_CACHE_FIELDS`` (``id`` always stays)."""

    cache_fields_key = ""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()  # type: ignore[misc]
        wanted = getattr(settings, "CATALOG_CACHE_FIELDS", {}).get(self.cache_fields_key)
        if wanted is None:
            return fields
        keep = {"id", *wanted}
        return {name: f for name, f in fields.items() if name in keep}


class CategoryRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    slug = serializers.CharField(read_only=True)


class DimensionsSerializer(serializers.Serializer):
    length = serializers.CharField(read_only=True)
    width = serializers.CharField(read_only=True)
    height = serializers.CharField(read_only=True)


class ProductSerializer(ConfigurableFieldsMixin, serializers.Serializer):
    """A product as in WooCommerce REST API v3 (``variations`` are ids, as there)."""

    cache_fields_key = "product"

    id = serializers.IntegerField(read_only=True, help_text="WooCommerce product id.")
    name = serializers.CharField(read_only=True)
    slug = serializers.CharField(read_only=True)
    permalink = serializers.CharField(read_only=True)
    date_created_gmt = WooDateTimeField(help_text="UTC, ISO 8601 without zone, as WooCommerce.")
    date_modified_gmt = WooDateTimeField()
    type = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)
    featured = serializers.BooleanField(read_only=True)
    catalog_visibility = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    short_description = serializers.CharField(read_only=True)
    sku = serializers.CharField(read_only=True)
    price = PriceField(help_text='Decimal string; "" when unset.')
    regular_price = PriceField()
    sale_price = PriceField()
    date_on_sale_from_gmt = WooDateTimeField()
    date_on_sale_to_gmt = WooDateTimeField()
    on_sale = serializers.BooleanField(read_only=True)
    purchasable = serializers.BooleanField(read_only=True)
    total_sales = serializers.IntegerField(read_only=True)
    external_url = serializers.CharField(read_only=True)
    button_text = serializers.CharField(read_only=True)
    manage_stock = serializers.BooleanField(read_only=True)
    stock_quantity = QuantityField(allow_null=True)
    stock_status = serializers.ChoiceField(choices=StockStatus.choices, read_only=True)
    backorders = serializers.CharField(read_only=True)
    backorders_allowed = serializers.SerializerMethodField()
    backordered = serializers.SerializerMethodField()
    low_stock_amount = serializers.IntegerField(read_only=True, allow_null=True)
    weight = serializers.CharField(read_only=True)
    dimensions = DimensionsSerializer(read_only=True)
    average_rating = serializers.DecimalField(max_digits=4, decimal_places=2, read_only=True)
    rating_count = serializers.IntegerField(read_only=True)
    categories = CategoryRefSerializer(many=True, read_only=True)
    tags = serializers.JSONField(read_only=True, help_text="[{id, name, slug}]")
    images = serializers.JSONField(read_only=True, help_text="[{id, src, name, alt, …}] as WooCommerce sends them.")
    attributes = serializers.JSONField(read_only=True)
    default_attributes = serializers.JSONField(read_only=True)
    variations = serializers.SerializerMethodField(help_text="Ids of the public variations.")
    menu_order = serializers.IntegerField(read_only=True)

    def get_backorders_allowed(self, obj: Product) -> bool:
        return obj.backorders != "no"

    def get_backordered(self, obj: Product) -> bool:
        return obj.stock_status == StockStatus.ONBACKORDER

    def get_variations(self, obj: Product) -> list[int]:
        return [v.id for v in obj.public_variations]


class VariationSerializer(ConfigurableFieldsMixin, serializers.Serializer):
    """A variation as in WooCommerce REST API v3, plus ``parent_id`` (as its store-wide listing)."""

    cache_fields_key = "variation"

    id = serializers.IntegerField(read_only=True, help_text="WooCommerce variation id.")
    parent_id = serializers.IntegerField(source="product_id", read_only=True)
    date_created_gmt = WooDateTimeField()
    date_modified_gmt = WooDateTimeField()
    description = serializers.CharField(read_only=True)
    permalink = serializers.CharField(read_only=True)
    sku = serializers.CharField(read_only=True)
    price = PriceField()
    regular_price = PriceField()
    sale_price = PriceField()
    date_on_sale_from_gmt = WooDateTimeField()
    date_on_sale_to_gmt = WooDateTimeField()
    on_sale = serializers.BooleanField(read_only=True)
    status = serializers.CharField(read_only=True)
    purchasable = serializers.BooleanField(read_only=True)
    manage_stock = serializers.SerializerMethodField(help_text='true, false, or "parent" (stock kept by the product).')
    stock_quantity = QuantityField(allow_null=True)
    stock_status = serializers.ChoiceField(choices=StockStatus.choices, read_only=True)
    backorders = serializers.CharField(read_only=True)
    backorders_allowed = serializers.SerializerMethodField()
    backordered = serializers.SerializerMethodField()
    low_stock_amount = serializers.IntegerField(read_only=True, allow_null=True)
    weight = serializers.CharField(read_only=True)
    dimensions = DimensionsSerializer(read_only=True)
    image = serializers.JSONField(read_only=True, allow_null=True)
    attributes = serializers.JSONField(read_only=True, help_text="[{id, name, option}]")
    menu_order = serializers.IntegerField(read_only=True)

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
    source = serializers.ChoiceField(choices=["live", "local"], read_only=True)
    synced_at = WooDateTimeField(
        help_text="live: when WooCommerce answered; local: when the sync last wrote the local row (UTC)."
    )
    reason = serializers.CharField(
        read_only=True,
        help_text='Why the figures are local: "timeout", "circuit open", "error" or "not found"; empty when live.',
    )


class ProductLiveDetailSerializer(ProductDetailSerializer):
    """The product detail; with ``real_time_stock=true`` it says where the stock figures come from."""

    # Not read_only: drf-spectacular marks every read-only field required, and the cached detail
    # (without real_time_stock) has no stock_source.
    stock_source = StockSourceSerializer(required=False, help_text="Only with real_time_stock=true.")


class CategorySerializer(serializers.Serializer):
    """A category as in WooCommerce REST API v3 plus its place in the tree (documents
    ``category_representation``, which builds it)."""

    id = serializers.IntegerField(read_only=True, help_text="WooCommerce term id.")
    name = serializers.CharField(read_only=True)
    slug = serializers.CharField(read_only=True)
    parent = serializers.IntegerField(read_only=True, help_text="Parent id; 0 for a root (or a missing parent).")
    description = serializers.CharField(read_only=True)
    display = serializers.CharField(read_only=True)
    image = serializers.JSONField(read_only=True, allow_null=True)
    menu_order = serializers.IntegerField(read_only=True)
    count = serializers.IntegerField(read_only=True, help_text="Public listed products directly in the category.")
    depth = serializers.IntegerField(read_only=True, help_text="0 for a root.")
    children = serializers.ListField(child=serializers.IntegerField(), read_only=True, help_text="Child ids, in order.")


class CategoryDetailSerializer(CategorySerializer):
    ancestors = CategoryRefSerializer(many=True, read_only=True, help_text="From the root down to the parent.")


def category_representation(listing: CategoryListing, category_id: int, *, detail: bool = False) -> dict[str, Any]:
    category = listing.categories[category_id]
    tree = listing.tree
    data: dict[str, Any] = {
        "id": category.id,
        "name": category.name,
        "slug": category.slug,
        "parent": tree.nodes[category.id].parent or 0,
        "description": category.description,
        "display": category.display,
        "image": category.image,
        "menu_order": category.menu_order,
        "count": listing.counts.get(category.id, 0),
        "depth": tree.depth[category.id],
        "children": list(tree.children.get(category.id, ())),
    }
    if detail:
        data["ancestors"] = [
            {"id": i, "name": tree.nodes[i].name, "slug": tree.nodes[i].slug} for i in tree.ancestors(category.id)
        ]
    wanted = getattr(settings, "CATALOG_CACHE_FIELDS", {}).get("category")
    if wanted is not None:
        keep = {"id", "ancestors", *wanted}
        data = {k: v for k, v in data.items() if k in keep}
    return data


class PriceRangeSerializer(serializers.Serializer):
    min_price = serializers.CharField(read_only=True, help_text='Lowest price; "" when no product matches.')
    max_price = serializers.CharField(read_only=True)


class CategoryCountSerializer(CategoryRefSerializer):
    count = serializers.IntegerField(read_only=True)


class StockStatusCountSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=StockStatus.choices, read_only=True)
    count = serializers.IntegerField(read_only=True)


class FacetsSerializer(serializers.Serializer):
    """Documents ``facets_representation``."""

    total = serializers.IntegerField(read_only=True, help_text="Products matching every filter.")
    price_range = PriceRangeSerializer(read_only=True, help_text="Ignoring min_price/max_price.")
    categories = CategoryCountSerializer(many=True, read_only=True, help_text="Direct counts, ignoring category.")
    stock_status = StockStatusCountSerializer(many=True, read_only=True, help_text="Ignoring stock_status.")


def facets_representation(facets: ProductFacets) -> dict[str, Any]:
    return {
        "total": facets.total,
        "price_range": {"min_price": format_price(facets.price_min), "max_price": format_price(facets.price_max)},
        "categories": [{"id": n.id, "name": n.name, "slug": n.slug, "count": c} for n, c in facets.categories],
        "stock_status": [
            {"status": s, "count": facets.stock_statuses[s]} for s in StockStatus.values if facets.stock_statuses.get(s)
        ],
    }


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
