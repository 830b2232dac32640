"""``manage.py list_fragments_fill``: store every public product's list fragment ahead of the requests."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.presentation import product_list_fragments_fill


class Command(BaseCommand):
    help = (
        "Render and store the list fragment (the product's bytes in /api/products/) of every public product "
        "that lacks a current one, then delete the fragments that can no longer be served. Lists store missing "
        "fragments themselves; this does it ahead, so the first requests after a deploy (new code: every "
        "fragment renders anew) or a large sync stay fast. Run by deploy.sh before the restart; safe at any "
        "time, concurrently with the API and the sync. PostgreSQL only (elsewhere it does nothing)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Products per batch, 1-5000 (default %(default)s)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Count the missing fragments; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["batch_size"] <= 5000:
            raise CommandError("--batch-size must be between 1 and 5000")
        result = product_list_fragments_fill(batch_size=options["batch_size"], dry_run=options["dry_run"])
        verb = "would render" if options["dry_run"] else "rendered"
        self.stdout.write(
            self.style.SUCCESS(
                f"list_fragments_fill: {verb} {result.rendered} fragments, pruned {result.pruned}, "
                f"in {result.seconds:.1f}s"
            )
        )
