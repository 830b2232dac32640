"""manage.py import_stock FILE.csv: queue a stock CSV's lines as edits pushed to WooCommerce.

Run by a person (or a script) after receiving a stock file; the running queue processor
(crushme-queue.service) pushes the lines. The same file twice is a no-op that says so.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from common.commands import DocumentedExitCodesCommand
from sync.services.stock_imports import REPORT_LIMIT, StockImportRefused, StockImportResult, stock_import_run

EXIT_OK = 0
EXIT_BAD_LINES = 3

EXIT_CODES_HELP = f"""
columns: sku, stock_quantity (header required, any order), regular_price optional; ',' or ';'.

exit codes:
  {EXIT_OK}   every line queued or unchanged, or the file was already imported (a no-op)
  1   the file was refused as a whole (unreadable, too big, no usable header): nothing queued
  {EXIT_BAD_LINES}   imported, but some lines were bad or named unknown SKUs (listed); the good ones are queued
"""


class Command(DocumentedExitCodesCommand):
    exit_codes_help = EXIT_CODES_HELP
    help = (
        "Import a stock CSV (sku, stock_quantity, optional regular_price): every good line is queued as an edit "
        "that the queue processor pushes to WooCommerce. Bad lines are reported by line number and the rest "
        "still go; the same file (same SHA-256) twice is a no-op."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The CSV file (UTF-8, a BOM is fine).")
        parser.add_argument(
            "--user", default=None, help="User name recorded as the author of the queued edits (optional)."
        )

    def handle(self, *args, **options) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"no user named {options['user']!r}")
        try:
            result = stock_import_run(
                open_file=lambda: path.open("rb", buffering=0), filename=path.name, source="command", user=user
            )
        except StockImportRefused as refused:
            raise CommandError(f"{path}: {refused.message} Nothing was queued.") from None
        except OSError as error:
            raise CommandError(f"{path}: {error.strerror or error}") from None
        self._report(result)
        if not result.already_imported and (result.bad or result.unknown):
            raise SystemExit(EXIT_BAD_LINES)

    def _report(self, result: StockImportResult) -> None:
        write = self.stdout.write
        if result.already_imported:
            write(
                self.style.WARNING(
                    f"Already imported (import #{result.import_id}, sha256 {result.sha256[:16]}…): nothing queued."
                )
            )
        write(
            f"rows read: {result.rows}; queued: {result.queued}; already queued: {result.already_queued}; "
            f"unchanged: {result.unchanged}; bad lines: {result.bad}; unknown SKUs: {result.unknown}"
        )
        if not result.complete:
            write(self.style.ERROR("Stopped at an unreadable line (below): the lines after it were not read."))
        if result.ignored_columns:
            write(f"ignored columns: {', '.join(result.ignored_columns)}")
        for line, reason in result.bad_lines:
            write(f"  line {line}: {reason}")
        if result.bad > len(result.bad_lines):
            write(f"  … and {result.bad - len(result.bad_lines)} more bad line(s) (the first {REPORT_LIMIT} shown)")
        if result.unknown_skus:
            more = f" … and {result.unknown - len(result.unknown_skus)} more" if result.unknown > REPORT_LIMIT else ""
            write(f"unknown SKUs: {', '.join(result.unknown_skus)}{more}")
