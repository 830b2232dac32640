"""Seeded generation of a realistically messy catalog: ``SandboxCatalog.generate(products=5000, seed=42)``.

The same arguments always give the same catalog (ids, dates, values); see :meth:`CatalogGeneration.generate`
for the mess it makes on purpose.
"""

from __future__ import annotations

import gc
import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Self

from .derived import DerivedFields
from .shapes import ItemShapes
from .values import DEFAULT_SITE_URL, DEFAULT_TIMEZONE, STOCK_STATUSES, money, slug_part, slugify, unique_slug

# Generated dates lie before this instant, so a catalog depends only on its seed.
REFERENCE_TIME = datetime(2025, 9, 30, 12, 0, 0, tzinfo=UTC)

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


class CatalogGeneration(DerivedFields, ItemShapes):
    """The seeded generator; it fills an empty catalog under its lock and emits no webhook events."""

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
    ) -> Self:
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
            slug = unique_slug(slugify(name), used_slugs)
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
            product["slug"] = self._slug_for_status(unique_slug(base_slug, used_slugs), status)
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
        slug = "-".join(filter(None, (slug_part(part) for part in (*parts, decoration))))
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
