"""Helpers for the push tests: local-edit rows of the contract's shape, a mirrored store, webhook capture."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.utils import timezone

from sync.models import SyncOperation
from sync.services.queue import sync_queue_process_batch
from sync.woocommerce.client import WooCommerceClient
from tests.sync.webhook_samples import SAMPLE_SECRET, post, signed_delivery


def local_edit(
    *,
    object_id: int,
    new: dict,
    base: dict,
    kind: str = "product",
    parent_id: int | None = None,
    origin: str = "local_edit",
) -> SyncOperation:
    """A row as twoway-in's enqueue service writes it (see the contract of issue 11)."""
    now = timezone.now()
    return SyncOperation.objects.create(
        origin=origin,
        object_kind=kind,
        object_id=object_id,
        parent_id=parent_id,
        action="update",
        new_values=new,
        base_values=base,
        dedupe_key=f"{origin}:{uuid.uuid4()}",
        sort_at=now,
        next_attempt_at=now,
        created_at=now,
    )


def client(**overrides) -> WooCommerceClient:
    return WooCommerceClient.from_settings(**{"max_retries": 0, "pool_maxsize": 8, **overrides})


def drain(woo: WooCommerceClient, *, rounds: int = 50, **kwargs):
    """Process batches until nothing is due; returns the summed result."""
    total = None
    for _ in range(rounds):
        result = sync_queue_process_batch(worker="push-test", client=woo, store_variations=lambda: True, **kwargs)
        total = result if total is None else total + result
        if not result.claimed:
            return total
    raise AssertionError("the queue did not drain")


def simple_products(server, count: int = 1) -> list[int]:
    found = [
        pid
        for pid, p in sorted(server.catalog.products.items())
        if p["type"] == "simple" and p["status"] == "publish" and p["manage_stock"] is True
    ]
    assert len(found) >= count
    return found[:count]


class Receiver:
    """An HTTP endpoint the sandbox delivers its webhooks to; keeps the raw bodies."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                topic = self.headers.get("X-WC-Webhook-Topic")
                if topic:
                    receiver.bodies.append((topic, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def forward(self, django_client) -> int:
        """Hand every captured delivery to the real receiver (signed as the store would); returns how many."""
        bodies, self.bodies = self.bodies, []
        for topic, body in bodies:
            assert post(django_client, signed_delivery(topic, body)).status_code == 200
        return len(bodies)


def webhook_register(woo: WooCommerceClient, url: str) -> None:
    woo.write("POST", "webhooks", {"topic": "product.updated", "delivery_url": url, "secret": SAMPLE_SECRET})


def resource(woo: WooCommerceClient, object_id: int) -> dict:
    return woo.get(f"products/{object_id}").data


__all__ = ["json"]
