"""A small client for a running sandbox's ``/__sandbox__/`` control interface.

For tests that run the sandbox in another process, benchmarks and operators::

    control = SandboxControl("http://127.0.0.1:8800")
    control.sell(123, 2)
    control.set_faults(rate=0.2, seed=7)
"""

from __future__ import annotations

from typing import Any

import requests

from .server import CONTROL_PREFIX


class SandboxControlError(RuntimeError):
    """The control endpoint answered with an error (unknown id, bad field...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"sandbox control error {status}: {message}")
        self.status = status


class SandboxControl:
    """Drive a sandbox over HTTP. ``base_url`` is the store URL or its control URL; over https, ``verify``
    is the sandbox's CA file (``server.ca_cert``, printed by the command)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, verify: bool | str = True) -> None:
        base = base_url.rstrip("/")
        if not base.endswith(CONTROL_PREFIX):
            base += CONTROL_PREFIX
        self.base_url = base
        self.timeout = timeout
        self.verify = verify
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> SandboxControl:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        # Per request: a Session's own verify loses to REQUESTS_CA_BUNDLE in the environment.
        response = self._session.request(
            method, f"{self.base_url}/{path}", json=body, timeout=self.timeout, verify=self.verify
        )
        try:
            data = response.json()
        except ValueError:
            raise SandboxControlError(response.status_code, response.text[:200]) from None
        if response.status_code >= 400:
            raise SandboxControlError(response.status_code, data.get("error", response.text[:200]))
        return data

    # --- state and configuration ---------------------------------------------------------------------

    def state(self) -> dict:
        return self._call("GET", "state")

    def stats(self) -> dict:
        return self._call("GET", "stats")

    def reset_stats(self) -> dict:
        return self._call("POST", "stats/reset")

    def configure(self, **config: Any) -> dict:
        """``latency_ms``, ``store_variations``, ``page_limit`` (None lifts the limit); others are kept."""
        return self._call("POST", "config", config)

    def set_faults(self, **options: Any) -> dict:
        """Same keys as ``SandboxServer.set_faults`` (rate, kinds, seed, paths, count, retry_after,
        timeout_seconds)."""
        if "kinds" in options:
            options["kinds"] = list(options["kinds"])
        return self._call("POST", "faults", options)

    def clear_faults(self) -> dict:
        return self._call("DELETE", "faults")

    # --- catalog ---------------------------------------------------------------------------------------

    def product(self, product_id: int) -> dict:
        return self._call("GET", f"products/{product_id}")

    def add_product(self, **fields: Any) -> int:
        return self._call("POST", "products", {"fields": fields})["id"]

    def edit_product(self, product_id: int, *, touch_modified: bool = True, **fields: Any) -> dict:
        body = {"fields": fields, "touch_modified": touch_modified}
        return self._call("POST", f"products/{product_id}", body)["product"]

    def sell(self, item_id: int, quantity: int | float = 1, *, touch_modified: bool = False) -> dict:
        """Sell a product or a variation (by id); stock goes down, date_modified untouched by default."""
        return self._call("POST", f"products/{item_id}/sell", {"quantity": quantity, "touch_modified": touch_modified})

    def trash_product(self, product_id: int) -> dict:
        return self._call("POST", f"products/{product_id}/trash")["product"]

    def restore_product(self, product_id: int, status: str = "draft") -> dict:
        return self._call("POST", f"products/{product_id}/restore", {"status": status})["product"]

    def delete_product(self, product_id: int) -> None:
        self._call("DELETE", f"products/{product_id}")

    def variation(self, variation_id: int) -> dict:
        return self._call("GET", f"variations/{variation_id}")

    def add_variation(self, parent_id: int, **fields: Any) -> int:
        return self._call("POST", f"products/{parent_id}/variations", {"fields": fields})["id"]

    def edit_variation(self, variation_id: int, *, touch_modified: bool = True, **fields: Any) -> dict:
        body = {"fields": fields, "touch_modified": touch_modified}
        return self._call("POST", f"variations/{variation_id}", body)["variation"]

    def delete_variation(self, variation_id: int) -> None:
        self._call("DELETE", f"variations/{variation_id}")

    def add_category(self, **fields: Any) -> int:
        return self._call("POST", "categories", {"fields": fields})["id"]

    def edit_category(self, category_id: int, **fields: Any) -> dict:
        return self._call("POST", f"categories/{category_id}", {"fields": fields})["category"]

    def delete_category(self, category_id: int) -> None:
        self._call("DELETE", f"categories/{category_id}")

    # --- webhooks and orders (sync/sandbox/webhooks_control.py) ---------------------------------------

    def webhooks(self) -> dict:
        """``{"webhooks": [... with failure_count], "pending", "pending_deliveries", "deliveries", "pings",
        "faults"}``."""
        return self._call("GET", "webhooks")

    def add_webhook(self, *, topic: str, delivery_url: str, secret: str, name: str = "Sandbox webhook") -> dict:
        """Register an active webhook (pinged, as ``POST webhooks`` does)."""
        body = {"topic": topic, "delivery_url": delivery_url, "secret": secret, "name": name}
        return self._call("POST", "webhooks", body)

    def edit_webhook(self, webhook_id: int, **fields: Any) -> dict:
        """``status``, ``delivery_url``, ``secret``, ``topic``, ``name``, ``failure_count``."""
        return self._call("POST", f"webhooks/{webhook_id}", fields)

    def disable_webhook(self, webhook_id: int) -> dict:
        return self._call("POST", f"webhooks/{webhook_id}/disable")

    def deliver_webhooks(self) -> list[dict]:
        """Run the pending delivery queue now; one record per delivery."""
        return self._call("POST", "webhooks/deliver")

    def set_webhook_faults(self, *, fail_rate: float = 0.0, delay_ms: float = 0.0, seed: int = 1) -> dict:
        return self._call("POST", "webhooks/faults", {"fail_rate": fail_rate, "delay_ms": delay_ms, "seed": seed})

    def clear_webhook_faults(self) -> dict:
        return self._call("DELETE", "webhooks/faults")

    def create_order(self, line_items: list[dict], *, status: str = "processing", set_paid: bool = True) -> dict:
        """A paid order: stock sold, ``order.created``/``order.updated``/``product.updated`` queued."""
        return self._call("POST", "orders", {"line_items": line_items, "status": status, "set_paid": set_paid})

    def set_write_latency(self, latency_ms: float) -> dict:
        """Delay every REST write request by ``latency_ms`` (a batch is one request)."""
        return self._call("POST", "writes", {"latency_ms": latency_ms})

    def writes(self) -> dict:
        """``{"latency_ms", "writes", "writes_in_flight", "max_writes_in_flight", "requests_in_flight",
        "max_requests_in_flight"}`` (the last two count reads too)."""
        return self._call("GET", "writes")

    def set_raw_item(self, kind: str, item_id: int, text: str | None) -> dict:
        """Serve ``text`` (any JSON text) in place of a product, variation or category; None restores it."""
        if text is None:
            return self._call("DELETE", f"raw/{kind}/{item_id}")
        return self._call("POST", f"raw/{kind}/{item_id}", {"json": text})
