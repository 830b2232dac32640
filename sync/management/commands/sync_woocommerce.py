"""manage.py sync_woocommerce: mirror the WooCommerce catalog into the database.

Run by cron or systemd timers at quiet hours (deploy/), never by the web process.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from contextlib import nullcontext
from types import FrameType
from typing import NoReturn

from django.core.checks import Tags
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from common.commands import DocumentedExitCodesCommand
from common.locks import LockHeld, exclusive_lock
from sync.models import SyncMode, SyncStatus
from sync.services.paging import FetchedPage
from sync.services.runs import SYNC_LOCK_NAME, SyncOptions, SyncOutcome, sync_execute
from sync.woocommerce.client import (
    WooCommerceClient,
    WooCommerceClientError,
    WooCommerceNotFound,
    WooCommerceUnauthorized,
)

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_CONFIGURATION = 4
EXIT_MASS_DELETE_REFUSED = 5
EXIT_INTERRUPTED = 6
EXIT_DATABASE = 7
EXIT_LOCKED = 75  # EX_TEMPFAIL: skipped, another sync holds the lock; try again later

EXIT_CODES_HELP = f"""
exit codes:
  {EXIT_SUCCEEDED}   succeeded
  {EXIT_FAILED}   failed (store unreachable after retries, or an unexpected error)
  {EXIT_USAGE}   usage error (bad options)
  {EXIT_PARTIAL}   partial: some pages or items failed, or the store contradicted itself (named in the run
      record); the rest was written
  {EXIT_CONFIGURATION}   WooCommerce refused the credentials or the request (check WOOCOMMERCE_URL, key, secret,
      the key's read permission, a WAF), or a WOOCOMMERCE_* setting is unusable: nothing was written
  {EXIT_MASS_DELETE_REFUSED}   a deletion beyond SYNC_MASS_DELETE_MAX_SHARE was refused (rerun with --allow-mass-delete
      if it is real); everything else was written
  {EXIT_INTERRUPTED}   stopped by SIGTERM/SIGINT after finishing its current page (recorded as partial)
  {EXIT_DATABASE}   the database became unavailable (before or during the run) or failed outside an item: pages
      written before stay; the run is recorded as failed, or closed by the next run, which converges
  {EXIT_LOCKED}  skipped: another sync_woocommerce is running (not an error for cron)
"""

CONFIGURATION_ERRORS = (WooCommerceUnauthorized, WooCommerceNotFound, WooCommerceClientError)


def batch_size(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if not 1 <= number <= 100:
        raise argparse.ArgumentTypeError("must be between 1 and 100 (WooCommerce's per_page range)")
    return number


class Command(DocumentedExitCodesCommand):
    exit_codes_help = EXIT_CODES_HELP
    # The sync's own checks and the models': the full set also loads the URL configuration (every view and
    # serializer), a quarter of the command's start-up CPU, for a command that serves no URL. The deploy
    # runs ``manage.py check --deploy``.
    requires_system_checks = [Tags.models, "sync"]
    help = (
        "Mirror the WooCommerce catalog into the database. Exactly one mode: --stock (stock and prices of every "
        "product and variation; cron: daily 03:00), --products (products and variations changed since the last "
        "complete run; --all to rescan; cron: weekly, Sunday 02:00), --categories (cron: monthly, 1st 01:00) or "
        "--full (categories, products, variations, then products deleted in WooCommerce; by hand). Each page is "
        "written in one transaction; a bad item is reported and skipped. Only one sync runs at a time."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        modes = parser.add_mutually_exclusive_group(required=True)
        modes.add_argument(
            "--stock",
            action="store_const",
            dest="mode",
            const=SyncMode.STOCK,
            help="Stock and prices only, for every product and variation (does not trust date_modified).",
        )
        modes.add_argument(
            "--products",
            action="store_const",
            dest="mode",
            const=SyncMode.PRODUCTS,
            help="Products and variations modified since the last complete run (incremental).",
        )
        modes.add_argument(
            "--categories",
            action="store_const",
            dest="mode",
            const=SyncMode.CATEGORIES,
            help="The category tree; categories gone from WooCommerce are removed.",
        )
        modes.add_argument(
            "--full",
            action="store_const",
            dest="mode",
            const=SyncMode.FULL,
            help="Categories, all products and variations, then deletion reconciliation.",
        )
        parser.add_argument(
            "--all",
            action="store_true",
            dest="rescan",
            help="With --products: rescan every product instead of the changes since the last run.",
        )
        parser.add_argument(
            "--batch-size",
            type=batch_size,
            default=None,
            metavar="N",
            help="Items per WooCommerce page, 1-100 (default: WOOCOMMERCE_SYNC_BATCH_SIZE, 50).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Read WooCommerce and report what would change; write nothing (not even a run record).",
        )
        parser.add_argument(
            "--allow-mass-delete",
            action="store_true",
            help="With --full or --categories: delete even beyond SYNC_MASS_DELETE_MAX_SHARE.",
        )

    def handle(self, *args, **options) -> None:
        from django.conf import settings

        mode = options["mode"]
        if options["rescan"] and mode != SyncMode.PRODUCTS:
            self._usage_error("--all only applies to --products (--full always rescans)")
        if options["allow_mass_delete"] and mode not in (SyncMode.FULL, SyncMode.CATEGORIES):
            self._usage_error("--allow-mass-delete only applies to --full and --categories")
        sync_options = SyncOptions(
            mode=mode,
            per_page=options["batch_size"] or settings.WOOCOMMERCE_SYNC_BATCH_SIZE,
            rescan=options["rescan"],
            dry_run=options["dry_run"],
            allow_mass_delete=options["allow_mass_delete"],
        )
        stop = threading.Event()
        self._install_signal_handlers(stop)
        progress = _Progress(self) if self.stdout.isatty() else None

        # A dry run writes nothing, not even a run record, so it needs no lock and may run beside a sync.
        lock = nullcontext() if sync_options.dry_run else exclusive_lock(SYNC_LOCK_NAME)
        try:
            client = WooCommerceClient.from_settings()
        except ValueError as error:  # a setting the client cannot work with (its message names it)
            raise CommandError(
                f"sync_woocommerce --{mode}: WooCommerce is misconfigured: {error}. Exit {EXIT_CONFIGURATION}.",
                returncode=EXIT_CONFIGURATION,
            ) from None
        with client:
            try:
                with lock:
                    outcome = sync_execute(
                        options=sync_options, client=client, should_stop=stop.is_set, on_page=progress
                    )
            except LockHeld as held:
                raise CommandError(
                    f"sync_woocommerce --{mode}: skipped, {held}. Exit {EXIT_LOCKED}.", returncode=EXIT_LOCKED
                ) from None
            except DatabaseError as error:  # before the run started: the lock or the run record
                cause = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
                raise CommandError(
                    f"sync_woocommerce --{mode}: the database is unavailable ({cause}); nothing was done. "
                    f"Exit {EXIT_DATABASE}.",
                    returncode=EXIT_DATABASE,
                ) from None

        self._report(outcome)
        code = exit_code(outcome)
        if code != EXIT_SUCCEEDED:
            # Not CommandError: the run's outcome is already reported (the summary on stdout, the cause on
            # stderr: for exit 7 exactly one line, which operators' alerts read), and CommandError would add
            # a "CommandError: ..." line to every partial run. The code is the documented outcome.
            raise SystemExit(code)

    def _usage_error(self, message: str) -> NoReturn:
        raise CommandError(message, returncode=EXIT_USAGE)

    def _install_signal_handlers(self, stop: threading.Event) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread (e.g. not under a test runner thread)

        def request_stop(signum: int, frame: FrameType | None) -> None:
            if stop.is_set() and signum == signal.SIGINT:
                raise KeyboardInterrupt  # second Ctrl-C: abort now; the open page transaction rolls back
            stop.set()
            self.stderr.write(f"{signal.Signals(signum).name} received: finishing the current page, then stopping.")

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    def _report(self, outcome: SyncOutcome) -> None:
        stats = outcome.stats
        verb = "would " if outcome.options.dry_run else ""
        line = (
            f"sync_woocommerce --{outcome.options.mode}: {outcome.status} in {outcome.duration_seconds:.1f}s"
            f" · {stats.pages} pages · {outcome.requests} requests"
            f" · {verb}create {stats.created} · {verb}update {stats.updated} · unchanged {stats.unchanged}"
            f" · {verb}delete {stats.deleted} · failed {stats.failed} · skipped {stats.skipped}"
        )
        if outcome.modified_after is not None:
            line += f" · modified after {outcome.modified_after:%Y-%m-%dT%H:%M:%SZ}"
        if outcome.options.dry_run:
            line += " · dry run: nothing written"
        elif outcome.run is not None:
            line += f" · run #{outcome.run.pk}"
        style = self.style.SUCCESS if outcome.status == SyncStatus.SUCCEEDED else self.style.WARNING
        self.stdout.write(style(line))
        if outcome.database_error is not None:
            # One line: cron mails and the journal show the cause, not a page of chained tracebacks.
            mode = outcome.options.mode
            self.stderr.write(f"sync_woocommerce --{mode}: {outcome.database_line}. Exit {EXIT_DATABASE}.")
        elif outcome.error_summary:
            self.stderr.write(outcome.error_summary)


def exit_code(outcome: SyncOutcome) -> int:
    if outcome.status == SyncStatus.SUCCEEDED:
        return EXIT_SUCCEEDED
    if outcome.database_error is not None:
        return EXIT_DATABASE
    if outcome.error is not None:
        return EXIT_CONFIGURATION if isinstance(outcome.error, CONFIGURATION_ERRORS) else EXIT_FAILED
    if outcome.status == SyncStatus.FAILED:
        return EXIT_FAILED
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    if outcome.deletion_refused is not None:
        return EXIT_MASS_DELETE_REFUSED
    return EXIT_PARTIAL


class _Progress:
    """Progress lines for a person at a terminal: pages, items/s, ETA per listing."""

    def __init__(self, command: BaseCommand) -> None:
        self.command = command
        self.endpoint: str | None = None
        self.started = time.monotonic()
        self.items = 0

    def __call__(self, page: FetchedPage) -> None:
        if page.endpoint != self.endpoint:
            self.endpoint, self.started, self.items = page.endpoint, time.monotonic(), 0
        self.items += len(page.items)
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.items / elapsed
        line = f"  {page.endpoint}: page {page.number}/{page.total_pages or '?'} · {self.items} items · {rate:.0f}/s"
        if page.total and rate > 0:
            remaining = max(page.total - self.items, 0) / rate
            line += f" · ETA {int(remaining // 60)}m{int(remaining % 60):02d}s"
        self.command.stdout.write(line)
