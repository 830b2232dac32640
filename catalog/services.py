"""Catalog operations the API calls that may go beyond a plain read.

``product_detail_get`` is the single entry point of the product detail. Two pieces of issue 3
plug into it later, each through one named hook below, without touching the view:

* ``product_fetch_missing`` — the on-demand product: a product unknown locally is fetched from
  WooCommerce, stored and returned (a WooCommerce 404 remembered briefly). Today: returns None.
* ``product_stock_live_refresh`` — ``?real_time_stock=true``: fetch the current stock with a short
  timeout, store it, and say where the figures come from. Today: answers from the local rows,
  marked ``local``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Literal

from catalog.models import Product
from catalog.selectors import product_get


@dataclass(frozen=True)
class ProductDetail:
    product: Product  # with ``categories`` and ``public_variations`` prefetched
    stock_source: Literal["live", "local"]
    synced_at: datetime.datetime | None  # of the local row the figures come from


def product_detail_get(
    *, product_id: int | None = None, slug: str | None = None, real_time_stock: bool = False
) -> ProductDetail | None:
    """Return a public product by id or slug, or None when it does not exist (the API's 404).

    Inputs: exactly one of ``product_id`` / ``slug``. With ``real_time_stock`` the stock figures
    are refreshed through ``product_stock_live_refresh``. Raises nothing of its own; 3 queries when
    the product exists locally.
    """
    product = product_get(product_id=product_id, slug=slug)
    if product is None:
        product = product_fetch_missing(product_id=product_id, slug=slug)
        if product is None:
            return None
    if real_time_stock:
        return product_stock_live_refresh(product=product)
    return ProductDetail(product=product, stock_source="local", synced_at=product.synced_at)


def product_fetch_missing(*, product_id: int | None, slug: str | None) -> Product | None:
    """Hook for the on-demand product (not built yet): a product unknown locally.

    Contract for the implementation: fetch by id from WooCommerce through the client adapter,
    upsert it with the sync's product service, return it with the same prefetches as
    ``selectors.product_get`` (or None on a WooCommerce 404, remembered briefly). Today: None.
    """
    return None


def product_stock_live_refresh(*, product: Product) -> ProductDetail:
    """Hook for ``real_time_stock=true`` (not built yet).

    Contract for the implementation: read the product's (and its variations') stock from
    WooCommerce within the configured timeout, store changed figures, and return them marked
    ``live``; on timeout or an open circuit return the local figures marked ``local``.
    Today: always the local figures, marked ``local``.
    """
    return ProductDetail(product=product, stock_source="local", synced_at=product.synced_at)
