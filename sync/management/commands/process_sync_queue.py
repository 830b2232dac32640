"""manage.py process_sync_queue: apply the sync queue (webhooks) to the mirror, push staff edits to WooCommerce.

Run by systemd (deploy/systemd/crushme-queue.service, Restart=always) as a loop, or with --once by
tests and cron. Several processors may run at once, on one machine or several: each claims its
own operations (SELECT ... FOR UPDATE SKIP LOCKED + a lease).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import time
from datetime import timedelta
from types import FrameType

from django.conf import settings
from django.core.management.base import CommandParser
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from common.commands import DocumentedExitCodesCommand
from sync.services.field_rules import FieldRulesError, field_rules_parse
from sync.services.queue import (
    BatchResult,
    store_variations_probe,
    sync_operations_prune,
    sync_queue_process_batch,
)
from sync.woocommerce.client import WooCommerceClient

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

EXIT_CODES_HELP = f"""
exit codes:
  {EXIT_OK}   done (--once: nothing due is left; loop: stopped by SIGTERM/SIGINT after its batch)
  {EXIT_FAILED}   the database failed (operations being processed are claimed again when their lease ends)
  {EXIT_USAGE}   usage error
"""

PRUNE_EVERY_SECONDS = 3600


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


class Command(DocumentedExitCodesCommand):
    exit_codes_help = EXIT_CODES_HELP
    help = (
        "Apply the sync queue to the mirror: claim due operations (webhook deliveries), coalesce them per "
        "object, read what orders sold from WooCommerce, write the mirror and invalidate the API cache once "
        "per batch; push staff edits and stock imports to WooCommerce (read first, SYNC_FIELD_RULES, up to "
        "SYNC_QUEUE_CONCURRENCY batch writes in flight). Runs as a loop under systemd (crushme-queue.service); "
        "--once drains what is due and exits (tests, cron). --prune-days N deletes done operations older than "
        "N days and exits (the loop prunes hourly, keeping SYNC_QUEUE_PRUNE_DAYS)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Process until nothing is due, then exit.")
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=None,
            metavar="N",
            help="Operations claimed per batch (default: SYNC_QUEUE_BATCH_SIZE).",
        )
        parser.add_argument(
            "--prune-days",
            type=positive_int,
            default=None,
            metavar="DAYS",
            help="Delete done operations finished more than DAYS days ago, then exit.",
        )

    def handle(self, *args, **options) -> None:
        if options["prune_days"] is not None:
            if options["once"]:
                self.stderr.write("process_sync_queue: error: --prune-days runs alone")
                raise SystemExit(EXIT_USAGE)
            deleted = sync_operations_prune(older_than=timezone.now() - timedelta(days=options["prune_days"]))
            self.stdout.write(f"process_sync_queue: pruned {deleted} done operation(s)")
            return
        try:
            field_rules_parse(settings.SYNC_FIELD_RULES)
        except FieldRulesError as error:
            self.stderr.write(f"process_sync_queue: error: {error}")
            raise SystemExit(EXIT_USAGE) from None
        stop = threading.Event()
        self._install_signal_handlers(stop)
        worker = f"{socket.gethostname()}:{os.getpid()}"
        limit = options["batch_size"] or settings.SYNC_QUEUE_BATCH_SIZE
        total = BatchResult()
        started = time.monotonic()
        last_prune = 0.0
        try:
            # Made now (no request is sent) so that an unusable WOOCOMMERCE_* setting stops the service at
            # start with its name, not every batch that needs the store. One pooled connection per push
            # request in flight.
            woocommerce = WooCommerceClient.from_settings(
                max_retries=1, pool_maxsize=max(4, settings.SYNC_QUEUE_CONCURRENCY)
            )
        except ValueError as error:
            self.stderr.write(f"process_sync_queue: error: WooCommerce is misconfigured: {error}")
            raise SystemExit(EXIT_USAGE) from None

        def client() -> WooCommerceClient:
            return woocommerce

        store_variations = store_variations_probe(client=client)

        try:
            while not stop.is_set():
                if not options["once"] and time.monotonic() - last_prune >= PRUNE_EVERY_SECONDS:
                    last_prune = time.monotonic()
                    sync_operations_prune(older_than=timezone.now() - timedelta(days=settings.SYNC_QUEUE_PRUNE_DAYS))
                try:
                    batch = sync_queue_process_batch(
                        worker=worker, client=client, limit=limit, store_variations=store_variations, stop=stop
                    )
                except DatabaseError as error:
                    logger.error("process_sync_queue: database error: %s", error)
                    if options["once"]:
                        self.stderr.write(f"process_sync_queue: database error: {error}")
                        raise SystemExit(EXIT_FAILED) from None
                    close_old_connections()
                    stop.wait(min(30.0, settings.SYNC_QUEUE_POLL_SECONDS * 10))
                    continue
                total = total + batch
                if batch.claimed:
                    logger.info(
                        "process_sync_queue: batch of %d: %d done, %d failed, %d dead, %d rows changed",
                        batch.claimed,
                        batch.done,
                        batch.failed,
                        batch.dead,
                        batch.changed,
                    )
                    for error in batch.errors[:10]:
                        logger.warning("process_sync_queue: %s", error)
                    continue
                if options["once"]:
                    break
                close_old_connections()  # an idle loop must not keep a connection the server dropped
                stop.wait(settings.SYNC_QUEUE_POLL_SECONDS)
        finally:
            woocommerce.close()
        self.stdout.write(
            f"process_sync_queue: {total.claimed} claimed · {total.done} done · {total.failed} failed (retried later)"
            f" · {total.dead} dead · {total.changed} rows changed · {total.woocommerce_requests} WooCommerce requests"
            f" · {time.monotonic() - started:.1f}s"
        )

    def _install_signal_handlers(self, stop: threading.Event) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()
            logger.info(
                "process_sync_queue: %s received, stopping after the current batch", signal.Signals(signum).name
            )

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
