"""The catalog mirror: WooCommerce categories, products and variations.

Rows are keyed by their WooCommerce id (the primary key *is* the WooCommerce id),
and fields keep WooCommerce's names so the mirror, the API and the docs speak one
language. Only the sync services write these tables.

Each field that WooCommerce sends is declared once, here, with ``mirrored(...)``
(``catalog.fields``): the sync's parser and column lists, the API's serializers and
schema, and the export derive from that declaration. ``MirroredItem`` holds what
products and variations share.

Real stores are messy, and the schema accepts what they send: drafts have an empty
slug and SKUs may be empty or duplicated (neither is unique here), a child category
may arrive before its parent (``Category.parent`` has no database constraint), prices
are optional (``""`` in WooCommerce is NULL here) and ``stock_quantity`` may be decimal.
"""

from typing import Any

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Left

from catalog.fields import mirrored


class StockStatus(models.TextChoices):
    INSTOCK = "instock", "In stock"
    OUTOFSTOCK = "outofstock", "Out of stock"
    ONBACKORDER = "onbackorder", "On backorder"


class ProductType(models.TextChoices):
    SIMPLE = "simple", "Simple"
    GROUPED = "grouped", "Grouped"
    EXTERNAL = "external", "External"
    VARIABLE = "variable", "Variable"


class ProductStatus(models.TextChoices):
    PUBLISH = "publish", "Published"
    DRAFT = "draft", "Draft"
    PENDING = "pending", "Pending review"
    PRIVATE = "private", "Private"
    FUTURE = "future", "Scheduled"
    TRASH = "trash", "Trash"


def _price_field(verbose_name: str) -> models.DecimalField:
    # WooCommerce sends money as strings with the store's decimals; "" means unset.
    return models.DecimalField(verbose_name, max_digits=20, decimal_places=6, null=True, blank=True)


def _stock_quantity_field() -> models.DecimalField:
    # Integer on most stores, a number when wc_is_stock_amount_integer() is false; NULL when unmanaged.
    return models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)


_PRICE_DOC = 'Decimal string; "" when unset.'

# What the public API serves; the API's partial indexes cover these rows only.
PUBLIC_PRODUCT = Q(status="publish", deleted_at__isnull=True)
# What a listing without ``search`` shows (catalog.selectors explains the visibilities).
LISTED_VISIBILITIES = ("visible", "catalog")
LISTED_PRODUCT = PUBLIC_PRODUCT & Q(catalog_visibility__in=LISTED_VISIBILITIES)
TITLE_SORT_KEY = Left("name", 100)
# What a list page reads besides its sort keys and id (catalog.selectors.product_list_fragments).
PAGE_COLUMNS = ("catalog_visibility", "list_version")


def _page_index(*keys: Any, name: str) -> models.Index:
    """A sort index over the public products that also holds what a list page reads: an index-only page."""
    return models.Index(*keys, include=PAGE_COLUMNS, condition=PUBLIC_PRODUCT, name=name)


class Category(models.Model):
    id = models.PositiveBigIntegerField(primary_key=True, help_text="WooCommerce term id.")
    name = models.CharField(max_length=400)
    slug = models.CharField(max_length=400, blank=True, db_index=True)
    # No database constraint: WooCommerce may list a child before its parent, and a
    # parent may be deleted before its children are re-read.
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="children",
        help_text="WooCommerce 'parent' (0 there is NULL here).",
    )
    description = models.TextField(blank=True)
    display = models.CharField(max_length=20, blank=True, default="default")
    image = models.JSONField(null=True, blank=True)
    menu_order = models.IntegerField(default=0)
    count = models.PositiveIntegerField(default=0, help_text="Product count reported by WooCommerce.")
    synced_at = models.DateTimeField(null=True, blank=True, help_text="When the sync last wrote a change.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["menu_order", "name", "id"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return f"{self.name} (#{self.id})"


class MirrorQuerySet(models.QuerySet):
    def public(self) -> "MirrorQuerySet":
        """What the public API serves (Saleor's ``published()``): published and not deleted."""
        return self.filter(PUBLIC_PRODUCT)


class MirroredItem(models.Model):
    """What a product and a variation share: WooCommerce's fields of the same name and meaning,
    and the sync's bookkeeping. Abstract: each concrete model keeps its own table and columns."""

    sku = mirrored(models.CharField(max_length=200, blank=True, db_index=True), exported=True)
    # GTIN, UPC, EAN or ISBN (WooCommerce 9.2+; older stores send nothing); WooCommerce keeps 100 characters.
    global_unique_id = mirrored(models.CharField(max_length=100, blank=True), exported=True)
    description = mirrored(models.TextField(blank=True))
    permalink = mirrored(models.CharField(max_length=1000, blank=True))

    price = mirrored(_price_field("price"), exported=True, stock=True, kind="price", doc=_PRICE_DOC)
    regular_price = mirrored(_price_field("regular price"), exported=True, stock=True, kind="price")
    sale_price = mirrored(_price_field("sale price"), exported=True, stock=True, kind="price")
    date_on_sale_from_gmt = mirrored(models.DateTimeField(null=True, blank=True))
    date_on_sale_to_gmt = mirrored(models.DateTimeField(null=True, blank=True))
    on_sale = mirrored(models.BooleanField(default=False), exported=True, stock=True)
    purchasable = mirrored(models.BooleanField(default=True))

    manage_stock = mirrored(models.BooleanField(default=False), exported=True, stock=True, kind="manage_stock")
    stock_quantity = mirrored(_stock_quantity_field(), exported=True, stock=True, kind="quantity")
    stock_status = mirrored(
        models.CharField(max_length=32, choices=StockStatus.choices, default=StockStatus.INSTOCK),
        exported=True,
        stock=True,
        kind="enum",
    )
    backorders = mirrored(models.CharField(max_length=20, default="no"))
    low_stock_amount = mirrored(models.IntegerField(null=True, blank=True))

    weight = mirrored(models.CharField(max_length=50, blank=True))
    dimensions = mirrored(models.JSONField(default=dict, blank=True), kind="dimensions")
    menu_order = mirrored(models.IntegerField(default=0))

    date_created_gmt = mirrored(models.DateTimeField(null=True, blank=True))
    date_modified_gmt = mirrored(models.DateTimeField(null=True, blank=True))
    synced_at = models.DateTimeField(null=True, blank=True, help_text="When the sync last wrote a change.")
    sync_hash = models.CharField(
        max_length=32,
        blank=True,
        editable=False,
        help_text="Digest of the WooCommerce values other than stock and prices, so an unchanged row is "
        "recognised without reading it back (stock and prices are compared column by column).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = MirrorQuerySet.as_manager()

    class Meta:
        abstract = True


class Product(MirroredItem):
    id = models.PositiveBigIntegerField(primary_key=True, help_text="WooCommerce product id.")
    name = mirrored(models.TextField(blank=True), exported=True)
    slug = mirrored(models.CharField(max_length=400, blank=True, db_index=True), exported=True)
    type = mirrored(
        models.CharField(max_length=20, choices=ProductType.choices, default=ProductType.SIMPLE), exported=True
    )
    status = mirrored(
        models.CharField(max_length=20, choices=ProductStatus.choices, default=ProductStatus.PUBLISH), exported=True
    )
    featured = mirrored(models.BooleanField(default=False))
    catalog_visibility = mirrored(models.CharField(max_length=20, default="visible"), exported=True)
    short_description = mirrored(models.TextField(blank=True))

    total_sales = mirrored(models.BigIntegerField(default=0), kind="count")
    external_url = mirrored(models.CharField(max_length=1000, blank=True))
    button_text = mirrored(models.CharField(max_length=200, blank=True))

    average_rating = mirrored(models.DecimalField(max_digits=4, decimal_places=2, default=0), kind="rating")
    rating_count = mirrored(models.PositiveIntegerField(default=0))
    categories = models.ManyToManyField(Category, through="ProductCategory", related_name="products", blank=True)
    tags = mirrored(
        models.JSONField(default=list, blank=True, help_text="[{id, name, slug}] as WooCommerce sends them."),
        doc="[{id, name, slug}]",
    )
    images = mirrored(
        models.JSONField(default=list, blank=True), doc="[{id, src, name, alt, …}] as WooCommerce sends them."
    )
    attributes = mirrored(models.JSONField(default=list, blank=True))
    default_attributes = mirrored(models.JSONField(default=list, blank=True))

    # Sorted on by the API (product_pub_modified_idx) and read by the sync's modified_after runs.
    date_modified_gmt = mirrored(models.DateTimeField(null=True, blank=True, db_index=True), exported=True)
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the product was permanently deleted in WooCommerce."
    )
    # Set by PostgreSQL triggers (migration 0008), never by Python: a new number from one sequence on every
    # change of the row, of its category links, of a linked category's name/slug/order or of its public
    # variations. A stored list fragment is used only while its version is the row's (ProductListFragment).
    list_version = models.BigIntegerField(default=0, db_default=0, editable=False)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status", "deleted_at"], name="product_status_deleted_idx"),
            models.Index(fields=["stock_status"], name="product_stock_status_idx"),
            models.Index(fields=["type"], name="product_type_idx"),
            # The API's sorts and flag filters, over public rows only (catalog.selectors). Each sort index also
            # holds what a list page reads (catalog_visibility to filter, list_version to pick the fragment), so a
            # page is an index-only scan: page 200 walks 10,000 index entries, not 10,000 rows of the heap.
            _page_index(F("date_created_gmt"), F("id"), name="product_pub_date_idx"),
            _page_index(F("date_modified_gmt"), F("id"), name="product_pub_modified_idx"),
            _page_index(F("price"), F("id"), name="product_pub_price_idx"),
            _page_index(F("total_sales"), F("id"), name="product_pub_popularity_idx"),
            # Titles sort on their first 100 characters: a btree entry over a full TEXT could exceed
            # PostgreSQL's ~2.7 kB limit and fail a whole sync page.
            _page_index(TITLE_SORT_KEY, F("id"), name="product_pub_title_idx"),
            _page_index(F("menu_order"), TITLE_SORT_KEY, F("id"), name="product_pub_menu_order_idx"),
            # Lets the listing's count(*) be an index-only scan (visibility is in every public filter).
            models.Index(F("catalog_visibility"), condition=PUBLIC_PRODUCT, name="product_pub_visibility_idx"),
            # Counts and pages filtered by stock status and price (with a category subtree, joined on id):
            # index-only scans, and pages of one stock status sorted by price come in the index's order.
            models.Index(
                fields=["stock_status", "price", "id"],
                include=PAGE_COLUMNS,
                condition=PUBLIC_PRODUCT,
                name="product_pub_stock_price_idx",
            ),
            models.Index(F("id"), condition=PUBLIC_PRODUCT & Q(featured=True), name="product_pub_featured_idx"),
            models.Index(F("id"), condition=PUBLIC_PRODUCT & Q(on_sale=True), name="product_pub_on_sale_idx"),
            # The few products a listing does not show (drafts, trash, deleted, hidden): whole-catalog category
            # counts are the links per category minus these products' links (catalog.selectors), instead of
            # joining every link with every product (a sequential scan of the links at 200,000 products).
            models.Index(F("id"), condition=~LISTED_PRODUCT, name="product_unlisted_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name or '(no name)'} (#{self.id})"


class ProductCategory(models.Model):
    """Product ↔ category link, written in bulk by the sync (one row per pair)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="category_links")
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="product_links")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "category"], name="product_category_unique"),
        ]
        indexes = [models.Index(fields=["category", "product"], name="product_category_cat_idx")]

    def __str__(self) -> str:
        return f"{self.product_id} in {self.category_id}"


class ProductVariation(MirroredItem):
    id = models.PositiveBigIntegerField(primary_key=True, help_text="WooCommerce variation id.")
    # WooCommerce's "parent_id" (parsed by the sync, which also knows it from the listing it reads).
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variations")
    status = mirrored(models.CharField(max_length=20, default=ProductStatus.PUBLISH))
    # WooCommerce sends manage_stock true, false or "parent" (stock managed by the parent product).
    stock_managed_by_parent = mirrored(
        models.BooleanField(default=False), public=False, stock=True, kind="stock_by_parent", key="manage_stock"
    )
    image = mirrored(models.JSONField(null=True, blank=True))
    attributes = mirrored(
        models.JSONField(default=list, blank=True, help_text="[{id, name, option}]"), doc="[{id, name, option}]"
    )
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the variation disappeared from WooCommerce."
    )

    class Meta:
        ordering = ["product_id", "menu_order", "id"]

    def __str__(self) -> str:
        return f"Variation #{self.id} of product #{self.product_id}"


class ProductListFragment(models.Model):
    """A product's list JSON, stored as the list endpoint renders it, so a list page is concatenated bytes.

    Read-through: the list renders a missing or stale fragment and stores it. It is used only where
    ``version`` equals the product's ``list_version`` (which triggers renew on every change that can affect
    it) and ``shape`` equals the running code's (``catalog.fast_render.fragment_shape``: fields, settings,
    code); anything else is a stale fragment, never served. PostgreSQL only.
    """

    product_id = models.PositiveBigIntegerField(primary_key=True)  # no FK: an orphan is never matched
    version = models.BigIntegerField()
    shape = models.CharField(max_length=32)
    # Text, not bytes: the JSON is UTF-8 without NUL (escaped), and PostgreSQL sends text as is where it
    # sends bytea as hex, twice the bytes to encode, carry and decode for every page.
    body = models.TextField()

    def __str__(self) -> str:
        return f"list fragment of #{self.product_id} v{self.version}"


class ProductSearchName(models.Model):
    """The name and SKU of every product a search can show (published, not deleted, visibility "visible" or
    "search"), copied from ``catalog_product`` by PostgreSQL triggers (migration 0011), never by Python.

    ``search=`` matches names through a trigram index, which is lossy: every candidate is rechecked on its
    heap page. Here the rows are narrow (about 100 to a page), so a word in one name out of five rechecks
    about 1,700 pages at 200,000 products, where the product table (descriptions, images, attributes) spreads
    the same 40,000 candidates over 22,000. PostgreSQL only: SQLite searches the product table itself.
    """

    product_id = models.PositiveBigIntegerField(primary_key=True)  # no FK: the triggers own the rows
    name = models.TextField()
    sku = models.CharField(max_length=200, db_index=True)

    def __str__(self) -> str:
        return f"search name of #{self.product_id}"


class ProductListEpoch(models.Model):
    """One row whose ``value`` PostgreSQL triggers renew (a new, never repeated number) when a transaction
    changes what a product filter can match (a product's status, visibility, name, SKU, price, stock status,
    flags; category links; the category tree). A count read in the same statement as the value stays exact
    while the value does; without the row (not written yet) nothing is memoised."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"product list epoch {self.value}"
