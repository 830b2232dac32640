"""Reads of the sync history (SyncRun) and the sync queue. Views and commands call these; nothing here writes."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q

from sync.models import CLAIMABLE_STATES, OperationState, SyncMode, SyncOperation, SyncRun, SyncStatus


def sync_run_last_succeeded_by_mode() -> dict[str, SyncRun | None]:
    """The latest succeeded run of each mode, keyed by mode value; ``None`` for a mode that never succeeded.

    One indexed query per mode (``syncrun_mode_status_idx``), only the columns a health check needs.
    Running, partial and failed runs are ignored: they do not make the mirror fresh.
    """
    result: dict[str, SyncRun | None] = {}
    for mode in SyncMode.values:
        result[mode] = (
            SyncRun.objects.filter(mode=mode, status=SyncStatus.SUCCEEDED, finished_at__isnull=False)
            .only("id", "mode", "status", "started_at", "finished_at")
            .order_by("-started_at")
            .first()
        )
    return result


@dataclass(frozen=True, slots=True)
class QueueStats:
    depth: int  # pending, failed (waiting for a retry) and processing
    processing: int
    failed: int
    dead: int
    oldest_pending_age_seconds: int | None


def sync_queue_stats(*, now: datetime) -> QueueStats:
    """Queue depth, the age of the oldest waiting operation and the dead count, in one query.

    Every count skips done rows through the state filter; on a table mostly made of done rows the
    partial claim index and the state index serve it.
    """
    open_states = [*CLAIMABLE_STATES, OperationState.PROCESSING]
    row = SyncOperation.objects.filter(state__in=[*open_states, OperationState.DEAD]).aggregate(
        depth=Count("id", filter=Q(state__in=open_states)),
        processing=Count("id", filter=Q(state=OperationState.PROCESSING)),
        failed=Count("id", filter=Q(state=OperationState.FAILED)),
        dead=Count("id", filter=Q(state=OperationState.DEAD)),
        oldest=Min("created_at", filter=Q(state__in=open_states)),
    )
    oldest = row["oldest"]
    return QueueStats(
        depth=row["depth"],
        processing=row["processing"],
        failed=row["failed"],
        dead=row["dead"],
        oldest_pending_age_seconds=None if oldest is None else max(int((now - oldest).total_seconds()), 0),
    )
