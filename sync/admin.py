from django.contrib import admin

from common.admin import ReadOnlyAdmin

from .models import SyncRun


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
