"""Derived fields, kept consistent after every change as WooCommerce computes them: ``price``, ``on_sale``,
``purchasable``, ``price_html``, ``stock_status``, backorders, a variable parent's price range and stock,
a grouped product's price, and the categories' ``count``."""

from __future__ import annotations

from .store import CatalogStore
from .values import money, price_html, price_number


class DerivedFields(CatalogStore):
    """Recomputes what an item's own fields (and its children's) imply; callers hold the lock."""

    def _sale_active(self, item: dict, now: int) -> bool:
        if item["sale_price"] == "":
            return False
        sale = price_number(item["sale_price"])
        regular = price_number(item["regular_price"])
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
        product["price_html"] = price_html(product["price"], product["regular_price"], product["on_sale"])

    def _derive_grouped(self, product: dict) -> None:
        prices = [
            price_number(self.products[c]["price"])
            for c in product["grouped_products"]
            if c in self.products and self.products[c]["price"] != ""
        ]
        product["price"] = money(min(prices)) if prices else ""
        product["on_sale"] = False
        product["purchasable"] = False
        product["price_html"] = price_html(product["price"], "", False)

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
        prices = sorted(price_number(c["price"]) for c in visible)
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
            parent["price_html"] = f"{price_html(money(prices[0]), '', False)} &ndash; " + price_html(
                money(prices[-1]), "", False
            )
        else:
            parent["price_html"] = price_html(parent["price"], "", False)
        for child in children:
            if child["manage_stock"] == "parent":
                self._derive_variation(child)

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
