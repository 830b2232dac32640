"""PostgreSQL plans of the catalog API's common queries over the bench catalog (``make bench-api`` fills it).

Prints, for each query, the plan's access path and the execution time (EXPLAIN ANALYZE), so a
missing index shows up as a Seq Scan over the products. Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crushme .venv/bin/python bench/bench_api_plans.py
"""

from __future__ import annotations

import os
import re
import sys
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parsed = urlparse(os.environ["DATABASE_URL"])
    os.environ.update(
        DJANGO_SETTINGS_MODULE="crushme_project.settings.test",
        DATABASE_URL=urlunparse(parsed._replace(path=parsed.path.rstrip("/") + "_bench")),
        REDIS_URL="",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from catalog import selectors
    from catalog.models import ProductCategory

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE catalog_product")
        cursor.execute("VACUUM ANALYZE catalog_productcategory")
    tree = selectors.category_tree_get()
    root = next(i for i in tree.order if tree.depth[i] == 0)
    cases = {
        "count, default listing": selectors._filtered(selectors.ProductFilters()),
        "page, orderby=date desc": selectors.ProductFilters(),
        "page, orderby=price asc": (selectors.ProductFilters(), "price", "asc"),
        "page, orderby=popularity desc": (selectors.ProductFilters(), "popularity", "desc"),
        "page, orderby=title asc": (selectors.ProductFilters(), "title", "asc"),
        "page, orderby=menu_order asc": (selectors.ProductFilters(), "menu_order", "asc"),
        "page, orderby=modified desc": (selectors.ProductFilters(), "modified", "desc"),
        "page, category (root + children)": (selectors.ProductFilters(categories=(str(root),)), "date", "desc"),
        "page, price 10-20": (selectors.ProductFilters(min_price=Decimal(10), max_price=Decimal(20)), "date", "desc"),
        "page, featured": (selectors.ProductFilters(featured=True), "date", "desc"),
        "page, on_sale": (selectors.ProductFilters(on_sale=True), "date", "desc"),
        "page, stock_status=onbackorder": (selectors.ProductFilters(stock_statuses=("onbackorder",)), "date", "desc"),
        "page, sku": (selectors.ProductFilters(skus=("SKU-001234",)), "date", "desc"),
        "page, search 'hoodie'": (selectors.ProductFilters(search="hoodie"), "date", "desc"),
        "category counts (facets)": ProductCategory.objects.filter(
            product__in=selectors._filtered(selectors.ProductFilters()).values("id")
        ).values_list("category_id"),
    }
    for name, case in cases.items():
        if isinstance(case, tuple):
            filters, orderby, order = case
            qs = selectors._filtered(filters, tree=tree if filters.categories else None)
            ordering = [
                k.desc() if order == "desc" else k.asc() for k in (*selectors.ORDERINGS[orderby], selectors.F("id"))
            ]
            qs = qs.order_by(*ordering).only(*selectors.PRODUCT_COLUMNS)[:50]
        elif isinstance(case, selectors.ProductFilters):
            qs = selectors._filtered(case).order_by("-date_created_gmt", "-id").only(*selectors.PRODUCT_COLUMNS)[:50]
        else:
            qs = case
        plan = qs.explain(analyze=True) if not name.startswith("count") else _count_plan(qs)
        access = sorted(
            {m for m in re.findall(r"((?:Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)[^(]*)", plan)}
        )
        time_ms = re.search(r"Execution Time: ([\d.]+) ms", plan).group(1)
        print(f"| {name} | {'; '.join(a.strip() for a in access)} | {time_ms} |")
    return 0


def _count_plan(qs) -> str:
    # EXPLAIN the exact SQL Django sends for .count().
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        qs.count()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN ANALYZE " + queries[-1]["sql"])
        return "\n".join(row[0] for row in cursor.fetchall())


if __name__ == "__main__":
    sys.exit(main())
