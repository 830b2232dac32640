"""What every step of one sync run shares, passed as one typed value instead of keyword dicts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sync.services.guard import DeletionGuard
from sync.services.results import SyncStats
from sync.woocommerce.client import WooCommerceClient

if TYPE_CHECKING:
    from sync.services.paging import FetchedPage


def _never() -> bool:
    return False


@dataclass(frozen=True, slots=True)
class SyncContext:
    """One run's client, page size, clock, mode and running totals; built once by ``sync_execute``.

    ``stats`` belongs to the thread that runs the services: the prefetch thread of a listing
    hands what it found (pages, failed pages, unparsable items) over in the page it returns and
    never touches ``stats`` itself, so no count is lost between threads.
    """

    client: WooCommerceClient
    stats: SyncStats
    per_page: int
    synced_at: datetime  # the run's start: every row it writes carries it
    guard: DeletionGuard
    dry_run: bool = False
    should_stop: Callable[[], bool] = _never  # a stop signal arrived: finish the page, read no more
    on_page: Callable[[FetchedPage], None] | None = None  # after each listing page is written
