"""Reads of the catalog for the public API: what is public, filters, sorts, prefetching.

Public products are ``status == "publish"`` and not deleted (``deleted_at IS NULL``).
``catalog_visibility`` follows WooCommerce's storefront:

* ``visible``: listings and search results;
* ``catalog``: listings only, left out of search results (a request with ``search``);
* ``search``: search results only, left out of listings without ``search``;
* ``hidden``: neither, but still reachable by id or slug (as its product page is in WooCommerce).

Public variations are ``status == "publish"`` (WooCommerce's "enabled") and not deleted.

Every queryset decides its own ``only`` / ``prefetch_related`` here, so a page costs a fixed
number of queries whatever its size: a list is count + page + categories + variation ids (4),
a detail is product + categories + variations (3). The category tree (for the ``category``
filter with subcategories) is one query for every (id, parent) pair, cached by catalog version.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db.models import Count, Expression, F, Max, Min, Prefetch, Q, QuerySet

from catalog.cache import catalog_cached, group_key, product_list_scope
from catalog.fields import mirror_of, mirrored_fields
from catalog.models import TITLE_SORT_KEY, Category, Product, ProductCategory, ProductVariation

T = TypeVar("T")

LISTED_VISIBILITIES = ("visible", "catalog")
SEARCHED_VISIBILITIES = ("visible", "search")

# orderby (WooCommerce names) → sort keys, each matching a partial index of catalog.models;
# "id" is always appended so pages are stable. Titles sort on their first 100 characters.
ORDERINGS: dict[str, tuple[Expression | F, ...]] = {
    "date": (F("date_created_gmt"),),
    "price": (F("price"),),
    "popularity": (F("total_sales"),),
    "title": (TITLE_SORT_KEY,),
    "menu_order": (F("menu_order"), TITLE_SORT_KEY),
    "modified": (F("date_modified_gmt"),),
    "id": (),
}

# Columns a product list or detail needs; "only" keeps wide unused columns out of the page query.
# The API's columns are declared on the model (catalog.fields); synced_at dates a local stock figure.
PRODUCT_COLUMNS: tuple[str, ...] = (
    "id",
    *(field.name for field in mirrored_fields(Product) if mirror_of(field).public),  # type: ignore[union-attr]
    "synced_at",
)


@dataclass(frozen=True)
class ProductFilters:
    """Validated product filters; an empty value means "no filter"."""

    search: str = ""
    skus: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # ids or slugs as given; subcategories are included
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    stock_statuses: tuple[str, ...] = ()
    on_sale: bool | None = None
    featured: bool | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    total_pages: int


@dataclass(frozen=True)
class CategoryNode:
    id: int
    name: str
    slug: str
    parent: int | None  # None for a root, including a category whose parent is not in the table


@dataclass(frozen=True)
class CategoryTree:
    """Every category's place in the tree, built from one query.

    The ``parent`` column has no database constraint, so the tree is repaired while built: a
    missing parent makes a root, and a cycle is broken at its smallest id (which becomes a root).
    """

    nodes: dict[int, CategoryNode]
    children: dict[int, tuple[int, ...]]
    depth: dict[int, int]
    order: tuple[int, ...]  # depth-first, siblings by (menu_order, name, id)
    by_slug: dict[str, int] = field(default_factory=dict)

    def resolve(self, refs: Iterable[str]) -> set[int]:
        """Ids of the categories named by id or slug; unknown references resolve to nothing."""
        found = set()
        for ref in refs:
            if ref.isascii() and ref.isdigit():  # "²".isdigit() is true, and int() refuses it
                if int(ref) in self.nodes:
                    found.add(int(ref))
            elif ref in self.by_slug:
                found.add(self.by_slug[ref])
        return found

    def with_descendants(self, ids: Iterable[int]) -> frozenset[int]:
        seen: set[int] = set()
        stack = [i for i in ids if i in self.nodes]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(self.children.get(current, ()))
        return frozenset(seen)

    def ancestors(self, category_id: int) -> list[int]:
        """Ids from the root down to the parent of ``category_id``."""
        chain = []
        current = self.nodes[category_id].parent
        while current is not None and current not in chain:
            chain.append(current)
            current = self.nodes[current].parent
        return list(reversed(chain))


def category_tree_build(rows: Iterable[tuple[int, int | None, str, str, int]]) -> CategoryTree:
    """Build the tree from ``(id, parent_id, slug, name, menu_order)`` rows (pure, no query)."""
    rows = sorted(rows, key=lambda r: (r[4], r[3], r[0]))
    ids = {r[0] for r in rows}
    parent: dict[int, int | None] = {r[0]: (r[1] if r[1] in ids and r[1] != r[0] else None) for r in rows}
    children: dict[int, list[int]] = {}
    for row in rows:
        if parent[row[0]] is not None:
            children.setdefault(parent[row[0]], []).append(row[0])

    depth: dict[int, int] = {}
    order: list[int] = []

    def walk(root: int) -> None:
        stack = [(root, 0)]
        while stack:
            node, level = stack.pop()
            if node in depth:
                continue
            depth[node] = level
            order.append(node)
            stack.extend((child, level + 1) for child in reversed(children.get(node, [])))

    for row in rows:
        if parent[row[0]] is None:
            walk(row[0])
    # Whatever is left sits on a parent cycle: cut each cycle at its smallest id.
    for node_id in sorted(ids - depth.keys()):
        if node_id not in depth:
            old_parent = parent[node_id]
            parent[node_id] = None
            if old_parent is not None:
                children[old_parent].remove(node_id)
            walk(node_id)

    nodes = {r[0]: CategoryNode(id=r[0], name=r[3], slug=r[2], parent=parent[r[0]]) for r in rows}
    by_slug: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: r[0]):
        if row[2]:
            by_slug.setdefault(row[2], row[0])
    return CategoryTree(
        nodes=nodes,
        children={k: tuple(v) for k, v in children.items()},
        depth=depth,
        order=tuple(order),
        by_slug=by_slug,
    )


def category_tree_get() -> CategoryTree:
    """The category tree, cached under the catalog version (one query on a miss)."""
    return catalog_cached(
        name="category-tree",
        params=None,
        timeout=settings.CATALOG_CACHE_TTL_CATEGORIES,
        scope=(group_key("category"),),  # category rows change with a global bump; stubs come with new links
        build=lambda: category_tree_build(
            Category.objects.order_by().values_list("id", "parent_id", "slug", "name", "menu_order")
        ),
    )


def product_public_queryset() -> QuerySet[Product]:
    return Product.objects.public()


def variation_public_queryset() -> QuerySet[ProductVariation]:
    return ProductVariation.objects.public()


def _filtered(filters: ProductFilters, *, tree: CategoryTree | None = None, skip: str = "") -> QuerySet[Product]:
    """Public products matching ``filters``; ``skip`` leaves one filter out (for its own facet).

    ``tree`` is required when ``filters.categories`` is set (fetched once per request by the caller).
    """
    qs = product_public_queryset()
    if filters.search:
        qs = qs.filter(catalog_visibility__in=SEARCHED_VISIBILITIES).filter(
            Q(name__icontains=filters.search) | Q(sku=filters.search)
        )
    else:
        qs = qs.filter(catalog_visibility__in=LISTED_VISIBILITIES)
    if filters.skus:
        qs = qs.filter(sku__in=filters.skus)
    if filters.categories and skip != "category":
        assert tree is not None, "the category filter needs the category tree"
        ids = tree.with_descendants(tree.resolve(filters.categories))
        qs = qs.filter(id__in=ProductCategory.objects.filter(category_id__in=ids).values("product_id"))
    if skip != "price":
        if filters.min_price is not None:
            qs = qs.filter(price__gte=filters.min_price)
        if filters.max_price is not None:
            qs = qs.filter(price__lte=filters.max_price)
    if filters.stock_statuses and skip != "stock_status":
        qs = qs.filter(stock_status__in=filters.stock_statuses)
    if filters.on_sale is not None:
        qs = qs.filter(on_sale=filters.on_sale)
    if filters.featured is not None:
        qs = qs.filter(featured=filters.featured)
    return qs


def _with_relations(qs: QuerySet[Product], *, full_variations: bool) -> QuerySet[Product]:
    variations = variation_public_queryset().order_by("menu_order", "id")
    if not full_variations:
        variations = variations.only("id", "product_id")
    return qs.only(*PRODUCT_COLUMNS).prefetch_related(
        Prefetch("categories", queryset=Category.objects.only("id", "name", "slug")),
        Prefetch("variations", queryset=variations, to_attr="public_variations"),
    )


def _product_page(*, filters: ProductFilters, orderby: str, order: str) -> tuple[QuerySet[Product], int]:
    """The sorted public products of ``filters`` (not sliced yet), and the filter's total (the count query)."""
    qs = _filtered(filters, tree=category_tree_get() if filters.categories else None)
    # Every page and sort of one filter shares its count, cached under the groups the filter reads.
    total = catalog_cached(
        name="product-count",
        params=asdict(filters),
        timeout=settings.CATALOG_CACHE_TTL_PRODUCT_LIST,
        scope=product_list_scope(filters=filters),
        build=qs.count,
    )
    ordering = [key.desc() if order == "desc" else key.asc() for key in (*ORDERINGS[orderby], F("id"))]
    return qs.order_by(*ordering), total


def product_list(*, filters: ProductFilters, orderby: str, order: str, page: int, per_page: int) -> Page[Product]:
    """One page of public products; a page past the end is empty (totals still set).

    Queries: a count, the page, its categories and its variation ids (4; 2 for an empty page),
    plus one for the category tree when ``filters.categories`` is set and the tree is not cached.
    The count is cached per filter (not per page or sort) under the column groups the filter reads.
    """
    qs, total = _product_page(filters=filters, orderby=orderby, order=order)
    offset = (page - 1) * per_page
    items = list(_with_relations(qs, full_variations=False)[offset : offset + per_page])
    return Page(items=items, total=total, total_pages=math.ceil(total / per_page))


class Row(dict):
    """A ``values()`` row that also reads as attributes (``row.stock_status``), so code written for a
    model instance (a serializer's method field) reads it the same way."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def product_list_rows(*, filters: ProductFilters, orderby: str, order: str, page: int, per_page: int) -> Page[Row]:
    """:func:`product_list` as plain rows, without building model instances (the list's fast path).

    Each row holds ``PRODUCT_COLUMNS`` as the database returns them, plus what ``product_list``
    prefetches under the same names: ``categories`` (rows of id, name, slug, in ``Category``'s
    ordering) and ``public_variations`` (rows of id, by menu_order then id). Same queries as
    ``product_list``: count, page, categories, variation ids (4; 2 for an empty page).
    """
    qs, total = _product_page(filters=filters, orderby=orderby, order=order)
    offset = (page - 1) * per_page
    rows = [Row(values) for values in qs.values(*PRODUCT_COLUMNS)[offset : offset + per_page]]
    by_id = {row["id"]: row for row in rows}
    for row in rows:
        row["categories"] = []
        row["public_variations"] = []
    if rows:
        links = (
            ProductCategory.objects.filter(product_id__in=by_id)
            .order_by(*(f"category__{key}" for key in Category._meta.ordering))
            .values_list("product_id", "category_id", "category__name", "category__slug")
        )
        for product_id, category_id, name, slug in links:
            by_id[product_id]["categories"].append(Row(id=category_id, name=name, slug=slug))
        variations = (
            variation_public_queryset()
            .filter(product_id__in=by_id)
            .order_by("menu_order", "id")
            .values_list("product_id", "id")
        )
        for product_id, variation_id in variations:
            by_id[product_id]["public_variations"].append(Row(id=variation_id))
    return Page(items=rows, total=total, total_pages=math.ceil(total / per_page))


@dataclass(frozen=True)
class ProductFacets:
    total: int
    price_min: Decimal | None
    price_max: Decimal | None
    categories: list[tuple[CategoryNode, int]]
    stock_statuses: dict[str, int]


def product_facets(*, filters: ProductFilters) -> ProductFacets:
    """Counts for a filter sidebar, each facet computed without its own filter (3 queries).

    The price range ignores min/max_price, the stock counts ignore stock_status and the category
    counts ignore category, so a sidebar can offer the alternatives. ``total`` applies every filter.
    Category counts are direct (a product in a subcategory counts there, not in its parent).
    """
    tree = category_tree_get()
    price_conditions = Q()
    if filters.min_price is not None:
        price_conditions &= Q(price__gte=filters.min_price)
    if filters.max_price is not None:
        price_conditions &= Q(price__lte=filters.max_price)

    prices = _filtered(filters, tree=tree, skip="price").aggregate(
        low=Min("price"),
        high=Max("price"),
        total=Count("id", filter=price_conditions) if price_conditions else Count("id"),
    )
    stock_rows = (
        _filtered(filters, tree=tree, skip="stock_status")
        .order_by()
        .values_list("stock_status")
        .annotate(n=Count("id"))
    )
    category_rows = (
        ProductCategory.objects.filter(product__in=_filtered(filters, tree=tree, skip="category").values("id"))
        .order_by()
        .values_list("category_id")
        .annotate(n=Count("product_id"))
    )
    counts = dict(category_rows)
    return ProductFacets(
        total=prices["total"],
        price_min=prices["low"],
        price_max=prices["high"],
        categories=[(tree.nodes[i], counts[i]) for i in tree.order if counts.get(i)],
        stock_statuses=dict(stock_rows),
    )


def product_get(*, product_id: int | None = None, slug: str | None = None) -> Product | None:
    """A public product by WooCommerce id or slug, any ``catalog_visibility``, with its categories
    and public variations (3 queries). A slug shared by several products resolves to the lowest id.
    """
    qs = product_public_queryset()
    qs = qs.filter(id=product_id) if product_id is not None else qs.filter(slug=slug)
    return _with_relations(qs.order_by("id"), full_variations=True).first()


def product_known(*, product_id: int | None = None, slug: str | None = None) -> bool:
    """Whether the mirror has this product at all, public or not (drafts, trash, deleted) (1 query)."""
    qs = Product.objects.filter(id=product_id) if product_id is not None else Product.objects.filter(slug=slug)
    return qs.exists()


def product_id_public(*, product_id: int | None = None, slug: str | None = None) -> int | None:
    """The id of a public product by id or slug, or None (1 query)."""
    qs = product_public_queryset()
    qs = qs.filter(id=product_id) if product_id is not None else qs.filter(slug=slug)
    return qs.order_by("id").values_list("id", flat=True).first()


def variation_list(*, product_id: int, page: int, per_page: int) -> Page[ProductVariation]:
    """One page of a product's public variations by (menu_order, id) (2 queries)."""
    qs = variation_public_queryset().filter(product_id=product_id)
    total = qs.count()
    offset = (page - 1) * per_page
    items = list(qs.order_by("menu_order", "id")[offset : offset + per_page])
    return Page(items=items, total=total, total_pages=math.ceil(total / per_page))


@dataclass(frozen=True)
class CategoryListing:
    tree: CategoryTree
    categories: dict[int, Category]
    counts: dict[int, int]  # public, listed products directly in each category


def category_listing() -> CategoryListing:
    """Every category with its place in the tree and its direct product count (2 queries)."""
    categories = {c.id: c for c in Category.objects.order_by()}
    rows = [(c.id, c.parent_id, c.slug, c.name, c.menu_order) for c in categories.values()]
    counts = dict(
        ProductCategory.objects.filter(product__in=_filtered(ProductFilters()).values("id"))
        .order_by()
        .values_list("category_id")
        .annotate(n=Count("product_id"))
    )
    return CategoryListing(tree=category_tree_build(rows), categories=categories, counts=counts)


def product_export_iter(*, fields: Iterable[str], chunk_size: int) -> Iterator[Product]:
    """Every product not deleted (any status or visibility) by id, with only ``fields`` loaded,
    streamed ``chunk_size`` rows at a time with each chunk's categories prefetched: memory stays
    flat whatever the catalog size.
    """
    qs = (
        Product.objects.filter(deleted_at__isnull=True)
        .order_by("id")
        .only(*fields)
        .prefetch_related(Prefetch("categories", queryset=Category.objects.only("id", "slug")))
    )
    return qs.iterator(chunk_size=chunk_size)
