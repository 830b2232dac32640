"""Listing queries: the normalised filters of a products, variations or categories listing and the ids
they select, in WooCommerce's order, cached per catalog version."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from .derived import DerivedFields
from .values import ANY_STATUSES, CatalogError, price_number

_QUERY_CACHE_SIZE = 32


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


class CatalogQueries(DerivedFields):
    """Filters and sorts; results are cached until the catalog changes (``_changed`` clears them)."""

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
        price = price_number(item["price"])
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
                price_number(self.variations[v]["price"])
                for v in item["variations"]
                if v in self.variations and self.variations[v]["price"] != ""
            ]
            if prices:
                return max(prices) if high else min(prices)
        return price_number(item["price"]) or Decimal(0)

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
