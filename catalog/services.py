"""Catalog operations behind the API: the product detail with its two live hooks.

``product_detail_get`` is the single entry point of the product detail, with two hooks that
read WooCommerce:

* ``product_fetch_missing`` — the on-demand product: a product unknown locally is fetched from
  WooCommerce, stored and returned (a WooCommerce 404 is remembered briefly).
* ``product_stock_live_refresh`` — ``?real_time_stock=true``: fetch the current stock within a
  short time budget, store it, and say where the figures come from.

Why a hook (``LiveSource``) rather than an import: packages depend one way, ``sync`` ->
``catalog`` -> ``common``, and only ``sync`` speaks to WooCommerce. ``catalog`` therefore
declares what it needs from a live source (the Protocol below) and ``sync`` provides it,
registered by ``sync.apps.SyncConfig.ready()``. Moving the composing endpoints to a layer above
both packages would also remove the back-arrow, but it would move the product detail view and
its error mapping out of ``catalog/apis.py`` for two function calls; the hook changes no view and
keeps the detail in one place. The queue's endpoints (staff writes, webhooks) follow the same
rule: they live in ``sync`` (or above), never in ``catalog``.

Without a registered source (``catalog`` installed alone) the mirror answers by itself: an
unknown product is a 404 and live stock reports the local figures with the reason
``"no live source"``.

The rendered, cached responses of the endpoints are built in ``catalog.presentation`` and
warmed by ``catalog.warmup``: nothing here imports a serializer or a renderer.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from django.db import DatabaseError, connection

from catalog import selectors
from catalog.models import Product
from catalog.selectors import product_get

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiveStock:
    """What a live source says about one product's stock (its figures are already stored)."""

    source: Literal["live", "local"]
    fetched_at: datetime.datetime | None  # when WooCommerce answered (live), else None
    reason: str = ""  # why the figures are local: "timeout", "circuit open", "error", "not found"


class LiveSource(Protocol):
    """What the catalog asks of WooCommerce on a request's path; provided by ``sync``."""

    def product_fetch(self, *, product_id: int | None, slug: str | None) -> int | None:
        """Fetch and store a product the mirror lacks; its id, or None when WooCommerce has none.

        Raises ``CatalogUnavailable`` when WooCommerce cannot be asked.
        """
        ...

    def product_stock_fetch(self, *, product_id: int, variable: bool) -> LiveStock:
        """Fetch and store one product's current stock within a short budget; never raises."""
        ...


_live_source: LiveSource | None = None


def live_source_register(source: LiveSource | None) -> None:
    """Wire the live source (``SyncConfig.ready()`` does, once per process); None unwires it."""
    global _live_source  # set once at start-up, like a signal receiver
    _live_source = source


@dataclass(frozen=True)
class ProductDetail:
    product: Product  # with ``categories`` and ``public_variations`` prefetched
    stock_source: Literal["live", "local"]
    synced_at: datetime.datetime | None  # when WooCommerce answered (live), or when the sync wrote the row (local)
    stock_note: str = ""  # why the figures are local: "timeout", "circuit open", "error", "not found"


class CatalogUnavailable(Exception):
    """A product the mirror lacks could not be looked up in WooCommerce (slow, failing, circuit open)."""


class CatalogNotFound(Exception):
    """The product or category asked for does not exist or is not public (the API's 404)."""

    def __init__(self, kind: Literal["product", "category"]) -> None:
        super().__init__(kind)
        self.kind = kind


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
    """The on-demand product: one the mirror does not have at all is fetched from WooCommerce.

    A product the mirror knows but does not publish (draft, trash, deleted) is not asked for:
    the scheduled sync keeps it current. Returns the stored product if it is public, else None
    (a WooCommerce 404 is remembered for ``ON_DEMAND_NOT_FOUND_CACHE_SECONDS``). Raises
    CatalogUnavailable when WooCommerce cannot be asked (our 503, never cached).
    """
    if _live_source is None or selectors.product_known(product_id=product_id, slug=slug):
        return None
    stored_id = _live_source.product_fetch(product_id=product_id, slug=slug)
    return None if stored_id is None else product_get(product_id=stored_id)


def product_stock_live_refresh(*, product: Product) -> ProductDetail:
    """``real_time_stock=true``: the product's and its variations' stock read from WooCommerce
    within ``LIVE_STOCK_TIMEOUT_SECONDS``, stored, and marked ``live``; when WooCommerce is slow,
    failing or its circuit is open, the local figures marked ``local`` with the reason.
    """
    if _live_source is None:
        live = LiveStock(source="local", fetched_at=None, reason="no live source")
    else:
        live = _live_source.product_stock_fetch(product_id=product.id, variable=product.type == "variable")
    if live.source == "live":
        refreshed = product_get(product_id=product.id) or product
        return ProductDetail(product=refreshed, stock_source="live", synced_at=live.fetched_at)
    return ProductDetail(product=product, stock_source="local", synced_at=product.synced_at, stock_note=live.reason)


# Newer versions win; a fragment of another shape (another build of the code) is replaced.
_FRAGMENTS_UPSERT = """
INSERT INTO catalog_productlistfragment AS f (product_id, version, shape, body)
SELECT id, version, %s, body FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS given(id, version, body)
ON CONFLICT (product_id) DO UPDATE SET version = EXCLUDED.version, shape = EXCLUDED.shape, body = EXCLUDED.body
WHERE f.version < EXCLUDED.version OR f.shape <> EXCLUDED.shape
"""


def product_list_fragments_store(*, fragments: Iterable[tuple[int, int, str]], shape: str) -> int:
    """Store rendered list fragments ``(product_id, list_version, body)`` of ``shape`` (PostgreSQL, 1 query).

    Race-safe without locks of its own: a fragment is used only while its version is the product's, so
    storing one that is already stale is harmless, and an older version never replaces a newer one.
    Rows are written in id order, so two requests storing overlapping pages cannot deadlock. Outside a
    transaction a database error is logged and swallowed (the page was rendered anyway; the next request
    renders again); inside one it propagates, since the transaction is broken. Returns how many were given.
    """
    ordered = sorted(fragments)
    if not ordered:
        return 0
    params = (shape, [f[0] for f in ordered], [f[1] for f in ordered], [f[2] for f in ordered])
    try:
        with connection.cursor() as cursor:
            cursor.execute(_FRAGMENTS_UPSERT, params)
    except DatabaseError as exc:
        if connection.in_atomic_block:
            raise
        logger.warning("list fragments not stored: %s", exc)
    return len(ordered)


def product_list_fragments_prune(*, shape: str) -> int:
    """Delete the fragments that can no longer be served: of another shape, or of a product that is gone
    or not public (1 query; PostgreSQL). Returns how many were deleted."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM catalog_productlistfragment f WHERE f.shape <> %s OR NOT EXISTS ("
            "SELECT 1 FROM catalog_product p WHERE p.id = f.product_id AND p.status = 'publish' "
            "AND p.deleted_at IS NULL)",
            [shape],
        )
        return cursor.rowcount
