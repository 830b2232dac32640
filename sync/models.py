"""Sync history: one SyncRun row per ``sync_woocommerce`` invocation."""

from django.db import models


class SyncMode(models.TextChoices):
    CATEGORIES = "categories", "Categories"
    PRODUCTS = "products", "Products and variations"
    STOCK = "stock", "Stock and prices"
    FULL = "full", "Full (with deletion reconciliation)"


class SyncStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partial (some items or pages failed)"
    FAILED = "failed", "Failed"


class SyncRun(models.Model):
    mode = models.CharField(max_length=20, choices=SyncMode.choices)
    status = models.CharField(max_length=20, choices=SyncStatus.choices, default=SyncStatus.RUNNING)
    options = models.JSONField(default=dict, blank=True, help_text="Command options of this run.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    modified_after = models.DateTimeField(
        null=True, blank=True, help_text="Incremental window start sent to WooCommerce (UTC); empty for a full scan."
    )
    pages = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0, help_text="Items that could not be written.")
    skipped = models.PositiveIntegerField(
        default=0, help_text="Items outside this mode's scope, e.g. --stock seeing a product not mirrored yet."
    )
    listing_complete = models.BooleanField(
        default=False,
        help_text="Every page of the product listing was read (no failed page, not interrupted): "
        "the next incremental run may start from this run's start.",
    )
    failed_pages = models.JSONField(default=list, blank=True, help_text="[{endpoint, page, error}]")
    failed_items = models.JSONField(default=list, blank=True, help_text="[{resource, id, error}], capped.")
    error_summary = models.TextField(blank=True)
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["mode", "status", "-started_at"], name="syncrun_mode_status_idx")]

    def __str__(self) -> str:
        return f"{self.mode} {self.status} @ {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
