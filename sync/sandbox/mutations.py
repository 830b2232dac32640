"""Mutations of the catalog as WooCommerce applies them: edits, sales, trash and restore, permanent deletes
and additions of products, variations and categories. Each keeps the derived fields consistent, bumps
``date_modified`` the way WooCommerce does and emits the webhook events a real store would fire."""

from __future__ import annotations

import copy

from .payloads import CatalogPayloads
from .queries import CatalogQueries
from .shapes import ItemShapes
from .values import PRODUCT_STATUSES, PRODUCT_TYPES, CatalogError, UnknownObject, money, slugify, unique_slug


def _quantity(value: object) -> int | float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise CatalogError("stock_quantity must be a number")
    if isinstance(value, int):
        return value
    number = float(value)  # type: ignore[arg-type]
    return int(number) if number.is_integer() else number


def _ref_ids(value: object) -> list[int]:
    ids = []
    for ref in value or []:  # type: ignore[union-attr]
        ids.append(int(ref["id"] if isinstance(ref, dict) else ref))
    return ids


class CatalogMutations(CatalogPayloads, CatalogQueries, ItemShapes):
    """The write side; every method takes the lock and leaves the catalog consistent."""

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
            slug = unique_slug(slugify(item["name"]), {p["slug"] for p in self.products.values()})
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
        for other in self._grouped_products_of(product):
            self._derive_grouped(other)
        self._changed()

    def _grouped_products_of(self, product: dict) -> list[dict]:
        """The grouped products listing ``product``. The ids of grouped products are kept in a set, built on
        first use and updated here (every mutation of a product passes through this), so that a write does not
        scan the whole catalog under the lock: 5 batch writes in flight queued behind that scan."""
        grouped: set[int] | None = getattr(self, "_grouped_ids", None)
        if grouped is None:
            grouped = self._grouped_ids = {p["id"] for p in self.products.values() if p["type"] == "grouped"}
        if product["type"] == "grouped":
            grouped.add(product["id"])
        else:
            grouped.discard(product["id"])
        found = []
        for grouped_id in sorted(grouped):  # the catalog's id order, as the full scan went
            other = self.products.get(grouped_id)
            if other is None or other["type"] != "grouped":  # deleted, or no longer grouped
                grouped.discard(grouped_id)
            elif product["id"] in other["grouped_products"]:
                found.append(other)
        return found

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
                product["slug"] = unique_slug(str(slug), {p["slug"] for p in self.products.values()})
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
                "slug": unique_slug(slug, {c["slug"] for c in self.categories.values()}),
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
