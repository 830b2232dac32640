"""Pushing staff edits and stock imports (``local_edit`` / ``stock_import`` operations) to WooCommerce.

Called by the queue processor (sync/services/queue.py) with the operations it claimed, grouped per
object, through a ``PushPipeline`` that it keeps feeding with new claims while writes are in flight.
Per batch of up to 100 objects of one endpoint (``products/batch`` or
``products/<parent>/variations/batch``), one task on a bounded thread pool
(``SYNC_QUEUE_CONCURRENCY`` tasks in flight):

1. **read first**: ``GET ... include=<ids>`` gives WooCommerce's current values;
2. **resolve** each field against them (sync/services/field_rules.py; stock as deltas);
3. **validate** every value again (a batch silently turns ``"abc"`` into an empty price);
4. **write** the batch at once after the read (the read→write gap is measured and recorded), each
   item with the ``_crushme_sync`` marker naming its operations;
5. the response is the **confirmed** state: the processor writes it to the mirror (through the stock
   columns when nothing else changed, else with the same upsert code as the sync).

A write whose answer was lost (a dropped connection, a cut body) may still have been applied: the
next attempt's read shows the marker naming the operation, and the operation is confirmed from that
read instead of pushing its stock delta a second time.

Threads rather than gevent: the processor is a plain process (not gunicorn), the work in the pool is
blocking HTTP through ``requests`` (which releases the GIL), the database is touched only from the
main thread, and monkey-patching the whole process for five sockets would buy nothing.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings

from sync.models import OperationObject, OperationOrigin, SyncOperation
from sync.services.field_rules import (
    PRICE_FIELDS,
    PUSH_FIELDS,
    STOCK_FIELD,
    field_resolve,
    field_rules_parse,
    values_equal,
)
from sync.services.products import MAX_PER_PAGE, PRODUCTS
from sync.services.stock import id_chunks
from sync.woocommerce.client import WooCommerceClient, WooCommerceError, WooCommerceNotFound

PUSH_ORIGINS = (OperationOrigin.LOCAL_EDIT, OperationOrigin.STOCK_IMPORT)
# What the store (or the reconciliation) tells us: applied to the mirror, never pushed.
APPLIED_ORIGINS = tuple(origin for origin in OperationOrigin.values if origin not in PUSH_ORIGINS)
PUSH_ACTIONS = ("update", "push")
MARKER_KEY = "_crushme_sync"
MARKER_MAX_IDS = 1000  # one object's operations pushed together; more is not a marker of ours
STOCK_LIMIT = 2**31 - 1
NAME_MAX_LENGTH = 200
# Recorded from WooCommerce's answer; an echo must show all of them unchanged.
CONFIRMED_FIELDS = (
    "regular_price",
    "sale_price",
    "price",
    "on_sale",
    "stock_quantity",
    "manage_stock",
    "stock_status",
    "name",
    "date_modified_gmt",
)


def operation_is_push(op: SyncOperation) -> bool:
    return op.origin in PUSH_ORIGINS


def marker_value(op_ids: Iterable[int]) -> str:
    return ",".join(str(op_id) for op_id in sorted(op_ids))


def marker_ids(resource: Any) -> set[int]:
    """The operation ids a resource's ``_crushme_sync`` meta entry names (empty when absent or garbled)."""
    meta = resource.get("meta_data") if isinstance(resource, dict) else None
    if not isinstance(meta, list):
        return set()
    for entry in meta:
        if isinstance(entry, dict) and entry.get("key") == MARKER_KEY and isinstance(entry.get("value"), str):
            # Ids as the queue stores them (bigint): a garbled marker must not reach the database.
            parts = entry["value"].split(",")[:MARKER_MAX_IDS]
            return {int(part) for part in (p.strip() for p in parts) if part.isdigit() and len(part) <= 18}
    return set()


def _modified(resource: dict) -> datetime | None:
    from sync.services.queue import payload_modified_at  # the one parser of WooCommerce's dates

    return payload_modified_at(resource)


@dataclass
class PushObject:
    """One object's local operations, resolved and pushed."""

    kind: str
    object_id: int
    parent_id: int | None
    operations: list[SyncOperation]  # local edits and stock imports, in arrival order
    webhook_ids: list[int] = field(default_factory=list)  # webhook operations claimed with them
    confirmed: dict | None = None  # the resource WooCommerce confirmed (batch response or read)
    resolution: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    retryable: bool = True
    item: dict[str, Any] | None = None  # the batch item sent

    @property
    def endpoint(self) -> str:
        if self.kind == OperationObject.VARIATION:
            return f"{PRODUCTS}/{self.parent_id}/variations"
        return PRODUCTS

    @property
    def op_ids(self) -> list[int]:
        return [op.id for op in self.operations]

    def combined(self) -> tuple[dict[str, Any], dict[str, Any], datetime | None]:
        """(new, base, latest edit time) over the operations: the last edit of a field wins, its base is
        the first one's (what was seen before any of them); stock keeps the sum of the deltas."""
        new: dict[str, Any] = {}
        base: dict[str, Any] = {}
        stock_delta: int | None = None
        for op in self.operations:
            values = op.new_values if isinstance(op.new_values, dict) else {}
            bases = op.base_values if isinstance(op.base_values, dict) else {}
            for name, value in values.items():
                if name == STOCK_FIELD:
                    stock_delta = (stock_delta or 0) + _int(value) - _int(bases.get(name))
                    base.setdefault(name, bases.get(name))
                    continue
                new[name] = value
                base.setdefault(name, bases.get(name))
        if stock_delta is not None:
            new[STOCK_FIELD] = _int(base.get(STOCK_FIELD)) + stock_delta
        latest = max((op.created_at for op in self.operations), default=None)
        return new, base, latest


def _int(value: Any) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise ValueError(f"stock_quantity {value!r} is not an integer")
    try:
        number = float(value) if isinstance(value, float | str) else value
    except ValueError:
        raise ValueError(f"stock_quantity {value!r} is not an integer") from None
    if isinstance(number, float):
        if not number.is_integer():
            raise ValueError(f"stock_quantity {value!r} is not an integer")
        number = int(number)
    if not isinstance(number, int):
        raise ValueError(f"stock_quantity {value!r} is not an integer")
    return number


def push_value_errors(values: dict[str, Any], *, current: dict[str, Any]) -> list[str]:
    """Why ``values`` must not be sent (the store would coerce them silently); empty when fine.

    ``current`` is WooCommerce's resource: sale ≤ regular is checked against the values it will have.
    """
    decimals = settings.CATALOG_PRICE_DECIMALS
    price = re.compile(rf"^\d{{1,12}}(\.\d{{1,{decimals}}})?$" if decimals > 0 else r"^\d{1,12}$")
    errors: list[str] = []
    for name, value in values.items():
        if name not in PUSH_FIELDS:
            errors.append(f"{name} cannot be pushed")
        elif name in PRICE_FIELDS:
            if not isinstance(value, str) or not (price.match(value) or (value == "" and name == "sale_price")):
                errors.append(f"{name} {value!r} is not a price with at most {decimals} decimals")
        elif name == STOCK_FIELD:
            if isinstance(value, bool) or not isinstance(value, int) or abs(value) > STOCK_LIMIT:
                errors.append(f"stock_quantity {value!r} is not an integer")
        elif name == "manage_stock":
            if not isinstance(value, bool):
                errors.append(f"manage_stock {value!r} is not true or false")
        elif name == "name" and (not isinstance(value, str) or not value.strip() or len(value) > NAME_MAX_LENGTH):
            errors.append(f"name must be 1 to {NAME_MAX_LENGTH} characters")
    if not errors:
        regular = values.get("regular_price", current.get("regular_price"))
        sale = values.get("sale_price", current.get("sale_price"))
        if sale not in (None, "") and regular not in (None, "") and not values_equal("p", sale, regular):
            try:
                if float(sale) > float(regular):
                    errors.append(f"sale_price {sale} is above regular_price {regular}")
            except (TypeError, ValueError):
                errors.append(f"WooCommerce's prices {regular!r} / {sale!r} are not numbers")
    return errors


def _resolve(obj: PushObject, current: dict, rules: dict[str, str]) -> dict[str, Any]:
    """Resolve every edited field against ``current``; returns the fields to send (those that differ)."""
    try:
        new, base, local_at = obj.combined()
    except ValueError as error:
        obj.error, obj.retryable = str(error), False
        return {}
    remote_at = _modified(current)
    fields: dict[str, Any] = {}
    send: dict[str, Any] = {}
    for name, local in new.items():
        remote = current.get(name)
        try:
            resolved = field_resolve(
                name=name,
                base=base.get(name),
                local=local,
                remote=remote,
                rules=rules,
                local_at=local_at,
                remote_at=remote_at,
            )
        except (TypeError, ValueError) as error:
            obj.error, obj.retryable = f"{name}: {error}", False
            return {}
        fields[name] = resolved.record(local=local, remote=remote, base=base.get(name))
        if not values_equal(name, resolved.result, remote) or (name == "manage_stock" and remote != resolved.result):
            send[name] = resolved.result
    obj.resolution["fields"] = fields
    return send


@dataclass
class _Task:
    endpoint: str
    kind: str
    objects: list[PushObject]


def _tasks_make(objects: list[PushObject]) -> list[_Task]:
    by_endpoint: dict[str, list[PushObject]] = defaultdict(list)
    for obj in objects:
        by_endpoint[obj.endpoint].append(obj)
    tasks = []
    for endpoint, group in by_endpoint.items():
        group.sort(key=lambda obj: obj.object_id)
        for chunk in id_chunks(group, MAX_PER_PAGE):
            tasks.append(_Task(endpoint=endpoint, kind=group[0].kind, objects=chunk))
    return tasks


def _fail(objects: Iterable[PushObject], error: str, *, retryable: bool) -> None:
    for obj in objects:
        if obj.error is None:
            obj.error, obj.retryable = error[:2000], retryable


def _run_task(task: _Task, *, client: WooCommerceClient, rules: dict[str, str], store_failed: threading.Event) -> int:
    """Read, resolve, validate and write one batch (a pool thread: HTTP only, no database). Returns
    the HTTP requests made."""
    if store_failed.is_set():
        # The store already failed in this claim: the rest wait for their retry instead of each
        # waiting out the timeouts (a claim must end well within its lease).
        _fail(task.objects, "not tried: WooCommerce failed earlier in this batch", retryable=True)
        return 0
    ids = [obj.object_id for obj in task.objects]
    # Full resources, not ``_fields``: when nothing needs writing, the read is what the mirror gets.
    params: dict[str, Any] = {"include": ids, "per_page": MAX_PER_PAGE}
    if task.kind == OperationObject.PRODUCT:
        params["status"] = "any"
    try:
        response = client.get(task.endpoint, params)
    except WooCommerceNotFound as error:  # the parent product is gone
        _fail(task.objects, f"WooCommerce does not know it: {error}", retryable=False)
        return 1
    except WooCommerceError as error:
        store_failed.set()
        _fail(task.objects, f"reading the current values failed: {type(error).__name__}: {error}", retryable=True)
        return 1
    read_at = time.monotonic()
    if not isinstance(response.data, list):
        store_failed.set()
        _fail(task.objects, f"the read answered {type(response.data).__name__}, not a list", retryable=True)
        return 1
    items = response.data
    current = {item.get("id"): item for item in items if isinstance(item, dict)}
    batch: list[dict[str, Any]] = []
    sent: list[PushObject] = []
    for obj in task.objects:
        item = current.get(obj.object_id)
        if item is None:
            _fail([obj], "WooCommerce did not return it (deleted or trashed): nothing pushed", retryable=False)
            continue
        if set(obj.op_ids) & marker_ids(item):
            # A previous attempt's write was applied though its answer was lost: confirm, never re-push.
            obj.confirmed = item
            obj.resolution.update(result="confirmed_by_read", detail="an earlier attempt's write had been applied")
            continue
        send = _resolve(obj, item, rules)
        if obj.error is not None:
            continue
        errors = push_value_errors(send, current=item)
        if errors:
            _fail([obj], "not sent: " + "; ".join(errors), retryable=False)
            continue
        if not send:
            obj.confirmed = item
            obj.resolution.update(result="nothing_to_push", pushed={})
            continue
        obj.item = {"id": obj.object_id, **send, "meta_data": [{"key": MARKER_KEY, "value": marker_value(obj.op_ids)}]}
        obj.resolution["pushed"] = send
        batch.append(obj.item)
        sent.append(obj)
    if not batch:
        return 1
    gap_ms = (time.monotonic() - read_at) * 1000
    try:
        response = client.write("POST", f"{task.endpoint}/batch", {"update": batch})
    except WooCommerceError as error:
        store_failed.set()
        _fail(sent, f"the batch write failed: {type(error).__name__}: {error}", retryable=True)
        return 2
    answered = response.data.get("update") if isinstance(response.data, dict) else None
    by_id = {
        item.get("id"): item for item in (answered if isinstance(answered, list) else []) if isinstance(item, dict)
    }
    for obj in sent:
        obj.resolution["read_to_write_ms"] = round(gap_ms, 1)
        item = by_id.get(obj.object_id)
        if item is None:
            _fail([obj], "the batch answer did not mention it (the next attempt's read tells)", retryable=True)
            continue
        error = item.get("error")
        if error is not None:
            error = error if isinstance(error, dict) else {"message": str(error)}
            status = error.get("data", {}).get("status") if isinstance(error.get("data"), dict) else None
            # A 4xx (bad value, unknown id) fails the same way every time; a 5xx may pass later.
            retryable = isinstance(status, int) and status >= 500
            _fail([obj], f"WooCommerce refused it: {error.get('message')} ({error.get('code')})", retryable=retryable)
            continue
        obj.confirmed = item
        obj.resolution["result"] = "pushed"
    return 2


class PushPipeline:
    """A pool of ``SYNC_QUEUE_CONCURRENCY`` threads that pushes batches while it is being fed.

    ``submit`` cuts a claim's objects into batches (one endpoint, up to 100 objects) and queues them on
    the pool at once: a free thread takes the next batch itself, so batches claimed while others are in
    flight start as soon as a thread is free (no barrier between rounds or claims). ``collect``, in the
    caller's thread, hands each answered batch to ``on_done`` (the processor writes the mirror there:
    the database is never touched from the pool). Objects refused before any request go to ``on_done``
    from ``submit``. Use it as a context manager: leaving it cancels the batches no thread has taken
    (their operations' leases run out and they are claimed again) and waits for those in flight.
    """

    def __init__(self, *, client: WooCommerceClient, on_done: Callable[[list[PushObject]], None]) -> None:
        self.concurrency = max(1, settings.SYNC_QUEUE_CONCURRENCY)
        self.store_failed = threading.Event()  # set by a batch: the batches after it are not tried
        self.requests = 0
        self._client = client
        self._on_done = on_done
        self._rules = field_rules_parse(settings.SYNC_FIELD_RULES)
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="sync-push")
        self._futures: dict[Future[int], _Task] = {}

    def __enter__(self) -> PushPipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def busy(self) -> bool:
        """Batches submitted and not yet handed to ``on_done``."""
        return bool(self._futures)

    @property
    def waiting(self) -> int:
        """Batches no thread has taken yet."""
        return sum(1 for future in self._futures if not future.running() and not future.done())

    def submit(self, objects: list[PushObject]) -> None:
        refused: list[PushObject] = []
        for obj in objects:
            if obj.kind == OperationObject.VARIATION and not obj.parent_id:
                _fail([obj], "a variation without its product id cannot be pushed", retryable=False)
            elif obj.kind not in (OperationObject.PRODUCT, OperationObject.VARIATION):
                _fail([obj], f"pushing a {obj.kind} is not supported", retryable=False)
            if obj.error is not None:
                refused.append(obj)
        if refused:
            _finish(refused, self._on_done)
        for task in _tasks_make([obj for obj in objects if obj.error is None]):
            future = self._pool.submit(
                _run_task, task, client=self._client, rules=self._rules, store_failed=self.store_failed
            )
            self._futures[future] = task

    def collect(self, *, timeout: float | None) -> int:
        """Wait up to ``timeout`` seconds for a batch to be answered, then hand every answered batch to
        ``on_done``; returns how many. Never raises for WooCommerce failures."""
        if not self._futures:
            return 0
        answered, _ = wait(self._futures, timeout=timeout, return_when=FIRST_COMPLETED)
        for future in answered:
            task = self._futures.pop(future)
            try:
                self.requests += future.result()
            except Exception as error:  # noqa: BLE001 - a bug in one batch must not lose the others' outcomes
                _fail(task.objects, f"push failed: {type(error).__name__}: {error}", retryable=True)
            _finish(task.objects, self._on_done)
        return len(answered)


def _finish(objects: list[PushObject], on_done: Callable[[list[PushObject]], None] | None) -> None:
    for obj in objects:
        obj.resolution.setdefault("operations", obj.op_ids)
        if obj.webhook_ids:
            obj.resolution["webhooks"] = obj.webhook_ids
        if obj.confirmed is not None:
            obj.resolution["confirmed"] = {
                name: obj.confirmed.get(name) for name in CONFIRMED_FIELDS if name in obj.confirmed
            }
            if obj.kind == OperationObject.VARIATION and not obj.confirmed.get("parent_id"):
                obj.confirmed = {**obj.confirmed, "parent_id": obj.parent_id}
    if on_done is not None:
        on_done(objects)


def echo_of(op: SyncOperation, pushed_by_op: dict[int, dict]) -> list[int]:
    """The push operations ``op`` (a webhook payload) is the echo of; empty when it is not an echo.

    An echo names the operations in its marker AND shows exactly the values WooCommerce confirmed for
    them, ``date_modified_gmt`` included (payloads are built at delivery time: a later edit or sale
    by someone else carries the old marker with other values).
    """
    payload = op.payload if isinstance(op.payload, dict) else None
    if payload is None or payload.get("id") != op.object_id:
        return []
    named = marker_ids(payload)
    sources = [op_id for op_id in sorted(named) if op_id in pushed_by_op]
    if not sources:
        return []
    for op_id in sources:
        resolution = pushed_by_op[op_id]
        pushed = resolution.get("pushed") or {}
        confirmed = resolution.get("confirmed") or {}
        if not pushed or not confirmed:
            return []
        # Every value WooCommerce confirmed, not only the pushed ones: a sale after the write (which
        # need not bump date_modified) makes the delivery news, marker or not.
        if any(not values_equal(name, payload.get(name), value) for name, value in confirmed.items()):
            return []
    return sources


def pushed_resolutions(ops: Iterable[SyncOperation]) -> dict[int, dict]:
    """The resolutions of the push operations named in the markers of ``ops``' payloads (one query)."""
    named: set[int] = set()
    for op in ops:
        named |= marker_ids(op.payload)
    if not named:
        return {}
    return {
        row_id: resolution if isinstance(resolution, dict) else {}
        for row_id, resolution in SyncOperation.objects.filter(id__in=named, origin__in=PUSH_ORIGINS).values_list(
            "id", "resolution"
        )
    }
