"""Webhooks in the sandbox store, delivered the way a real WooCommerce 11 store delivers them.

What ``shared/woocommerce-api-notes.md`` §11 saw, and ``WC_Webhook`` does:

- catalog and order changes call :meth:`WebhookDispatcher.on_event`; each *active* webhook whose topic
  matches queues one pending delivery of (webhook, resource id), unless one is already pending: rapid
  edits collapse into one delivery;
- nothing is sent synchronously: :meth:`deliver_pending` (``server.deliver_webhooks()``, the control
  call, or the background thread standing in for WP-Cron) sends the queue one after another in
  creation order, building each payload **at delivery time** from the current state;
- never retried; 200-302 resets ``failure_count``, anything else increments it, and a failure with the
  count already above 5 (the 7th in a row) sets the webhook ``disabled`` instead. Re-activating keeps
  the count. Deliveries already pending still go out after the webhook was disabled (``deliver()``
  does not check the status; only queueing does);
- a webhook created through REST is pinged synchronously (form body ``webhook_id=N``, 5 s timeout,
  result ignored); until a ping gets exactly 200, the ping is sent again after each later delivery.

Fault injection (``set_faults``): ``fail_rate`` loses a delivery as a network failure would (nothing
reaches the receiver; it counts as a failure), ``delay_ms`` is a slow network before each delivery.
"""

from __future__ import annotations

import itertools
import logging
import random
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import webhook_http
from .catalog import UnknownObject
from .oauth import WpError
from .rest import encode_json

if TYPE_CHECKING:
    from .catalog import SandboxCatalog

logger = logging.getLogger("sync.sandbox")

STATUSES = ("active", "paused", "disabled")
RESOURCES = ("coupon", "customer", "order", "product")
EVENTS = ("created", "updated", "deleted", "restored")
# WC_Webhook::get_hooks() for the topics this store fires (the others are accepted, and never fire).
TOPIC_HOOKS: dict[str, list[str]] = {
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "order.deleted": ["wp_trash_post", "woocommerce_trash_order"],
    "order.restored": ["untrashed_post", "woocommerce_untrash_order"],
    "product.created": [
        "woocommerce_process_product_meta",
        "woocommerce_new_product",
        "woocommerce_new_product_variation",
    ],
    "product.updated": [
        "woocommerce_process_product_meta",
        "woocommerce_update_product",
        "woocommerce_update_product_variation",
    ],
    "product.deleted": ["wp_trash_post"],
    "product.restored": ["untrashed_post"],
}
# Records kept (a sandbox left running for days must not grow without bound).
MAX_RECORDS = 100_000
MAX_FAILURES = 5  # woocommerce_max_webhook_delivery_failures: disabled once the count is already above it
DELIVERY_TIMEOUT = 60.0
PING_TIMEOUT = 5.0


def valid_topic(topic: object) -> bool:
    """``wc_is_webhook_valid_topic``: ``resource.event`` of the core ones, or ``action.<hook>``."""
    if not isinstance(topic, str):
        return False
    resource, dot, event = topic.partition(".")
    if resource == "action":
        return bool(dot and event and "." not in event)
    return resource in RESOURCES and event in EVENTS


@dataclass
class Webhook:
    id: int
    name: str
    topic: str
    delivery_url: str
    secret: str
    created: int
    modified: int
    status: str = "active"
    failure_count: int = 0
    ping_pending: bool = True  # WooCommerce's pending_delivery: cleared by a ping answered with 200

    @property
    def resource(self) -> str:
        return self.topic.partition(".")[0]

    @property
    def event(self) -> str:
        return self.topic.partition(".")[2]


@dataclass
class _Pending:
    webhook_id: int
    resource_id: int
    queued_at: float = field(default_factory=time.time)


@dataclass
class WebhookFaults:
    fail_rate: float = 0.0
    delay_ms: float = 0.0
    seed: int = 1
    rng: random.Random = field(default_factory=random.Random)

    def describe(self) -> dict | None:
        if not self.fail_rate and not self.delay_ms:
            return None
        return {"fail_rate": self.fail_rate, "delay_ms": self.delay_ms, "seed": self.seed}


class WebhookDispatcher:
    """The store's webhooks: registry, pending queue, deliveries and their faults. Thread-safe.

    Lock order: the catalog's lock, then this one (``on_event`` runs under the catalog's lock); this
    lock is never held while building a payload or while talking HTTP.
    """

    def __init__(
        self,
        catalog: SandboxCatalog,
        *,
        site_url: Callable[[], str],
        stop_event: threading.Event,
        timeout: float = DELIVERY_TIMEOUT,
        ping_timeout: float = PING_TIMEOUT,
    ) -> None:
        self.catalog = catalog
        self.timeout = timeout
        self.ping_timeout = ping_timeout
        self._site_url = site_url
        self._stop = stop_event
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._webhooks: dict[int, Webhook] = {}
        self._ids = itertools.count(1)
        self._pending: OrderedDict[tuple[int, int], _Pending] = OrderedDict()
        self.deliveries: deque[dict] = deque(maxlen=MAX_RECORDS)
        self.pings: deque[dict] = deque(maxlen=MAX_RECORDS)
        self.faults = WebhookFaults()
        self._salt = secrets.token_bytes(16)
        self._thread: threading.Thread | None = None
        self._thread_stop = threading.Event()
        catalog.listeners.append(self.on_event)

    # --- registry -----------------------------------------------------------------------------------

    def create(self, *, name: str, topic: str, delivery_url: str, secret: str) -> Webhook:
        """Register an active webhook (no ping: the REST layer sends it outside the catalog's lock)."""
        topic = topic.lower() if isinstance(topic, str) else topic
        if not valid_topic(topic):
            raise ValueError(f"invalid topic {topic!r}")
        now = int(time.time())
        with self._lock:
            webhook_id = next(self._ids)
            webhook = Webhook(webhook_id, name, topic, delivery_url, secret, now, now)
            self._webhooks[webhook_id] = webhook
        return webhook

    def get(self, webhook_id: int) -> Webhook:
        with self._lock:
            webhook = self._webhooks.get(webhook_id)
        if webhook is None:
            raise UnknownObject(f"no webhook {webhook_id}")
        return webhook

    def all(self) -> list[Webhook]:
        with self._lock:
            return list(self._webhooks.values())

    def update(self, webhook_id: int, **fields: str) -> Webhook:
        """Change ``name``, ``status``, ``topic``, ``delivery_url`` or ``secret``. Re-activation keeps
        ``failure_count`` (one more failure disables the webhook again), as on WooCommerce."""
        unknown = set(fields) - {"name", "status", "topic", "delivery_url", "secret"}
        if unknown:
            raise ValueError(f"unknown webhook fields: {sorted(unknown)}")
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        if "topic" in fields and not valid_topic(fields["topic"]):
            raise ValueError(f"invalid topic {fields['topic']!r}")
        with self._lock:
            webhook = self._webhooks.get(webhook_id)
            if webhook is None:
                raise UnknownObject(f"no webhook {webhook_id}")
            for name, value in fields.items():
                setattr(webhook, name, value)
            webhook.modified = int(time.time())
            return webhook

    def delete(self, webhook_id: int) -> Webhook:
        """Remove a webhook and drop its pending deliveries (WooCommerce's async action then fails)."""
        with self._lock:
            webhook = self._webhooks.pop(webhook_id, None)
            if webhook is None:
                raise UnknownObject(f"no webhook {webhook_id}")
            for key in [k for k in self._pending if k[0] == webhook_id]:
                del self._pending[key]
            return webhook

    def set_failure_count(self, webhook_id: int, count: object) -> Webhook:
        """Set the consecutive-failure counter (control interface: a webhook one failure from disabling)."""
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 1000:
            raise ValueError("failure_count must be an integer within 0..1000")
        with self._lock:
            webhook = self._webhooks.get(webhook_id)
            if webhook is None:
                raise UnknownObject(f"no webhook {webhook_id}")
            webhook.failure_count = count
            return webhook

    def disable(self, webhook_id: int) -> Webhook:
        return self.update(webhook_id, status="disabled")

    def webhook_json(self, webhook: Webhook) -> dict:
        """A webhook as ``GET webhooks/<id>`` shows it (never the secret)."""
        created_local, created_gmt = self.catalog._dates(webhook.created)
        modified_local, modified_gmt = self.catalog._dates(webhook.modified)
        api = f"{self._site_url()}/wp-json/wc/v3/webhooks"
        return {
            "id": webhook.id,
            "name": webhook.name,
            "status": webhook.status,
            "topic": webhook.topic,
            "resource": webhook.resource,
            "event": webhook.event,
            "hooks": list(TOPIC_HOOKS.get(webhook.topic, [webhook.event] if webhook.resource == "action" else [])),
            "delivery_url": webhook.delivery_url,
            "date_created": created_local,
            "date_created_gmt": created_gmt,
            "date_modified": modified_local,
            "date_modified_gmt": modified_gmt,
            "_links": {"self": [{"href": f"{api}/{webhook.id}"}], "collection": [{"href": api}]},
        }

    # --- events -------------------------------------------------------------------------------------

    def on_event(self, topic: str, resource_id: int) -> None:
        """Queue a delivery for every active webhook on ``topic``, unless one is pending for it."""
        with self._lock:
            for webhook in self._webhooks.values():
                if webhook.status != "active" or webhook.topic != topic:
                    continue
                key = (webhook.id, resource_id)
                if key not in self._pending:
                    self._pending[key] = _Pending(webhook.id, resource_id)

    @property
    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    def pending(self) -> list[dict]:
        with self._lock:
            return [{"webhook_id": p.webhook_id, "resource_id": p.resource_id} for p in self._pending.values()]

    # --- delivery -----------------------------------------------------------------------------------

    def deliver_pending(self) -> list[dict]:
        """Send every delivery pending now, one after another in creation order; return their records.

        Events arriving meanwhile wait for the next run (as Action Scheduler claims a batch). A second
        caller waits for the run in progress and then runs what is left.
        """
        with self._run_lock:
            with self._lock:
                keys = list(self._pending)
            records = []
            for key in keys:
                if self._stop.is_set():
                    break
                with self._lock:
                    item = self._pending.pop(key, None)
                    webhook = self._webhooks.get(key[0])
                if item is None or webhook is None:
                    continue
                records.append(self._deliver(webhook, item))
                if webhook.ping_pending:
                    self.ping(webhook)
            return records

    def _deliver(self, webhook: Webhook, item: _Pending) -> dict:
        with self._lock:
            topic, url, secret, webhook_id = webhook.topic, webhook.delivery_url, webhook.secret, webhook.id
            fail, delay = self._draw_fault()
        body = encode_json(self._payload(webhook, item.resource_id))
        source = self._site_url() + "/"
        delivery = webhook_http.delivery_id(webhook_id, self._salt)
        started = time.perf_counter()
        if delay and self._stop.wait(delay):
            fail = True  # the server is stopping: give up like a dropped connection
        if fail:
            result = webhook_http.HttpResult(None, "injected failure", time.perf_counter() - started)
        else:
            headers = webhook_http.delivery_headers(
                source=source, topic=topic, webhook_id=webhook_id, body=body, secret=secret, delivery=delivery
            )
            result = webhook_http.post(url, body, headers, timeout=self.timeout)
        success = result.status_code is not None and 200 <= result.status_code < 303
        with self._lock:
            if success:
                webhook.failure_count = 0
            elif webhook.failure_count > MAX_FAILURES:
                webhook.status = "disabled"
            else:
                webhook.failure_count += 1
            record = {
                "webhook_id": webhook_id,
                "topic": topic,
                "resource_id": item.resource_id,
                "status_code": result.status_code,
                "error": result.error,
                "success": success,
                "duration": round(time.perf_counter() - started, 5),
                "delivery_id": delivery,
                "delivered_at": time.time(),
                "webhook_status": webhook.status,
                "failure_count": webhook.failure_count,
            }
            self.deliveries.append(record)
        logger.debug("webhook %s %s #%s -> %s", webhook_id, topic, item.resource_id, result.status_code or result.error)
        return dict(record)

    def _payload(self, webhook: Webhook, resource_id: int) -> object:
        """``WC_Webhook::build_payload`` against the current state (the catalog's lock, never ours)."""
        if webhook.event == "deleted":
            return {"id": resource_id}
        if webhook.resource == "product":
            try:
                return self.catalog.product_payload(resource_id)
            except UnknownObject:
                return WpError("woocommerce_rest_product_invalid_id", "Invalid ID.", 404).body()
        if webhook.resource == "order":
            try:
                return self.catalog.orders.order_payload(resource_id)
            except UnknownObject:
                return WpError("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404).body()
        if webhook.resource == "action":
            return {"action": webhook.event, "arg": resource_id}
        return {}

    def ping(self, webhook: Webhook) -> dict:
        """``WC_Webhook::deliver_ping``: a form POST ``webhook_id=N``; only exactly 200 clears it."""
        body = f"webhook_id={webhook.id}".encode()
        result = webhook_http.post(webhook.delivery_url, body, webhook_http.ping_headers(), timeout=self.ping_timeout)
        with self._lock:
            if result.status_code == 200:
                webhook.ping_pending = False
            record = {
                "webhook_id": webhook.id,
                "status_code": result.status_code,
                "error": result.error,
                "duration": round(result.duration, 5),
            }
            self.pings.append(record)
        return dict(record)

    # --- faults -------------------------------------------------------------------------------------

    def set_faults(self, *, fail_rate: float = 0.0, delay_ms: float = 0.0, seed: int = 1) -> None:
        """``fail_rate`` 0..1: that share of deliveries is lost (seeded); ``delay_ms``: each waits that long."""
        if isinstance(fail_rate, bool) or not isinstance(fail_rate, int | float) or not 0 <= fail_rate <= 1:
            raise ValueError("fail_rate must be a number within 0..1")
        if isinstance(delay_ms, bool) or not isinstance(delay_ms, int | float) or not 0 <= delay_ms <= 600_000:
            raise ValueError("delay_ms must be a number within 0..600000")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError("seed must be an integer")
        with self._lock:
            self.faults = WebhookFaults(float(fail_rate), float(delay_ms), seed, random.Random(seed))

    def _draw_fault(self) -> tuple[bool, float]:
        faults = self.faults
        fail = faults.fail_rate > 0 and faults.rng.random() < faults.fail_rate
        return fail, faults.delay_ms / 1000

    # --- background runner (WP-Cron) -----------------------------------------------------------------

    def start_background(self, interval: float) -> None:
        """Run the queue every ``interval`` seconds from a daemon thread until :meth:`stop_background`."""
        if interval <= 0:
            raise ValueError("webhook_delivery_interval must be > 0")
        if self._thread is not None:
            return
        self._thread_stop.clear()

        def run() -> None:
            while not self._thread_stop.wait(interval) and not self._stop.is_set():
                self.deliver_pending()

        self._thread = threading.Thread(target=run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def stop_background(self) -> None:
        self._thread_stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def delivery_records(self) -> list[dict]:
        with self._lock:
            return [dict(d) for d in self.deliveries]

    # --- summary ------------------------------------------------------------------------------------

    def describe(self) -> dict:
        """Webhooks with their ``failure_count``, the pending count, deliveries and pings (control GET)."""
        webhooks = self.all()
        with self._lock:
            listed = [{**self.webhook_json(w), "failure_count": w.failure_count, "ping_pending": w.ping_pending}
                      for w in webhooks]  # fmt: skip
            return {
                "webhooks": listed,
                "pending": len(self._pending),
                "pending_deliveries": [
                    {"webhook_id": p.webhook_id, "resource_id": p.resource_id} for p in self._pending.values()
                ],
                "deliveries": [dict(d) for d in self.deliveries],
                "pings": [dict(p) for p in self.pings],
                "faults": self.faults.describe(),
            }
