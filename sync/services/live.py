"""WooCommerce reads made on behalf of an API request: live stock and on-demand products.

Both sit in a request's path, so both are bounded: a short timeout and no retries,
a per-product cache of the last answer, and one circuit breaker (shared by all web
workers through the cache) that stops calling WooCommerce for a while after
repeated failures. When WooCommerce is slow or down, the caller answers from the
mirror instead.

``WooCommerceLiveSource`` is the catalog's ``LiveSource`` hook (``catalog.services``): the
catalog declares what it needs and this module provides it, so ``catalog`` never imports
``sync``. ``SyncConfig.ready()`` registers it.
"""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from functools import lru_cache

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from catalog.cache import catalog_products_changed
from catalog.models import Product, ProductVariation
from catalog.services import CatalogUnavailable, LiveStock
from common.cache import cache_get, cache_set
from common.circuit import CircuitBreaker
from sync.services.isolation import WRITE_ERRORS, database_lost
from sync.services.products import (
    PRODUCTS,
    VARIATIONS_PER_PARENT_PAGE,
    product_records_parse,
    product_upsert_page,
    variation_records_parse,
)
from sync.services.stock import stock_apply_page, stock_records_parse
from sync.woocommerce.client import WooCommerceClient, WooCommerceError, WooCommerceNotFound, WooCommerceTimeout
from sync.woocommerce.types import STOCK_API_FIELDS, STOCK_FIELDS

logger = logging.getLogger(__name__)

_STOCK_FIELDS_PARAM = ",".join(STOCK_API_FIELDS)


def _breaker() -> CircuitBreaker:
    return CircuitBreaker(
        name="woocommerce-live",
        failure_threshold=settings.LIVE_WOOCOMMERCE_CIRCUIT_FAILURES,
        open_seconds=settings.LIVE_WOOCOMMERCE_CIRCUIT_OPEN_SECONDS,
    )


@lru_cache(maxsize=4)
def _client(url: str, key: str, secret: str, timeout: float) -> WooCommerceClient:
    # One pooled client per process (and per configuration): keep-alive to the store
    # across requests. No retries: a retry would blow the request's time budget.
    return WooCommerceClient.from_settings(
        url=url,
        consumer_key=key,
        consumer_secret=secret,
        timeout=timeout,
        connect_timeout=min(settings.WOOCOMMERCE_CONNECT_TIMEOUT, timeout),
        max_retries=0,
        pool_maxsize=8,
    )


def live_client(*, timeout: float) -> WooCommerceClient:
    return _client(
        settings.WOOCOMMERCE_URL, settings.WOOCOMMERCE_CONSUMER_KEY, settings.WOOCOMMERCE_CONSUMER_SECRET, timeout
    )


def _live_stock_key(product_id: int) -> str:
    return f"live-stock:{product_id}"


def product_stock_live_fetch(*, product_id: int, variable: bool) -> LiveStock:
    """Refresh the stock and prices of one product (and its variations) from WooCommerce.

    Within ``LIVE_STOCK_TIMEOUT_SECONDS`` in total: the product and its variations are
    asked for at the same time, with no retries. Changed figures are written to the
    mirror (one small transaction per table). A product refreshed less than
    ``LIVE_STOCK_CACHE_SECONDS`` ago is not asked for again (the mirror already holds
    that live answer). Never raises for WooCommerce errors: they are logged and the
    result says ``local`` with the reason; repeated failures open the circuit breaker.
    """
    cached = cache_get(_live_stock_key(product_id))
    if cached is not None:
        return LiveStock(source="live", fetched_at=cached)
    breaker = _breaker()
    if breaker.is_open():
        return LiveStock(source="local", fetched_at=None, reason="circuit open")

    budget = settings.LIVE_STOCK_TIMEOUT_SECONDS
    client = live_client(timeout=budget)
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="live-stock")
    try:
        product_future = pool.submit(client.get, f"{PRODUCTS}/{product_id}", {"_fields": _STOCK_FIELDS_PARAM})
        futures = [product_future]
        if variable:
            variations_future = pool.submit(
                client.get,
                f"{PRODUCTS}/{product_id}/variations",
                {"_fields": _STOCK_FIELDS_PARAM, "per_page": VARIATIONS_PER_PARENT_PAGE},
            )
            futures.append(variations_future)
        done, pending = wait(futures, timeout=budget, return_when=FIRST_EXCEPTION)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a late answer is dropped, not waited for

    errors = [future.exception() for future in done if future.exception() is not None]
    if any(isinstance(error, WooCommerceNotFound) for error in errors):
        return LiveStock(source="local", fetched_at=None, reason="not found")
    if errors or pending:
        breaker.record_failure()
        # The client's read timeout equals the budget, so a timeout may surface as either.
        reason = "timeout" if not errors or all(isinstance(e, WooCommerceTimeout) for e in errors) else "error"
        logger.warning(
            "live stock of product %s: %s", product_id, errors[0] if errors else f"no answer within {budget:.1f}s"
        )
        return LiveStock(source="local", fetched_at=None, reason=reason)
    product_data = product_future.result().data
    variations_data = futures[1].result().data if variable else []
    breaker.record_success()

    fetched_at = timezone.now()
    products, failures = stock_records_parse([product_data], resource="product")
    variations, variation_failures = stock_records_parse(
        variations_data if isinstance(variations_data, list) else [], resource="variation"
    )
    for failure in failures + variation_failures:
        logger.warning(
            "live stock of product %s: %s %s: %s", product_id, failure.resource, failure.item_id, failure.error
        )
    try:
        written = stock_apply_page(model=Product, records=products, synced_at=fetched_at)
        variations_written = stock_apply_page(model=ProductVariation, records=variations, synced_at=fetched_at)
    except WRITE_ERRORS as error:
        if isinstance(error, DatabaseError) and database_lost(error):
            raise
        logger.warning("live stock of product %s: the database refused it: %s", product_id, error)
        return LiveStock(source="local", fetched_at=None, reason="error")
    # Its cached answers (and the lists filtering on what changed) follow the mirror; the writes committed.
    if written.products_changed:
        catalog_products_changed(product_ids=written.products_changed, fields=STOCK_FIELDS)
    elif variations_written.parents_changed:
        catalog_products_changed(product_ids=variations_written.parents_changed, fields=())
    cache_set(_live_stock_key(product_id), fetched_at, settings.LIVE_STOCK_CACHE_SECONDS)
    return LiveStock(source="live", fetched_at=fetched_at)


# --- on-demand products -----------------------------------------------------------


class WooCommerceUnreachable(Exception):
    """WooCommerce could not be asked (timeout, error, open circuit): the answer is unknown."""


def _missing_key(reference: str) -> str:
    return f"on-demand:missing:{reference}"


def product_fetch_on_demand(*, product_id: int | None = None, slug: str | None = None) -> int | None:
    """Fetch a product the mirror does not have from WooCommerce, store it, and return its id.

    By id (``GET products/<id>``) or by slug (``GET products?slug=``), with its
    variations, written with the sync's page service in one transaction. Returns None
    when WooCommerce does not have it, or sends it in a form that cannot be stored (the
    sync names such an item in its run record); that answer is remembered for
    ``ON_DEMAND_NOT_FOUND_CACHE_SECONDS`` so bad ids cannot hammer WooCommerce.
    Raises WooCommerceUnreachable on timeout, error or an open circuit (not remembered).
    """
    reference = f"id:{product_id}" if product_id is not None else f"slug:{slug}"
    if cache_get(_missing_key(reference)) is not None:
        return None
    breaker = _breaker()
    if breaker.is_open():
        raise WooCommerceUnreachable("circuit open")
    client = live_client(timeout=settings.ON_DEMAND_TIMEOUT_SECONDS)
    try:
        if product_id is not None:
            items = [client.get(f"{PRODUCTS}/{product_id}").data]
        else:
            items = client.get(PRODUCTS, {"slug": slug, "status": "any", "per_page": 1}).data
        records, failures = product_records_parse(items if isinstance(items, list) else [])
        variation_items = []
        if records and records[0].type == "variable":
            variation_items = client.get(
                f"{PRODUCTS}/{records[0].id}/variations", {"per_page": VARIATIONS_PER_PARENT_PAGE}
            ).data
    except WooCommerceNotFound:
        breaker.record_success()
        cache_set(_missing_key(reference), True, settings.ON_DEMAND_NOT_FOUND_CACHE_SECONDS)
        return None
    except WooCommerceError as error:
        breaker.record_failure()
        logger.warning("on-demand product %s: %s", reference, error)
        raise WooCommerceUnreachable(str(error)) from None
    breaker.record_success()
    if failures:
        logger.warning("on-demand product %s: unusable payload: %s", reference, failures[0].error)
    if not records or records[0].type == "variation":  # products/<id> also answers for a variation id
        cache_set(_missing_key(reference), True, settings.ON_DEMAND_NOT_FOUND_CACHE_SECONDS)
        return None
    record = records[0]
    variations, _ = variation_records_parse(
        variation_items if isinstance(variation_items, list) else [], product_id=record.id
    )
    try:
        written = product_upsert_page(records=[record], variations=variations, synced_at=timezone.now())
    except WRITE_ERRORS as error:
        if isinstance(error, DatabaseError) and database_lost(error):
            raise  # the API's database-outage answer, not this product's
        # A value the parser let through but the database refuses: this product is unusable until the
        # store fixes it, so it is answered and remembered like one WooCommerce does not have.
        logger.warning("on-demand product %s: the database refused it: %s", reference, error)
        cache_set(_missing_key(reference), True, settings.ON_DEMAND_NOT_FOUND_CACHE_SECONDS)
        return None
    if written.products_changed:  # new to the mirror (the write committed): the lists that would list it
        catalog_products_changed(product_ids=written.products_changed, fields=None)
    logger.info("on-demand product %s stored as #%s", reference, record.id)
    return record.id


class WooCommerceLiveSource:
    """The catalog's ``LiveSource``: the two functions above, in the catalog's terms."""

    def product_fetch(self, *, product_id: int | None, slug: str | None) -> int | None:
        try:
            return product_fetch_on_demand(product_id=product_id, slug=slug)
        except WooCommerceUnreachable as exc:
            raise CatalogUnavailable(str(exc)) from None

    def product_stock_fetch(self, *, product_id: int, variable: bool) -> LiveStock:
        return product_stock_live_fetch(product_id=product_id, variable=variable)
