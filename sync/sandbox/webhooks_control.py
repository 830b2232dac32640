"""The control interface's ``webhooks``, ``orders`` and ``writes`` routes (``/__sandbox__/webhooks...``).

| Method and path | Body | Effect |
|---|---|---|
| `GET webhooks` | | webhooks with `failure_count`, pending deliveries, deliveries, pings, faults |
| `POST webhooks` | `{name?, topic, delivery_url, secret?}` | register one, pinged like `POST webhooks` over REST |
| `POST webhooks/deliver` | | run the pending queue now; answers the delivery records (a list) |
| `POST webhooks/<id>` | `{status?, delivery_url?, secret?, topic?, name?, failure_count?}` | edit |
| `POST webhooks/<id>/disable`, `DELETE webhooks/<id>` | | disable / delete |
| `POST webhooks/faults`, `DELETE webhooks/faults` | `{fail_rate, delay_ms, seed}` | delivery faults |
| `POST orders`, `GET orders/<id>` | `{line_items, status?, set_paid?}` | a paid order (stock sold, events queued) |
| `GET writes`, `POST writes` | `{"latency_ms": n}` | write latency; writes in flight, most seen at once |
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from .webhooks import Webhook

if TYPE_CHECKING:
    from .server import SandboxServer

_EDITABLE = {"name", "status", "topic", "delivery_url", "secret"}


def webhook_control(server: SandboxServer, method: str, parts: list[str], data: dict) -> tuple[int, object]:
    """Answer one control request under ``webhooks/`` or ``orders/``; (status, JSON-able body).

    Raises ``UnknownObject`` (404) or ``ValueError``/``TypeError``/``CatalogError`` (400) like the other
    control routes, which ``SandboxServer.serve_control`` maps.
    """
    dispatcher = server.webhooks
    route = (method, *[p if not p.isdigit() else "<id>" for p in parts])
    ids = [int(p) for p in parts if p.isdigit()]
    if route == ("GET", "webhooks"):
        return 200, dispatcher.describe()
    if route == ("POST", "webhooks"):
        webhook = _create(server, data)
        return 201, {**dispatcher.webhook_json(webhook), "failure_count": webhook.failure_count}
    if route == ("POST", "webhooks", "deliver"):
        return 200, server.deliver_webhooks()
    if route == ("POST", "webhooks", "faults"):
        unknown = set(data) - {"fail_rate", "delay_ms", "seed"}
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        dispatcher.set_faults(**data)
        return 200, {"faults": dispatcher.faults.describe()}
    if route == ("DELETE", "webhooks", "faults"):
        dispatcher.set_faults()
        return 200, {"faults": None}
    if route == ("GET", "webhooks", "<id>"):
        return 200, _described(server, dispatcher.get(ids[0]))
    if route == ("POST", "webhooks", "<id>"):
        fields = dict(data)
        failure_count = fields.pop("failure_count", None)
        unknown = set(fields) - _EDITABLE
        if unknown:
            raise ValueError(f"unknown webhook fields: {sorted(unknown)}")
        if not all(isinstance(value, str) for value in fields.values()):
            raise ValueError("webhook fields must be strings")
        webhook = dispatcher.update(ids[0], **fields)
        if failure_count is not None:
            webhook = dispatcher.set_failure_count(ids[0], failure_count)
        return 200, _described(server, webhook)
    if route == ("POST", "webhooks", "<id>", "disable"):
        return 200, _described(server, dispatcher.disable(ids[0]))
    if route == ("DELETE", "webhooks", "<id>"):
        dispatcher.delete(ids[0])
        return 200, {"id": ids[0], "deleted": True}
    if route == ("POST", "orders"):
        unknown = set(data) - {"line_items", "status", "set_paid", "meta_data"}
        if unknown:
            raise ValueError(f"unknown order keys: {sorted(unknown)}")
        return 201, server.create_order(**data)
    if route == ("GET", "orders", "<id>"):
        return 200, server.catalog.orders.order_payload(ids[0])
    if route == ("GET", "writes"):
        return 200, {"latency_ms": server.writes.latency_ms, **server.writes.stats()}
    if route == ("POST", "writes"):
        unknown = set(data) - {"latency_ms"}
        if unknown:
            raise ValueError(f"unknown write keys: {sorted(unknown)}")
        if "latency_ms" in data:
            server.writes.set_latency(data["latency_ms"])
        return 200, {"latency_ms": server.writes.latency_ms, **server.writes.stats()}
    return 404, {"error": f"no control endpoint {method} {'/'.join(parts)}"}


def _create(server: SandboxServer, data: dict) -> Webhook:
    unknown = set(data) - {"name", "topic", "delivery_url", "secret", "status"}
    if unknown:
        raise ValueError(f"unknown webhook fields: {sorted(unknown)}")
    for name in ("name", "topic", "delivery_url", "secret"):
        if name in data and not isinstance(data[name], str):
            raise ValueError(f"{name} must be a string")
    if not data.get("delivery_url", "").startswith(("http://", "https://")):
        raise ValueError("delivery_url must start with http:// or https://")
    webhook = server.webhooks.create(
        name=data.get("name") or "Sandbox webhook",
        topic=data.get("topic", ""),
        delivery_url=data["delivery_url"],
        secret=data.get("secret") or secrets.token_hex(20),
    )
    server.webhooks.ping(webhook)
    return webhook


def _described(server: SandboxServer, webhook: Webhook) -> dict:
    return {
        **server.webhooks.webhook_json(webhook),
        "failure_count": webhook.failure_count,
        "ping_pending": webhook.ping_pending,
    }
