from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from common.admin import ReadOnlyAdmin
from sync.services.queue import sync_operations_retry

from .models import SyncOperation, SyncRun


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "mode",
        "status",
        "started_at",
        "duration_seconds",
        "pages",
        "requests",
        "created",
        "updated",
        "unchanged",
        "deleted",
        "failed",
        "skipped",
    ]
    list_filter = ["mode", "status"]
    search_fields = ["error_summary"]
    date_hierarchy = "started_at"


@admin.register(SyncOperation)
class SyncOperationAdmin(ReadOnlyAdmin):
    """The sync queue: read-only, plus "retry" for dead operations (after fixing what killed them)."""

    list_display = [
        "id",
        "origin",
        "action",
        "object_kind",
        "object_id",
        "parent_id",
        "topic",
        "state",
        "attempts",
        "priority",
        "next_attempt_at",
        "created_at",
        "short_error",
    ]
    list_filter = ["state", "origin", "action", "object_kind"]
    search_fields = ["=object_id", "=parent_id", "dedupe_key"]
    date_hierarchy = "created_at"
    actions = ["retry"]
    show_full_result_count = False  # the table can be large: no COUNT(*) of everything on each page

    @admin.display(description="last error")
    def short_error(self, obj: SyncOperation) -> str:
        return obj.last_error[:120]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sync.change_syncoperation")

    @admin.action(description="Retry the selected dead or failed operations now", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[SyncOperation]) -> None:
        retried = sync_operations_retry(ids=queryset.values_list("id", flat=True))
        skipped = queryset.count() - retried
        message = f"{retried} operation(s) queued again with a fresh attempt count."
        if skipped:
            message += f" {skipped} skipped: only dead or failed operations are retried."
        self.message_user(request, message, messages.SUCCESS if retried else messages.WARNING)
