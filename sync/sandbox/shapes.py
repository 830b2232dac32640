"""The shape of a new item: the full WooCommerce REST v3 dict of a product, a variation or an image, with
WordPress's slug and permalink rules. Fields are filled in by generation and by the mutations."""

from __future__ import annotations

from .store import CatalogStore
from .values import slugify


class ItemShapes(CatalogStore):
    """Templates and URL rules for items; every value here follows from the arguments and the site URL."""

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
