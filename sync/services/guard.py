"""The mass-deletion guard: a sync never removes an implausible share of the catalog by itself."""

from __future__ import annotations

import math
from dataclasses import dataclass


class DeletionRefused(Exception):
    """Raised instead of deleting more than the configured share of a resource."""

    def __init__(self, *, resource: str, count: int, live_total: int, limit: int) -> None:
        self.resource = resource
        self.count = count
        self.live_total = live_total
        self.limit = limit
        share = count / live_total if live_total else 1.0
        super().__init__(
            f"refused to delete {count} of {live_total} {resource} ({share:.0%}, limit {limit}): "
            "check the store; if the deletion is real, run again with --allow-mass-delete"
        )


@dataclass(frozen=True, slots=True)
class DeletionGuard:
    max_share: float
    min_count: int
    allow: bool = False

    def limit(self, live_total: int) -> int:
        """Largest deletion accepted without --allow-mass-delete."""
        return max(math.floor(self.max_share * live_total), self.min_count)

    def check(self, *, resource: str, count: int, live_total: int) -> None:
        limit = self.limit(live_total)
        if count > limit and not self.allow:
            raise DeletionRefused(resource=resource, count=count, live_total=live_total, limit=limit)
