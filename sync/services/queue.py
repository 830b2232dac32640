"""The sync queue: enqueue, claim, apply and retire ``SyncOperation`` rows.

WooCommerce -> mirror (webhooks) is handled here; mirror -> WooCommerce (staff edits, stock imports)
will reuse the same rows, claim and retry machinery.

Claiming
    A processor first returns expired leases to the queue (a processor killed with SIGKILL leaves
    ``processing`` rows whose ``leased_until`` passes), then claims up to ``limit`` due rows in
    ``sort_at`` order with ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL; on SQLite the
    IMMEDIATE transaction serialises claimers), plus every other claimable row on the same objects
    (coalescing: all of one object's pending operations are handled together). Claimed rows get
    ``state=processing``, a lease and ``attempts + 1`` in the same transaction.

Priorities (``sort_at``)
    ``sort_at = created_at - head start``: a row is claimed as if it had arrived that many seconds
    earlier. Stock changes get ``PRIORITY_STOCK`` seconds, price changes ``PRIORITY_PRICE``,
    anything else 0; an object with an order or at least ``HOT_OPERATIONS`` operations in the last
    ``HOT_WINDOW`` gets ``PRIORITY_HOT`` more. Because the head start is bounded, age always wins in
    the end: an operation waits at most ``PRIORITY_STOCK + PRIORITY_HOT`` seconds behind later
    arrivals, so nothing starves. ``sort_at`` is fixed at enqueue time, which keeps the claim query
    on one index (``syncop_claim_idx``).

Applying (one batch)
    Per object, the operations are reduced to one outcome in arrival order: a full payload
    (``upsert``), a trash, or a read of the current values from WooCommerce (``refresh``, for an
    order's line items) unless a payload that arrived after the order is in the batch. Reads are
    one ``include=`` request per 100 ids. Then, in one transaction holding a per-object lock
    (PostgreSQL advisory locks, so two processors never interleave on one object), payloads older
    than the mirror's ``date_modified_gmt`` are ignored (the newest wins; equal timestamps are
    applied, WooCommerce's are whole seconds) and the rest go through the same parsing and upsert
    code as ``sync_woocommerce``. Once a batch that changed something has committed, the catalog cache
    is told which products changed and which of their columns (``catalog_products_changed``).

Failures
    A WooCommerce failure (outage, timeout, 429, 5xx, refused credentials) fails only the operations
    that needed WooCommerce: they are retried after an exponential, jittered backoff and end
    ``dead`` after ``SYNC_QUEUE_MAX_ATTEMPTS`` attempts. A payload that does not parse ends ``dead``
    at once (retrying cannot fix it); a variation whose product is not mirrored is written after
    its product, read from WooCommerce (retried when that read fails). A
    database error while writing the batch is retried object by object, so one bad item fails only
    its own operations.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q
from django.utils import timezone

from catalog.cache import LIST_GROUPS, catalog_products_changed
from catalog.models import Product, ProductCategory, ProductStatus, ProductVariation
from sync.models import (
    CLAIMABLE_STATES,
    OperationAction,
    OperationObject,
    OperationOrigin,
    OperationState,
    SyncOperation,
)
from sync.services.products import (
    MAX_PER_PAGE,
    PRODUCTS,
    VARIATIONS,
    confirmed_stock_write,
    product_records_parse,
    product_upsert_page,
    store_variations_supported,
    variation_records_parse,
    variation_upsert_page,
)
from sync.services.push import (
    APPLIED_ORIGINS,
    PUSH_ACTIONS,
    PUSH_ORIGINS,
    PushObject,
    PushPipeline,
    echo_of,
    operation_is_push,
    pushed_resolutions,
)
from sync.services.stock import id_chunks
from sync.woocommerce.client import WooCommerceClient, WooCommerceError, WooCommerceNotFound
from sync.woocommerce.types import PayloadError, ProductRecord, optional_id

logger = logging.getLogger(__name__)

# Head starts in seconds (see the module docstring and docs/operations.md).
PRIORITY_STOCK = 120
PRIORITY_PRICE = 60
PRIORITY_OTHER = 0
PRIORITY_HOT = 60
HOT_WINDOW = timedelta(days=7)  # the seed's window
HOT_OPERATIONS = 5
# A push pipeline stops claiming after this long, so webhook operations wait at most about as long.
PUSH_PIPELINE_SECONDS = 30.0
# While a pipeline pushes, the webhook operations that arrive are claimed and applied this often.
PIPELINE_WEBHOOKS_EVERY_SECONDS = 1.0

STOCK_VALUE_FIELDS = ("manage_stock", "stock_quantity", "stock_status")
PRICE_VALUE_FIELDS = ("price", "regular_price", "sale_price", "on_sale")
TRACKED_FIELDS = (*STOCK_VALUE_FIELDS, *PRICE_VALUE_FIELDS)

_ObjectKey = tuple[str, int]


# --- enqueue ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """One operation to enqueue (see ``SyncOperation`` for the fields)."""

    object_kind: str
    object_id: int
    action: str
    dedupe_key: str
    origin: str = OperationOrigin.WEBHOOK
    parent_id: int | None = None
    topic: str = ""
    payload: dict | None = None
    modified_at: datetime | None = None
    base_values: dict = field(default_factory=dict)
    new_values: dict = field(default_factory=dict)
    priority: int = PRIORITY_OTHER

    @property
    def key(self) -> _ObjectKey:
        return (self.object_kind, self.object_id)


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    created: int
    duplicates: int


def dedupe_key_make(*parts: str | bytes | int) -> str:
    """A stable key from the parts (bytes as they are, the rest as text)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else str(part).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def json_value(value: Any) -> Any:
    """A model value as JSON: decimals as normalised strings (exact; ``30.000000`` and ``30`` are
    the same ``"30"``), datetimes as ISO 8601."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def priority_for_change(*, base: dict[str, Any], new: dict[str, Any]) -> int:
    """Stock before price before everything else: which tracked fields differ from ``base``.

    With no ``base`` (the object is not mirrored yet) a new object counts as a stock change: it
    becomes sellable.
    """
    if not base:
        return PRIORITY_STOCK
    if any(base.get(name) != new.get(name) for name in STOCK_VALUE_FIELDS):
        return PRIORITY_STOCK
    if any(base.get(name) != new.get(name) for name in PRICE_VALUE_FIELDS):
        return PRIORITY_PRICE
    return PRIORITY_OTHER


def _hot_objects(keys: Iterable[_ObjectKey], *, now: datetime) -> set[_ObjectKey]:
    """Objects with an order or at least HOT_OPERATIONS operations in the last HOT_WINDOW (one query)."""
    by_kind = _ids_by_kind(keys)
    if not by_kind:
        return set()
    condition = Q()
    for kind, ids in by_kind.items():
        condition |= Q(object_kind=kind, object_id__in=ids)
    rows = (
        SyncOperation.objects.filter(condition, created_at__gte=now - HOT_WINDOW)
        .values("object_kind", "object_id")
        .annotate(total=Count("id"), orders=Count("id", filter=Q(topic__startswith="order.")))
    )
    return {
        (row["object_kind"], row["object_id"]) for row in rows if row["orders"] > 0 or row["total"] >= HOT_OPERATIONS
    }


def _operation_row(spec: OperationSpec, *, hot: bool, now: datetime) -> SyncOperation:
    priority = spec.priority + (PRIORITY_HOT if hot else 0)
    return SyncOperation(
        origin=spec.origin,
        object_kind=spec.object_kind,
        object_id=spec.object_id,
        parent_id=spec.parent_id,
        action=spec.action,
        topic=spec.topic,
        payload=spec.payload,
        modified_at=spec.modified_at,
        base_values=spec.base_values,
        new_values=spec.new_values,
        dedupe_key=spec.dedupe_key,
        priority=priority,
        sort_at=now - timedelta(seconds=priority),
        state=OperationState.PENDING,
        next_attempt_at=now,
        created_at=now,
    )


def sync_operations_enqueue(*, specs: Sequence[OperationSpec], now: datetime | None = None) -> EnqueueResult:
    """Insert the operations whose dedupe key is new; duplicates are skipped (``ON CONFLICT DO NOTHING``).

    Three queries whatever the count: the known keys, the hot-object lookup, the insert. Never raises
    for a duplicate, including one inserted concurrently by another request.
    """
    if not specs:
        return EnqueueResult(created=0, duplicates=0)
    now = now or timezone.now()
    unique: dict[str, OperationSpec] = {}
    for spec in specs:
        unique.setdefault(spec.dedupe_key, spec)
    known = set(SyncOperation.objects.filter(dedupe_key__in=unique).values_list("dedupe_key", flat=True))
    fresh = [spec for key, spec in unique.items() if key not in known]
    if not fresh:
        return EnqueueResult(created=0, duplicates=len(specs))
    hot = _hot_objects((spec.key for spec in fresh), now=now)
    SyncOperation.objects.bulk_create(
        [_operation_row(spec, hot=spec.key in hot, now=now) for spec in fresh], ignore_conflicts=True
    )
    return EnqueueResult(created=len(fresh), duplicates=len(specs) - len(fresh))


@dataclass(frozen=True, slots=True)
class ObjectContext:
    """What the receiver needs to know about one object before queueing a payload for it."""

    base_values: dict[str, Any]  # the mirror's tracked values ({} when not mirrored)
    hot: bool
    known: bool  # the dedupe key is already queued


def _raw_value(field: models.Field, value: Any) -> Any:
    """A raw cursor's value as the ORM would give it (SQLite hands decimals back as int or float and
    booleans as 0/1; repr() of a float keeps what was stored)."""
    if value is None:
        return None
    kind = field.get_internal_type()
    if kind == "DecimalField" and not isinstance(value, Decimal):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    if kind == "BooleanField":
        return bool(value)
    return value


def object_context_get(*, kind: str, object_id: int, dedupe_key: str, now: datetime) -> ObjectContext:
    """The mirror's values, the hot flag and whether ``dedupe_key`` is known, in ONE round trip.

    The receiver's latency is mostly round trips to the database (each one waits for the scheduler
    on a busy host), so this is raw SQL with scalar subqueries that PostgreSQL and SQLite both run.
    """
    model = ProductVariation if kind == OperationObject.VARIATION else Product
    quote = connection.ops.quote_name
    operations = quote(SyncOperation._meta.db_table)
    columns = ", ".join(f"m.{quote(model._meta.get_field(name).column)}" for name in TRACKED_FIELDS)
    sql = (
        f"SELECT (SELECT COUNT(*) FROM {operations} WHERE object_kind = %s AND object_id = %s AND created_at >= %s), "
        f"(SELECT COUNT(*) FROM {operations} WHERE object_kind = %s AND object_id = %s AND created_at >= %s "
        f"AND topic LIKE %s), "
        f"(SELECT COUNT(*) FROM {operations} WHERE dedupe_key = %s), m.{quote(model._meta.pk.column)}, {columns} "
        f"FROM (SELECT 1 AS one) AS one LEFT JOIN {quote(model._meta.db_table)} AS m "
        f"ON m.{quote(model._meta.pk.column)} = %s"
    )
    since = now - HOT_WINDOW
    with connection.cursor() as cursor:
        cursor.execute(sql, [kind, object_id, since, kind, object_id, since, "order.%", dedupe_key, object_id])
        total, orders, known, mirrored_id, *values = cursor.fetchone()
    base: dict[str, Any] = {}
    if mirrored_id is not None:
        for name, value in zip(TRACKED_FIELDS, values, strict=True):
            base[name] = json_value(_raw_value(model._meta.get_field(name), value))
    return ObjectContext(base_values=base, hot=orders > 0 or total >= HOT_OPERATIONS, known=known > 0)


def sync_operation_insert(*, spec: OperationSpec, hot: bool, now: datetime | None = None) -> bool:
    """Insert one operation in one statement; False when its dedupe key is already queued.

    Outside a transaction the INSERT is the only round trip (no BEGIN/COMMIT around it); inside one
    (tests, a caller's atomic block) a savepoint keeps a duplicate from breaking it.
    """
    row = _operation_row(spec, hot=hot, now=now or timezone.now())
    try:
        if connection.in_atomic_block:
            with transaction.atomic():
                row.save(force_insert=True)
        else:
            row.save(force_insert=True)
    except IntegrityError:
        return False
    return True


# --- claim ------------------------------------------------------------------------------------------------


def sync_operations_expire_leases(*, now: datetime) -> int:
    """Return operations whose lease ran out (their processor died) to the queue; returns how many.

    They keep their attempt count, so an operation that kills every processor that takes it ends
    ``dead`` instead of looping.
    """
    expired = SyncOperation.objects.filter(state=OperationState.PROCESSING, leased_until__lt=now)
    dead = expired.filter(attempts__gte=settings.SYNC_QUEUE_MAX_ATTEMPTS).update(
        state=OperationState.DEAD,
        leased_until=None,
        last_error="the lease ran out on its last attempt (its processor died or hung)",
        finished_at=now,
    )
    retried = expired.update(
        state=OperationState.FAILED,
        leased_until=None,
        next_attempt_at=now,
        last_error="the lease ran out (its processor died or hung): claimed again",
    )
    if dead or retried:
        logger.warning("sync queue: %d expired lease(s) returned to the queue, %d dead", retried, dead)
    return retried + dead


def _lock_skipping(queryset):
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    return queryset  # SQLite: the IMMEDIATE transaction already serialises writers


def sync_operations_claim(
    *,
    worker: str,
    limit: int,
    now: datetime,
    lease_seconds: int | None = None,
    origins: Sequence[str] | None = None,
    exclude: Iterable[_ObjectKey] = (),
) -> list[SyncOperation]:
    """Claim up to ``limit`` due operations and every other claimable one on the same objects.

    ``origins`` limits the due operations to those origins (the others on the same objects are still
    claimed with them); objects in ``exclude`` (already being pushed by this worker) are left alone.
    Locks with ``FOR UPDATE SKIP LOCKED`` (rows another processor is claiming are skipped, never
    waited for), sets ``processing``, the lease and ``attempts + 1``, commits. Returns the claimed
    rows in arrival order.
    """
    lease = timedelta(seconds=lease_seconds or settings.SYNC_QUEUE_LEASE_SECONDS)
    with transaction.atomic():
        _claims_serialise()
        due = SyncOperation.objects.filter(state__in=CLAIMABLE_STATES, next_attempt_at__lte=now)
        if origins is not None:
            due = due.filter(origin__in=origins)
        for kind, object_ids in _ids_by_kind(exclude).items():
            due = due.exclude(object_kind=kind, object_id__in=object_ids)
        # An object another processor is pushing waits for that push to be recorded: two pushes of one
        # object, each adding its delta to the value it read, would lose one of them.
        due = due.exclude(Exists(_pushing(now=now)))
        due = due.order_by("sort_at", "id")
        first = list(_lock_skipping(due).values_list("id", "object_kind", "object_id")[:limit])
        if not first:
            return []
        ids = {row[0] for row in first}
        same_objects = Q()
        for kind, object_ids in _ids_by_kind((kind, object_id) for _, kind, object_id in first).items():
            same_objects |= Q(object_kind=kind, object_id__in=object_ids)
        siblings = SyncOperation.objects.filter(same_objects, state__in=CLAIMABLE_STATES).exclude(id__in=ids)
        ids.update(_lock_skipping(siblings).values_list("id", flat=True))
        SyncOperation.objects.filter(id__in=ids).update(
            state=OperationState.PROCESSING,
            leased_until=now + lease,
            leased_by=worker,
            attempts=F("attempts") + 1,
        )
    return list(SyncOperation.objects.filter(id__in=ids).order_by("id"))


def _pushing(*, now: datetime) -> models.QuerySet:
    """Push operations in flight (claimed, lease running) on the outer query's object."""
    return SyncOperation.objects.filter(
        state=OperationState.PROCESSING,
        origin__in=PUSH_ORIGINS,
        leased_until__gte=now,
        object_kind=OuterRef("object_kind"),
        object_id=OuterRef("object_id"),
    )


def _claims_serialise() -> None:
    """One claim at a time across processors, until the claim's transaction commits (PostgreSQL).

    Without it, two processors claiming at once each see the other's objects as not yet in flight and
    could both take a push of the same object. A claim is a few milliseconds of work; SQLite's IMMEDIATE
    transaction already serialises them.
    """
    _objects_lock([("claims", 0)])  # the advisory lock of a pseudo-object no operation names


def _ids_by_kind(keys: Iterable[_ObjectKey]) -> dict[str, set[int]]:
    by_kind: dict[str, set[int]] = defaultdict(set)
    for kind, object_id in keys:
        by_kind[kind].add(object_id)
    return by_kind


def sync_operations_lease_renew(
    *, ids: Iterable[int], worker: str, now: datetime, lease_seconds: int | None = None
) -> int:
    """Extend to ``now`` + the lease the operations ``worker`` still holds among ``ids``; returns how many.

    A push pipeline holds operations longer than one claim used to: without this their lease would run
    out while they wait for a thread, and another processor would push them a second time.
    """
    lease = timedelta(seconds=lease_seconds or settings.SYNC_QUEUE_LEASE_SECONDS)
    return SyncOperation.objects.filter(id__in=list(ids), state=OperationState.PROCESSING, leased_by=worker).update(
        leased_until=now + lease
    )


# --- plan -------------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What one object's claimed operations come to."""

    kind: str
    object_id: int
    parent_id: int | None
    operations: list[SyncOperation]
    final: SyncOperation | None  # the operation whose effect is applied; None: nothing to do
    carrier: SyncOperation | None = None  # a trash's newest payload, written before the trash
    payload: dict | None = None  # the payload to upsert (the final op's, or read from WooCommerce)
    trash: bool = False
    superseded: dict[int, int] = field(default_factory=dict)  # op id -> the op that replaced it
    resolution: dict[str, Any] = field(default_factory=dict)  # for the final op
    error: str | None = None
    retryable: bool = True
    pushed: bool = False  # payload is WooCommerce's answer to our write: the newest state, by date

    @property
    def key(self) -> _ObjectKey:
        return (self.kind, self.object_id)


def _plan_object(operations: list[SyncOperation]) -> _Plan:
    """Reduce one object's operations (in arrival order) to one outcome.

    Between payloads the newest ``date_modified_gmt`` wins (an older one arriving later is ignored;
    equal ones are applied in arrival order). The last operation to arrive decides the outcome: a
    payload is written; a trash writes the newest payload first (the mirror then knows the product
    it hides) and trashes it; an order's read replaces the payloads before it, while a payload
    arriving after the order was built after the sale and makes the read unnecessary.
    """
    first = operations[0]
    parent_id = next((op.parent_id for op in operations if op.parent_id), None)
    plan = _Plan(
        kind=first.object_kind, object_id=first.object_id, parent_id=parent_id, operations=operations, final=None
    )
    final: SyncOperation | None = None
    newest: SyncOperation | None = None  # the newest payload
    for op in operations:
        if op.action not in (OperationAction.UPSERT, OperationAction.TRASH, OperationAction.REFRESH):
            plan.error, plan.retryable = f"no handler for the action {op.action!r} yet", False
            continue
        if op.action == OperationAction.UPSERT:
            if (
                newest is not None
                and op.modified_at is not None
                and newest.modified_at is not None
                and op.modified_at < newest.modified_at
            ):
                plan.superseded[op.id] = newest.id  # older than a payload already seen
                continue
            newest = op
        final = op
    if final is None:
        return plan
    plan.final = final
    if final.action == OperationAction.UPSERT:
        plan.payload = final.payload
    elif final.action == OperationAction.TRASH:
        plan.trash = True
        if newest is not None:
            plan.carrier = newest
            plan.payload = newest.payload
    for op in operations:
        if op.id not in plan.superseded and op is not final and op is not plan.carrier:
            plan.superseded[op.id] = final.id
    return plan


def _plans_make(operations: list[SyncOperation]) -> list[_Plan]:
    grouped: dict[_ObjectKey, list[SyncOperation]] = defaultdict(list)
    for op in operations:
        grouped[(op.object_kind, op.object_id)].append(op)
    return [_plan_object(sorted(ops, key=lambda op: op.id)) for ops in grouped.values()]


# --- reads from WooCommerce (orders) ------------------------------------------------------------------------


def _current_read(*, client: WooCommerceClient, plans: list[_Plan], store_variations: Callable[[], bool]) -> None:
    """Fill ``payload`` of the refresh plans with WooCommerce's current resource (``include=``, 100 ids a request).

    A request that fails marks its plans failed (retried with backoff); an id WooCommerce does not
    return (permanently deleted, or trashed) is done with nothing to apply.
    """
    products = [plan for plan in plans if plan.kind == OperationObject.PRODUCT]
    variations = [plan for plan in plans if plan.kind == OperationObject.VARIATION]
    requests: list[tuple[str, dict[str, Any], list[_Plan]]] = []

    def read_by_id(endpoint: str, group: list[_Plan], **extra: str) -> None:
        for chunk in id_chunks(sorted(plan.object_id for plan in group), MAX_PER_PAGE):
            wanted = set(chunk)
            params = {"include": chunk, **extra, "per_page": MAX_PER_PAGE}
            requests.append((endpoint, params, [p for p in group if p.object_id in wanted]))

    read_by_id(PRODUCTS, products, status="any")
    if variations:
        if store_variations():
            read_by_id(VARIATIONS, variations)
        else:
            by_parent: dict[int | None, list[_Plan]] = defaultdict(list)
            for plan in variations:
                by_parent[plan.parent_id].append(plan)
            for parent_id, group in by_parent.items():
                if parent_id is None:
                    for plan in group:
                        plan.error, plan.retryable = "a variation without its product id cannot be read", False
                    continue
                read_by_id(f"{PRODUCTS}/{parent_id}/variations", group)
    failed: str | None = None
    for endpoint, params, group in requests:
        if failed is not None:
            # The store already failed in this batch: the other reads wait for their retry instead of
            # each waiting out the timeouts (a batch must end well within its lease).
            for plan in group:
                plan.error, plan.retryable = failed, True
            continue
        try:
            response = client.get(endpoint, params)
        except WooCommerceNotFound as error:  # the parent product is gone: nothing to read
            for plan in group:
                plan.resolution = {"result": "not_found", "detail": str(error)[:300]}
            continue
        except WooCommerceError as error:
            failed = f"{type(error).__name__}: {error}"
            for plan in group:
                plan.error, plan.retryable = failed, True
            continue
        items = response.data if isinstance(response.data, list) else []
        found = {item.get("id"): item for item in items if isinstance(item, dict)}
        for plan in group:
            item = found.get(plan.object_id)
            if item is None:
                plan.resolution = {
                    "result": "not_found",
                    "detail": "WooCommerce did not return it (deleted or trashed)",
                }
                continue
            if plan.kind == OperationObject.VARIATION and not item.get("parent_id") and plan.parent_id:
                item = {**item, "parent_id": plan.parent_id}
            plan.payload = item
            plan.resolution = {"result": "read", "from": "woocommerce"}


def _orphan_variations(plans: list[_Plan]) -> dict[int, list[_Plan]]:
    """Variation plans to write whose product is neither mirrored nor written by this batch, by product
    id (one query; none when no plan writes a variation)."""
    wanted: dict[int, list[_Plan]] = defaultdict(list)
    for plan in plans:
        if plan.kind != OperationObject.VARIATION or plan.error is not None or plan.payload is None:
            continue
        try:
            parent_id = optional_id(plan.payload.get("parent_id"), "parent_id") or plan.parent_id
        except PayloadError:
            continue  # the upsert reports the bad payload
        if parent_id:
            wanted[parent_id].append(plan)
    if not wanted:
        return {}
    in_batch = {plan.object_id for plan in plans if plan.kind == OperationObject.PRODUCT and plan.payload is not None}
    for product_id in in_batch | set(Product.objects.filter(id__in=wanted).values_list("id", flat=True)):
        wanted.pop(product_id, None)
    return dict(wanted)


def _parents_read(*, client: WooCommerceClient, orphans: dict[int, list[_Plan]]) -> list[_Plan]:
    """Plans writing the products of ``orphans`` (variations whose product the mirror lacks: created in
    the store after the last sync, its own delivery late or lost), read from WooCommerce (one
    ``include=`` request per 100). A variation whose product cannot be read fails and is retried."""
    parents: list[_Plan] = []
    failed: str | None = None
    for chunk in id_chunks(sorted(orphans), MAX_PER_PAGE):
        found: dict[int, dict] = {}
        if failed is None:
            try:
                response = client.get(PRODUCTS, {"include": chunk, "status": "any", "per_page": MAX_PER_PAGE})
                items = response.data if isinstance(response.data, list) else []
                found = {item["id"]: item for item in items if isinstance(item, dict) and item.get("id") in chunk}
            except WooCommerceError as error:
                failed = f"{type(error).__name__}: {error}"
        for product_id in chunk:
            item = found.get(product_id)
            if item is None:
                why = f"reading it from WooCommerce failed: {failed}" if failed else "WooCommerce did not return it"
                for plan in orphans[product_id]:
                    plan.error, plan.retryable = f"its product #{product_id} is not mirrored and {why}", True
                continue
            parents.append(
                _Plan(
                    kind=OperationObject.PRODUCT,
                    object_id=product_id,
                    parent_id=None,
                    operations=[],  # written for its variations: no operation of its own
                    final=None,
                    payload=item,
                )
            )
            for plan in orphans[product_id]:
                plan.resolution = {**plan.resolution, "product_read": product_id}
    return parents


# --- apply ------------------------------------------------------------------------------------------------


def _advisory_key(kind: str, object_id: int) -> int:
    digest = hashlib.blake2b(f"syncop:{kind}:{object_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _objects_lock(keys: Iterable[_ObjectKey]) -> None:
    """Serialise processors on the same objects until the transaction ends (PostgreSQL advisory locks).

    Taken in key order, so two processors never deadlock. SQLite needs nothing: its writers are
    serialised by the IMMEDIATE transaction.
    """
    if connection.vendor != "postgresql":
        return
    lock_keys = sorted({_advisory_key(kind, object_id) for kind, object_id in keys})
    if lock_keys:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k", [lock_keys])


def _mirror_modified(plans: list[_Plan]) -> dict[_ObjectKey, datetime | None]:
    found: dict[_ObjectKey, datetime | None] = {}
    for kind, model in ((OperationObject.PRODUCT, Product), (OperationObject.VARIATION, ProductVariation)):
        ids = [plan.object_id for plan in plans if plan.kind == kind and plan.payload is not None]
        if ids:
            for row_id, modified in model.objects.filter(id__in=ids).values_list("id", "date_modified_gmt"):
                found[(kind, row_id)] = modified
    return found


def payload_modified_at(payload: Any) -> datetime | None:
    """A payload's ``date_modified_gmt`` as an aware UTC datetime; None when absent or unreadable.

    WooCommerce sends ``*_gmt`` values in UTC without a zone suffix (the parsers' rule).
    """
    value = payload.get("date_modified_gmt") if isinstance(payload, dict) else None
    if not isinstance(value, str) or not value or value.startswith("0000-00-00"):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _newer_elsewhere_skip(plans: list[_Plan]) -> None:
    """Drop the outcome of objects on which another processor already applied a later arrival.

    Two processors can hold operations on one object when a new one arrives while the first is
    busy; the advisory lock serialises them, and this (checked under it, one query) keeps the
    later arrival's effect instead of letting an earlier trash, read or payload overwrite it.
    """
    live = [plan for plan in plans if plan.final is not None and plan.error is None and not plan.pushed]
    if not live:
        return
    same_objects = Q()
    for plan in live:
        same_objects |= Q(object_kind=plan.kind, object_id=plan.object_id)
    newest_done = {
        (row["object_kind"], row["object_id"]): row["newest"]
        for row in SyncOperation.objects.filter(
            same_objects, state=OperationState.DONE, id__gt=min(op.id for plan in live for op in plan.operations)
        )
        .values("object_kind", "object_id")
        .annotate(newest=Max("id"))
    }
    for plan in live:
        newer = newest_done.get(plan.key)
        if newer is not None and newer > max(op.id for op in plan.operations):
            plan.payload, plan.trash, plan.carrier = None, False, None
            plan.resolution = {"result": "superseded", "by": newer}


# The product columns product lists filter or sort on (their category links included) and the slug (details
# are cached by slug too): what a webhook's upsert compares before writing, to tell the cache what changed.
_LIST_COLUMNS = tuple(sorted(set().union(*LIST_GROUPS.values()) - {"categories"} | {"slug"}))


@dataclass
class _CatalogChanges:
    """The products a claim changed, for one cache invalidation once it has committed."""

    products: set[int] = field(default_factory=set)  # product rows written
    fields: set[str] | None = field(default_factory=set)  # their columns that changed; None: unknown
    parents: set[int] = field(default_factory=set)  # products whose variations were written

    def product(self, ids: Iterable[int], fields: Iterable[str] | None) -> None:
        ids = set(ids)
        if not ids:
            return
        self.products |= ids
        if fields is None or self.fields is None:
            self.fields = None
        else:
            self.fields |= set(fields)

    def pending(self) -> bool:
        return bool(self.products or self.parents)

    def invalidate(self) -> None:
        parents = self.parents - self.products
        if self.products:
            catalog_products_changed(product_ids=self.products, fields=self.fields)
        if parents:
            catalog_products_changed(product_ids=parents, fields=())  # only their variations changed
        self.products, self.fields, self.parents = set(), set(), set()


def _list_columns_read(ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The list columns and category ids of these mirrored products (two queries)."""
    rows = {row["id"]: row for row in Product.objects.filter(id__in=ids).values("id", *_LIST_COLUMNS)}
    for row in rows.values():
        row["categories"] = set()
    for product_id, category_id in ProductCategory.objects.filter(product_id__in=rows).values_list(
        "product_id", "category_id"
    ):
        rows[product_id]["categories"].add(category_id)
    return rows


def _list_fields_changed(before: dict[int, dict[str, Any]], records: Iterable[ProductRecord]) -> set[str] | None:
    """The list columns that differ between the rows read before an upsert and the records written
    (None when a product is new: everything about it is)."""
    changed: set[str] = set()
    for record in records:
        old = before.get(record.id)
        if old is None:
            return None
        new = {**record.model_fields(), "deleted_at": None, "categories": {ref.id for ref in record.categories}}
        changed |= {name for name in (*_LIST_COLUMNS, "categories") if name not in new or old[name] != new[name]}
    return changed


def _apply(plans: list[_Plan], *, now: datetime, changes: _CatalogChanges) -> int:
    """Write the plans' outcomes to the mirror in the caller's transaction; returns rows changed.

    Sets ``error``/``resolution`` on plans whose item fails or is ignored, and adds the products it
    changed to ``changes``. Raises DatabaseError.
    """
    _objects_lock(plan.key for plan in plans)
    _newer_elsewhere_skip(plans)
    changed = 0
    writable = [plan for plan in plans if plan.error is None and plan.payload is not None]
    current = _mirror_modified(writable)
    for plan in writable:
        modified = payload_modified_at(plan.payload)
        mirrored = current.get(plan.key)
        if modified is not None and mirrored is not None and modified < mirrored:
            plan.resolution = {
                "result": "ignored_older",
                "payload_modified": modified.isoformat(),
                "mirror_modified": mirrored.isoformat(),
            }
            plan.payload = None

    # Our own writes' answers: usually only the stock columns and the date changed. (The payload stays
    # on the plan: if this transaction fails, the object-by-object retry writes it again.)
    written: set[_ObjectKey] = set()
    for kind, model in ((OperationObject.PRODUCT, Product), (OperationObject.VARIATION, ProductVariation)):
        pushed = {
            plan.object_id: plan
            for plan in writable
            if plan.payload is not None and plan.pushed and plan.kind == kind and plan.error is None
        }
        if pushed:
            confirmed, rows, fields = confirmed_stock_write(
                model=model, items=[plan.payload for plan in pushed.values()], synced_at=now
            )
            changed += rows
            if rows and kind == OperationObject.PRODUCT:
                changes.product(confirmed, fields)
            elif rows:
                changes.parents |= {_parent_of(pushed[object_id]) for object_id in confirmed} - {None}
            _mark_written(pushed, confirmed)
            written |= {(kind, object_id) for object_id in confirmed}

    product_plans = {
        plan.object_id: plan
        for plan in writable
        if plan.payload is not None and plan.kind == OperationObject.PRODUCT and plan.key not in written
    }
    if product_plans:
        records, failures = product_records_parse(plan.payload for plan in product_plans.values())
        for failure in failures:
            _item_failed(product_plans, failure.item_id, failure.error, retryable=False, unparsed=True)
        if records:
            before = _list_columns_read(record.id for record in records)
            result = product_upsert_page(records=records, synced_at=now)
            changed += result.created + result.updated + result.deleted
            changes.product(
                result.products_changed,
                _list_fields_changed(before, (r for r in records if r.id in result.products_changed)),
            )
            changes.parents |= result.parents_changed
            _mark_written(product_plans, {record.id for record in records})

    variation_plans = {
        plan.object_id: plan
        for plan in writable
        if plan.payload is not None and plan.kind == OperationObject.VARIATION and plan.key not in written
    }
    if variation_plans:
        records, failures = variation_records_parse(plan.payload for plan in variation_plans.values())
        for failure in failures:
            _item_failed(variation_plans, failure.item_id, failure.error, retryable=False, unparsed=True)
        if records:
            result = variation_upsert_page(records=records, synced_at=now)
            for failure in result.failures:  # its product is not mirrored yet: it may arrive later
                _item_failed(variation_plans, failure.item_id, failure.error, retryable=True)
            changed += result.created + result.updated
            changes.parents |= result.parents_changed
            _mark_written(variation_plans, {record.id for record in records})

    for kind, model in ((OperationObject.PRODUCT, Product), (OperationObject.VARIATION, ProductVariation)):
        ids = [plan.object_id for plan in plans if plan.error is None and plan.trash and plan.kind == kind]
        if ids:
            # The digest no longer describes the row: the next sync of this object rewrites it.
            trashed = (
                model.objects.filter(id__in=ids)
                .exclude(status=ProductStatus.TRASH)
                .update(status=ProductStatus.TRASH, sync_hash="", synced_at=now, updated_at=now)
            )
            changed += trashed
            if trashed and kind == OperationObject.PRODUCT:
                changes.product(ids, ("status",))
            elif trashed:
                changes.parents |= set(model.objects.filter(id__in=ids).values_list("product_id", flat=True))
            for plan in plans:
                if plan.trash and plan.kind == kind and plan.object_id in ids:
                    plan.resolution = {"result": "trashed"}
    return changed


def _parent_of(plan: _Plan) -> int | None:
    parent = plan.parent_id or (plan.payload or {}).get("parent_id")
    return parent if isinstance(parent, int) else None


def _item_failed(
    plans: dict[int, _Plan], item_id: int | None, error: str, *, retryable: bool, unparsed: bool = False
) -> None:
    plan = plans.get(item_id) if item_id is not None else None
    if plan is None:
        # A payload whose id does not parse: it belongs to whichever plan carried it.
        plan = next((p for p in plans.values() if p.payload is not None and p.payload.get("id") == item_id), None)
    if plan is not None:
        if unparsed and plan.pushed:
            # WooCommerce applied our write but its answer does not parse: retried, the next attempt's
            # read confirms it by its marker (never pushed again), instead of ending dead.
            error, retryable = (
                f"WooCommerce's answer to the write does not parse ({error}): confirmed by the next read",
                True,
            )
        plan.error, plan.retryable = error, retryable


def _mark_written(plans: dict[int, _Plan], written: set[int]) -> None:
    for object_id in written:
        plan = plans[object_id]
        if plan.error is None:
            plan.resolution = {**plan.resolution, "result": plan.resolution.get("result", "applied"), "applied": True}


# --- outcomes ---------------------------------------------------------------------------------------------


def retry_delay_seconds(*, attempts: int) -> float:
    """Exponential backoff with equal jitter: half fixed, half random, so a store back from an
    outage is not hit by every operation at once. ``attempts`` is the attempt that just failed."""
    base = min(
        settings.SYNC_QUEUE_RETRY_MAX_SECONDS, settings.SYNC_QUEUE_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    )
    return base / 2 + random.uniform(0, base / 2)


@dataclass
class BatchResult:
    claimed: int = 0
    done: int = 0
    failed: int = 0
    dead: int = 0
    changed: int = 0
    woocommerce_requests: int = 0
    errors: list[str] = field(default_factory=list)

    def __add__(self, other: BatchResult) -> BatchResult:
        return BatchResult(
            claimed=self.claimed + other.claimed,
            done=self.done + other.done,
            failed=self.failed + other.failed,
            dead=self.dead + other.dead,
            changed=self.changed + other.changed,
            woocommerce_requests=self.woocommerce_requests + other.woocommerce_requests,
            errors=(self.errors + other.errors)[:50],
        )


def _outcomes_record(plans: list[_Plan], *, worker: str, now: datetime, result: BatchResult) -> None:
    """Write each claimed operation's end state (only rows this worker still holds)."""
    max_attempts = settings.SYNC_QUEUE_MAX_ATTEMPTS
    for plan in plans:
        for op in plan.operations:
            op.leased_until = None
            if plan.error is not None:  # all of them: the ones it replaced come back with it on the retry
                op.last_error = plan.error[:2000]
                if plan.resolution:  # a push records how its fields were resolved even when it failed
                    op.resolution = plan.resolution
                if plan.retryable and op.attempts < max_attempts:
                    op.state = OperationState.FAILED
                    op.next_attempt_at = now + timedelta(seconds=retry_delay_seconds(attempts=op.attempts))
                    result.failed += 1
                else:
                    op.state = OperationState.DEAD
                    op.finished_at = now
                    result.dead += 1
                continue
            op.state = OperationState.DONE
            op.finished_at = now
            op.last_error = ""
            if op.id in plan.superseded:
                op.resolution = {"result": "superseded", "by": plan.superseded[op.id]}
            elif op is plan.carrier:
                op.resolution = {"result": "applied", "then": "trashed", "by": plan.final.id}
            else:
                op.resolution = plan.resolution or {"result": "applied"}
            result.done += 1
        if plan.error is not None:
            result.errors.append(f"{plan.kind} {plan.object_id}: {plan.error[:200]}")
    ops = [op for plan in plans for op in plan.operations]
    written = _outcomes_write(ops, worker=worker, now=now)
    if written < len(ops):
        logger.warning(
            "sync queue: %d operation(s) were re-claimed by another processor after this one's lease ran out",
            len(ops) - written,
        )


def _outcomes_write(ops: list[SyncOperation], *, worker: str, now: datetime) -> int:
    """Store the operations' end states in one statement (PostgreSQL) or one per distinct outcome.

    Only rows this worker still holds are written (a row re-claimed after this worker's lease ran
    out belongs to its new processor). ``bulk_update`` would build a CASE per row and field, which
    cost most of a batch's time. Returns the rows written.
    """
    if not ops:
        return 0
    if connection.vendor == "postgresql":
        rows = [
            {
                "id": op.id,
                "state": op.state,
                "next_attempt_at": op.next_attempt_at.isoformat(),
                "finished_at": op.finished_at.isoformat() if op.finished_at else None,
                "last_error": op.last_error,
                "resolution": op.resolution,
            }
            for op in ops
        ]
        table = connection.ops.quote_name(SyncOperation._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS op SET state = v.state, next_attempt_at = v.next_attempt_at, "
                "finished_at = v.finished_at, last_error = v.last_error, resolution = v.resolution, "
                "leased_until = NULL, updated_at = %s "
                "FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, state text, next_attempt_at timestamptz, "
                "finished_at timestamptz, last_error text, resolution jsonb) "
                "WHERE op.id = v.id AND op.state = %s AND op.leased_by = %s",
                [now, json.dumps(rows), OperationState.PROCESSING, worker],
            )
            return cursor.rowcount
    groups: dict[tuple, list[int]] = defaultdict(list)
    for op in ops:
        outcome = (
            op.state,
            op.next_attempt_at,
            op.finished_at,
            op.last_error,
            json.dumps(op.resolution, sort_keys=True),
        )
        groups[outcome].append(op.id)
    written = 0
    for (state, next_attempt_at, finished_at, last_error, resolution), ids in groups.items():
        written += SyncOperation.objects.filter(id__in=ids, state=OperationState.PROCESSING, leased_by=worker).update(
            state=state,
            next_attempt_at=next_attempt_at,
            finished_at=finished_at,
            last_error=last_error,
            resolution=json.loads(resolution),
            leased_until=None,
            updated_at=now,
        )
    return written


def sync_queue_process_batch(
    *,
    worker: str,
    client: WooCommerceClient | Callable[[], WooCommerceClient],
    limit: int | None = None,
    now: datetime | None = None,
    store_variations: Callable[[], bool] | None = None,
    stop: threading.Event | None = None,
) -> BatchResult:
    """Claim one batch, apply it and record every operation's outcome. Returns the counts.

    ``client`` (or a factory, called only when an order needs a read or an edit a push) is the
    WooCommerce client; ``store_variations`` says whether the store has the store-wide ``GET
    variations`` endpoint (default: ask the store once per call that needs it). The webhook
    operations of the claim are applied first; when it holds edits, they are pushed by a pipeline
    that keeps claiming edits while its writes are in flight (``_push_pipeline``), until nothing is
    due, the store fails, ``stop`` is set or ``PUSH_PIPELINE_SECONDS`` have passed. Never raises for
    WooCommerce failures or bad items; a database failure while recording raises (the leases then
    expire and the operations are claimed again).
    """
    clock = (lambda: now) if now is not None else timezone.now
    claimed_at = clock()
    sync_operations_expire_leases(now=claimed_at)
    claimed = sync_operations_claim(worker=worker, limit=limit or settings.SYNC_QUEUE_BATCH_SIZE, now=claimed_at)
    if not claimed:
        return BatchResult()
    plans, push_objects, riders = _push_split(claimed)
    # Webhooks first: they must not wait for the pipeline (up to PUSH_PIPELINE_SECONDS).
    result = BatchResult()
    if plans:
        result = _plans_apply(plans, worker=worker, client=client, now=claimed_at, store_variations=store_variations)
    if push_objects:
        woo = _client_get(client)
        result = result + _push_pipeline(
            first=push_objects,
            riders=riders,
            worker=worker,
            client=woo,
            clock=clock,
            stop=stop,
            store_variations=store_variations,
        )
    result.claimed += len(claimed)
    return result


def _client_get(client: WooCommerceClient | Callable[[], WooCommerceClient]) -> WooCommerceClient:
    """The client itself, or the one its factory gives (called only when a request is about to be made)."""
    return client if isinstance(client, WooCommerceClient) else client()


def _plans_apply(
    plans: list[_Plan],
    *,
    worker: str,
    client: WooCommerceClient | Callable[[], WooCommerceClient],
    now: datetime,
    store_variations: Callable[[], bool] | None,
) -> BatchResult:
    """Apply webhook plans (reading what orders sold first) in one transaction, or object by object
    when it fails; bumps the cache once when something changed."""
    result = BatchResult()
    changes = _CatalogChanges()
    refresh = [
        plan
        for plan in plans
        if plan.error is None and plan.final is not None and plan.final.action == OperationAction.REFRESH
    ]
    if refresh:
        woo = _client_get(client)
        before = woo.requests_sent
        supported = store_variations or store_variations_probe(client=woo)
        _current_read(client=woo, plans=refresh, store_variations=supported)
        result.woocommerce_requests += woo.requests_sent - before
    orphans = _orphan_variations(plans)
    if orphans:
        woo = _client_get(client)
        before = woo.requests_sent
        plans = [*_parents_read(client=woo, orphans=orphans), *plans]
        result.woocommerce_requests += woo.requests_sent - before
    try:
        with transaction.atomic():
            result.changed = _apply(plans, now=now, changes=changes)
            _outcomes_record(plans, worker=worker, now=now, result=result)
            if changes.pending():
                transaction.on_commit(changes.invalidate)  # once for the whole claim
        return result
    except DatabaseError as error:
        logger.warning("sync queue: the batch write failed (%s); writing object by object", error)
    # (the failed transaction's additions to ``changes`` cost at most a needless invalidation)
    return _process_one_by_one(
        plans, worker=worker, now=now, claimed=0, requests=result.woocommerce_requests, changes=changes
    )


@dataclass
class _PipelineClaim:
    """One claim's pushed objects not yet recorded, and what its recorded batches changed in the mirror."""

    pending: set[_ObjectKey]
    changes: _CatalogChanges = field(default_factory=_CatalogChanges)


def _push_pipeline(
    *,
    first: list[PushObject],
    riders: dict[_ObjectKey, list[SyncOperation]],
    worker: str,
    client: WooCommerceClient,
    clock: Callable[[], datetime],
    stop: threading.Event | None,
    store_variations: Callable[[], bool] | None,
) -> BatchResult:
    """Push ``first`` and keep claiming edits while the writes are in flight; returns the counts (its
    ``claimed`` are the operations it claimed itself).

    Whenever fewer than ``SYNC_QUEUE_CONCURRENCY`` batches wait for a thread, it claims up to
    concurrency x 100 more edits (with the other operations on their objects) and queues their batches
    at once, so the threads never wait for a claim or for the last batch of the previous one. An object
    in the pipeline is not claimed again until its batch is recorded (never two pushes of one object at
    once). Each answered batch is recorded in this thread as soon as it comes back; the cache is bumped
    once per claim, when its last batch is recorded. Leases are renewed every third of
    ``SYNC_QUEUE_LEASE_SECONDS`` for what is claimed and not recorded yet. Every
    ``PIPELINE_WEBHOOKS_EVERY_SECONDS`` it also claims the due webhook operations on objects it does not
    hold and applies them, so that the store's own changes reach the mirror within seconds however many
    edits are queued before them. Claiming stops after ``PUSH_PIPELINE_SECONDS``, on ``stop``, when no
    edit is due or once the store failed; what is claimed is then pushed and recorded before returning.
    """
    total = BatchResult()
    held: dict[_ObjectKey, list[int]] = {}  # objects in the pipeline -> their operations (edits and riders)
    claim_of: dict[_ObjectKey, _PipelineClaim] = {}

    def admit(objects: list[PushObject]) -> None:
        claim = _PipelineClaim(pending={(obj.kind, obj.object_id) for obj in objects})
        for obj in objects:
            held[(obj.kind, obj.object_id)] = [*obj.op_ids, *obj.webhook_ids]
            claim_of[(obj.kind, obj.object_id)] = claim

    lease_seconds = settings.SYNC_QUEUE_LEASE_SECONDS
    renew_every = lease_seconds / 3
    started = time.monotonic()
    next_renewal = started + renew_every

    def renew_if_due() -> None:
        # Also between the records of batches answered together: recording them can take longer than a lease.
        nonlocal next_renewal
        if held and time.monotonic() >= next_renewal:
            sync_operations_lease_renew(ids=[i for ids in held.values() for i in ids], worker=worker, now=clock())
            next_renewal = time.monotonic() + renew_every

    def confirmed(objects: list[PushObject]) -> None:
        nonlocal total
        renew_if_due()
        claim = claim_of[(objects[0].kind, objects[0].object_id)]  # a batch's objects come from one claim
        recorded = _push_record(_push_plans(objects, riders), worker=worker, now=clock(), changes=claim.changes)
        total = total + recorded
        for obj in objects:
            key = (obj.kind, obj.object_id)
            held.pop(key, None)
            riders.pop(key, None)
            claim_of.pop(key)
            claim.pending.discard(key)
        if not claim.pending and claim.changes.pending():
            claim.changes.invalidate()  # once per claim (each of its batches has committed)

    def take(claimed: list[SyncOperation]) -> None:
        """Apply a claim's webhook operations now and feed its edits to the pipeline."""
        nonlocal total
        total.claimed += len(claimed)
        plans, objects, more_riders = _push_split(claimed)
        riders.update(more_riders)
        if plans:  # webhooks, echoes, refused edits
            total = total + _plans_apply(
                plans, worker=worker, client=client, now=clock(), store_variations=store_variations
            )
        admit(objects)
        pipeline.submit(objects)

    with PushPipeline(client=client, on_done=confirmed) as pipeline:
        claim_size = pipeline.concurrency * MAX_PER_PAGE
        admit(first)
        pipeline.submit(first)
        claiming = True
        next_webhooks = started + PIPELINE_WEBHOOKS_EVERY_SECONDS
        while claiming or pipeline.busy:
            if claiming and (
                time.monotonic() - started >= PUSH_PIPELINE_SECONDS
                or (stop is not None and stop.is_set())
                or pipeline.store_failed.is_set()
            ):
                claiming = False
            renew_if_due()
            if claiming and time.monotonic() >= next_webhooks:
                # The edits' claims follow the queue's order, behind every edit queued earlier (a stock
                # import of 100,000 rows is minutes of pushing): the store's own changes are taken apart.
                webhooks = sync_operations_claim(
                    worker=worker,
                    limit=settings.SYNC_QUEUE_BATCH_SIZE,
                    now=clock(),
                    origins=APPLIED_ORIGINS,
                    exclude=held.keys(),
                )
                if webhooks:
                    take(webhooks)
                next_webhooks = time.monotonic() + PIPELINE_WEBHOOKS_EVERY_SECONDS
            if claiming and pipeline.waiting < pipeline.concurrency:
                claimed = sync_operations_claim(
                    worker=worker, limit=claim_size, now=clock(), origins=PUSH_ORIGINS, exclude=held.keys()
                )
                if not claimed:
                    claiming = False
                    continue
                take(claimed)
                continue
            wake = min(next_renewal, next_webhooks) if claiming else next_renewal
            pipeline.collect(timeout=max(0.0, wake - time.monotonic()))
    total.woocommerce_requests += pipeline.requests
    return total


def _push_record(plans: list[_Plan], *, worker: str, now: datetime, changes: _CatalogChanges) -> BatchResult:
    """Write pushed objects' confirmed state to the mirror and record their operations' outcomes (the
    caller invalidates the cache once per claim, from ``changes``)."""
    result = BatchResult()
    try:
        with transaction.atomic():
            result.changed = _apply(plans, now=now, changes=changes)
            _outcomes_record(plans, worker=worker, now=now, result=result)
        return result
    except DatabaseError as error:
        logger.warning("sync queue: writing a pushed batch failed (%s); writing object by object", error)
    for plan in plans:
        try:
            with transaction.atomic():
                result.changed += _apply([plan], now=now, changes=changes)
                _outcomes_record([plan], worker=worker, now=now, result=result)
        except DatabaseError as error:
            plan.error, plan.retryable = f"database error: {error}"[:2000], True
            with transaction.atomic():
                _outcomes_record([plan], worker=worker, now=now, result=result)
    return result


def _push_split(claimed: list[SyncOperation]) -> tuple[list[_Plan], list[PushObject], dict[_ObjectKey, list]]:
    """Split a claimed batch: echoes of our own pushes (done, nothing to apply), objects with local
    edits to push (with the webhook operations claimed on them: "riders"), and plain webhook plans."""
    payloads = [op for op in claimed if not operation_is_push(op) and op.action == OperationAction.UPSERT]
    pushed = pushed_resolutions(payloads)
    payload_ids = {op.id for op in payloads}
    plans: list[_Plan] = []
    rest: list[SyncOperation] = []
    for op in claimed:
        sources = echo_of(op, pushed) if pushed and op.id in payload_ids else []
        if sources:
            plans.append(
                _Plan(
                    kind=op.object_kind,
                    object_id=op.object_id,
                    parent_id=op.parent_id,
                    operations=[op],
                    final=None,
                    resolution={"result": "echo", "echo_of": sources},
                )
            )
        else:
            rest.append(op)
    grouped: dict[_ObjectKey, list[SyncOperation]] = defaultdict(list)
    for op in rest:
        grouped[(op.object_kind, op.object_id)].append(op)
    push_objects: list[PushObject] = []
    riders: dict[_ObjectKey, list[SyncOperation]] = {}
    for key, ops in grouped.items():
        ops.sort(key=lambda op: op.id)
        local = [op for op in ops if operation_is_push(op)]
        if not local:
            plans.append(_plan_object(ops))
            continue
        others = [op for op in ops if not operation_is_push(op)]
        bad = next((op for op in local if op.action not in PUSH_ACTIONS), None)
        if bad is not None:
            plans.append(
                _Plan(
                    kind=key[0],
                    object_id=key[1],
                    parent_id=None,
                    operations=local,
                    final=None,
                    error=f"no handler for the action {bad.action!r} of a {bad.origin} operation",
                    retryable=False,
                )
            )
            if others:
                plans.append(_plan_object(others))
            continue
        parent_id = next((op.parent_id for op in ops if op.parent_id), None)
        push_objects.append(
            PushObject(
                kind=key[0],
                object_id=key[1],
                parent_id=parent_id,
                operations=local,
                webhook_ids=[op.id for op in others],
            )
        )
        riders[key] = others
    return plans, push_objects, riders


def _push_plans(objects: list[PushObject], riders: dict[_ObjectKey, list[SyncOperation]]) -> list[_Plan]:
    """The pushed objects as plans for ``_apply``: the confirmed resource is written to the mirror; the
    webhook operations claimed with it are superseded by it (WooCommerce's state after the write is
    newer than theirs), or applied on their own when the push failed."""
    plans: list[_Plan] = []
    for obj in objects:
        others = riders.get((obj.kind, obj.object_id), [])
        final = obj.operations[-1]
        if obj.error is not None or obj.confirmed is None:
            plans.append(
                _Plan(
                    kind=obj.kind,
                    object_id=obj.object_id,
                    parent_id=obj.parent_id,
                    operations=obj.operations,
                    final=final,
                    resolution=obj.resolution,
                    error=obj.error or "nothing confirmed",
                    retryable=obj.retryable,
                )
            )
            if others:
                plans.append(_plan_object(others))
            continue
        plans.append(
            _Plan(
                kind=obj.kind,
                object_id=obj.object_id,
                parent_id=obj.parent_id,
                operations=[*obj.operations, *others],
                final=final,
                payload=obj.confirmed,
                resolution=obj.resolution,
                superseded={op.id: final.id for op in others},
                pushed=True,
            )
        )
    return plans


def _process_one_by_one(
    plans: list[_Plan], *, worker: str, now: datetime, claimed: int, requests: int, changes: _CatalogChanges
) -> BatchResult:
    result = BatchResult(claimed=claimed, woocommerce_requests=requests)
    changed = 0
    for plan in plans:
        try:
            with transaction.atomic():
                changed += _apply([plan], now=now, changes=changes)
                _outcomes_record([plan], worker=worker, now=now, result=result)
        except DatabaseError as error:
            plan.error, plan.retryable = f"database error: {error}"[:2000], True
            with transaction.atomic():
                _outcomes_record([plan], worker=worker, now=now, result=result)
    result.changed = changed
    changes.invalidate()
    return result


def store_variations_probe(*, client: WooCommerceClient | Callable[[], WooCommerceClient]) -> Callable[[], bool]:
    """A memoised "does the store have ``GET variations``?": asked once, on the first call.

    A failed probe is not remembered (the store may be down): the next call asks again.
    """
    answer: list[bool] = []

    def supported() -> bool:
        if not answer:
            woo = _client_get(client)
            answer.append(store_variations_supported(client=woo))
        return answer[0]

    return supported


# --- maintenance ------------------------------------------------------------------------------------------


def sync_operations_prune(*, older_than: datetime) -> int:
    """Delete done operations finished before ``older_than``; returns how many. Dead ones are kept."""
    deleted, _ = SyncOperation.objects.filter(state=OperationState.DONE, finished_at__lt=older_than).delete()
    return deleted


def sync_operations_retry(*, ids: Iterable[int], now: datetime | None = None) -> int:
    """Put dead (or failed) operations back in the queue with a fresh attempt count; returns how many."""
    now = now or timezone.now()
    return SyncOperation.objects.filter(
        id__in=list(ids), state__in=[OperationState.DEAD, OperationState.FAILED]
    ).update(
        state=OperationState.PENDING,
        attempts=0,
        next_attempt_at=now,
        leased_until=None,
        leased_by="",
        finished_at=None,
    )
