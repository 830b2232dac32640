"""Serialization of items: what ``GET products/<id>``, ``GET products/<p>/variations/<id>`` and
``GET products/categories/<id>`` return (with ``_links``), a variation in product shape, and the raw JSON
text a hostile-store test serves in an item's place."""

from __future__ import annotations

import json

from .derived import DerivedFields
from .values import CatalogError, UnknownObject, price_html, slugify


class CatalogPayloads(DerivedFields):
    """Items as the REST API answers them; ``*_dict`` are shallow copies, ``*_payload`` deep ones."""

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
            "price_html": price_html(variation["price"], variation["regular_price"], variation["on_sale"]),
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

    def set_raw_item(self, kind: str, item_id: int, text: str | None) -> None:
        """Serve ``text`` (any JSON value, not checked) instead of item ``item_id`` wherever it is
        listed or read (``kind``: product, variation or category); None restores the item.

        For hostile-store tests: a payload ``json.dumps`` cannot make (nested 100,000 deep), an entry
        that is not an object, or a value a store sends but the catalog would not hold. Queries
        still select the item by its real fields.
        """
        if kind not in ("product", "variation", "category"):
            raise CatalogError(f"unknown kind {kind!r}")
        with self.lock:
            if text is None:
                self.raw_items.pop((kind, item_id), None)
            else:
                self.raw_items[(kind, item_id)] = text

    def product_payload(self, product_id: int) -> dict:
        """Exactly what ``GET products/<id>`` returns (a deep copy)."""
        return json.loads(json.dumps(self.product_dict(product_id)))

    def variation_payload(self, variation_id: int) -> dict:
        """Exactly what ``GET products/<parent>/variations/<id>`` returns (a deep copy)."""
        return json.loads(json.dumps(self.variation_dict(variation_id)))

    def category_payload(self, category_id: int) -> dict:
        """Exactly what ``GET products/categories/<id>`` returns (a deep copy)."""
        return json.loads(json.dumps(self.category_dict(category_id)))
