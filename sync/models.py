"""Sync history: one SyncRun row per ``sync_woocommerce`` invocation."""

from django.conf import settings
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


# --- The sync queue --------------------------------------------------------------------------------------


class OperationOrigin(models.TextChoices):
    WEBHOOK = "webhook", "WooCommerce webhook"
    LOCAL_EDIT = "local_edit", "Staff edit in this backend"
    STOCK_IMPORT = "stock_import", "Stock import"
    RECONCILE = "reconcile", "Reconciliation"


class OperationObject(models.TextChoices):
    CATEGORY = "category", "Category"
    PRODUCT = "product", "Product"
    VARIATION = "variation", "Variation"


class OperationAction(models.TextChoices):
    # WooCommerce -> mirror
    UPSERT = "upsert", "Write the payload (a full resource) to the mirror"
    TRASH = "trash", "Trashed in WooCommerce"
    REFRESH = "refresh", "Read the current values from WooCommerce (an order sold stock)"
    # mirror -> WooCommerce
    PUSH = "push", "Push the new values to WooCommerce"
    UPDATE = "update", "Update fields in WooCommerce (a staff edit or a stock import line)"


class OperationState(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing (leased)"
    DONE = "done", "Done"
    FAILED = "failed", "Failed, retried at next_attempt_at"
    DEAD = "dead", "Dead (gave up; retry from the admin)"


# States a processor may claim once next_attempt_at is due.
CLAIMABLE_STATES = (OperationState.PENDING, OperationState.FAILED)
_CLAIMABLE = models.Q(state__in=CLAIMABLE_STATES)


class SyncOperation(models.Model):
    """One change to carry between WooCommerce and the mirror: an outbox row, in both directions.

    Webhooks (``origin=webhook``) carry WooCommerce -> mirror changes: ``payload`` holds the full
    resource of a ``product.*`` delivery, ``new_values`` its stock and price fields. Staff edits and
    stock imports (next) carry mirror -> WooCommerce changes: ``base_values`` is what the origin saw
    before, ``new_values`` what it wants, so a conflict can be resolved field by field
    (``resolution`` records how).

    A processor claims due rows (``state`` pending or failed, ``next_attempt_at`` passed) in
    ``sort_at`` order with ``SELECT ... FOR UPDATE SKIP LOCKED`` and a lease (``leased_until``);
    a row whose lease ran out is claimable again. See sync/services/queue.py.
    """

    origin = models.CharField(max_length=20, choices=OperationOrigin.choices)
    object_kind = models.CharField(max_length=20, choices=OperationObject.choices)
    object_id = models.PositiveBigIntegerField(help_text="WooCommerce id of the category, product or variation.")
    parent_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="The product of a variation.")
    action = models.CharField(max_length=20, choices=OperationAction.choices)
    topic = models.CharField(max_length=100, blank=True, help_text="Webhook topic that produced it, if any.")
    base_values = models.JSONField(
        default=dict, blank=True, help_text="Per field: the value the origin saw before its change."
    )
    new_values = models.JSONField(default=dict, blank=True, help_text="Per field: the value the origin wants.")
    payload = models.JSONField(null=True, blank=True, help_text="The full resource, when the origin sent one.")
    modified_at = models.DateTimeField(
        null=True, blank=True, help_text="The payload's date_modified_gmt: the newest one wins."
    )
    dedupe_key = models.CharField(
        max_length=128, unique=True, help_text="Same change twice = one row (body hash, never the delivery id)."
    )
    priority = models.IntegerField(
        default=0, help_text="Seconds of head start over an operation of priority 0 (see docs/operations.md)."
    )
    sort_at = models.DateTimeField(help_text="Claim order: created_at minus the priority's head start.")
    state = models.CharField(max_length=20, choices=OperationState.choices, default=OperationState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    leased_until = models.DateTimeField(null=True, blank=True)
    leased_by = models.CharField(max_length=255, blank=True)
    last_error = models.TextField(blank=True)
    resolution = models.JSONField(default=dict, blank=True, help_text="What applying it did, and why.")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The staff member behind a local edit or a stock import.",
    )

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The claim query: claimable rows in (sort_at, id) order, due ones filtered from the index
            # (partial: done rows are most of the table).
            models.Index(fields=["sort_at", "id", "next_attempt_at"], condition=_CLAIMABLE, name="syncop_claim_idx"),
            # Expired leases (a killed processor) and the coalescing of one object's operations.
            models.Index(
                fields=["leased_until"], condition=models.Q(state=OperationState.PROCESSING), name="syncop_lease_idx"
            ),
            models.Index(fields=["object_kind", "object_id", "created_at"], name="syncop_object_idx"),
            # The claim's "is another processor pushing this object?" probe: a few rows, whatever the history.
            models.Index(
                fields=["object_kind", "object_id"],
                condition=models.Q(state=OperationState.PROCESSING),
                name="syncop_processing_object_idx",
            ),
            models.Index(fields=["state", "finished_at"], name="syncop_state_finished_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.origin} {self.action} {self.object_kind} {self.object_id} ({self.state})"


class StockImport(models.Model):
    """One stock CSV, identified by the SHA-256 of its bytes: the same content twice is one import.

    Its lines become ``SyncOperation`` rows keyed ``stock_import:<sha256>:<line>``, so an import that
    was interrupted can be run again and queues only what it had not queued yet. ``finished_at`` set
    means every line was read: the same file again is then a no-op that reports this record.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    filename = models.CharField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField(default=0, help_text="Bytes.")
    source = models.CharField(max_length=20, help_text="upload (POST /api/stock-imports/) or command (import_stock).")
    rows = models.PositiveIntegerField(default=0, help_text="Data lines read.")
    queued = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    bad = models.PositiveIntegerField(default=0)
    unknown = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True, help_text="Bad lines and unknown SKUs, capped.")
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"stock import #{self.pk} {self.filename or self.sha256[:12]}"
