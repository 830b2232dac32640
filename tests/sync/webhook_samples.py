"""Captured WooCommerce 11 webhook deliveries (tests/fixtures/woocommerce/webhooks/) and signing helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "woocommerce" / "webhooks"
# The secret the captured deliveries were signed with: a published sample value, not a real one.
SAMPLE_SECRET = "sample-secret & <é> 'q' %41"
WEBHOOK_URL = "/api/webhooks/woocommerce/"

# In the order the store sent them (fixtures README).
SAMPLES_IN_ORDER = (
    "product.created-variable-parent",
    "product.created-variation",
    "product.created-simple",
    "product.updated-price-edit",
    "product.updated-variation-stock-edit",
    "order.created-paid",
    "product.updated-after-order-simple",
    "product.updated-after-order-variation",
    "product.deleted-trash",
)


@dataclass(frozen=True)
class Delivery:
    name: str
    headers: dict[str, str]
    body: bytes

    @property
    def topic(self) -> str:
        return self.headers.get("X-WC-Webhook-Topic", "")

    @property
    def signature(self) -> str | None:
        return self.headers.get("X-WC-Webhook-Signature")

    def wc_headers(self) -> dict[str, str]:
        """The headers a test client sends (Content-Type and Content-Length are the client's)."""
        return {k: v for k, v in self.headers.items() if k not in ("Content-Type", "Content-Length")}

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "application/json")


def sample(name: str) -> Delivery:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return Delivery(name=name, headers=data["headers"], body=base64.b64decode(data["body_base64"]))


def sign(body: bytes, secret: str = SAMPLE_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signed_delivery(topic: str, payload: dict | bytes, *, secret: str = SAMPLE_SECRET) -> Delivery:
    """A delivery as the store would send it, with WooCommerce's ``\\/`` escaping."""
    body = (
        payload
        if isinstance(payload, bytes)
        else json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()
    )
    resource, _, event = topic.partition(".")
    headers = {
        "User-Agent": "WooCommerce/11.0.1 Hookshot (WordPress/7.0.4)",
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": "http://127.0.0.1:8080/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": sign(body, secret),
        "X-WC-Webhook-ID": "16",
        "X-WC-Webhook-Delivery-ID": "471edb914c55063ae7420e5ac5bced68",
    }
    return Delivery(name=topic, headers=headers, body=body)


def post(client, delivery: Delivery):
    return client.post(
        WEBHOOK_URL, data=delivery.body, content_type=delivery.content_type, headers=delivery.wc_headers()
    )
