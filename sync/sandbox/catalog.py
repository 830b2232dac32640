"""The sandbox store: a deterministic, realistically messy WooCommerce catalog held in memory.

Products, variations and categories are kept as dicts in WooCommerce REST v3 shape
(``catalog.products[id]`` is what ``GET products/<id>`` returns, minus ``_links``). Every read and write
goes through one re-entrant lock, so the HTTP server's threads, the control endpoints and tests may
mutate the catalog while a client pages through it. Treat the dicts as read-only and change them
through the methods (``edit_product``, ``sell``...), which keep derived fields (``price``, ``on_sale``,
``stock_status``, a variable parent's price and stock) consistent and bump ``date_modified`` the way
WooCommerce does.

:class:`SandboxCatalog` is assembled from one class per concern, each in its own module:
``store`` (state, lock, clock, ids), ``shapes`` (new items), ``derived`` (derived fields),
``generation`` (the seeded catalog), ``queries`` (listing filters), ``payloads`` (items as the API
returns them) and ``mutations`` (edits, sales, trash, deletes, additions). ``values`` holds the constants,
errors and text rules they share.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from .generation import REFERENCE_TIME, CatalogGeneration
from .mutations import CatalogMutations
from .queries import CategoryQuery, ProductQuery
from .values import (
    ANY_STATUSES,
    DEFAULT_SITE_URL,
    DEFAULT_TIMEZONE,
    PRODUCT_STATUSES,
    PRODUCT_TYPES,
    STOCK_STATUSES,
    CatalogError,
    UnknownObject,
    money,
    slugify,
)

if TYPE_CHECKING:
    from .orders import SandboxOrders

__all__ = [
    "ANY_STATUSES",
    "DEFAULT_SITE_URL",
    "DEFAULT_TIMEZONE",
    "PRODUCT_STATUSES",
    "PRODUCT_TYPES",
    "REFERENCE_TIME",
    "STOCK_STATUSES",
    "CatalogError",
    "CategoryQuery",
    "ProductQuery",
    "SandboxCatalog",
    "UnknownObject",
    "money",
    "slugify",
]


class SandboxCatalog(CatalogMutations, CatalogGeneration):
    """In-memory WooCommerce catalog. Build one with :meth:`generate` (seeded) or empty and ``add_*``."""

    @functools.cached_property
    def orders(self) -> SandboxOrders:
        from .orders import SandboxOrders

        return SandboxOrders(self)

    def create_order(self, **fields: object) -> dict:
        """A paid order selling stock atomically; see :meth:`sync.sandbox.orders.SandboxOrders.create`."""
        return self.orders.create(**fields)  # type: ignore[arg-type]
