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
import threading
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    Expression,
    F,
    JSONField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.db.models.lookups import IsNull

from catalog.cache import catalog_cached, group_key, product_list_scope
from catalog.fields import mirror_of, mirrored_fields
from catalog.models import (
    LISTED_PRODUCT,
    LISTED_VISIBILITIES,
    TITLE_SORT_KEY,
    Category,
    Product,
    ProductCategory,
    ProductListFragment,
    ProductSearchName,
    ProductVariation,
)
from common.db import repeated_statements_cursor

T = TypeVar("T")

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


def _filtered(
    filters: ProductFilters,
    *,
    tree: CategoryTree | None = None,
    skip: Collection[str] = (),
    search_plan: SearchPlan = "join",
) -> QuerySet[Product]:
    """Public products matching ``filters``; ``skip`` leaves filters out (for their own facets):
    ``"category"``, ``"price"``, ``"stock_status"``.

    ``tree`` is required when ``filters.categories`` is set (fetched once per request by the caller).
    ``search_plan`` says how ``filters.search`` is matched (``SearchPlan``).
    """
    qs = product_public_queryset()
    if filters.search:
        qs = qs.filter(catalog_visibility__in=SEARCHED_VISIBILITIES).filter(_search_match(filters.search, search_plan))
    else:
        qs = qs.filter(catalog_visibility__in=LISTED_VISIBILITIES)
    if filters.skus:
        qs = qs.filter(sku__in=filters.skus)
    if filters.categories and "category" not in skip:
        assert tree is not None, "the category filter needs the category tree"
        ids = tree.with_descendants(tree.resolve(filters.categories))
        qs = qs.filter(id__in=ProductCategory.objects.filter(category_id__in=ids).values("product_id"))
    if "price" not in skip:
        if filters.min_price is not None:
            qs = qs.filter(price__gte=filters.min_price)
        if filters.max_price is not None:
            qs = qs.filter(price__lte=filters.max_price)
    if filters.stock_statuses and "stock_status" not in skip:
        qs = qs.filter(stock_status__in=filters.stock_statuses)
    if filters.on_sale is not None:
        qs = qs.filter(on_sale=filters.on_sale)
    if filters.featured is not None:
        qs = qs.filter(featured=filters.featured)
    return qs


# How a search is matched (PostgreSQL, on ProductSearchName):
# * "join": a semi-join with the names that match, planned by PostgreSQL (facets, counts, search with filters);
# * "ids": the product id is one of ``SEARCH_IDS`` (replaced by the ids when the statement runs);
# * "walk": each product is checked against its own name, one at a time, so a page walks its sort's index
#   and stops after the page (a subquery per row, which PostgreSQL does not turn into a join).
SearchPlan = Literal["join", "ids", "walk"]


class _SearchIdsParameter:
    """Stands for the matching ids in a compiled statement (``SEARCH_IDS``); hashable, unlike a list."""

    def __repr__(self) -> str:
        return "SEARCH_IDS"


SEARCH_IDS = _SearchIdsParameter()


def _name_or_sku(term: str) -> Q:
    """WooCommerce's ``search``: the name contains ``term`` in any case, or the SKU is ``term``."""
    return Q(name__icontains=term) | Q(sku=term)


def _search_match(term: str, plan: SearchPlan) -> Q | RawSQL:
    """Products that ``search=term`` finds: matched on the narrow copy of the searchable names where the
    triggers keep one (``ProductSearchName``: the trigram index's rechecks read its pages, not the products')."""
    if not catalog_triggers_supported():
        return _name_or_sku(term)
    if plan == "ids":
        return RawSQL('"catalog_product"."id" = ANY(%s::bigint[])', (SEARCH_IDS,), output_field=BooleanField())
    names = ProductSearchName.objects.filter(_name_or_sku(term))
    if plan == "walk":
        one = names.filter(product_id=OuterRef("id")).values("product_id")[:1]
        return Q(IsNull(Subquery(one), False))
    return Q(id__in=names.values("product_id"))


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


def _category_counts_query(filters: ProductFilters, *, tree: CategoryTree | None) -> QuerySet[Any]:
    """(category id, products of ``filters`` directly in it), its category filter left out.

    Over the whole listed catalog (no other filter), each category's count is its links minus the
    links of the products a listing leaves out (``product_unlisted_idx``), in one correlated subquery
    per category: index-only scans of the links' category index, where joining every link with every
    product scanned all 400,000 links at 200,000 products. Links are unique per (product, category),
    so both sides count the same pairs.
    """
    if replace(filters, categories=()) != ProductFilters():
        products = _filtered(filters, tree=tree, skip=("category",)).values("id")
        return (
            ProductCategory.objects.filter(product__in=products)
            .order_by()
            .values_list("category_id")
            .annotate(n=Count("product_id"))
        )

    def links(qs: QuerySet[ProductCategory]) -> Coalesce:
        counted = qs.filter(category_id=OuterRef("id")).order_by().values("category_id").annotate(n=Count("*"))
        return Coalesce(Subquery(counted.values("n")), 0)

    unlisted = Product.objects.filter(~LISTED_PRODUCT).values("id")
    return (
        Category.objects.order_by()
        .annotate(n=links(ProductCategory.objects.all()) - links(ProductCategory.objects.filter(product__in=unlisted)))
        .values_list("id", "n")
    )


def _category_counts(filters: ProductFilters, *, tree: CategoryTree | None, epoch: int | None) -> dict[int, int]:
    """Products of ``filters`` (its category filter left out) directly in each category (1 query, or none
    when this process counted the same filters at ``epoch``, the list epoch read with ``tree``)."""
    rows = _aggregate_memoised(
        "category-counts", filters, epoch=epoch, query=lambda: _category_counts_query(filters, tree=tree)
    )
    return {category_id: n for category_id, n in rows if n}


# --- Aggregates memoised per process by the list epoch (PostgreSQL) --------------------------------

# Facet and category counts by (database, kind, filters) → (epoch, rows), per process: at 200,000 products
# they read every listed product (tens of milliseconds each) and change only with what moves the list epoch
# (migration 0008: status, deletion, visibility, name, SKU, price, stock status, flags, links, the tree), so
# a stock quantity changing every second keeps them. A memo, not the truth: rows are stored under the epoch
# read in their own statement, and used only by a request that read the same epoch with its category tree.
_AGGREGATES: dict[tuple[str, str, ProductFilters], tuple[int, list[tuple[Any, ...]]]] = {}


def _aggregate_memoised(
    kind: str, filters: ProductFilters, *, epoch: int | None, query: Callable[[], QuerySet[Any]]
) -> list[tuple[Any, ...]]:
    """The rows of ``query()``: from this process's memo when counted at ``epoch``, else from the database
    (``_aggregate_count``), one request of the process at a time."""
    if epoch is None:  # not to be memoised: SQLite (no triggers), inside a transaction, no epoch row yet
        return list(query())
    key = (connection.alias, kind, filters)
    return _memoised(_AGGREGATES, key, epoch, "aggregate", lambda: _aggregate_count(key, epoch=epoch, query=query))


def _aggregate_count(
    key: tuple[str, str, ProductFilters], *, epoch: int, query: Callable[[], QuerySet[Any]]
) -> list[tuple[Any, ...]]:
    """Run ``query()`` with the list epoch in the same statement (1 query); memoise its rows under ``key``
    when that epoch is ``epoch``, the one the request read with its tree (a change committed in between
    is not)."""
    try:
        sql, params = query().query.sql_with_params()
    except EmptyResultSet:  # a filter that can match nothing
        return []
    with repeated_statements_cursor() as cursor:
        # The LEFT JOIN keeps the epoch when nothing matches; the aggregates' first column is never NULL.
        cursor.execute(
            f"SELECT ({_EPOCH_SQL}), counted.* FROM (SELECT 1) one LEFT JOIN ({sql}) counted ON TRUE", params
        )
        fetched = cursor.fetchall()
    rows = [row[1:] for row in fetched if row[1] is not None]
    if fetched and fetched[0][0] == epoch:
        _memo_store(_AGGREGATES, key, epoch, rows)
    return rows


def _memo_epoch_tree() -> tuple[CategoryTree, int | None]:
    """The category tree, and the list epoch read with it when the aggregate memos may be used (outside
    transactions on PostgreSQL; else None and the tree from ``category_tree_get``) (1 query)."""
    if not catalog_triggers_supported() or connection.in_atomic_block:
        return category_tree_get(), None
    with repeated_statements_cursor() as cursor:
        return _category_tree_read(cursor)


# --- The list from stored fragments (PostgreSQL) ------------------------------------------------

_EPOCH_SQL = 'SELECT "value" FROM "catalog_productlistepoch" WHERE "id" = 1'
_FRAGMENT_SQL = (
    'SELECT "body" FROM "catalog_productlistfragment" '
    'WHERE "product_id" = page."id" AND "version" = page."list_version" AND "shape" = %s'
)
# Counts by (database, filters) → (epoch, count), per process. A memo, not the truth: an entry is used
# only while the list epoch read with the page is the one read with the count (migration 0008's triggers).
_COUNTS: dict[tuple[str, ProductFilters], tuple[int, int]] = {}
_COUNTS_MAX = 2048


def _memo_store(
    memo: dict[Any, tuple[int, Any]], key: Any, epoch: int, value: Any, *, limit: int = _COUNTS_MAX
) -> None:
    """Keep ``value`` under ``key`` as counted at ``epoch``; a memo that reached ``limit`` entries starts over."""
    if len(memo) >= limit:
        memo.clear()
    memo[key] = (epoch, value)


@dataclass(frozen=True)
class FragmentPage:
    items: list[tuple[int, int, str | None]]  # (id, list_version, stored fragment or None)
    total: int
    total_pages: int


def catalog_triggers_supported() -> bool:
    """Whether the database keeps what the catalog's triggers keep (PostgreSQL): the list versions and epoch
    that stored fragments and memoised counts rely on (migration 0008), and the search names (0011)."""
    return connection.vendor == "postgresql"


def product_list_fragments(
    *, filters: ProductFilters, orderby: str, order: str, page: int, per_page: int, shape: str
) -> FragmentPage:
    """One page of public products as (id, list_version, stored fragment of ``shape`` or None), in order.

    PostgreSQL only (``catalog_triggers_supported``). A fragment is returned only when it was rendered from
    the product's current ``list_version`` with ``shape``; None means: render it (``product_list_rows_by_id``).

    Queries: the page with its fragments and the list epoch (1); the count (1) unless this process counted
    the same filters at the same epoch, or the filter is a search alone (its matches give the count); with a
    category filter, the category tree (1) unless this process read it at the epoch the page was read at
    (checked after the page: a stale tree costs the tree and, when it resolves the filter differently, the
    page again); with a search, its matches (1) unless this process matched the term at the page's epoch
    (a stale match costs the matches and the page again; ``_search_found``). The memos are used outside
    transactions only: a transaction may see its own uncommitted changes, which have not moved the epoch
    yet; inside one the tree comes from ``category_tree_get`` and the count and the matches are always
    read. A page sorted on keys that move the epoch (``_EPOCH_SORTS``), a search's excepted, is read by the
    ids this process memoised for it while the epoch holds (``_page_rows``: one statement, two when the
    epoch moved since).
    """
    memo_usable = not connection.in_atomic_block
    search_only = bool(filters.search) and filters == ProductFilters(search=filters.search)
    tree, tree_epoch = _filter_tree(filters, memo_usable=memo_usable)
    found: SearchFound | None = None
    search_epoch: int | None = None  # the epoch of memoised matches, to check against the page's
    stale: int | None = None  # the epoch of memoised matches this request found outdated
    with repeated_statements_cursor() as cursor:
        while True:
            if filters.search and found is None:
                search_epoch, found, read_here = _search_found(
                    cursor, filters.search, memo_usable=memo_usable, stale=stale
                )
                if read_here:
                    search_epoch = None  # read now: nothing to check
            plan = _search_plan(found, search_only=search_only)
            compiled = _fragment_page_sql(
                # The ids plan's statement does not hold the term: one statement serves every term.
                filters=replace(filters, search=_ANY_TERM) if plan == "ids" else filters,
                tree=tree,
                category_ids=tree.with_descendants(tree.resolve(filters.categories)) if tree else None,
                orderby=orderby,
                order=order,
                offset=(page - 1) * per_page,
                per_page=per_page,
                search_plan=plan,
            )
            rows: list[tuple[Any, ...]] = []
            if compiled is not None:
                memo_key = None
                # Not a search's page: it may be read with matches found stale after it (then read again).
                if memo_usable and orderby in _EPOCH_SORTS and not filters.search:
                    memo_key = (connection.alias, filters, compiled[0], compiled[1])
                if plan == "ids":
                    assert found is not None and found.ids is not None
                    compiled = _with_search_ids(compiled, found.ids.tolist())
                rows = _page_rows(cursor, compiled, shape=shape, memo_key=memo_key)
            check_tree = tree is not None and tree_epoch is not None
            if not check_tree and search_epoch is None:
                break
            epoch = _page_epoch(cursor, rows)
            if search_epoch is not None and epoch != search_epoch:
                found, stale = None, search_epoch  # matched at an older epoch: match again, then read again
                continue
            if not check_tree or epoch == tree_epoch:
                break
            assert tree is not None
            used = tree.with_descendants(tree.resolve(filters.categories))
            tree, tree_epoch = _category_tree_read(cursor)
            if tree.with_descendants(tree.resolve(filters.categories)) == used:
                break  # the page read is the one the current tree gives
            tree_epoch = None  # read again with the tree just read
        if compiled is None:  # a filter that can match nothing (a category that does not exist)
            return FragmentPage(items=[], total=0, total_pages=0)
        if search_only:
            assert found is not None
            total = found.total
        else:
            key = (connection.alias, filters)
            page_epoch = rows[0][3] if memo_usable and rows else None
            if page_epoch is None:
                total = _count(cursor, compiled, key=None)
            else:
                total = _memoised(_COUNTS, key, page_epoch, "count", lambda: _count(cursor, compiled, key=key))
    return FragmentPage(
        items=[(row[0], row[1], row[2]) for row in rows], total=total, total_pages=math.ceil(total / per_page)
    )


def _page_epoch(cursor: Any, rows: list[tuple[Any, ...]]) -> int | None:
    """The list epoch a page was read at: its rows carry it; an empty page has it read now (1 query)."""
    if rows:
        return rows[0][3]
    cursor.execute(_EPOCH_SQL)
    return (cursor.fetchone() or (None,))[0]


# A search term matching at most this many products is read as their ids (the page reads those rows and sorts
# them); a broader one walks its sort's index, checking each product's name, and stops after the page.
# PostgreSQL's own guess of how many names a LIKE matches is often off by 10-100x either way, and the plan it
# picks on a wrong guess costs the whole set: 200,000 index entries walked for 40 matches, or 110,000 matches
# sorted for 50. The ids plan reads at most SEARCH_IDS_MAX rows; the walk about per_page x catalog / matches
# index entries when the matches are spread along the sort, more when they sit far along it (a known cost,
# docs/performance.md: "What is left, measured").
SEARCH_IDS_MAX = 1000
# What a term matched, by (database, term) → (epoch, SearchFound), per process; fewer entries than the counts'
# memo, as each may hold SEARCH_IDS_MAX ids (8 bytes each).
_SEARCHES: dict[tuple[str, str], tuple[int, SearchFound]] = {}
_SEARCHES_MAX = 256
_ANY_TERM = "(any term)"


@dataclass(frozen=True)
class SearchFound:
    total: int
    ids: array | None  # every match (signed 64-bit ids) when ``total <= SEARCH_IDS_MAX``, else None


def _search_found_read(cursor: Any, term: str) -> tuple[int | None, SearchFound]:
    """How many products ``search=term`` finds, their ids when few, and the list epoch (1 statement, one pass
    over the matching names: no product row is read, the names copy holding exactly what a search shows)."""
    names_sql, names_params = (
        ProductSearchName.objects.filter(_name_or_sku(term)).order_by().values("product_id").query.sql_with_params()
    )
    cursor.execute(
        f"SELECT ({_EPOCH_SQL}), COUNT(*), CASE WHEN COUNT(*) <= %s THEN array_agg(found.product_id) END "
        f"FROM ({names_sql}) found",
        (SEARCH_IDS_MAX, *names_params),
    )
    epoch, total, ids = cursor.fetchone()
    return epoch, SearchFound(total=total, ids=None if ids is None else array("q", ids))


def _with_search_ids(
    compiled: tuple[str, tuple[Any, ...], str, tuple[Any, ...]], ids: list[int]
) -> tuple[str, tuple[Any, ...], str, tuple[Any, ...]]:
    """``compiled`` with ``ids`` in place of ``SEARCH_IDS`` in its parameters."""
    page_sql, page_params, count_sql, count_params = compiled
    return (
        page_sql,
        tuple(ids if value is SEARCH_IDS else value for value in page_params),
        count_sql,
        tuple(ids if value is SEARCH_IDS else value for value in count_params),
    )


def _search_found(
    cursor: Any, term: str, *, memo_usable: bool, stale: int | None
) -> tuple[int | None, SearchFound, bool]:
    """What ``term`` matches, the epoch it was matched at, and whether it was read now: this process's memo
    unless missing or matched at the epoch ``stale``, else read (1 query) and memoised, by one request of
    this process at a time."""
    key = (connection.alias, term)
    memo = _SEARCHES.get(key) if memo_usable else None
    if memo is None or memo[0] == stale:
        with _one_at_a_time(("search", key)):
            memo = _SEARCHES.get(key) if memo_usable else None
            if memo is None or memo[0] == stale:  # else another request matched it again meanwhile
                epoch, found = _search_found_read(cursor, term)
                if memo_usable and epoch is not None:
                    _memo_store(_SEARCHES, key, epoch, found, limit=_SEARCHES_MAX)
                return epoch, found, True
    return memo[0], memo[1], False


def _search_plan(found: SearchFound | None, *, search_only: bool) -> SearchPlan:
    """How a page reads the matches ``found`` (``SEARCH_IDS_MAX``): by their ids when few; when many, a search
    alone walks its sort's index, and one with other filters is left to PostgreSQL's join."""
    if found is None:
        return "join"
    if found.ids is not None:
        return "ids"
    return "walk" if search_only else "join"


# Sorts whose keys move the list epoch (price; name for title; id): while the epoch stays, a page of one of them
# holds the same products in the same order, so its ids are memoised. Popularity, dates and menu_order change
# without moving the epoch: their pages are always read from their index.
_EPOCH_SORTS = frozenset({"price", "title", "id"})
# Page ids by (database, filters, page statement, its parameters) → (epoch, ids), per process.
_PAGES: dict[tuple[Any, ...], tuple[int, list[int]]] = {}
# The products of the memoised ids, in their order, while the epoch is the memo's (a condition without columns:
# PostgreSQL's one-time filter); no row means the epoch moved (a memo is never empty), and the page's own query
# runs. Two statements then, where one UNION of both branches was planned on every request: at 200,000 products
# the filtered list's union took 0.6 ms to plan and 1.8 ms in all, this statement 0.1 ms and 0.75 ms.
_MEMO_PAGE_SQL = (
    f'SELECT page."id", page."list_version", ({_FRAGMENT_SQL}), ({_EPOCH_SQL}) '
    'FROM unnest(%s::bigint[]) WITH ORDINALITY memo(id, n) JOIN "catalog_product" page ON page."id" = memo.id '
    f"WHERE ({_EPOCH_SQL}) = %s ORDER BY memo.n"
)


def _page_rows(
    cursor: Any, compiled: tuple[str, tuple[Any, ...], str, tuple[Any, ...]], *, shape: str, memo_key: Any
) -> list[tuple[Any, ...]]:
    """The page's (id, list_version, fragment or None, epoch) rows: with ``memo_key``, from the ids this
    process memoised for it when the epoch has not moved since (the semi-join of a category filter and the
    walk of the sort's index skipped; 1 query), else from the page's query (1 query, 2 when a memo was
    tried first), whose ids are then memoised by one request of this process at a time: the others wait
    and read the memo. Without that, the 25 requests a worker takes at once on a new filter each ran the
    page's query (at 200,000 products, 16-20 ms apiece on a cold filter)."""
    if memo_key is None:
        return _page_read(cursor, compiled, shape=shape, memo_key=None)
    seen = _PAGES.get(memo_key)
    if seen is not None and (rows := _page_memo_read(cursor, seen, shape=shape)):
        return rows
    with _one_at_a_time(("page", memo_key)):
        memo = _PAGES.get(memo_key)
        if memo is not None and memo is not seen and (rows := _page_memo_read(cursor, memo, shape=shape)):
            return rows  # memoised by another request meanwhile
        return _page_read(cursor, compiled, shape=shape, memo_key=memo_key)


def _page_memo_read(cursor: Any, memo: tuple[int, list[int]], *, shape: str) -> list[tuple[Any, ...]]:
    """The memoised page's rows, or none when the epoch moved since (1 query)."""
    cursor.execute(_MEMO_PAGE_SQL, (shape, memo[1], memo[0]))
    return cursor.fetchall()


def _page_read(
    cursor: Any, compiled: tuple[str, tuple[Any, ...], str, tuple[Any, ...]], *, shape: str, memo_key: Any
) -> list[tuple[Any, ...]]:
    """The page's rows from its query (1 query); their ids memoised under ``memo_key`` unless None."""
    cursor.execute(compiled[0], (shape, *compiled[1]))
    rows = cursor.fetchall()
    if memo_key is not None and rows and rows[0][3] is not None:
        _memo_store(_PAGES, memo_key, rows[0][3], [row[0] for row in rows])
    return rows


def _count(cursor: Any, compiled: tuple[str, tuple[Any, ...], str, tuple[Any, ...]], *, key: Any) -> int:
    """Run the count statement; memoise it under ``key`` with the epoch it read (no memo when None)."""
    cursor.execute(compiled[2], compiled[3])
    epoch, total = cursor.fetchone()
    if key is not None and epoch is not None:
        _memo_store(_COUNTS, key, epoch, total)
    return total


# One lock per memo key, per process: when the epoch moves (or the process starts), one request counts again
# and the others wait for its result. Without it, 50 concurrent requests of a fresh worker each ran the full
# count or facet pass at once (50 x 60 ms on 2 cores: seconds of p99 for every request behind them).
_FLIGHTS: dict[tuple[Any, ...], threading.Lock] = {}


def _memoised(memo: dict[Any, tuple[int, Any]], key: Any, epoch: int, flight: str, count: Callable[[], Any]) -> Any:
    """``memo``'s value for ``key`` when counted at ``epoch``, else ``count()`` (which stores what it counts),
    run by one request of this process at a time: the others wait for its result."""
    found = memo.get(key)
    if found is not None and found[0] == epoch:
        return found[1]
    with _one_at_a_time((flight, key)):
        found = memo.get(key)
        if found is not None and found[0] == epoch:
            return found[1]
        return count()


def _one_at_a_time(key: tuple[Any, ...]) -> threading.Lock:
    if len(_FLIGHTS) >= 2 * _COUNTS_MAX:
        _FLIGHTS.clear()  # a lock dropped while held only lets one more request count alongside
    return _FLIGHTS.setdefault(key, threading.Lock())


# The category tree as this process last read it, with the list epoch of that read, by database. Only what
# resolves a category filter (ids, parents, slugs) moves the epoch, so it is used for that only.
_TREES: dict[str, tuple[int, CategoryTree]] = {}


def _filter_tree(filters: ProductFilters, *, memo_usable: bool) -> tuple[CategoryTree | None, int | None]:
    """The tree resolving ``filters.categories`` and the epoch it was read at (None: not to be checked)."""
    if not filters.categories:
        return None, None
    if not memo_usable:
        return category_tree_get(), None
    memo = _TREES.get(connection.alias)
    if memo is not None:
        return memo[1], memo[0]
    with repeated_statements_cursor() as cursor:
        return _category_tree_read(cursor)


def _category_tree_read(cursor: Any) -> tuple[CategoryTree, int | None]:
    """Read the tree and the list epoch in one statement, and keep them for this process (1 query)."""
    cursor.execute(f"SELECT ({_EPOCH_SQL}), id, parent_id, slug, name, menu_order FROM {Category._meta.db_table}")
    rows = cursor.fetchall()
    tree = category_tree_build(row[1:] for row in rows)
    epoch = rows[0][0] if rows else None
    if epoch is not None:
        _TREES[connection.alias] = (epoch, tree)
    return tree, epoch


_SQL: dict[tuple[Any, ...], tuple[str, tuple[Any, ...], str, tuple[Any, ...]]] = {}


def _fragment_page_sql(
    *,
    filters: ProductFilters,
    tree: CategoryTree | None,
    category_ids: frozenset[int] | None,
    orderby: str,
    order: str,
    offset: int,
    per_page: int,
    search_plan: SearchPlan = "join",
) -> tuple[str, tuple[Any, ...], str, tuple[Any, ...]] | None:
    """The page and count statements of ``product_list_fragments``, compiled once per process and shape of
    request: compiling a queryset costs about as much Python as the rest of a warm list request. None when
    the filters can match nothing (Django refuses to compile ``IN ()``)."""
    key = (connection.alias, filters, category_ids, orderby, order, offset, per_page, search_plan)
    compiled = _SQL.get(key)
    if compiled is None:
        qs = _filtered(filters, tree=tree, search_plan=search_plan)
        ordering = [key.desc() if order == "desc" else key.asc() for key in (*ORDERINGS[orderby], F("id"))]
        try:
            page_sql, page_params = (
                qs.order_by(*ordering)
                .values_list("id", "list_version")[offset : offset + per_page]
                .query.sql_with_params()
            )
            count_sql, count_params = qs.order_by().values("id").query.sql_with_params()
        except EmptyResultSet:
            return None
        # The fragment subquery sits above the LIMIT so it runs for the page's rows only; a subquery in FROM
        # with ORDER BY ... LIMIT and no join above it keeps its order.
        compiled = (
            f'SELECT page."id", page."list_version", ({_FRAGMENT_SQL}), ({_EPOCH_SQL}) FROM ({page_sql}) page',
            tuple(page_params),
            f"SELECT ({_EPOCH_SQL}), COUNT(*) FROM ({count_sql}) counted",
            tuple(count_params),
        )
        if len(_SQL) >= _COUNTS_MAX:
            _SQL.clear()
        _SQL[key] = compiled
    return compiled


# A product's categories as [{id, name, slug}] in ``Category``'s ordering (what the serializers show), read in
# the product's own statement (PostgreSQL's JSON functions).
_LINKS_SQL = (
    "SELECT COALESCE(jsonb_agg(jsonb_build_object('id', c.id, 'name', c.name, 'slug', c.slug) "
    f"ORDER BY {', '.join(f'c.{key}' for key in Category._meta.ordering)}), '[]') "
    "FROM catalog_productcategory link JOIN catalog_category c ON c.id = link.category_id "
    'WHERE link.product_id = "catalog_product"."id"'
)
# Every column of a variation: the detail shows them through the serializer's fields and methods.
VARIATION_COLUMNS: tuple[str, ...] = tuple(field.attname for field in ProductVariation._meta.concrete_fields)


def product_detail_row(*, product_id: int | None = None, slug: str | None = None) -> Row | None:
    """:func:`product_get` as a plain row, without model instances (the uncached detail's fast path;
    PostgreSQL): ``PRODUCT_COLUMNS``, ``categories`` (rows of id, name, slug, in ``Category``'s ordering,
    read in the product's statement) and ``public_variations`` (rows of every variation column, by
    menu_order then id). None when no public product matches. 2 queries (1 when none matches).
    """

    def product(lookup: Any) -> QuerySet[Any]:
        qs = product_public_queryset()
        qs = qs.filter(id=lookup) if product_id is not None else qs.filter(slug=lookup)
        return qs.order_by("id").values(*PRODUCT_COLUMNS, link_rows=RawSQL(_LINKS_SQL, (), output_field=JSONField()))[
            :1
        ]

    def variations(lookup: Any) -> QuerySet[Any]:
        qs = variation_public_queryset().filter(product_id=lookup).order_by("menu_order", "id")
        return qs.values(*VARIATION_COLUMNS)

    if product_id is not None:
        found = _values_compiled("detail-by-id", product)(product_id)
    else:
        found = _values_compiled("detail-by-slug", product, lookup=_LOOKUP_TEXT)(slug)
    if not found:
        return None
    row = Row(found[0])
    row["categories"] = [Row(link) for link in row.pop("link_rows")]
    row["public_variations"] = [Row(values) for values in _values_compiled("detail-variations", variations)(row["id"])]
    return row


# A lookup's values() query compiled once per process: compiling it cost more Python than the rest of an
# uncached detail. By (database, name) → the statement, the lookup's place among its parameters, the column
# names and Django's converters (JSON, decimals), applied as values() applies them.
_VALUES: dict[tuple[str, str], Callable[[Any], list[dict[str, Any]]]] = {}
# Parameters no caller passes, by the looked-up value's type: where the looked-up value goes.
_LOOKUP_TEXT = "\x00lookup"
_LOOKUP_ID = 2**62 + 7  # in range: Django compiles an out-of-range integer lookup to nothing


def _values_compiled(
    name: str, build: Callable[[Any], QuerySet[Any]], *, lookup: Any = _LOOKUP_ID
) -> Callable[[Any], list[dict[str, Any]]]:
    """``build(value)``'s rows as values() dicts, from a statement compiled at the first call (1 query a call).

    ``build`` must use its argument once, as a query parameter, and always build the same query.
    """
    key = (connection.alias, name)
    run = _VALUES.get(key)
    if run is None:
        qs = build(lookup)
        compiler = qs.query.get_compiler(connection.alias)
        sql, params = compiler.as_sql()
        where = [i for i, param in enumerate(params) if param == lookup]
        assert len(where) == 1, f"{name}: the looked-up value must be one parameter"
        converters = compiler.get_converters([column[0] for column in compiler.select[: compiler.col_count]])
        names = [*qs.query.extra_select, *qs.query.values_select, *qs.query.annotation_select]

        def run(value: Any) -> list[dict[str, Any]]:
            with repeated_statements_cursor() as cursor:
                cursor.execute(sql, (*params[: where[0]], value, *params[where[0] + 1 :]))
                rows = cursor.fetchall()
            out = []
            for fetched in rows:
                row = list(fetched)
                for position, (functions, expression) in converters.items():
                    for convert in functions:  # with this request's connection, as values() passes it
                        row[position] = convert(row[position], expression, connection)
                out.append(dict(zip(names, row, strict=True)))
            return out

        _VALUES[key] = run
    return run


def product_list_rows_by_id(*, ids: Iterable[int]) -> list[Row]:
    """The rows of ``product_list_rows`` for these products, with ``list_version``, in one query (PostgreSQL).

    Public or not (the caller picked the ids); ``categories`` and ``public_variations`` are read by
    subqueries of the same statement, so the rows and their version come from one snapshot.
    """
    variations = ArraySubquery(
        variation_public_queryset().filter(product_id=OuterRef("id")).order_by("menu_order", "id").values("id")
    )
    qs = (
        Product.objects.filter(id__in=list(ids))
        .order_by()
        .values(
            *PRODUCT_COLUMNS,
            "list_version",
            link_rows=RawSQL(_LINKS_SQL, (), output_field=JSONField()),
            variation_ids=variations,
        )
    )
    rows = []
    for values in qs:
        row = Row(values)
        row["categories"] = [Row(link) for link in row.pop("link_rows")]
        row["public_variations"] = [Row(id=variation_id) for variation_id in row.pop("variation_ids")]
        rows.append(row)
    return rows


def product_ids_without_fragment(*, shape: str, after_id: int, limit: int) -> list[int]:
    """Ids above ``after_id`` of public products (any visibility: search lists show some the plain list
    does not) without a current fragment of ``shape``, by id, at most ``limit`` (1 query; PostgreSQL)."""
    current = ProductListFragment.objects.filter(
        product_id=OuterRef("id"), version=OuterRef("list_version"), shape=shape
    )
    return list(
        product_public_queryset()
        .filter(id__gt=after_id)
        .exclude(Exists(current))
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


@dataclass(frozen=True)
class ProductFacets:
    total: int
    price_min: Decimal | None
    price_max: Decimal | None
    categories: list[tuple[CategoryNode, int]]
    stock_statuses: dict[str, int]


def product_facets(*, filters: ProductFilters) -> ProductFacets:
    """Counts for a filter sidebar, each facet computed without its own filter (3 queries; 1 when this
    process counted the same filters at the list epoch read with the category tree).

    The price range ignores min/max_price, the stock counts ignore stock_status and the category
    counts ignore category, so a sidebar can offer the alternatives. ``total`` applies every filter.
    Category counts are direct (a product in a subcategory counts there, not in its parent).
    The price range, ``total`` and the stock counts come from one pass grouped by stock status over
    the products of the other filters, each aggregate keeping the rows its facet applies to.
    Category names and order come from the tree read by this request (they do not move the epoch).
    """
    tree, epoch = _memo_epoch_tree()
    price_ok = Q()
    if filters.min_price is not None:
        price_ok &= Q(price__gte=filters.min_price)
    if filters.max_price is not None:
        price_ok &= Q(price__lte=filters.max_price)
    stock_ok = Q(stock_status__in=filters.stock_statuses) if filters.stock_statuses else Q()

    def by_stock() -> QuerySet[Any]:
        return (
            _filtered(filters, tree=tree, skip=("price", "stock_status"))
            .order_by()
            .values_list("stock_status")
            .annotate(
                low=Min("price", filter=stock_ok or None),
                high=Max("price", filter=stock_ok or None),
                total=Count("id", filter=(stock_ok & price_ok) or None),
                priced=Count("id", filter=price_ok or None),
            )
        )

    lows, highs, total, stock_statuses = [], [], 0, {}
    grouped = _aggregate_memoised("by-stock", filters, epoch=epoch, query=by_stock)
    for stock_status, low, high, in_both, priced in grouped:
        if low is not None:
            lows.append(low)
            highs.append(high)
        total += in_both
        if priced:
            stock_statuses[stock_status] = priced
    counts = _category_counts(filters, tree=tree, epoch=epoch)
    return ProductFacets(
        total=total,
        price_min=min(lows, default=None),
        price_max=max(highs, default=None),
        categories=[(tree.nodes[i], counts[i]) for i in tree.order if counts.get(i)],
        stock_statuses=stock_statuses,
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
    categories: dict[int, Row]  # every column of each category, as values() rows (read as attributes too)
    counts: dict[int, int]  # public, listed products directly in each category


# What the category endpoints show (catalog.serializers.CategorySerializer) and the tree needs; a column the
# serializer reads and this leaves out fails tests/catalog/test_fast_render.py's comparison with instances.
CATEGORY_COLUMNS: tuple[str, ...] = ("id", "parent_id", "name", "slug", "description", "display", "image", "menu_order")


def category_listing() -> CategoryListing:
    """Every category (rows, not model instances: the listing is rendered from them) with its place in the
    tree and its direct product count (2 queries; 1 when this process counted at the list epoch read with
    the categories)."""
    memo_usable = catalog_triggers_supported() and not connection.in_atomic_block
    qs = Category.objects.order_by()
    if memo_usable:
        qs = qs.annotate(list_epoch=RawSQL(_EPOCH_SQL, ()))
    categories = {}
    epoch = None
    for values in qs.values(*CATEGORY_COLUMNS, *(("list_epoch",) if memo_usable else ())):
        epoch = values.pop("list_epoch", None)
        categories[values["id"]] = Row(values)
    rows = [(c.id, c.parent_id, c.slug, c.name, c.menu_order) for c in categories.values()]
    counts = _category_counts(ProductFilters(), tree=None, epoch=epoch)
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
