"""Reads of the sync history (SyncRun). Views and commands call these; nothing here writes."""

from sync.models import SyncMode, SyncRun, SyncStatus


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
