"""WooCommerce webhook deliveries: verify, route on the payload, enqueue. Never calls WooCommerce.

What a real WooCommerce 11 store sends (docs/operations.md, "Webhooks"):

- a creation **ping**: a form POST ``webhook_id=<id>`` with no signature and no ``X-WC-*`` headers,
  which must get exactly 200;
- signed deliveries: ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(raw body, secret)), over the
  raw bytes (the body escapes ``/`` as ``\\/``, so re-serialised JSON would not verify);
- ``product.created`` / ``updated`` / ``restored`` with the full resource built at delivery time
  (a variation is sent as itself: ``type: "variation"``, ``parent_id``); ``product.deleted`` with
  ``{"id": N}`` (trashed); ``order.created`` / ``updated`` whose line items name what was sold;
- ``product.updated`` with an error object and no id when the product was edited and then
  permanently deleted before the delivery ran.

Deduplication is on the payload, never on ``X-WC-Webhook-Delivery-ID`` (a hash of the webhook id
and the current second, which repeats across resources):

- a full resource: a hash of the body (two deliveries of the same state are one operation; two
  edits within one second, which share ``date_modified_gmt``, are not);
- an order: a hash of the body, per line item;
- a trash (``{"id": N}``, the same bytes every time): the body hash plus the newest operation
  carrying a state of that object, so a repeated trash is one operation but trash, restore, trash
  are three.

The error-object body is acknowledged (200, so the store does not count a failure) and dropped
with a warning: it names no product, and the permanent delete behind it sends nothing else either;
only the deletion reconciliation of ``sync_woocommerce --full`` finds such products.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from catalog.models import ProductVariation
from sync.models import OperationAction, OperationObject, SyncOperation
from sync.services.queue import (
    PRIORITY_STOCK,
    TRACKED_FIELDS,
    EnqueueResult,
    ObjectContext,
    OperationSpec,
    dedupe_key_make,
    json_value,
    object_context_get,
    payload_modified_at,
    priority_for_change,
    sync_operation_insert,
    sync_operations_enqueue,
)
from sync.woocommerce.types import PayloadError, coerce_id, parse_stock

logger = logging.getLogger(__name__)

PRODUCT_UPSERT_TOPICS = frozenset({"product.created", "product.updated", "product.restored"})
PRODUCT_DELETED_TOPIC = "product.deleted"
ORDER_TOPICS = frozenset({"order.created", "order.updated"})
TOPICS = PRODUCT_UPSERT_TOPICS | {PRODUCT_DELETED_TOPIC} | ORDER_TOPICS

_PING_BODY = re.compile(rb"^webhook_id=\d{1,20}$")


class WebhookRejected(Exception):
    """The delivery is refused: ``status`` (400/401/413) and a message safe to return and log."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    topic: str
    operations: int  # operations the payload named
    created: int  # new queue rows
    duplicates: int
    ignored: str = ""  # why nothing was queued, when nothing was


def webhook_is_ping(*, body: bytes, signature: str | None) -> bool:
    """The creation ping: an unsigned form body ``webhook_id=<digits>``."""
    return not signature and _PING_BODY.match(body.strip()) is not None


def webhook_signature_valid(*, body: bytes, signature: str | None, secret: str) -> bool:
    """Constant-time check of base64(HMAC-SHA256(body, secret as UTF-8)) against the header."""
    if not signature or not secret:
        return False
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _without_nul(value: Any) -> Any:
    """PostgreSQL's jsonb refuses U+0000 in strings: drop it (the signature was checked on the raw bytes)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        # NaN and Infinity are not JSON (jsonb would refuse them); a hostile nesting depth is refused too.
        data = json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise WebhookRejected(400, "the body is not valid JSON (truncated?)") from None
    if not isinstance(data, dict):
        raise WebhookRejected(400, "the body must be a JSON object")
    if b"\\u0000" in body:
        data = _without_nul(data)
    return data


def _tracked_values(payload: dict[str, Any]) -> dict[str, Any]:
    try:
        record = parse_stock(payload)
    except PayloadError:
        return {}  # the processor reports the bad field; the receiver only routes
    fields = record.model_fields(variation=False)
    return {name: json_value(fields[name]) for name in TRACKED_FIELDS}


def _product_spec(
    *, topic: str, body: bytes, data: dict[str, Any], now: datetime
) -> tuple[OperationSpec, ObjectContext]:
    try:
        object_id = coerce_id(data.get("id"))
    except PayloadError as error:
        raise WebhookRejected(400, f"the product payload has no usable id: {error}") from None
    is_variation = data.get("type") == "variation"
    parent_id = None
    kind = OperationObject.PRODUCT
    if is_variation:
        try:
            parent_id = coerce_id(data.get("parent_id"), "parent_id")
        except PayloadError as error:
            raise WebhookRejected(400, f"the variation payload has no usable parent_id: {error}") from None
        kind = OperationObject.VARIATION
    new = _tracked_values(data)
    dedupe_key = f"wh:{kind}:{object_id}:{dedupe_key_make(body)}"
    context = object_context_get(kind=kind, object_id=object_id, dedupe_key=dedupe_key, now=now)
    spec = OperationSpec(
        object_kind=kind,
        object_id=object_id,
        parent_id=parent_id,
        action=OperationAction.UPSERT,
        topic=topic,
        payload=data,
        modified_at=payload_modified_at(data),
        base_values=context.base_values,
        new_values=new,
        priority=priority_for_change(base=context.base_values, new=new),
        dedupe_key=dedupe_key,
    )
    return spec, context


def _trash_specs(*, topic: str, body: bytes, data: dict[str, Any]) -> list[OperationSpec]:
    try:
        object_id = coerce_id(data.get("id"))
    except PayloadError as error:
        raise WebhookRejected(400, f"product.deleted needs an id: {error}") from None
    # The body does not say whether a product or a variation went to the trash.
    kind = (
        OperationObject.VARIATION if ProductVariation.objects.filter(id=object_id).exists() else OperationObject.PRODUCT
    )
    last_state = (
        SyncOperation.objects.filter(object_kind=kind, object_id=object_id)
        .exclude(action=OperationAction.TRASH)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    return [
        OperationSpec(
            object_kind=kind,
            object_id=object_id,
            action=OperationAction.TRASH,
            topic=topic,
            priority=PRIORITY_STOCK,  # a trashed product must stop being sold
            dedupe_key=f"wh:{kind}:{object_id}:trash:{dedupe_key_make(body, last_state or 0)}",
        )
    ]


def _order_specs(*, topic: str, body: bytes, data: dict[str, Any]) -> list[OperationSpec]:
    items = data.get("line_items")
    if not isinstance(items, list):
        raise WebhookRejected(400, "the order payload has no line_items list")
    body_key = dedupe_key_make(body)
    specs: dict[tuple[str, int], OperationSpec] = {}
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            logger.warning("webhook %s: line_items[%d] is not an object; skipped", topic, position)
            continue
        try:
            product_id = coerce_id(item.get("product_id"), "product_id")
            variation_id = coerce_id(item["variation_id"], "variation_id") if item.get("variation_id") else None
        except PayloadError as error:
            # A line item of a deleted product has product_id 0: nothing of ours to refresh.
            logger.info("webhook %s: line_items[%d] skipped (%s)", topic, position, error)
            continue
        if variation_id is not None:
            kind, object_id, parent_id = OperationObject.VARIATION, variation_id, product_id
        else:
            kind, object_id, parent_id = OperationObject.PRODUCT, product_id, None
        specs[(kind, object_id)] = OperationSpec(
            object_kind=kind,
            object_id=object_id,
            parent_id=parent_id,
            action=OperationAction.REFRESH,
            topic=topic,
            priority=PRIORITY_STOCK,
            dedupe_key=f"wh:{kind}:{object_id}:order:{body_key}",
        )
    return list(specs.values())


def webhook_receive(
    *, topic: str, body: bytes, signature: str | None, secret: str, now: datetime | None = None
) -> WebhookOutcome:
    """Verify one signed delivery, route it on its payload and enqueue its operations.

    Raises :class:`WebhookRejected` (nothing written): 401 for a missing or bad signature (or no
    secret configured), 400 for an unknown topic or a body that is not the JSON the topic needs.
    Call :func:`webhook_is_ping` first: the ping carries no signature.
    """
    if not secret:
        raise WebhookRejected(401, "webhook deliveries are refused: WOOCOMMERCE_WEBHOOK_SECRET is not set")
    if not signature:
        raise WebhookRejected(401, "missing X-WC-Webhook-Signature")
    if not webhook_signature_valid(body=body, signature=signature, secret=secret):
        raise WebhookRejected(401, "bad X-WC-Webhook-Signature")
    if topic not in TOPICS:
        raise WebhookRejected(400, f"unsupported topic {topic[:100]!r}")
    data = _json_object(body)
    if topic in PRODUCT_UPSERT_TOPICS and "id" not in data and isinstance(data.get("code"), str):
        logger.warning(
            "webhook %s: error body %r without a product id (edited, then permanently deleted before the "
            "delivery): nothing to queue; sync_woocommerce --full reconciles deletions",
            topic,
            str(data.get("code"))[:100],
        )
        return WebhookOutcome(topic=topic, operations=0, created=0, duplicates=0, ignored="error body without an id")
    now = now or timezone.now()
    if topic in PRODUCT_UPSERT_TOPICS:
        # The hot path (most deliveries): two round trips, the context and the insert.
        spec, context = _product_spec(topic=topic, body=body, data=data, now=now)
        created = not context.known and sync_operation_insert(spec=spec, hot=context.hot, now=now)
        return WebhookOutcome(topic=topic, operations=1, created=int(created), duplicates=int(not created))
    if topic == PRODUCT_DELETED_TOPIC:
        specs = _trash_specs(topic=topic, body=body, data=data)
    else:
        specs = _order_specs(topic=topic, body=body, data=data)
    result: EnqueueResult = sync_operations_enqueue(specs=specs, now=now)
    return WebhookOutcome(topic=topic, operations=len(specs), created=result.created, duplicates=result.duplicates)
