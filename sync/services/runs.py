"""One sync run from start to finish: the modes, the SyncRun record and the outcome.

The management command is only an interface to :func:`sync_execute`: it parses
options, takes the lock, calls this and maps the outcome to an exit code.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connections, router
from django.utils import timezone

from catalog.cache import catalog_products_changed, catalog_version_bump
from catalog.models import Product
from common.cache import cache_get, cache_set
from sync.models import SyncMode, SyncRun, SyncStatus
from sync.services.categories import categories_sync
from sync.services.context import SyncContext
from sync.services.guard import DeletionGuard, DeletionRefused
from sync.services.isolation import DatabaseUnavailable, database_lost
from sync.services.paging import FetchedPage
from sync.services.products import products_sync, store_variations_supported
from sync.services.reconcile import products_reconcile_deletions
from sync.services.results import SyncStats, shorten
from sync.services.stock import stock_sync
from sync.woocommerce.client import WooCommerceClient, WooCommerceError
from sync.woocommerce.types import STOCK_FIELDS

logger = logging.getLogger(__name__)

SYNC_LOCK_NAME = "sync_woocommerce"

# Seconds to wait before each try at closing the run record after the database failed mid-run
# (a restart or a failover often takes a few seconds); then the record is left to the next run.
RECORD_RETRY_DELAYS = (0.0, 1.0, 2.0)
# How long the cause of a run that could not be recorded waits in the cache for the next run.
_CAUSE_TIMEOUT_SECONDS = 60 * 24 * 3600
STALE_RUN_SUMMARY = (
    "the process ended without recording a result (killed, the host restarted, or it lost the database "
    "and the cache could not keep the cause)"
)


@dataclass(frozen=True, slots=True)
class SyncOptions:
    mode: str  # a SyncMode value
    per_page: int
    rescan: bool = False  # --all: ignore the incremental watermark
    dry_run: bool = False
    allow_mass_delete: bool = False


@dataclass
class SyncOutcome:
    options: SyncOptions
    status: str
    stats: SyncStats
    started_at: datetime
    finished_at: datetime
    requests: int = 0
    run: SyncRun | None = None
    modified_after: datetime | None = None
    listing_complete: bool = False
    interrupted: bool = False
    deletion_refused: DeletionRefused | None = None
    error: WooCommerceError | None = None
    database_error: str | None = None  # the database failed mid-run: what it said
    database_lost: bool = True  # ... by losing the connection (else a statement outside a page failed)
    recorded: bool = False  # the run record holds this outcome

    @property
    def database_failure(self) -> str:
        return "the database became unavailable" if self.database_lost else "the database failed"

    @property
    def database_line(self) -> str:
        """One line for an operator: the database failed, and where the record stands."""
        if self.database_error is None:
            return ""
        if self.run is None:
            record = "nothing was recorded"
        elif self.recorded:
            record = f"run #{self.run.pk} recorded as failed"
        else:
            record = f"run #{self.run.pk} could not be recorded: the next run closes it"
        return (
            f"{self.database_failure} after {self.stats.pages} pages ({self.database_error}); "
            f"pages written before stay, the next run converges; {record}"
        )

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def error_summary(self) -> str:
        lines = []
        if self.database_error is not None:
            lines.append(f"{self.database_failure} mid-run: {self.database_error}")
        if self.error is not None:
            lines.append(f"{type(self.error).__name__}: {self.error}")
        if self.deletion_refused is not None:
            lines.append(str(self.deletion_refused))
        if self.interrupted:
            lines.append("interrupted by a stop signal: the current page was finished, later pages were not read")
        if self.stats.failed_pages:
            pages = ", ".join(f"{page['endpoint']} page {page['page']}" for page in self.stats.failed_pages[:20])
            more = len(self.stats.failed_pages) - 20
            lines.append(f"failed pages: {pages}" + (f" and {more} more" if more > 0 else ""))
        if self.stats.failed:
            lines.append(f"{self.stats.failed} items could not be written (see failed_items)")
        lines += self.stats.notes
        return "\n".join(lines)


def _cause_key(run_id: int) -> str:
    return f"sync:run-cause:{run_id}"


def sync_runs_abandon_stale(*, now: datetime) -> int:
    """Close 'running' records left by a killed process, or by one that lost the database (its cause,
    kept in the cache, becomes the record's summary). Call only while holding the sync lock."""
    stale = list(SyncRun.objects.filter(status=SyncStatus.RUNNING).values_list("id", flat=True))
    for run_id in stale:
        cause = cache_get(_cause_key(run_id))
        SyncRun.objects.filter(id=run_id, status=SyncStatus.RUNNING).update(
            status=SyncStatus.FAILED,
            finished_at=now,
            error_summary=f"recorded by the next run: {cause}" if isinstance(cause, str) else STALE_RUN_SUMMARY,
        )
    return len(stale)


def sync_watermark_get() -> datetime | None:
    """Where an incremental ``--products`` run starts: the last complete product listing's start, minus the overlap.

    None when no run ever read the whole product listing (the next run scans everything).
    """
    last = (
        SyncRun.objects.filter(mode__in=[SyncMode.PRODUCTS, SyncMode.FULL], listing_complete=True)
        .order_by("-started_at")
        .only("started_at")
        .first()
    )
    if last is None:
        return None
    return last.started_at - timedelta(seconds=settings.SYNC_INCREMENTAL_OVERLAP_SECONDS)


def _next_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0) + timedelta(seconds=1)


def _status(outcome: SyncOutcome) -> str:
    stats = outcome.stats
    if outcome.error is not None or outcome.database_error is not None:
        return SyncStatus.FAILED
    if stats.failed_pages and stats.pages == 0:
        return SyncStatus.FAILED  # nothing could be read at all
    if outcome.interrupted or outcome.deletion_refused or stats.failed_pages or stats.failed or stats.anomalies:
        return SyncStatus.PARTIAL
    return SyncStatus.SUCCEEDED


def _run_modes(*, context: SyncContext, options: SyncOptions, outcome: SyncOutcome) -> None:
    stats, should_stop = context.stats, context.should_stop
    mode = options.mode
    if mode == SyncMode.CATEGORIES:
        categories_sync(context=context)
        return

    store_variations = store_variations_supported(client=context.client)
    if mode == SyncMode.STOCK:
        stock_sync(context=context, store_variations=store_variations)
        return

    if mode == SyncMode.PRODUCTS:
        outcome.modified_after = None if options.rescan else sync_watermark_get()
        listing = products_sync(
            context=context,
            store_variations=store_variations,
            modified_after=outcome.modified_after,
            # Frozen window end; rounded up because WooCommerce compares whole seconds.
            modified_before=_next_second(outcome.started_at) if outcome.modified_after else None,
        )
        outcome.listing_complete = listing.complete and not should_stop()
        return

    # --full: categories, then products and variations, then deletions.
    try:
        categories_sync(context=context)
    except DeletionRefused as refused:
        outcome.deletion_refused = refused  # keep going: products do not depend on it
    if should_stop():
        return
    listing = products_sync(context=context, store_variations=store_variations)
    outcome.listing_complete = listing.complete and not should_stop()
    if not outcome.listing_complete:
        stats.notes.append("deletions were not reconciled: the product listing was incomplete")
        return
    stats.add(products_reconcile_deletions(context=context, listed_ids=listing.seen_ids))


@contextmanager
def _page_commits_unflushed() -> Iterator[None]:
    """On PostgreSQL, the run's page commits do not wait for their WAL flush (``synchronous_commit = off``).

    A page commit of a re-sync otherwise waits for the disk more than for anything else. The mirror is
    rebuilt from the store: a crash loses at most the last fraction of a second of pages, whose rows keep
    their old ``sync_hash`` and are written again by the next run. The run record is committed with the
    default setting, and the WAL is flushed in order, so a run recorded as finished has all its pages on disk.
    """
    connection = connections[router.db_for_write(Product)]
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        except DatabaseError:
            pass  # the connection is lost (a new one starts with the default) or its transaction aborted


def sync_execute(
    *,
    options: SyncOptions,
    client: WooCommerceClient,
    should_stop: Callable[[], bool] = lambda: False,
    on_page: Callable[[FetchedPage], None] | None = None,
) -> SyncOutcome:
    """Run one sync and record it.

    The caller holds the sync lock unless ``options.dry_run`` (a dry run reads
    WooCommerce, counts what would change and writes nothing, not even a SyncRun).
    Per-item and per-page failures are counted and the run goes on; a configuration
    error (401/403, unknown route, rejected parameter) or an unreachable store ends
    it ``failed``; a refused mass deletion, failed pages or items, a store that
    contradicts itself (an id listed twice, an empty page before the announced end)
    or a stop request end it ``partial``. Never raises for WooCommerce errors.

    The database failing mid-run ends it ``failed`` with ``database_error`` set; the
    record is closed with that cause when the database answers again within a few
    seconds, else the cause waits in the cache for the next run, which closes the
    record. Raises DatabaseError only when the database fails before the run started.
    """
    started_at = timezone.now()
    outcome = SyncOutcome(
        options=options, status=SyncStatus.RUNNING, stats=SyncStats(), started_at=started_at, finished_at=started_at
    )
    if not options.dry_run:
        abandoned = sync_runs_abandon_stale(now=started_at)
        if abandoned:
            logger.warning("sync: closed %s run record(s) left 'running' by a killed process", abandoned)
        outcome.run = SyncRun.objects.create(
            mode=options.mode,
            status=SyncStatus.RUNNING,
            options=asdict(options),
            started_at=started_at,
            hostname=socket.gethostname()[:255],
            pid=os.getpid(),
        )
    bumper = _CacheBumper(stats=outcome.stats, on_page=on_page, enabled=not options.dry_run, mode=options.mode)
    context = SyncContext(
        client=client,
        stats=outcome.stats,
        per_page=options.per_page,
        synced_at=started_at,
        guard=DeletionGuard(
            max_share=settings.SYNC_MASS_DELETE_MAX_SHARE,
            min_count=settings.SYNC_MASS_DELETE_MIN_COUNT,
            allow=options.allow_mass_delete,
        ),
        dry_run=options.dry_run,
        should_stop=should_stop,
        on_page=bumper,
    )
    try:
        with _page_commits_unflushed():
            _run_modes(context=context, options=options, outcome=outcome)
    except DeletionRefused as refused:
        outcome.deletion_refused = refused
    except WooCommerceError as error:
        logger.error("sync: %s run stopped: %s", options.mode, error)
        outcome.error = error
    except DatabaseUnavailable as error:
        outcome.database_error = str(error)
    except DatabaseError as error:
        # Not a refused item (pages retry those one by one): the connection, or a statement outside a page.
        outcome.database_lost = database_lost(error)
        outcome.database_error = shorten(f"{type(error).__name__}: {_first_line(error)}", 200)
    outcome.interrupted = should_stop()
    outcome.finished_at = timezone.now()
    outcome.requests = client.requests_sent
    outcome.status = _status(outcome)
    if outcome.status == SyncStatus.FAILED and outcome.error is None and outcome.database_error is None:
        # Every page failed: the journal gets one ERROR line, as when the store refused the run outright.
        first = outcome.stats.failed_pages[0]
        logger.error("sync: %s run failed: no page could be read (%s page %s: %s)", options.mode,
                     first["endpoint"], first["page"], first["error"])  # fmt: skip
    if outcome.run is not None:
        _record_or_defer(outcome)
    bumper.finish()
    return outcome


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def _record_or_defer(outcome: SyncOutcome) -> None:
    """Close the run record; if the database is gone, retry a few times, then leave the cause to the next run."""
    assert outcome.run is not None
    connection = connections[router.db_for_write(SyncRun)]
    for delay in RECORD_RETRY_DELAYS:
        time.sleep(delay)
        try:
            if connection.connection is not None and not connection.in_atomic_block and not connection.is_usable():
                connection.close()  # the next query connects again
            _record(outcome)
        except DatabaseError as error:
            if outcome.database_error is None:  # lost at the very end: the pages were all written
                outcome.database_error = shorten(f"{type(error).__name__}: {_first_line(error)}", 200)
                outcome.status = SyncStatus.FAILED
            continue
        outcome.recorded = True
        return
    cached = cache_set(
        _cause_key(outcome.run.pk),
        shorten(f"{outcome.status} at {outcome.finished_at:%Y-%m-%dT%H:%M:%SZ}: {outcome.error_summary}", 1000),
        _CAUSE_TIMEOUT_SECONDS,
    )
    logger.debug("sync: run #%s left running; cause kept in the cache: %s", outcome.run.pk, cached)


# What an incremental run tells the cache a written product row changed (product_upsert_page compares
# a digest of the payload, not column by column: None, unknown).
_CHANGED_FIELDS: dict[str, tuple[str, ...] | None] = {SyncMode.STOCK: STOCK_FIELDS, SyncMode.PRODUCTS: None}


class _CacheBumper:
    """Invalidate the catalog cache after pages that changed rows.

    ``--stock`` and ``--products`` name the products they wrote (``catalog_products_changed``) after
    every page, once it has committed: details are fresh at once, and only the lists that filter or
    sort on what changed are orphaned. ``--full`` and ``--categories`` bump the global version at the
    end and at most every SYNC_CACHE_BUMP_INTERVAL_SECONDS during a long run (pages commit as they go).
    """

    def __init__(
        self, *, stats: SyncStats, on_page: Callable[[FetchedPage], None] | None, enabled: bool, mode: str
    ) -> None:
        self.stats = stats
        self.on_page = on_page
        self.enabled = enabled
        self.per_product = mode in _CHANGED_FIELDS
        self.fields = _CHANGED_FIELDS.get(mode)
        self.bumped_at_changes = 0
        self.last_bump = time.monotonic()

    def __call__(self, page: FetchedPage) -> None:
        if self.on_page is not None:
            self.on_page(page)
        if self.per_product:
            self._products_changed()
            return
        # The global bump needs no ids: kept for the whole run, they grew with the catalog (about 14 MB of
        # the peak RSS of a 200,000-product --full).
        self.stats.products_changed.clear()
        self.stats.parents_changed.clear()
        if time.monotonic() - self.last_bump >= settings.SYNC_CACHE_BUMP_INTERVAL_SECONDS:
            self._bump_if_changed()

    def _products_changed(self) -> None:
        stats = self.stats
        rows, parents = stats.products_changed, stats.parents_changed - stats.products_changed
        stats.products_changed, stats.parents_changed = set(), set()
        if not self.enabled:
            return
        if rows:
            catalog_products_changed(product_ids=rows, fields=self.fields)
        if parents:
            catalog_products_changed(product_ids=parents, fields=())  # only their variations changed
        if stats.changed > self.bumped_at_changes and not rows and not parents:
            catalog_version_bump()  # a change no writer named: everything, to be safe
        self.bumped_at_changes = stats.changed

    def _bump_if_changed(self) -> None:
        if self.enabled and self.stats.changed > self.bumped_at_changes:
            catalog_version_bump()
            self.bumped_at_changes = self.stats.changed
            self.last_bump = time.monotonic()

    def finish(self) -> None:
        if self.per_product:
            self._products_changed()
        else:
            self._bump_if_changed()


def _record(outcome: SyncOutcome) -> None:
    run, stats = outcome.run, outcome.stats
    assert run is not None
    run.status = outcome.status
    run.finished_at = outcome.finished_at
    run.modified_after = outcome.modified_after
    run.listing_complete = outcome.listing_complete
    run.pages = stats.pages
    run.requests = outcome.requests
    run.created = stats.created
    run.updated = stats.updated
    run.unchanged = stats.unchanged
    run.deleted = stats.deleted
    run.failed = stats.failed
    run.skipped = stats.skipped
    run.failed_pages = stats.failed_pages
    run.failed_items = stats.failed_items
    run.error_summary = outcome.error_summary
    run.save()
