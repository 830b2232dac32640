"""``manage.py warmup_cache``: fill the API response cache after a deploy or a Redis restart."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.warmup import CacheUnavailable, catalog_cache_warmup


class Command(BaseCommand):
    help = (
        "Fill the catalog API cache for the current catalog version: the category tree and every category, "
        "the facets, the first pages of the common product listings, and the detail of the best-selling "
        "products, written in batches (set_many). Run by deploy.sh after a deploy, and by hand after a Redis "
        "restart. Exit codes: 0 done, 1 the cache cannot be reached."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--incremental",
            action="store_true",
            help="Rebuild only entries missing from the cache and products changed since the last run "
            "(everything when the catalog version changed since).",
        )
        parser.add_argument(
            "--pages",
            type=int,
            default=settings.CATALOG_WARMUP_LIST_PAGES,
            help="Pages of each common listing to warm (default: CATALOG_WARMUP_LIST_PAGES, %(default)s).",
        )
        parser.add_argument(
            "--products",
            type=int,
            default=settings.CATALOG_WARMUP_PRODUCTS,
            help="Best-selling products whose detail to warm (default: CATALOG_WARMUP_PRODUCTS, %(default)s).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would be written; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["pages"] < 0 or options["products"] < 0:
            raise CommandError("--pages and --products must be 0 or more")
        try:
            result = catalog_cache_warmup(
                list_pages=options["pages"],
                products=options["products"],
                incremental=options["incremental"],
                dry_run=options["dry_run"],
            )
        except CacheUnavailable as exc:
            raise CommandError(f"cache warmup failed: {exc}") from exc
        mode = "incremental" if result.incremental else "full"
        verb = "would write" if options["dry_run"] else "wrote"
        self.stdout.write(
            self.style.SUCCESS(
                f"warmup_cache ({mode}, version {result.version}): {verb} {result.written} entries "
                f"({result.products} product details), {result.skipped} already cached, in {result.seconds:.1f}s"
            )
        )
