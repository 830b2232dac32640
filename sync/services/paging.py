"""Reading a WooCommerce listing page by page, one page ahead of the writer.

The store, not our database, is the slow side of a sync (a real WooCommerce answers
100 products in about half a second), so the next page is fetched in a background
thread while the current one is written. Pages are requested with
``orderby=id&order=asc`` so they stay stable while the store changes, items already
seen are dropped, and a page that still fails after the client's retries is recorded
and skipped: the run goes on and ends ``partial`` with the page named.

A page that fails with a gateway error (502/504) or a timeout is first read again as
smaller pages covering the same items: a store at its PHP time limit often serves 50
products in two pages of 25 where one page of 50 times out (woocommerce-rest-api#243).

``X-WP-TotalPages`` is believed only up to the first empty page (a store, or a cache in
front of it, announcing a million pages of nothing must not be read for hours), and an
id listed twice is noted: both end the run partial, and the listing counts as incomplete
(no deletion is reconciled from it, the incremental watermark does not advance).
"""

from __future__ import annotations

import logging
import math
import threading
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sync.services.results import SyncStats
from sync.woocommerce.client import (
    Page,
    WooCommerceBadResponse,
    WooCommerceClient,
    WooCommerceRateLimited,
    WooCommerceTimeout,
    WooCommerceUnavailable,
)
from sync.woocommerce.types import item_id_or_none

if TYPE_CHECKING:
    from sync.services.context import SyncContext

logger = logging.getLogger(__name__)

# Failures worth skipping a page for; anything else (401, 404 route, 400) is a
# configuration problem that would fail every page, so it ends the run.
TRANSIENT_ERRORS = (WooCommerceTimeout, WooCommerceUnavailable, WooCommerceRateLimited, WooCommerceBadResponse)

# Worth reading a page again in smaller pieces: the store (or the proxy in front) gave up on its size.
SHRINK_STATUSES = frozenset({502, 504})
# 50 -> 25 -> 5: two levels bound what a store that is simply down costs before the page is given up.
SHRINK_LEVELS = 2

# Pages in a row that fail after retries (and shrinking) before the listing is given up: the store is
# down, and reading on would cost every remaining page its full retry budget.
MAX_FAILED_PAGES_IN_A_ROW = 3

# A listing without X-WP-TotalPages stops at a short page; this bounds it anyway.
MAX_PAGES_WITHOUT_TOTAL = 100_000

STABLE_ORDER = {"orderby": "id", "order": "asc"}


@dataclass(frozen=True, slots=True)
class FetchedPage:
    endpoint: str
    number: int
    total_pages: int | None
    total: int | None
    items: list[Any]  # objects, except for hostile entries that fail alone when parsed
    # The raw variations of the page's variable products by product id, when the listing was asked to
    # fetch them (stores without the store-wide variations endpoint); None otherwise.
    variations_by_parent: dict[int, list[Any]] | None = None


@dataclass(frozen=True, slots=True)
class PageFailure:
    """A page (or a request standing for one) that failed after the client's retries and shrinking."""

    endpoint: str
    number: int
    error: str

    def record(self, stats: SyncStats) -> None:
        stats.page_failed(endpoint=self.endpoint, page=self.number, error=self.error)


T = TypeVar("T")


class BackgroundFetch(Generic[T]):
    """``fetch(number)`` run on a daemon thread (so SIGTERM never waits on a slow store).

    The thread only fetches and parses: whatever it learns travels in its result, which the
    consuming thread records (run totals are never changed from two threads).
    """

    def __init__(self, fetch: Callable[[int], T], number: int) -> None:
        self.number = number
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fetch,), daemon=True, name=f"prefetch-{number}")
        self._thread.start()

    def _run(self, fetch: Callable[[int], T]) -> None:
        try:
            self._result = fetch(self.number)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer thread, which re-raises it
            self._error = error

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]  # set by the finished thread


class Listing:
    """Iterate over every page of ``endpoint``; afterwards, tell whether the listing was complete.

    ``fetch_variations(items)`` runs on the fetching thread after each page (the variations of the
    page's variable products, from a store without the store-wide endpoint); its result travels in
    ``FetchedPage.variations_by_parent``. ``stats`` is changed only by the thread iterating.
    """

    @classmethod
    def in_run(
        cls,
        context: SyncContext,
        *,
        endpoint: str,
        params: Mapping[str, Any] | None = None,
        fetch_variations: Callable[[list[Any]], dict[int, list[Any]]] | None = None,
    ) -> Listing:
        """The listing of ``endpoint`` with the run's client, page size, totals and stop signal."""
        return cls(
            client=context.client,
            endpoint=endpoint,
            per_page=context.per_page,
            stats=context.stats,
            params=params,
            should_stop=context.should_stop,
            fetch_variations=fetch_variations,
        )

    def __init__(
        self,
        *,
        client: WooCommerceClient,
        endpoint: str,
        per_page: int,
        stats: SyncStats,
        params: Mapping[str, Any] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        fetch_variations: Callable[[list[Any]], dict[int, list[Any]]] | None = None,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.per_page = per_page
        self.stats = stats
        self.params = {**STABLE_ORDER, **(params or {})}
        self.should_stop = should_stop
        self.fetch_variations = fetch_variations
        self.seen_ids = IdSet()
        self.failed_pages: list[int] = []
        self.total: int | None = None
        self.total_pages: int | None = None
        self.interrupted = False
        self.finished = False
        self.duplicates = 0
        self.cut_short = False  # an empty page came before the announced last page

    @property
    def complete(self) -> bool:
        """Every page read without failure or interruption, and no item lost to page drift."""
        if not self.finished or self.failed_pages or self.interrupted or self.cut_short or self.duplicates:
            return False
        return self.total is None or len(self.seen_ids) >= self.total

    def _fetch(self, number: int) -> FetchedPage | PageFailure:
        """Runs on the prefetch thread: reads, and changes nothing but what it returns."""
        try:
            page = self._page_get(number, self.per_page, levels=SHRINK_LEVELS)
            variations = self.fetch_variations(page.items) if self.fetch_variations is not None and page.items else None
        except TRANSIENT_ERRORS as error:
            logger.warning("sync: page %s of %s failed after retries: %s", number, self.endpoint, error)
            return PageFailure(endpoint=self.endpoint, number=number, error=str(error))
        return FetchedPage(
            endpoint=self.endpoint,
            number=number,
            total_pages=page.total_pages,
            total=page.total,
            items=page.items,
            variations_by_parent=variations,
        )

    def _page_get(self, number: int, per_page: int, *, levels: int) -> Page:
        """Page ``number`` of ``per_page`` items; after a 502/504 or a timeout, the same items in smaller pages."""
        try:
            return self.client.get_page(self.endpoint, page=number, per_page=per_page, params=self.params)
        except (WooCommerceTimeout, WooCommerceUnavailable) as error:
            smaller = _smaller_page_size(per_page)
            shrinkable = isinstance(error, WooCommerceTimeout) or error.status in SHRINK_STATUSES
            if not shrinkable or levels == 0 or smaller is None:
                raise
            logger.warning(
                "sync: page %s of %s (%s per page) failed after retries (%s); reading it again %s at a time",
                number,
                self.endpoint,
                per_page,
                error,
                smaller,
            )
        pieces = per_page // smaller
        items: list[dict] = []
        total: int | None = None
        for piece in range((number - 1) * pieces + 1, number * pieces + 1):
            part = self._page_get(piece, smaller, levels=levels - 1)
            items += part.items
            total = part.total if part.total is not None else total
            if len(part.items) < smaller:
                break  # the end of the listing
        total_pages = math.ceil(total / per_page) if total is not None else None
        return Page(self.endpoint, number, per_page, items, total, total_pages)

    def _next_number(self, number: int, page: FetchedPage | None) -> int | None:
        if page is not None and page.total_pages is not None:
            self.total_pages = page.total_pages
            self.total = page.total
        if page is not None and not page.items and self.total_pages is not None and number < self.total_pages:
            self.cut_short = True
            self.stats.anomaly(
                f"{self.endpoint}: page {number} was empty although the store announced {self.total_pages} pages "
                "(X-WP-TotalPages): the listing was read up to there"
            )
            return None
        if self.total_pages is not None:
            return number + 1 if number < self.total_pages else None
        if page is None:
            # Without totals, a failed page leaves the end of the listing unknown.
            return None if number == 1 else number + 1
        if len(page.items) < self.per_page or number >= MAX_PAGES_WITHOUT_TOTAL:
            return None
        return number + 1

    def _unseen(self, number: int, items: list[Any]) -> list[Any]:
        fresh = []
        repeated = []
        for item in items:
            item_id = item_id_or_none(item)
            if item_id is not None:
                if item_id in self.seen_ids:
                    repeated.append(item_id)
                    continue
                self.seen_ids.add(item_id)
            fresh.append(item)
        if repeated:
            # The page's order shifted under us (an item trashed or restored mid-run) or the store
            # repeats items: some other item may have been skipped, so the listing proves nothing.
            self.duplicates += len(repeated)
            shown = ", ".join(f"#{item_id}" for item_id in repeated[:10])
            self.stats.anomaly(
                f"{self.endpoint}: page {number} listed {shown}{' and more' if len(repeated) > 10 else ''} again "
                "(already read on this page or an earlier one): written once; the listing counts as incomplete"
            )
        return fresh

    def __iter__(self) -> Iterator[FetchedPage]:
        pending: BackgroundFetch[FetchedPage | PageFailure] | None = BackgroundFetch(self._fetch, 1)
        failed_in_a_row = 0
        while pending is not None:
            number = pending.number
            fetched = pending.result()
            page = fetched if isinstance(fetched, FetchedPage) else None
            if isinstance(fetched, PageFailure):
                fetched.record(self.stats)
                self.failed_pages.append(number)
            self.stats.pages += page is not None
            failed_in_a_row = 0 if page is not None else failed_in_a_row + 1
            fresh = self._unseen(number, page.items) if page is not None else []
            next_number = self._next_number(number, page)
            if next_number is not None and page is not None and page.items and not fresh:
                # Only items already read: a store (or a cache) that ignores ``page`` would repeat it forever.
                self.cut_short = True
                self.stats.anomaly(
                    f"{self.endpoint}: page {number} held only items already read: the listing was read up to there"
                )
                next_number = None
            if page is None and number == 1 and self.total_pages is None:
                break  # the first page tells how many follow; without it the listing is lost
            if failed_in_a_row >= MAX_FAILED_PAGES_IN_A_ROW and next_number is not None:
                self.stats.notes.append(
                    f"stopped reading {self.endpoint} at page {number}: {failed_in_a_row} pages in a row failed "
                    "(the store looks down); the rest of the listing was not read"
                )
                break
            if next_number is not None and self.should_stop():
                self.interrupted = True
                next_number = None
            pending = BackgroundFetch(self._fetch, next_number) if next_number is not None else None
            if page is not None:
                yield replace(page, items=fresh)
            if pending is not None and self.should_stop():
                self.interrupted = True
                break
        else:
            self.finished = not self.interrupted


class IdSet(Set[int]):
    """The ids a listing returned, in 8 bytes each where a ``set`` takes about 60.

    Listings are read in id order, so ids normally arrive ascending: those go to a sorted array
    (membership by bisection). An id at or below the largest one seen (a store that ignores the
    order, or an item that moved) goes to an ordinary set beside it, so a hostile order costs what a
    plain set would. A ``--full`` keeps every product id of the store until deletions are reconciled:
    at 200,000 products this is 1.6 MB instead of about 13 MB.
    """

    __slots__ = ("_others", "_sorted")

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._sorted = array("q")
        self._others: set[int] = set()
        for item_id in ids:
            self.add(item_id)

    def add(self, item_id: int) -> None:
        if (not self._sorted or item_id > self._sorted[-1]) and -(2**63) <= item_id < 2**63:
            self._sorted.append(item_id)
            return
        if item_id not in self:
            self._others.add(item_id)

    def __contains__(self, item_id: object) -> bool:
        if isinstance(item_id, int) and self._sorted and self._sorted[0] <= item_id <= self._sorted[-1]:
            index = bisect_left(self._sorted, item_id)
            if self._sorted[index] == item_id:
                return True
        return item_id in self._others

    def __len__(self) -> int:
        return len(self._sorted) + len(self._others)

    def __iter__(self) -> Iterator[int]:
        yield from self._sorted
        yield from self._others


def _smaller_page_size(per_page: int) -> int | None:
    """The largest size that splits a page of ``per_page`` into at least two whole pieces (None for 1)."""
    return next((size for size in range(per_page // 2, 0, -1) if per_page % size == 0), None)
