"""The background fetch thread hands its results over: only the consuming thread touches ``SyncStats``.

A count lost between threads does not show in any one run (``+=`` from two threads loses an
increment only when they interleave), so these tests pin the cause instead: every change to the
run's stats is made on the thread that consumes the pages, and the totals match what the store
answered.
"""

from __future__ import annotations

import threading

import pytest

from sync.models import SyncMode
from sync.services import runs
from sync.services.results import SyncStats
from sync.services.runs import SyncOptions, sync_execute
from sync.woocommerce.client import WooCommerceClient


class ThreadNotingStats(SyncStats):
    """SyncStats that notes the name of every thread that changes it."""

    def _note(self) -> None:
        self.__dict__.setdefault("writers", set()).add(threading.current_thread().name)

    def __setattr__(self, name: str, value: object) -> None:
        self._note()
        super().__setattr__(name, value)

    def page_failed(self, **kwargs) -> None:
        self._note()
        super().page_failed(**kwargs)

    def item_failed(self, failure) -> None:
        self._note()
        super().item_failed(failure)

    def anomaly(self, note: str) -> None:
        self._note()
        super().anomaly(note)


@pytest.fixture
def noting_stats(monkeypatch):
    monkeypatch.setattr(runs, "SyncStats", ThreadNotingStats)


def sync(mode: str, *, per_page: int = 10):
    # No retries: an injected fault is a failed page at once.
    with WooCommerceClient.from_settings(max_retries=0, timeout=5.0) as client:
        return sync_execute(options=SyncOptions(mode=mode, per_page=per_page, rescan=True), client=client)


@pytest.mark.django_db
def test_failed_listing_pages_are_counted_by_the_consuming_thread(make_sandbox, noting_stats):
    # given a store without the store-wide variations endpoint (each page's variations are fetched on
    # the prefetch thread too) whose product listing fails some pages
    server = make_sandbox(products=120, variable_share=0.3, seed=83, store_variations=False)
    server.set_faults(rate=0.3, kinds=("500",), seed=5, paths=r"/products$")

    outcome = sync(SyncMode.PRODUCTS)

    stats = outcome.stats
    assert stats.writers == {threading.current_thread().name}
    assert stats.failed_pages, "the seed is meant to fail some pages"
    # every listing request answered is a page read, every one refused a failed page: none lost
    listing_requests = server.stats["by_endpoint"]["GET products"]
    assert stats.pages + len(stats.failed_pages) == listing_requests
    assert len(stats.failed_pages) == server.stats["faults_injected"]


@pytest.mark.django_db
def test_per_parent_variation_stock_failures_are_counted_by_the_consuming_thread(make_sandbox, noting_stats):
    # given a mirrored store without the store-wide variations endpoint
    server = make_sandbox(products=60, variable_share=0.5, seed=89, store_variations=False)
    assert sync(SyncMode.FULL).status == "succeeded"
    parents = sorted(pid for pid, product in server.catalog.products.items() if product["type"] == "variable")
    # one parent's variations cannot be read, another's first variation carries a price that does not parse
    broken_parent, hostile_parent = parents[1], parents[-1]
    hostile_variation = server.catalog.products[hostile_parent]["variations"][0]
    server.catalog.variations[hostile_variation]["regular_price"] = "NaN"
    server.set_faults(rate=1.0, kinds=("500",), paths=rf"/products/{broken_parent}/variations$")

    outcome = sync(SyncMode.STOCK)

    stats = outcome.stats
    assert stats.writers == {threading.current_thread().name}
    assert [(page["endpoint"], page["page"]) for page in stats.failed_pages] == [
        (f"products/{broken_parent}/variations", 1)
    ]
    assert stats.failed == 1
    assert stats.failed_items[0]["id"] == hostile_variation
