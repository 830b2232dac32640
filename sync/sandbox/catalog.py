"""The sandbox store: a deterministic, realistically messy WooCommerce catalog held in memory.

Products, variations and categories are kept as dicts in WooCommerce REST v3 shape
(``catalog.products[id]`` is what ``GET products/<id>`` returns, minus ``_links``). Every read and write
goes through one re-entrant lock, so the HTTP server's threads, the control endpoints and tests may
mutate the catalog while a client pages through it. Treat the dicts as read-only and change them
through the methods (``edit_product``, ``sell``...), which keep derived fields (``price``, ``on_sale``,
``stock_status``, a variable parent's price and stock) consistent and bump ``date_modified`` the way
WooCommerce does.
"""

from __future__ import annotations

import copy
import functools
import gc
import json
import random
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING
from urllib.parse import quote
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from .orders import SandboxOrders

DEFAULT_SITE_URL = "http://127.0.0.1:8800"
# Not UTC on purpose: filters without dates_are_gmt compare against site-local time.
DEFAULT_TIMEZONE = "Europe/Berlin"
# Generated dates lie before this instant, so a catalog depends only on its seed.
REFERENCE_TIME = datetime(2025, 9, 30, 12, 0, 0, tzinfo=UTC)

PRODUCT_STATUSES = ("publish", "future", "draft", "pending", "private", "trash")
ANY_STATUSES = frozenset({"publish", "future", "draft", "pending", "private"})
STOCK_STATUSES = ("instock", "outofstock", "onbackorder")
PRODUCT_TYPES = ("simple", "grouped", "external", "variable")

_QUERY_CACHE_SIZE = 32

_ADJECTIVES = (
    "Classic", "Premium", "Organic", "Vintage", "Deluxe", "Eco", "Handmade", "Smart", "Compact", "Ultra",
    "Soft", "Wooden", "Crème", "Über", "Café", "Niño", "Açaí", "Fjord", "Žluťoučký", "日本の", "Nordic",
    "Rustic", "Retro", "Urban", "Cozy", "Bold", "Mini", "Mega", "Pure", "Wild",
)  # fmt: skip
_NOUNS = (
    "T-Shirt", "Hoodie", "Mug", "Poster", "Candle", "Backpack", "Notebook", "Scarf", "Lamp", "Sneakers",
    "Bracelet", "Teapot", "Blanket", "Headphones", "Wallet", "Cap", "Socks", "Vase", "Jacket", "Sunglasses",
    "Tote Bag", "Water Bottle", "Pillow", "Apron", "Puzzle", "Kite", "Journal", "Beanie", "Planter", "Clock",
)  # fmt: skip
_NAME_DECORATIONS = (
    "", "", "", "", "", "", " &amp; Co", " &#8211; Limited", " 🔥", " (2-pack)", ' "Special"', " \u2013 Édition",
    " <small>new</small>", " x2",
)  # fmt: skip
_CATEGORY_NAMES = (
    "Clothing", "Hoodies", "T-shirts", "Accessories", "Décor", "Küche &amp; Haushalt", "Música", "Posters",
    "Jewellery", "Electrónica", "Books", "Toys", "Garden", "Shoes", "Bags", "Sale", "New in", "Kids' Corner",
    "Art &amp; Craft", "Café", "Tea", "Coffee", "Outdoor", "Sport", "Beauty", "Health", "Pets", "Office",
    "Gifts", "Vintage", "家居", "Écologique", "Winter", "Summer", "Lighting", "Stationery",
)  # fmt: skip
_TAG_NAMES = ("gift", "eco", "bestseller", "new", "handmade", "limited", "vegan", "sale", "ünique", "summer")
_COLORS = ("Black", "White", "Red", "Blue", "Green", "Grün", "Beige", "Navy")
_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
_MATERIALS = ("Cotton", "Wool", "Linen", "Bamboo", "Recycled PET")
_SENTENCES = (
    "Pellentesque habitant morbi tristique senectus et netus.",
    "Made with <strong>love</strong> in a small workshop.",
    "Ça va très bien avec tout — même le café.",
    "Größe fällt klein aus; bitte eine Nummer größer bestellen.",
    "Dishwasher safe &amp; microwave friendly.",
    "Limited stock: <em>order now</em>!",
    "Ideal as a gift 🎁 for friends and family.",
    "100% organic cotton, certified.",
    "Handle with care. <br />Do not tumble dry.",
    "日本製の高品質な素材を使用しています。",
)

_DESCRIPTIONS: tuple[str, ...] = ()
_SHORT_DESCRIPTIONS: tuple[str, ...] = ()


def _build_texts() -> None:
    global _DESCRIPTIONS, _SHORT_DESCRIPTIONS
    rng = random.Random(7)
    descriptions = []
    for _ in range(64):
        paragraphs = []
        for _ in range(rng.randint(1, 3)):
            paragraphs.append("<p>" + " ".join(rng.sample(_SENTENCES, rng.randint(1, 3))) + "</p>")
        if rng.random() < 0.3:
            items = "".join(f"<li>{rng.choice(_SENTENCES)}</li>" for _ in range(rng.randint(2, 4)))
            paragraphs.append(f"<ul>{items}</ul>")
        descriptions.append("\n".join(paragraphs) + "\n")
    _DESCRIPTIONS = ("", *descriptions)
    _SHORT_DESCRIPTIONS = ("", *(f"<p>{s}</p>\n" for s in _SENTENCES))


_build_texts()


class CatalogError(LookupError):
    """Raised for an unknown id or an invalid edit; the control endpoints map it to 404/400."""


class UnknownObject(CatalogError):
    pass


# --- small helpers ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _iso_day(day: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))


def _iso(timestamp: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of a (zone-shifted) unix timestamp; cheaper than strftime per call."""
    day, second = divmod(timestamp, 86400)
    hours, rest = divmod(second, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{_iso_day(day)}{hours:02d}:{minutes:02d}:{seconds:02d}"


def slugify(text: str) -> str:
    """Roughly WordPress's ``sanitize_title``: accents removed, lowercase, other non-ASCII %-encoded."""
    return _slug_part(text) or "product"


@functools.lru_cache(maxsize=65536)
def _slug_part(text: str) -> str:
    text = re.sub(r"<[^>]*>", "", text)
    text = re.sub(r"&[#\w]+;", "", text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower()
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch if ch.isalnum() else "-")
        elif ch.isalnum():
            out.append(quote(ch).lower())
        else:
            out.append("-")
    return re.sub(r"-+", "-", "".join(out)).strip("-")


def money(value: Decimal | float | int | str | None) -> str:
    """WooCommerce money strings: ``""`` when unset, otherwise the number as entered (``"20"``, ``"9.99"``)."""
    if value is None or value == "":
        return ""
    number = Decimal(str(value))
    text = format(number.normalize(), "f") if number == number.to_integral_value() else f"{number:.2f}"
    return text


def _price_number(text: str) -> Decimal | None:
    if text in ("", None):
        return None
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None


def _price_html(price: str, regular: str, on_sale: bool) -> str:
    def amount(value: str) -> str:
        return (
            '<span class="woocommerce-Price-amount amount"><bdi>'
            f'{value}&nbsp;<span class="woocommerce-Price-currencySymbol">&euro;</span></bdi></span>'
        )

    if price == "":
        return ""
    if on_sale and regular:
        return f'<del aria-hidden="true">{amount(regular)}</del> <ins aria-hidden="true">{amount(price)}</ins>'
    return amount(price)


def _quantity(value: object) -> int | float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise CatalogError("stock_quantity must be a number")
    if isinstance(value, int):
        return value
    number = float(value)  # type: ignore[arg-type]
    return int(number) if number.is_integer() else number


_DATE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$",
)


@dataclass(frozen=True)
class ProductQuery:
    """Normalised filters of a products (or variations) listing; hashable so results can be cached."""

    status: tuple[str, ...] = tuple(sorted(ANY_STATUSES))
    include: tuple[int, ...] = ()
    exclude: tuple[int, ...] = ()
    search: str = ""
    after: str | None = None
    before: str | None = None
    modified_after: str | None = None
    modified_before: str | None = None
    dates_are_gmt: bool = False
    type: str | None = None
    featured: bool | None = None
    category: tuple[int, ...] = ()
    tag: tuple[int, ...] = ()
    on_sale: bool | None = None
    stock_status: str | None = None
    sku: tuple[str, ...] = ()
    parent: tuple[int, ...] = ()
    parent_exclude: tuple[int, ...] = ()
    slug: tuple[str, ...] = ()
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    orderby: str = "date"
    order: str = "desc"


@dataclass(frozen=True)
class CategoryQuery:
    include: tuple[int, ...] = ()
    exclude: tuple[int, ...] = ()
    search: str = ""
    hide_empty: bool = False
    parent: int | None = None
    product: int | None = None
    slug: tuple[str, ...] = ()
    orderby: str = "name"
    order: str = "asc"


# --- the catalog -------------------------------------------------------------------------------------


class SandboxCatalog:
    """In-memory WooCommerce catalog. Build one with :meth:`generate` (seeded) or empty and ``add_*``."""

    def __init__(self, *, site_url: str = DEFAULT_SITE_URL, timezone: str = DEFAULT_TIMEZONE, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.site_url = site_url.rstrip("/")
        self.timezone_name = timezone
        self.tz = ZoneInfo(timezone)
        self.products: dict[int, dict] = {}
        self.variations: dict[int, dict] = {}
        self.categories: dict[int, dict] = {}
        self.tags: dict[int, dict] = {}
        self.version = 0
        # Called as listener(topic, resource_id) for each webhook-worthy change, under the lock
        # (``webhooks.WebhookDispatcher`` queues deliveries from it). Generation emits nothing.
        self.listeners: list[Callable[[str, int], None]] = []
        self._last_post_id = 0
        self._last_term_id = 0
        self._runtime_rng = random.Random(seed + 1_000_003)
        self._queries: OrderedDict[tuple, list[int]] = OrderedDict()
        self._category_counts_version = -1
        self._offsets: dict[int, int] = {}

    # --- dates -------------------------------------------------------------------------------------

    def _dates(self, timestamp: int) -> tuple[str, str]:
        """(site-local, GMT) strings for a unix timestamp, second precision, no zone suffix."""
        # Zone offsets change on the hour, so one lookup per hour is enough (generation makes ~10^5 calls).
        bucket = timestamp // 3600
        offset = self._offsets.get(bucket)
        if offset is None:
            utc_offset = datetime.fromtimestamp(timestamp, self.tz).utcoffset()
            offset = int(utc_offset.total_seconds()) if utc_offset else 0
            self._offsets[bucket] = offset
        return _iso(timestamp + offset), _iso(timestamp)

    def _timestamp_from(self, value: str, *, gmt: bool) -> int:
        match = _DATE_RE.match(value)
        if not match:
            raise CatalogError(f"invalid date {value!r}")
        naive = datetime(*(int(part) for part in match.groups()[:6]))  # noqa: DTZ001 - zone attached below
        suffix = match.group(7)
        if suffix:
            return int(datetime.fromisoformat(value.replace("z", "+00:00").replace("Z", "+00:00")).timestamp())
        return int(naive.replace(tzinfo=UTC if gmt else self.tz).timestamp())

    def site_time(self, value: str) -> str:
        """What ``WP_Date_Query`` compares for a filter value: a zone suffix is converted to site time,
        a naive value is taken as it is (whichever column it is compared with)."""
        match = _DATE_RE.match(value)
        if not match:
            raise CatalogError(f"invalid date {value!r}")
        if match.group(7):
            aware = datetime.fromisoformat(
                re.sub(r"\.\d+", "", value).replace("z", "+00:00").replace("Z", "+00:00").replace(" ", "T")
            )
            return aware.astimezone(self.tz).replace(tzinfo=None).isoformat()
        return "{}-{}-{}T{}:{}:{}".format(*match.groups()[:6])

    def _now(self) -> int:
        return int(time.time())

    # --- ids -----------------------------------------------------------------------------------------

    def _next_post_id(self, rng: random.Random | None = None) -> int:
        rng = rng or self._runtime_rng
        # Revisions, orders and other posts take ids from the same sequence, hence the gaps.
        gap = rng.choice((0, 0, 0, 0, 0, 0, 1, 2, 3, 7)) if rng.random() < 0.3 else 0
        self._last_post_id += 1 + gap
        return self._last_post_id

    def _next_term_id(self, rng: random.Random | None = None) -> int:
        rng = rng or self._runtime_rng
        self._last_term_id += 1 + (rng.randint(1, 4) if rng.random() < 0.25 else 0)
        return self._last_term_id

    # --- generation ----------------------------------------------------------------------------------

    @classmethod
    def generate(
        cls,
        products: int = 5000,
        variable_share: float = 0.1,
        categories: int = 30,
        seed: int = 42,
        *,
        site_url: str = DEFAULT_SITE_URL,
        timezone: str = DEFAULT_TIMEZONE,
        reference_time: datetime = REFERENCE_TIME,
    ) -> SandboxCatalog:
        """A deterministic catalog: the same arguments always give the same catalog (ids, dates, values).

        The mess is deliberate: ids with gaps shared by products, variations and images; ~90% published,
        some drafts and pending (empty slug), private, and a few already trashed; empty and duplicated
        SKUs; a 2-3 level category tree where some children have smaller ids than their parents; sale
        prices with and without dates; managed and unmanaged stock with a few decimal quantities; unicode
        and HTML in names; bulk-imported runs sharing one timestamp; ``variable_share`` of products
        variable with 2-6 variations.
        """
        if products < 0 or categories < 1 or not 0 <= variable_share <= 1:
            raise ValueError("products >= 0, categories >= 1 and 0 <= variable_share <= 1 are required")
        catalog = cls(site_url=site_url, timezone=timezone, seed=seed)
        rng = random.Random(seed)
        # Millions of small dicts: the cyclic GC would rescan them over and over (there are no cycles).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            with catalog.lock:
                catalog._last_post_id = rng.randint(8, 40)
                catalog._last_term_id = rng.randint(12, 20)
                catalog._generate_categories(rng, categories)
                catalog._generate_tags(rng)
                catalog._generate_products(rng, products, variable_share, int(reference_time.timestamp()))
                catalog._changed()
        finally:
            if gc_was_enabled:
                gc.enable()
        return catalog

    def _generate_categories(self, rng: random.Random, count: int) -> None:
        # Tree shape first (by position), ids afterwards, so that some children get smaller ids.
        parents: list[int | None] = [None]  # position 0: "Uncategorized", WooCommerce's default category
        depths = [0]
        top_level = max(1, count // 4)
        for position in range(1, count):
            if position <= top_level:
                parents.append(None)
                depths.append(0)
            else:
                candidates = [p for p in range(1, position) if depths[p] < 2]
                parent = rng.choice(candidates) if candidates else None
                parents.append(parent)
                depths.append(0 if parent is None else depths[parent] + 1)
        ids = [self._next_term_id(rng) for _ in range(count)]
        for position in range(1, count):
            parent = parents[position]
            if parent is not None and rng.random() < 0.3:
                ids[position], ids[parent] = ids[parent], ids[position]
        used_slugs: set[str] = set()
        for position in range(count):
            if position == 0:
                name = "Uncategorized"
            else:
                base = _CATEGORY_NAMES[(position - 1) % len(_CATEGORY_NAMES)]
                name = base if position <= len(_CATEGORY_NAMES) else f"{base} {position // len(_CATEGORY_NAMES) + 1}"
            slug = _unique_slug(slugify(name), used_slugs)
            image: dict | list = []
            if position and rng.random() < 0.3:
                image = self._image(self._next_post_id(rng), slug, 1, int(REFERENCE_TIME.timestamp()) - 86400 * 400)
            parent = parents[position]
            self.categories[ids[position]] = {
                "id": ids[position],
                "name": name,
                "slug": slug,
                "parent": 0 if parent is None else ids[parent],
                "description": "" if rng.random() < 0.6 else f"<p>{rng.choice(_SENTENCES)}</p>",
                "display": rng.choice(("default", "default", "default", "products", "subcategories", "both")),
                "image": image,
                "menu_order": 0 if rng.random() < 0.7 else rng.randint(1, 9),
                "count": 0,
            }

    def _generate_tags(self, rng: random.Random) -> None:
        for name in _TAG_NAMES:
            tag_id = self._next_term_id(rng)
            self.tags[tag_id] = {"id": tag_id, "name": name, "slug": slugify(name)}

    def _image(self, image_id: int, slug: str, position: int, timestamp: int) -> dict:
        local, gmt = self._dates(timestamp)
        year, month = local[:4], local[5:7]
        return {
            "id": image_id,
            "date_created": local,
            "date_created_gmt": gmt,
            "date_modified": local,
            "date_modified_gmt": gmt,
            "src": f"{self.site_url}/wp-content/uploads/{year}/{month}/{slug[:40] or 'image'}-{position}.jpg",
            "name": f"{slug[:40]}-{position}",
            "alt": "" if position > 1 else slug.replace("-", " ")[:40],
        }

    def _generate_products(self, rng: random.Random, count: int, variable_share: float, reference: int) -> None:
        start = reference - 3 * 365 * 86400
        span = reference - start
        # Creation times increase with ids (as in WordPress); bulk imports give runs with one timestamp.
        created = start
        step = max(1, span // max(count, 1))
        used_slugs: set[str] = set()
        skus: list[str] = []
        category_ids = sorted(self.categories)
        simple_ids: list[int] = []
        import_left = 0
        for index in range(count):
            if import_left > 0:
                import_left -= 1
            else:
                created += rng.randint(1, 2 * step)
                if rng.random() < 0.01:
                    import_left = rng.randint(20, 200)
            created = min(created, reference - 60)
            modified = created if rng.random() < 0.35 else rng.randint(created, reference)
            roll = rng.random()
            if roll < variable_share:
                product_type = "variable"
            elif roll < variable_share + 0.01 and simple_ids:
                product_type = "grouped"
            elif roll < variable_share + 0.025:
                product_type = "external"
            else:
                product_type = "simple"
            name, base_slug = self._product_name(rng)
            image_count = rng.choices((0, 1, 2, 3), weights=(10, 50, 25, 15))[0]
            image_ids = [self._next_post_id(rng) for _ in range(image_count)]
            product_id = self._next_post_id(rng)
            status = rng.choices(("publish", "draft", "pending", "private", "trash"), weights=(900, 40, 20, 25, 15))[0]
            sku = self._product_sku(rng, product_id, skus)
            product = self._new_product_dict(product_id, product_type, name, status, created, modified)
            product["slug"] = self._slug_for_status(_unique_slug(base_slug, used_slugs), status)
            product["permalink"] = self._permalink(product)
            product["sku"] = sku
            product["featured"] = rng.random() < 0.05
            product["catalog_visibility"] = rng.choices(
                ("visible", "catalog", "search", "hidden"), weights=(94, 2, 2, 2)
            )[0]
            product["description"] = rng.choice(_DESCRIPTIONS)
            product["short_description"] = rng.choice(_SHORT_DESCRIPTIONS)
            product["total_sales"] = rng.choice((0, 0, 0, rng.randint(1, 40), rng.randint(40, 900)))
            product["average_rating"] = "0.00" if rng.random() < 0.6 else f"{rng.uniform(2.5, 5):.2f}"
            product["rating_count"] = 0 if product["average_rating"] == "0.00" else rng.randint(1, 120)
            product["weight"] = "" if rng.random() < 0.5 else money(Decimal(rng.randint(1, 500)) / 100)
            if rng.random() < 0.4:
                product["dimensions"] = {
                    "length": str(rng.randint(5, 80)),
                    "width": str(rng.randint(5, 60)),
                    "height": str(rng.randint(1, 40)),
                }
            cats = rng.sample(category_ids[1:], k=min(len(category_ids) - 1, rng.choice((1, 1, 1, 2, 3))))
            if not cats or rng.random() < 0.03:
                cats = [category_ids[0]]  # Uncategorized
            product["categories"] = [self._term_ref(self.categories[c]) for c in cats]
            if rng.random() < 0.25:
                product["tags"] = [
                    self._term_ref(self.tags[t]) for t in rng.sample(sorted(self.tags), rng.randint(1, 3))
                ]
            product["images"] = [
                self._image(image_id, base_slug, position + 1, created - 5)
                for position, image_id in enumerate(image_ids)
            ]
            product["menu_order"] = 0 if rng.random() < 0.9 else rng.randint(1, 20)
            if rng.random() < 0.1:
                product["meta_data"] = [{"id": product_id * 10 + 1, "key": "_supplier_code", "value": f"SUP-{index}"}]
            if product_type == "variable":
                self.products[product_id] = product
                self._generate_variations(rng, product, created, modified, skus)
            else:
                self._generate_prices(rng, product, reference)
                self._generate_stock(rng, product)
                if product_type == "external":
                    product["external_url"] = f"https://partner.example.com/p/{product_id}"
                    product["button_text"] = "Buy at partner"
                    product["manage_stock"] = False
                    product["stock_quantity"] = None
                    product["stock_status"] = "instock"
                elif product_type == "grouped":
                    product["grouped_products"] = sorted(rng.sample(simple_ids[-50:], k=min(3, len(simple_ids))))
                    product["regular_price"] = product["sale_price"] = ""
                    product["manage_stock"] = False
                    product["stock_quantity"] = None
                else:
                    simple_ids.append(product_id)
                if product_type == "simple" and rng.random() < 0.2:
                    product["attributes"] = [
                        {
                            "id": 0,
                            "name": "Material",
                            "position": 0,
                            "visible": True,
                            "variation": False,
                            "options": rng.sample(_MATERIALS, rng.randint(1, 2)),
                        }
                    ]
                self.products[product_id] = product
                self._derive_product(product)
            if product_type == "grouped":
                self._derive_grouped(product)

    @staticmethod
    def _product_name(rng: random.Random) -> tuple[str, str]:
        """A name and its slug (built from the parts' slugs: slugify per product is the slow part)."""
        parts = [rng.choice(_ADJECTIVES), rng.choice(_NOUNS)]
        if rng.random() < 0.3:
            parts.append(rng.choice(_COLORS))
        decoration = rng.choice(_NAME_DECORATIONS)
        slug = "-".join(filter(None, (_slug_part(part) for part in (*parts, decoration))))
        return " ".join(parts) + decoration, slug

    def _product_sku(self, rng: random.Random, product_id: int, skus: list[str]) -> str:
        roll = rng.random()
        if roll < 0.05:
            return ""
        if roll < 0.06 and skus:
            return rng.choice(skus)  # duplicated SKU, as imports leave behind
        sku = f"CM-{product_id:06d}" if rng.random() < 0.8 else f"cm {product_id} ü"
        skus.append(sku)
        return sku

    def _generate_prices(self, rng: random.Random, item: dict, reference: int) -> None:
        regular = Decimal(rng.randint(199, 19999)) / 100
        if rng.random() < 0.15:
            regular = regular.quantize(Decimal(1))  # "20" rather than "20.00", as typed in the admin
        item["regular_price"] = money(regular)
        if rng.random() < 0.15:
            item["sale_price"] = money((regular * Decimal("0.8")).quantize(Decimal("0.01")))
            if rng.random() < 0.4:
                # Dated sales: a running one, or one scheduled years ahead (not on sale yet).
                if rng.random() < 0.6:
                    start, end = reference - rng.randint(10, 300) * 86400, reference + rng.randint(700, 1400) * 86400
                else:
                    start, end = reference + rng.randint(700, 900) * 86400, reference + rng.randint(901, 1400) * 86400
                self._set_date(item, "date_on_sale_from", start)
                self._set_date(item, "date_on_sale_to", end)
        if rng.random() < 0.01:
            item["regular_price"] = ""  # a product with no price at all: not purchasable

    def _generate_stock(self, rng: random.Random, item: dict) -> None:
        item["backorders"] = rng.choices(("no", "notify", "yes"), weights=(85, 10, 5))[0]
        if rng.random() < 0.6:
            item["manage_stock"] = True
            roll = rng.random()
            if roll < 0.1:
                quantity: int | float = 0
            elif roll < 0.13:
                quantity = rng.choice((2.5, 0.5, 7.25))
            elif roll < 0.15:
                quantity = -rng.randint(1, 3)  # oversold on backorder
            else:
                quantity = rng.randint(1, 250)
            item["stock_quantity"] = quantity
            item["low_stock_amount"] = None if rng.random() < 0.8 else rng.randint(1, 5)
        else:
            item["manage_stock"] = False
            item["stock_quantity"] = None
            item["stock_status"] = rng.choices(STOCK_STATUSES, weights=(85, 10, 5))[0]

    def _generate_variations(
        self, rng: random.Random, parent: dict, created: int, modified: int, skus: list[str]
    ) -> None:
        count = rng.randint(2, 6)
        combos: list[tuple[str, str | None]]
        if rng.random() < 0.3:  # colour only
            colors = rng.sample(_COLORS, k=count)
            sizes: list[str] = []
            combos = [(c, None) for c in colors]
        else:
            colors = rng.sample(_COLORS, k=rng.randint(1, 3))
            sizes = rng.sample(_SIZES, k=-(-count // len(colors)))
            combos = [(c, s) for c in colors for s in sizes][:count]
        attributes = [{"id": 1, "name": "Color", "position": 0, "visible": True, "variation": True, "options": colors}]
        if sizes:
            attributes.append(
                {"id": 2, "name": "Size", "position": 1, "visible": True, "variation": True, "options": sizes}
            )
        parent["attributes"] = attributes
        if rng.random() < 0.5:
            first = combos[0]
            parent["default_attributes"] = [{"id": 1, "name": "Color", "option": first[0].lower()}]
        parent["regular_price"] = ""
        parent["sale_price"] = ""
        parent["manage_stock"] = rng.random() < 0.1
        if parent["manage_stock"]:
            parent["stock_quantity"] = rng.randint(0, 120)
            parent["backorders"] = "no"
        base_price = Decimal(rng.randint(999, 9999)) / 100
        variation_ids = []
        for position, (color, size) in enumerate(combos):
            image_id = self._next_post_id(rng) if rng.random() < 0.5 else None
            variation_id = self._next_post_id(rng)
            v_created = created + position
            v_modified = max(v_created, modified if rng.random() < 0.7 else rng.randint(v_created, v_created + 86400))
            variation = self._new_variation_dict(variation_id, parent["id"], v_created, v_modified)
            options = [color] if size is None else [color, size]
            variation["attributes"] = [{"id": 1, "name": "Color", "option": color}]
            if size is not None:
                variation["attributes"].append({"id": 2, "name": "Size", "option": size})
            variation["status"] = "publish" if rng.random() < 0.95 else "private"
            if parent["status"] == "trash":
                variation["status"] = "trash"
            parent_sku = parent["sku"]
            variation["sku"] = (
                "" if rng.random() < 0.1 or not parent_sku else f"{parent_sku}-{'-'.join(o[:3] for o in options)}"
            )
            price = base_price + Decimal(rng.choice((0, 0, 0, 2, 5, 10)))
            variation["regular_price"] = money(price)
            if rng.random() < 0.15:
                variation["sale_price"] = money((price * Decimal("0.9")).quantize(Decimal("0.01")))
            variation["description"] = "" if rng.random() < 0.8 else f"<p>{rng.choice(_SENTENCES)}</p>"
            variation["menu_order"] = position
            if image_id is not None:
                variation["image"] = self._image(image_id, slugify(f"{parent['name']}-{color}"), 1, v_created - 2)
            if rng.random() < 0.6:
                variation["manage_stock"] = True
                variation["stock_quantity"] = rng.choice((0, rng.randint(1, 60), rng.randint(1, 60)))
                if rng.random() < 0.03:
                    variation["stock_quantity"] = 1.5
            elif parent["manage_stock"]:
                variation["manage_stock"] = "parent"
            else:
                variation["manage_stock"] = False
                variation["stock_quantity"] = None
                variation["stock_status"] = rng.choices(STOCK_STATUSES, weights=(85, 10, 5))[0]
            variation["weight"] = parent["weight"]
            variation["permalink"] = self._variation_permalink(parent, variation)
            self.variations[variation_id] = variation
            variation_ids.append(variation_id)
        parent["variations"] = variation_ids
        for variation_id in variation_ids:
            self._derive_variation(self.variations[variation_id])
        self._derive_variable_parent(parent)

    # --- shapes -------------------------------------------------------------------------------------

    def _new_product_dict(
        self, product_id: int, product_type: str, name: str, status: str, created: int, modified: int
    ) -> dict:
        created_local, created_gmt = self._dates(created)
        modified_local, modified_gmt = self._dates(modified)
        return {
            "id": product_id,
            "name": name,
            "slug": "",
            "permalink": "",
            "date_created": created_local,
            "date_created_gmt": created_gmt,
            "date_modified": modified_local,
            "date_modified_gmt": modified_gmt,
            "type": product_type,
            "status": status,
            "featured": False,
            "catalog_visibility": "visible",
            "description": "",
            "short_description": "",
            "sku": "",
            "global_unique_id": "",
            "price": "",
            "regular_price": "",
            "sale_price": "",
            "date_on_sale_from": None,
            "date_on_sale_from_gmt": None,
            "date_on_sale_to": None,
            "date_on_sale_to_gmt": None,
            "price_html": "",
            "on_sale": False,
            "purchasable": False,
            "total_sales": 0,
            "virtual": False,
            "downloadable": False,
            "downloads": [],
            "download_limit": -1,
            "download_expiry": -1,
            "external_url": "",
            "button_text": "",
            "tax_status": "taxable",
            "tax_class": "",
            "manage_stock": False,
            "stock_quantity": None,
            "stock_status": "instock",
            "backorders": "no",
            "backorders_allowed": False,
            "backordered": False,
            "low_stock_amount": None,
            "sold_individually": False,
            "weight": "",
            "dimensions": {"length": "", "width": "", "height": ""},
            "shipping_required": True,
            "shipping_taxable": True,
            "shipping_class": "",
            "shipping_class_id": 0,
            "reviews_allowed": True,
            "average_rating": "0.00",
            "rating_count": 0,
            "related_ids": [],
            "upsell_ids": [],
            "cross_sell_ids": [],
            "parent_id": 0,
            "purchase_note": "",
            "categories": [],
            "brands": [],
            "tags": [],
            "images": [],
            "attributes": [],
            "default_attributes": [],
            "variations": [],
            "grouped_products": [],
            "menu_order": 0,
            "meta_data": [],
            "has_options": product_type == "variable",
            "post_password": "",
        }

    def _new_variation_dict(self, variation_id: int, parent_id: int, created: int, modified: int) -> dict:
        created_local, created_gmt = self._dates(created)
        modified_local, modified_gmt = self._dates(modified)
        return {
            "id": variation_id,
            "date_created": created_local,
            "date_created_gmt": created_gmt,
            "date_modified": modified_local,
            "date_modified_gmt": modified_gmt,
            "description": "",
            "permalink": "",
            "sku": "",
            "global_unique_id": "",
            "price": "",
            "regular_price": "",
            "sale_price": "",
            "date_on_sale_from": None,
            "date_on_sale_from_gmt": None,
            "date_on_sale_to": None,
            "date_on_sale_to_gmt": None,
            "on_sale": False,
            "status": "publish",
            "purchasable": False,
            "virtual": False,
            "downloadable": False,
            "downloads": [],
            "download_limit": -1,
            "download_expiry": -1,
            "tax_status": "taxable",
            "tax_class": "",
            "manage_stock": False,
            "stock_quantity": None,
            "stock_status": "instock",
            "backorders": "no",
            "backorders_allowed": False,
            "backordered": False,
            "low_stock_amount": None,
            "weight": "",
            "dimensions": {"length": "", "width": "", "height": ""},
            "shipping_class": "",
            "shipping_class_id": 0,
            "image": None,
            "attributes": [],
            "menu_order": 0,
            "meta_data": [],
            "parent_id": parent_id,
        }

    @staticmethod
    def _term_ref(term: dict) -> dict:
        return {"id": term["id"], "name": term["name"], "slug": term["slug"]}

    def _set_date(self, item: dict, field: str, timestamp: int | None) -> None:
        if timestamp is None:
            item[field] = item[f"{field}_gmt"] = None
        else:
            item[field], item[f"{field}_gmt"] = self._dates(timestamp)

    @staticmethod
    def _slug_for_status(slug: str, status: str) -> str:
        """The slug a product generated with ``status`` has: WordPress leaves ``post_name`` empty for a
        draft or pending post until it is first published, and suffixes a trashed one."""
        if status in ("draft", "pending"):
            return ""
        if status == "trash" and slug:
            return f"{slug}__trashed"
        return slug

    def _permalink(self, product: dict) -> str:
        if not product["slug"] or product["status"] in ("draft", "pending", "future"):
            return f"{self.site_url}/?post_type=product&p={product['id']}"
        return f"{self.site_url}/product/{product['slug']}/"

    def _variation_permalink(self, parent: dict, variation: dict) -> str:
        query = "&".join(f"attribute_pa_{a['name'].lower()}={slugify(a['option'])}" for a in variation["attributes"])
        base = self._permalink(parent)
        return f"{base}{'&' if '?' in base else '?'}{query}"

    # --- derived fields -----------------------------------------------------------------------------

    def _sale_active(self, item: dict, now: int) -> bool:
        if item["sale_price"] == "":
            return False
        sale = _price_number(item["sale_price"])
        regular = _price_number(item["regular_price"])
        if sale is None or (regular is not None and sale >= regular):
            return False
        if item["date_on_sale_from_gmt"] and self._timestamp_from(item["date_on_sale_from_gmt"], gmt=True) > now:
            return False
        return not (item["date_on_sale_to_gmt"] and self._timestamp_from(item["date_on_sale_to_gmt"], gmt=True) < now)

    def _derive_prices(self, item: dict) -> None:
        item["on_sale"] = self._sale_active(item, self._now())
        item["price"] = item["sale_price"] if item["on_sale"] else item["regular_price"]
        item["purchasable"] = item["price"] != ""

    @staticmethod
    def _derive_stock(item: dict) -> None:
        if item["manage_stock"] is True:
            quantity = item["stock_quantity"] if item["stock_quantity"] is not None else 0
            item["stock_quantity"] = quantity
            if quantity > 0:
                item["stock_status"] = "instock"
            elif item["backorders"] in ("notify", "yes"):
                item["stock_status"] = "onbackorder"
            else:
                item["stock_status"] = "outofstock"
            item["backordered"] = quantity <= 0 and item["backorders"] in ("notify", "yes")
        else:
            item["backordered"] = False
        item["backorders_allowed"] = item["backorders"] in ("notify", "yes")

    def _derive_product(self, product: dict) -> None:
        if product["type"] == "variable":
            self._derive_variable_parent(product)
            return
        if product["type"] == "grouped":
            self._derive_grouped(product)
            return
        self._derive_prices(product)
        self._derive_stock(product)
        product["price_html"] = _price_html(product["price"], product["regular_price"], product["on_sale"])

    def _derive_grouped(self, product: dict) -> None:
        prices = [
            _price_number(self.products[c]["price"])
            for c in product["grouped_products"]
            if c in self.products and self.products[c]["price"] != ""
        ]
        product["price"] = money(min(prices)) if prices else ""
        product["on_sale"] = False
        product["purchasable"] = False
        product["price_html"] = _price_html(product["price"], "", False)

    def _derive_variation(self, variation: dict) -> None:
        self._derive_prices(variation)
        if variation["manage_stock"] == "parent":
            parent = self.products.get(variation["parent_id"])
            if parent is not None:
                variation["stock_quantity"] = parent["stock_quantity"]
                variation["stock_status"] = parent["stock_status"]
                variation["backorders"] = parent["backorders"]
            variation["backorders_allowed"] = variation["backorders"] in ("notify", "yes")
            variation["backordered"] = False
        else:
            self._derive_stock(variation)

    def _derive_variable_parent(self, parent: dict) -> None:
        children = [self.variations[v] for v in parent["variations"] if v in self.variations]
        visible = [c for c in children if c["status"] == "publish" and c["price"] != ""]
        prices = sorted(_price_number(c["price"]) for c in visible)
        parent["price"] = money(prices[0]) if prices else ""
        parent["on_sale"] = any(c["on_sale"] for c in visible)
        parent["purchasable"] = parent["price"] != ""
        if parent["manage_stock"] is True:
            self._derive_stock(parent)
        else:
            parent["stock_quantity"] = None
            parent["backordered"] = False
            parent["backorders_allowed"] = parent["backorders"] in ("notify", "yes")
        statuses = {c["stock_status"] for c in children if c["status"] == "publish"}
        if parent["manage_stock"] is not True:
            if "instock" in statuses:
                parent["stock_status"] = "instock"
            elif "onbackorder" in statuses:
                parent["stock_status"] = "onbackorder"
            else:
                parent["stock_status"] = "outofstock"
        if prices and prices[0] != prices[-1]:
            parent["price_html"] = f"{_price_html(money(prices[0]), '', False)} &ndash; " + _price_html(
                money(prices[-1]), "", False
            )
        else:
            parent["price_html"] = _price_html(parent["price"], "", False)
        for child in children:
            if child["manage_stock"] == "parent":
                self._derive_variation(child)

    def _touch(self, item: dict) -> None:
        item["date_modified"], item["date_modified_gmt"] = self._dates(self._now())

    def _changed(self) -> None:
        self.version += 1
        self._queries.clear()

    def _emit(self, topic: str, resource_id: int) -> None:
        for listener in self.listeners:
            listener(topic, resource_id)

    @functools.cached_property
    def orders(self) -> SandboxOrders:
        from .orders import SandboxOrders

        return SandboxOrders(self)

    def create_order(self, **fields: object) -> dict:
        """A paid order selling stock atomically; see :meth:`sync.sandbox.orders.SandboxOrders.create`."""
        return self.orders.create(**fields)  # type: ignore[arg-type]

    # --- site URL ------------------------------------------------------------------------------------

    def set_site_url(self, site_url: str) -> None:
        """Point permalinks and image URLs at ``site_url`` (the server calls this when it starts)."""
        site_url = site_url.rstrip("/")
        with self.lock:
            old = self.site_url
            if old == site_url:
                return
            self.site_url = site_url

            def fix(url: str) -> str:
                return site_url + url[len(old) :] if url.startswith(old) else url

            for product in self.products.values():
                product["permalink"] = fix(product["permalink"])
                for image in product["images"]:
                    image["src"] = fix(image["src"])
            for variation in self.variations.values():
                variation["permalink"] = fix(variation["permalink"])
                if variation["image"]:
                    variation["image"]["src"] = fix(variation["image"]["src"])
            for category in self.categories.values():
                if category["image"]:
                    category["image"]["src"] = fix(category["image"]["src"])
            self._changed()

    # --- payloads -----------------------------------------------------------------------------------

    def _api(self, path: str) -> str:
        return f"{self.site_url}/wp-json/wc/v3/{path}"

    def product_dict(self, product_id: int) -> dict:
        """``GET products/<id>`` as a dict (a variation id gives the variation in product shape)."""
        with self.lock:
            if product_id in self.products:
                product = self.products[product_id]
                return {
                    **product,
                    "_links": {
                        "self": [{"href": self._api(f"products/{product_id}")}],
                        "collection": [{"href": self._api("products")}],
                    },
                }
            if product_id in self.variations:
                return self._variation_as_product(self.variations[product_id])
            raise UnknownObject(f"no product {product_id}")

    def _variation_as_product(self, variation: dict) -> dict:
        parent = self.products.get(variation["parent_id"])
        parent_name = parent["name"] if parent else ""
        options = ", ".join(a["option"] for a in variation["attributes"])
        shaped = {
            "id": variation["id"],
            "name": f"{parent_name} - {options}" if options else parent_name,
            "slug": slugify(f"{parent_name} {options}") if parent and parent["slug"] else "",
            "permalink": variation["permalink"],
            "date_created": variation["date_created"],
            "date_created_gmt": variation["date_created_gmt"],
            "date_modified": variation["date_modified"],
            "date_modified_gmt": variation["date_modified_gmt"],
            "type": "variation",
            "status": variation["status"],
            "featured": False,
            "catalog_visibility": "visible",
            "description": variation["description"],
            "short_description": "",
            "sku": variation["sku"],
            "global_unique_id": variation["global_unique_id"],
            "price": variation["price"],
            "regular_price": variation["regular_price"],
            "sale_price": variation["sale_price"],
            "date_on_sale_from": variation["date_on_sale_from"],
            "date_on_sale_from_gmt": variation["date_on_sale_from_gmt"],
            "date_on_sale_to": variation["date_on_sale_to"],
            "date_on_sale_to_gmt": variation["date_on_sale_to_gmt"],
            "price_html": _price_html(variation["price"], variation["regular_price"], variation["on_sale"]),
            "on_sale": variation["on_sale"],
            "purchasable": variation["purchasable"],
            "total_sales": 0,
            "virtual": variation["virtual"],
            "downloadable": variation["downloadable"],
            "downloads": variation["downloads"],
            "download_limit": variation["download_limit"],
            "download_expiry": variation["download_expiry"],
            "external_url": "",
            "button_text": "",
            "tax_status": variation["tax_status"],
            "tax_class": variation["tax_class"],
            "manage_stock": variation["manage_stock"],
            "stock_quantity": variation["stock_quantity"],
            "stock_status": variation["stock_status"],
            "backorders": variation["backorders"],
            "backorders_allowed": variation["backorders_allowed"],
            "backordered": variation["backordered"],
            "low_stock_amount": variation["low_stock_amount"],
            "sold_individually": False,
            "weight": variation["weight"],
            "dimensions": variation["dimensions"],
            "shipping_required": True,
            "shipping_taxable": True,
            "shipping_class": variation["shipping_class"],
            "shipping_class_id": variation["shipping_class_id"],
            "reviews_allowed": False,
            "average_rating": "0.00",
            "rating_count": 0,
            "related_ids": [],
            "upsell_ids": [],
            "cross_sell_ids": [],
            "parent_id": variation["parent_id"],
            "purchase_note": "",
            "categories": [],
            "brands": [],
            "tags": [],
            "images": [variation["image"]] if variation["image"] else [],
            "attributes": variation["attributes"],
            "default_attributes": [],
            "variations": [],
            "grouped_products": [],
            "menu_order": variation["menu_order"],
            "meta_data": variation["meta_data"],
            "has_options": False,
            "post_password": "",
        }
        shaped["_links"] = {
            "self": [{"href": self._api(f"products/{variation['id']}")}],
            "collection": [{"href": self._api("products")}],
            "up": [{"href": self._api(f"products/{variation['parent_id']}")}],
        }
        return shaped

    def variation_dict(self, variation_id: int, *, with_parent_id: bool = False) -> dict:
        """A variation as ``products/<parent>/variations/<id>`` returns it (``with_parent_id`` for the
        store-wide ``variations`` listing)."""
        with self.lock:
            variation = self.variations.get(variation_id)
            if variation is None:
                raise UnknownObject(f"no variation {variation_id}")
            shaped = dict(variation)
            parent_id = shaped.pop("parent_id")
            if with_parent_id:
                shaped["parent_id"] = parent_id
            shaped["_links"] = {
                "self": [{"href": self._api(f"products/{parent_id}/variations/{variation_id}")}],
                "collection": [{"href": self._api(f"products/{parent_id}/variations")}],
                "up": [{"href": self._api(f"products/{parent_id}")}],
            }
            return shaped

    def category_dict(self, category_id: int) -> dict:
        with self.lock:
            self._refresh_category_counts()
            category = self.categories.get(category_id)
            if category is None:
                raise UnknownObject(f"no category {category_id}")
            links: dict = {
                "self": [{"href": self._api(f"products/categories/{category_id}")}],
                "collection": [{"href": self._api("products/categories")}],
            }
            if category["parent"]:
                links["up"] = [{"href": self._api(f"products/categories/{category['parent']}")}]
            return {**category, "_links": links}

    def product_payload(self, product_id: int) -> dict:
        """Exactly what ``GET products/<id>`` returns (a deep copy)."""
        return json.loads(json.dumps(self.product_dict(product_id)))

    def variation_payload(self, variation_id: int) -> dict:
        """Exactly what ``GET products/<parent>/variations/<id>`` returns (a deep copy)."""
        return json.loads(json.dumps(self.variation_dict(variation_id)))

    def category_payload(self, category_id: int) -> dict:
        """Exactly what ``GET products/categories/<id>`` returns (a deep copy)."""
        return json.loads(json.dumps(self.category_dict(category_id)))

    def _refresh_category_counts(self) -> None:
        if self._category_counts_version == self.version:
            return
        counts = dict.fromkeys(self.categories, 0)
        for product in self.products.values():
            if product["status"] == "publish":
                for ref in product["categories"]:
                    if ref["id"] in counts:
                        counts[ref["id"]] += 1
        for category_id, count in counts.items():
            self.categories[category_id]["count"] = count
        self._category_counts_version = self.version

    # --- queries ------------------------------------------------------------------------------------

    def _descendants(self, category_ids: Iterable[int]) -> set[int]:
        children: dict[int, list[int]] = {}
        for category in self.categories.values():
            children.setdefault(category["parent"], []).append(category["id"])
        result: set[int] = set()
        stack = list(category_ids)
        while stack:
            current = stack.pop()
            if current in result:
                continue
            result.add(current)
            stack.extend(children.get(current, ()))
        return result

    def query_products(self, query: ProductQuery, *, variations_only: bool = False) -> list[int]:
        """Ids matching ``query`` in WooCommerce's order. Products, plus variations when ``sku`` is
        given (as WooCommerce does); only variations with ``variations_only``. Cached per catalog version."""
        key = (query, variations_only)
        with self.lock:
            cached = self._queries.get(key)
            if cached is not None:
                self._queries.move_to_end(key)
                return cached
            result = self._run_product_query(query, variations_only)
            self._queries[key] = result
            if len(self._queries) > _QUERY_CACHE_SIZE:
                self._queries.popitem(last=False)
            return result

    def _run_product_query(self, q: ProductQuery, variations_only: bool) -> list[int]:
        if variations_only:
            pool: list[dict] = list(self.variations.values())
        else:
            pool = list(self.products.values())
            if q.sku:
                pool += list(self.variations.values())
        statuses = set(q.status)
        items = [item for item in pool if item["status"] in statuses]
        if q.include:
            include = set(q.include)
            items = [i for i in items if i["id"] in include]
        if q.exclude:
            exclude = set(q.exclude)
            items = [i for i in items if i["id"] not in exclude]
        if q.parent:
            parents = set(q.parent)
            items = [i for i in items if i.get("parent_id", 0) in parents]
        if q.parent_exclude:
            parents = set(q.parent_exclude)
            items = [i for i in items if i.get("parent_id", 0) not in parents]
        if q.sku:
            skus = set(q.sku)
            items = [i for i in items if i["sku"] in skus]
        if q.slug:
            slugs = set(q.slug)
            items = [i for i in items if i.get("slug") in slugs]
        if q.type:
            items = [i for i in items if i.get("type") == q.type]
        if q.featured is not None:
            items = [i for i in items if i.get("featured", False) is q.featured]
        if q.on_sale is not None:
            items = [i for i in items if self._on_sale_for_filter(i) is q.on_sale]
        if q.stock_status:
            items = [i for i in items if i["stock_status"] == q.stock_status]
        if q.category:
            wanted = self._descendants(q.category)
            items = [i for i in items if any(ref["id"] in wanted for ref in i.get("categories", ()))]
        if q.tag:
            wanted_tags = set(q.tag)
            items = [i for i in items if any(ref["id"] in wanted_tags for ref in i.get("tags", ()))]
        if q.search:
            needle = q.search.lower()
            items = [i for i in items if needle in self._search_text(i)]
        created_field = "date_created_gmt" if q.dates_are_gmt else "date_created"
        modified_field = "date_modified_gmt" if q.dates_are_gmt else "date_modified"
        if q.after:
            items = [i for i in items if i[created_field] > q.after]
        if q.before:
            items = [i for i in items if i[created_field] < q.before]
        if q.modified_after:
            items = [i for i in items if i[modified_field] > q.modified_after]
        if q.modified_before:
            items = [i for i in items if i[modified_field] < q.modified_before]
        if q.min_price is not None or q.max_price is not None:
            items = [i for i in items if self._price_in_range(i, q.min_price, q.max_price)]
        return self._sort(items, q)

    def _on_sale_for_filter(self, item: dict) -> bool:
        return bool(item["on_sale"])

    @staticmethod
    def _search_text(item: dict) -> str:
        return f"{item.get('name', '')}\n{item.get('description', '')}\n{item.get('short_description', '')}".lower()

    @staticmethod
    def _price_in_range(item: dict, low: Decimal | None, high: Decimal | None) -> bool:
        price = _price_number(item["price"])
        if price is None:
            return False
        return (low is None or price >= low) and (high is None or price <= high)

    def _sort(self, items: list[dict], q: ProductQuery) -> list[int]:
        orderby = q.orderby
        if orderby == "include" and q.include:
            position = {item_id: n for n, item_id in enumerate(q.include)}
            ordered = sorted(items, key=lambda i: position.get(i["id"], len(position)))
            return [i["id"] for i in ordered]  # post__in order ignores "order"
        if orderby == "include":
            orderby = "date"
        reverse = q.order == "desc"
        if orderby == "id":
            keyed = [(i["id"],) for i in items]
        elif orderby == "date":
            keyed = [(i["date_created"], i["id"]) for i in items]
        elif orderby == "modified":
            keyed = [(i["date_modified"], i["id"]) for i in items]
        elif orderby == "title":
            keyed = [(i.get("name", "").casefold(), i["id"]) for i in items]
        elif orderby == "slug":
            keyed = [(i.get("slug", ""), i["id"]) for i in items]
        elif orderby == "menu_order":
            keyed = [(i["menu_order"], i.get("name", "").casefold(), i["id"]) for i in items]
        elif orderby == "price":
            keyed = [(self._price_bound(i, high=reverse), i["id"]) for i in items]
        elif orderby == "popularity":
            keyed = [(i.get("total_sales", 0), i["id"]) for i in items]
        elif orderby == "rating":
            keyed = [(Decimal(i.get("average_rating", "0")), i["id"]) for i in items]
        else:
            raise CatalogError(f"unknown orderby {orderby!r}")
        keyed.sort(reverse=reverse)
        return [k[-1] for k in keyed]

    def _price_bound(self, item: dict, *, high: bool) -> Decimal:
        # WooCommerce sorts asc by the lowest price and desc by the highest (wc_product_meta_lookup).
        if item.get("type") == "variable":
            prices = [
                _price_number(self.variations[v]["price"])
                for v in item["variations"]
                if v in self.variations and self.variations[v]["price"] != ""
            ]
            if prices:
                return max(prices) if high else min(prices)
        return _price_number(item["price"]) or Decimal(0)

    def query_categories(self, query: CategoryQuery) -> list[int]:
        key = ("categories", query)
        with self.lock:
            self._refresh_category_counts()
            cached = self._queries.get(key)
            if cached is not None:
                return cached
            items = list(self.categories.values())
            if query.include:
                include = set(query.include)
                items = [c for c in items if c["id"] in include]
            if query.exclude:
                exclude = set(query.exclude)
                items = [c for c in items if c["id"] not in exclude]
            if query.search:
                needle = query.search.lower()
                items = [c for c in items if needle in c["name"].lower() or needle in c["slug"].lower()]
            if query.hide_empty:
                items = [c for c in items if c["count"] > 0]
            if query.parent is not None:
                items = [c for c in items if c["parent"] == query.parent]
            if query.product is not None:
                product = self.products.get(query.product)
                assigned = {ref["id"] for ref in product["categories"]} if product else set()
                items = [c for c in items if c["id"] in assigned]
            if query.slug:
                slugs = set(query.slug)
                items = [c for c in items if c["slug"] in slugs]
            if query.orderby == "include" and query.include:
                position = {cid: n for n, cid in enumerate(query.include)}
                result = [c["id"] for c in sorted(items, key=lambda c: position.get(c["id"], 0))]
            else:
                field = {"include": "id", "term_group": "id"}.get(query.orderby, query.orderby)

                def sort_key(c: dict) -> tuple:
                    value = c[field]
                    return (value.casefold() if isinstance(value, str) else value, c["id"])

                result = [c["id"] for c in sorted(items, key=sort_key, reverse=query.order == "desc")]
            self._queries[key] = result
            if len(self._queries) > _QUERY_CACHE_SIZE:
                self._queries.popitem(last=False)
            return result

    # --- mutations ----------------------------------------------------------------------------------

    _READ_ONLY_FIELDS = frozenset({"id", "permalink", "variations", "price", "price_html", "on_sale", "purchasable"})

    def _get_product(self, product_id: int) -> dict:
        product = self.products.get(product_id)
        if product is None:
            raise UnknownObject(f"no product {product_id}")
        return product

    def _get_variation(self, variation_id: int) -> dict:
        variation = self.variations.get(variation_id)
        if variation is None:
            raise UnknownObject(f"no variation {variation_id}")
        return variation

    def _apply_fields(self, item: dict, fields: dict, *, is_variation: bool) -> None:
        for name, value in fields.items():
            if name in self._READ_ONLY_FIELDS or name == "parent_id":
                raise CatalogError(f"{name} is read-only")
            if name not in item:
                raise CatalogError(f"unknown field {name!r}")
            if name in ("regular_price", "sale_price"):
                item[name] = money(value)
            elif name == "stock_quantity":
                item[name] = _quantity(value)
            elif name in ("date_created", "date_modified", "date_on_sale_from", "date_on_sale_to"):
                self._set_date(item, name, None if value is None else self._timestamp_from(value, gmt=False))
            elif name in ("date_created_gmt", "date_modified_gmt", "date_on_sale_from_gmt", "date_on_sale_to_gmt"):
                base = name.removesuffix("_gmt")
                self._set_date(item, base, None if value is None else self._timestamp_from(value, gmt=True))
            elif name == "categories":
                item[name] = [self._term_ref(self.categories[c]) for c in _ref_ids(value) if c in self.categories]
            elif name == "tags":
                item[name] = [self._term_ref(self.tags[t]) for t in _ref_ids(value) if t in self.tags]
            elif name == "images":
                item[name] = [self._image_from_input(image, item, n + 1) for n, image in enumerate(value or [])]
            elif name == "image":
                item[name] = None if not value else self._image_from_input(value, item, 1)
            elif name == "status":
                self._set_status(item, value, is_variation=is_variation)
            else:
                item[name] = copy.deepcopy(value)
        if not is_variation:
            item["permalink"] = self._permalink(item)

    def _image_from_input(self, image: dict, item: dict, position: int) -> dict:
        existing = {i["id"]: i for i in item.get("images", [])}
        if item.get("image"):
            existing[item["image"]["id"]] = item["image"]
        if isinstance(image, dict) and image.get("id") in existing:
            return existing[image["id"]]
        new = self._image(self._next_post_id(), slugify(item.get("name", "image")), position, self._now())
        if isinstance(image, dict):
            for key in ("src", "name", "alt"):
                if image.get(key):
                    new[key] = image[key]
        return new

    def _set_status(self, item: dict, status: str, *, is_variation: bool) -> None:
        allowed = ("publish", "private", "trash") if is_variation else PRODUCT_STATUSES
        if status not in allowed:
            raise CatalogError(f"status must be one of {allowed}")
        if is_variation:
            item["status"] = status
            return
        old = item["status"]
        slug = item["slug"].removesuffix("__trashed")
        if not slug and status in ("publish", "private", "future"):
            # WordPress gives a post its slug when it is first published.
            slug = _unique_slug(slugify(item["name"]), {p["slug"] for p in self.products.values()})
        item["status"] = status
        item["slug"] = f"{slug}__trashed" if status == "trash" and slug else slug
        if status == "trash" and old != "trash":
            for variation_id in item["variations"]:
                if variation_id in self.variations:
                    self.variations[variation_id]["status"] = "trash"
        elif old == "trash" and status != "trash":
            for variation_id in item["variations"]:
                if variation_id in self.variations:
                    self.variations[variation_id]["status"] = "publish"

    def _after_product_change(self, product: dict) -> None:
        self._derive_product(product)
        if product["type"] == "variable":
            for variation_id in product["variations"]:
                if variation_id in self.variations:
                    self.variations[variation_id]["permalink"] = self._variation_permalink(
                        product, self.variations[variation_id]
                    )
        for other in self.products.values():
            if other["type"] == "grouped" and product["id"] in other["grouped_products"]:
                self._derive_grouped(other)
        self._changed()

    def edit_product(self, product_id: int, touch_modified: bool = True, **fields: object) -> dict:
        """Change a product's fields (API names and shapes; ``categories`` as ids or ``{id}`` dicts).

        Derived fields follow (``price``, ``on_sale``, ``stock_status``...). ``date_modified(_gmt)`` is set
        to now unless ``touch_modified=False`` or a ``date_modified*`` field is given. Returns the new
        payload. Raises :class:`UnknownObject` for an unknown id, :class:`CatalogError` for a bad field.
        """
        with self.lock:
            product = self._get_product(product_id)
            self._apply_fields(product, fields, is_variation=False)
            if touch_modified and not any(f.startswith("date_modified") for f in fields):
                self._touch(product)
            self._after_product_change(product)
            self._emit("product.updated", product_id)
            return self.product_payload(product_id)

    def edit_variation(self, variation_id: int, touch_modified: bool = True, **fields: object) -> dict:
        """Change a variation. Its own ``date_modified`` is bumped (not the parent's, as on many stores);
        the parent's derived ``price``/``stock_status`` follow without touching the parent's date."""
        with self.lock:
            variation = self._get_variation(variation_id)
            self._apply_fields(variation, fields, is_variation=True)
            if touch_modified and not any(f.startswith("date_modified") for f in fields):
                self._touch(variation)
            self._derive_variation(variation)
            parent = self.products.get(variation["parent_id"])
            if parent is not None:
                variation["permalink"] = self._variation_permalink(parent, variation)
                self._derive_variable_parent(parent)
            self._changed()
            self._emit("product.updated", variation_id)
            return self.variation_payload(variation_id)

    def sell(self, item_id: int, quantity: int | float, touch_modified: bool = False) -> dict:
        """Record an order of ``quantity`` for a product or variation id, like a paid order does:
        managed stock goes down (``outofstock`` at 0, ``onbackorder`` when backorders are allowed),
        ``total_sales`` goes up. By default ``date_modified`` is NOT touched (many WooCommerce versions
        don't). Returns ``{"id", "stock_quantity", "stock_status"}`` of the sold item."""
        with self.lock:
            sold = self.sell_silently(item_id, quantity, touch_modified)
            self._emit("product.updated", item_id)
            return sold

    def sell_silently(self, item_id: int, quantity: int | float, touch_modified: bool = False) -> dict:
        """:meth:`sell` without the webhook event (an order sends its own events, in its own order)."""
        if quantity <= 0:
            raise CatalogError("quantity must be positive")
        with self.lock:
            if item_id in self.products:
                item = self.products[item_id]
                product = item
                stock_holder = item
            elif item_id in self.variations:
                item = self.variations[item_id]
                product = self._get_product(item["parent_id"])
                stock_holder = product if item["manage_stock"] == "parent" else item
            else:
                raise UnknownObject(f"no product or variation {item_id}")
            if stock_holder["manage_stock"] is True:
                stock_holder["stock_quantity"] = _quantity(stock_holder["stock_quantity"] - quantity)
                self._derive_stock(stock_holder)
            product["total_sales"] = product.get("total_sales", 0) + int(quantity)
            if touch_modified:
                self._touch(item)
            if item is not product:
                self._derive_variation(item)
            self._derive_product(product)
            self._changed()
            return {"id": item_id, "stock_quantity": item["stock_quantity"], "stock_status": item["stock_status"]}

    def trash_product(self, product_id: int) -> dict:
        """Move to the trash as WordPress does: status ``trash``, slug ``<slug>__trashed``, date_modified
        bumped, variations trashed with it. Still reachable by id."""
        with self.lock:
            product = self._get_product(product_id)
            if product["status"] == "trash":
                raise CatalogError(f"product {product_id} is already in the trash")
            self._set_status(product, "trash", is_variation=False)
            self._touch(product)
            self._after_product_change(product)
            # wp_trash_post runs for the product, then for each of its variations (trashed with it).
            self._emit("product.deleted", product_id)
            for variation_id in product["variations"]:
                if variation_id in self.variations:
                    self._emit("product.deleted", variation_id)
            return self.product_payload(product_id)

    def restore_product(self, product_id: int, status: str = "draft") -> dict:
        """Take a product out of the trash. WordPress (>= 5.6) restores to ``draft``; pass ``status``
        to restore to something else."""
        with self.lock:
            product = self._get_product(product_id)
            if product["status"] != "trash":
                raise CatalogError(f"product {product_id} is not in the trash")
            self._set_status(product, status, is_variation=False)
            self._touch(product)
            self._after_product_change(product)
            # Untrash in wp-admin saves the post (product.updated), then fires untrashed_post.
            self._emit("product.updated", product_id)
            self._emit("product.restored", product_id)
            return self.product_payload(product_id)

    def delete_product(self, product_id: int) -> dict:
        """Delete permanently (404 afterwards), variations included. Returns the last payload."""
        with self.lock:
            payload = self.product_payload(product_id)
            product = self.products.pop(product_id)
            for variation_id in product["variations"]:
                self.variations.pop(variation_id, None)
            for other in self.products.values():
                if other["type"] == "grouped" and product_id in other["grouped_products"]:
                    other["grouped_products"] = [g for g in other["grouped_products"] if g != product_id]
                    self._derive_grouped(other)
            self._changed()
            return payload

    def delete_variation(self, variation_id: int) -> dict:
        """Delete a variation permanently; its parent's derived fields follow (date untouched)."""
        with self.lock:
            payload = self.variation_payload(variation_id)
            variation = self.variations.pop(variation_id)
            parent = self.products.get(variation["parent_id"])
            if parent is not None:
                parent["variations"] = [v for v in parent["variations"] if v != variation_id]
                self._derive_variable_parent(parent)
            self._changed()
            return payload

    def add_product(self, **fields: object) -> int:
        """Create a product (default: simple, published, now) and return its id from the shared sequence.

        ``type="variable"`` with ``variations=[{field: value}, ...]`` creates its variations too.
        """
        variations_spec = fields.pop("variations", None)
        with self.lock:
            now = self._now()
            product_type = str(fields.pop("type", "simple"))
            if product_type not in PRODUCT_TYPES:
                raise CatalogError(f"type must be one of {PRODUCT_TYPES}")
            status = str(fields.pop("status", "publish"))
            name = str(fields.pop("name", "New product"))
            product_id = self._next_post_id()
            product = self._new_product_dict(product_id, product_type, name, "draft", now, now)
            slug = fields.pop("slug", None)
            if slug:
                product["slug"] = _unique_slug(str(slug), {p["slug"] for p in self.products.values()})
            if not fields.get("categories") and self.categories:
                fields.setdefault("categories", [min(self.categories)])
            self.products[product_id] = product
            try:
                self._set_status(product, status, is_variation=False)
                self._apply_fields(product, fields, is_variation=False)
            except CatalogError:
                del self.products[product_id]
                raise
            if product_type == "variable":
                for position, spec in enumerate(variations_spec or []):
                    self._add_variation(product, dict(spec), position, now)
            self._after_product_change(product)
            self._emit("product.created", product_id)
            for variation_id in product["variations"]:
                self._emit("product.created", variation_id)
            return product_id

    def add_variation(self, parent_id: int, **fields: object) -> int:
        """Add a variation to a variable product; returns its id."""
        with self.lock:
            parent = self._get_product(parent_id)
            if parent["type"] != "variable":
                raise CatalogError(f"product {parent_id} is not variable")
            variation_id = self._add_variation(parent, fields, len(parent["variations"]), self._now())
            self._derive_variable_parent(parent)
            self._changed()
            self._emit("product.created", variation_id)
            return variation_id

    def _add_variation(self, parent: dict, fields: dict, position: int, now: int) -> int:
        variation_id = self._next_post_id()
        variation = self._new_variation_dict(variation_id, parent["id"], now, now)
        variation["menu_order"] = position
        self._apply_fields(variation, fields, is_variation=True)
        variation["permalink"] = self._variation_permalink(parent, variation)
        self.variations[variation_id] = variation
        parent["variations"] = [*parent["variations"], variation_id]
        self._derive_variation(variation)
        return variation_id

    def add_category(self, **fields: object) -> int:
        """Create a category (``name`` required; ``parent`` 0 by default); returns its term id."""
        with self.lock:
            name = str(fields.pop("name", "") or "")
            if not name:
                raise CatalogError("name is required")
            parent = int(fields.pop("parent", 0) or 0)
            if parent and parent not in self.categories:
                raise CatalogError(f"no parent category {parent}")
            category_id = self._next_term_id()
            slug = str(fields.pop("slug", "") or slugify(name))
            category = {
                "id": category_id,
                "name": name,
                "slug": _unique_slug(slug, {c["slug"] for c in self.categories.values()}),
                "parent": parent,
                "description": "",
                "display": "default",
                "image": [],
                "menu_order": 0,
                "count": 0,
            }
            self.categories[category_id] = category
            try:
                self._apply_category_fields(category, fields)
            except CatalogError:
                del self.categories[category_id]
                raise
            self._changed()
            return category_id

    def _apply_category_fields(self, category: dict, fields: dict) -> None:
        for name, value in fields.items():
            if name in ("id", "count"):
                raise CatalogError(f"{name} is read-only")
            if name not in category:
                raise CatalogError(f"unknown field {name!r}")
            if name == "parent":
                value = int(value or 0)
                if value and (value not in self.categories or value in self._descendants([category["id"]])):
                    raise CatalogError(f"invalid parent {value}")
            category[name] = copy.deepcopy(value)

    def edit_category(self, category_id: int, **fields: object) -> dict:
        """Change a category; products' ``categories`` refs follow a new name or slug."""
        with self.lock:
            category = self.categories.get(category_id)
            if category is None:
                raise UnknownObject(f"no category {category_id}")
            self._apply_category_fields(category, fields)
            if "name" in fields or "slug" in fields:
                ref = self._term_ref(category)
                for product in self.products.values():
                    if any(r["id"] == category_id for r in product["categories"]):
                        product["categories"] = [ref if r["id"] == category_id else r for r in product["categories"]]
            self._changed()
            return self.category_payload(category_id)

    def delete_category(self, category_id: int) -> dict:
        """Delete a category as WordPress does: children move up to its parent, products lose it."""
        with self.lock:
            payload = self.category_payload(category_id)
            category = self.categories.pop(category_id)
            for other in self.categories.values():
                if other["parent"] == category_id:
                    other["parent"] = category["parent"]
            for product in self.products.values():
                if any(r["id"] == category_id for r in product["categories"]):
                    product["categories"] = [r for r in product["categories"] if r["id"] != category_id]
            self._changed()
            return payload

    # --- summary ------------------------------------------------------------------------------------

    def counts(self) -> dict:
        with self.lock:
            by_status: dict[str, int] = {}
            by_type: dict[str, int] = {}
            for product in self.products.values():
                by_status[product["status"]] = by_status.get(product["status"], 0) + 1
                by_type[product["type"]] = by_type.get(product["type"], 0) + 1
            return {
                "products": len(self.products),
                "variations": len(self.variations),
                "categories": len(self.categories),
                "products_by_status": by_status,
                "products_by_type": by_type,
            }


def _unique_slug(slug: str, used: set[str]) -> str:
    candidate = slug
    suffix = 2
    while candidate in used:
        candidate = f"{slug}-{suffix}"
        suffix += 1
    used.add(candidate)
    return candidate


def _ref_ids(value: object) -> list[int]:
    ids = []
    for ref in value or []:  # type: ignore[union-attr]
        ids.append(int(ref["id"] if isinstance(ref, dict) else ref))
    return ids
