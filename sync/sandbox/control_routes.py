"""The control interface's routes for the catalog, config, faults and stats (``/__sandbox__/...``).

JSON in and out, never authenticated, faulted or delayed; the table is in ``sync/sandbox/README.md``.
The ``webhooks``, ``orders`` and ``writes`` routes are in ``webhooks_control.py``; ``control.py`` is the
client for other processes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from . import webhooks_control
from .values import CatalogError, UnknownObject

if TYPE_CHECKING:
    from .server import SandboxServer

CONTROL_PREFIX = "/__sandbox__"


def serve_control(server: SandboxServer, method: str, path: str, body: bytes) -> tuple[int, object]:
    """Run one control request; returns (status, JSON-able body)."""
    parts = [p for p in path[len(CONTROL_PREFIX) :].split("/") if p]
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError:
        return 400, {"error": "body is not JSON"}
    if not isinstance(data, dict):
        return 400, {"error": "body must be a JSON object"}
    try:
        return _control(server, method, parts, data)
    except UnknownObject as error:
        return 404, {"error": str(error)}
    except (CatalogError, ValueError, TypeError) as error:
        return 400, {"error": str(error)}


def _control(server: SandboxServer, method: str, parts: list[str], data: dict) -> tuple[int, object]:
    catalog = server.catalog
    fields = data.get("fields", data) if isinstance(data.get("fields", data), dict) else data
    route = (method, *[p if not p.isdigit() else "<id>" for p in parts])
    ids = [int(p) for p in parts if p.isdigit()]
    if parts and parts[0] in ("webhooks", "orders", "writes"):
        return webhooks_control.webhook_control(server, method, parts, data)
    if route == ("GET", "state"):
        return 200, server.state()
    if route == ("GET", "stats"):
        return 200, server.stats
    if route == ("POST", "stats", "reset"):
        server.reset_stats()
        return 200, server.stats
    if route == ("POST", "config"):
        unknown = set(data) - {"latency_ms", "store_variations", "page_limit", "proxy_hides_https"}
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        if "latency_ms" in data:
            latency = float(data["latency_ms"])
            if latency < 0:
                raise ValueError("latency_ms must be >= 0")
            server.latency_ms = latency
        if "store_variations" in data:
            server.store_variations = bool(data["store_variations"])
        if "proxy_hides_https" in data:
            if not isinstance(data["proxy_hides_https"], bool):
                raise ValueError("proxy_hides_https must be true or false")
            server.proxy_hides_https = data["proxy_hides_https"]
        if "page_limit" in data:
            limit = data["page_limit"]
            if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
                raise ValueError("page_limit must be a positive integer or null")
            server.page_limit = limit
        return 200, server.state()["config"]
    if route == ("POST", "faults"):
        allowed = {"rate", "kinds", "seed", "paths", "count", "retry_after", "timeout_seconds"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        server.set_faults(**data)
        return 200, {"faults": server.faults}
    if route == ("DELETE", "faults"):
        server.clear_faults()
        return 200, {"faults": None}
    if route == ("POST", "products"):
        product_id = catalog.add_product(**fields)
        return 201, {"id": product_id, "product": catalog.product_payload(product_id)}
    if route == ("GET", "products", "<id>"):
        return 200, catalog.product_payload(ids[0])
    if route == ("POST", "products", "<id>"):
        touch = bool(data.get("touch_modified", True))
        return 200, {"id": ids[0], "product": catalog.edit_product(ids[0], touch, **_fields_only(data))}
    if route in (("POST", "products", "<id>", "sell"), ("POST", "variations", "<id>", "sell")):
        if parts[0] == "variations" and ids[0] not in catalog.variations:
            raise UnknownObject(f"no variation {ids[0]}")
        quantity = data.get("quantity", 1)
        return 200, catalog.sell(ids[0], quantity, bool(data.get("touch_modified", False)))
    if route == ("POST", "products", "<id>", "trash"):
        return 200, {"id": ids[0], "product": catalog.trash_product(ids[0])}
    if route == ("POST", "products", "<id>", "restore"):
        return 200, {"id": ids[0], "product": catalog.restore_product(ids[0], data.get("status", "draft"))}
    if route == ("DELETE", "products", "<id>"):
        catalog.delete_product(ids[0])
        return 200, {"id": ids[0], "deleted": True}
    if route == ("POST", "products", "<id>", "variations"):
        variation_id = catalog.add_variation(ids[0], **fields)
        return 201, {"id": variation_id, "variation": catalog.variation_payload(variation_id)}
    if route == ("GET", "variations", "<id>"):
        return 200, catalog.variation_payload(ids[0])
    if route == ("POST", "variations", "<id>"):
        touch = bool(data.get("touch_modified", True))
        return 200, {"id": ids[0], "variation": catalog.edit_variation(ids[0], touch, **_fields_only(data))}
    if route == ("DELETE", "variations", "<id>"):
        catalog.delete_variation(ids[0])
        return 200, {"id": ids[0], "deleted": True}
    if route == ("POST", "categories"):
        category_id = catalog.add_category(**fields)
        return 201, {"id": category_id, "category": catalog.category_payload(category_id)}
    if route == ("GET", "categories", "<id>"):
        return 200, catalog.category_payload(ids[0])
    if route == ("POST", "categories", "<id>"):
        return 200, {"id": ids[0], "category": catalog.edit_category(ids[0], **fields)}
    if route == ("DELETE", "categories", "<id>"):
        catalog.delete_category(ids[0])
        return 200, {"id": ids[0], "deleted": True}
    if route == ("POST", "raw", parts[1] if len(parts) > 1 else "", "<id>"):
        if not isinstance(data.get("json"), str):
            raise ValueError('body must be {"json": "<JSON text>"}')
        catalog.set_raw_item(parts[1], ids[0], data["json"])
        return 200, {"kind": parts[1], "id": ids[0], "raw": True}
    if route == ("DELETE", "raw", parts[1] if len(parts) > 1 else "", "<id>"):
        catalog.set_raw_item(parts[1], ids[0], None)
        return 200, {"kind": parts[1], "id": ids[0], "raw": False}
    return 404, {"error": f"no control endpoint {method} {'/'.join(parts)}"}


def _fields_only(data: dict) -> dict:
    if isinstance(data.get("fields"), dict):
        return data["fields"]
    return {k: v for k, v in data.items() if k != "touch_modified"}
