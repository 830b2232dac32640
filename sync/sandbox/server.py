"""The sandbox's HTTP server: WooCommerce REST v3 on loopback, plus a JSON control interface.

``SandboxServer`` serves from a background thread (HTTP/1.1 keep-alive, one thread per connection).
Requests under ``/wp-json/`` go to :class:`~sync.sandbox.rest.WooCommerceApi` after latency and fault
injection; requests under ``/__sandbox__/`` are the control interface (never authenticated, faulted
or delayed). See ``sync/sandbox/__init__.py`` for the whole picture.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import socket
import threading
import time
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from . import rest_store, webhooks, webhooks_control, write_meter
from .catalog import CatalogError, SandboxCatalog, UnknownObject
from .faults import FAULT_KINDS, FaultInjector, fault_page
from .oauth import ApiKey, OAuthVerifier, php_build_query, php_parse_qs
from .rest import JSON_CONTENT_TYPE, ApiRequest, ApiResponse, WooCommerceApi, encode_json

logger = logging.getLogger("sync.sandbox")

CONTROL_PREFIX = "/__sandbox__"
_HTML_CONTENT_TYPE = "text/html; charset=UTF-8"
# Collections (paged; WooCommerce's default per_page is 10), as named in the request stats.
_LISTINGS = frozenset({"GET products", "GET products/categories", "GET products/<id>/variations", "GET variations"})
_REST_HEADERS = (
    ("X-Robots-Tag", "noindex"),
    ("X-Content-Type-Options", "nosniff"),
    ("Access-Control-Expose-Headers", "X-WP-Total, X-WP-TotalPages, Link"),
    ("Access-Control-Allow-Headers", "Authorization, X-WP-Nonce, Content-Disposition, Content-MD5, Content-Type"),
)
_SECRET_PARAMS = ("oauth_signature", "oauth_nonce", "consumer_key", "consumer_secret", "oauth_consumer_key")
_WORDPRESS_404 = (
    b"<!DOCTYPE html>\n<html><head><title>Page not found</title></head>"
    b"<body><h1>Oops! That page can&rsquo;t be found.</h1></body></html>\n"
)


class SandboxServer:
    """A WooCommerce-compatible store on loopback, backed by a :class:`SandboxCatalog`.

    ``start()`` returns once listening; ``url`` is then ``http://host:port`` (also the site URL OAuth
    signatures are checked against, unless ``site_url`` is given). Faults, latency and the store-wide
    variations switch can be changed at any time, from Python or through the control endpoints.
    """

    def __init__(
        self,
        catalog: SandboxCatalog,
        host: str = "127.0.0.1",
        port: int = 0,
        consumer_key: str = "ck_sandbox_demo",
        consumer_secret: str = "cs_sandbox_demo",
        store_variations: bool = True,
        *,
        permissions: str = "read_write",
        latency_ms: float = 0,
        webhook_delivery_interval: float | None = None,
        webhook_timeout: float = webhooks.DELIVERY_TIMEOUT,
        site_url: str | None = None,
        batch_limit: int = 100,
        page_limit: int | None = None,
    ) -> None:
        self.catalog = catalog
        self.host = host
        self.port = port
        self.store_variations = store_variations
        self.latency_ms = latency_ms
        # The most items a listing renders before the store's PHP time limit: a GET asking for more per
        # page answers the proxy's 504, as stores behind nginx do with pages of 100 (None: no limit).
        self.page_limit = page_limit
        self._site_url = site_url.rstrip("/") if site_url else None
        self._keys = [ApiKey(consumer_key, consumer_secret, permissions)]
        self._faults = FaultInjector()
        self._stats_lock = threading.Lock()
        self._stats = _empty_stats()
        self._stop_event = threading.Event()
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._batch_limit = batch_limit
        self.verifier: OAuthVerifier | None = None
        self.api: WooCommerceApi | None = None
        # Webhooks (sync/sandbox/webhooks.py): queued by catalog changes, sent by deliver_webhooks() or,
        # with webhook_delivery_interval, by a background thread standing in for WP-Cron.
        if webhook_delivery_interval is not None and not webhook_delivery_interval > 0:
            raise ValueError("webhook_delivery_interval must be > 0 (or None)")
        self.webhook_delivery_interval = webhook_delivery_interval
        self.webhooks = webhooks.WebhookDispatcher(
            catalog, site_url=lambda: self.url, stop_event=self._stop_event, timeout=webhook_timeout
        )
        self.writes = write_meter.WriteMeter()  # write latency and writes in flight (sync/sandbox/write_meter.py)

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        """Bind, listen and serve from a daemon thread. Returns ``self`` once the socket listens."""
        if self._httpd is not None:
            raise RuntimeError("sandbox already started")
        self._stop_event.clear()
        httpd = _HttpServer((self.host, self.port), _Handler, self)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self.catalog.set_site_url(self.url)
        self.verifier = OAuthVerifier(self.url, self._keys)
        self.api = rest_store.StoreApi(
            self.catalog,
            self.verifier,
            store_variations=lambda: self.store_variations,
            batch_limit=self._batch_limit,
            webhooks=self.webhooks,
        )
        # A short poll interval keeps stop() quick (tests start and stop many servers).
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sandbox:{self.port}", daemon=True
        )
        self._thread.start()
        if self.webhook_delivery_interval is not None:
            self.webhooks.start_background(self.webhook_delivery_interval)
        logger.info("WooCommerce sandbox listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving: closes open keep-alive connections and wakes requests held by latency/timeouts."""
        httpd = self._httpd
        if httpd is None:
            return
        self._stop_event.set()
        self.webhooks.stop_background()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None
        logger.info("WooCommerce sandbox on %s stopped", self.url)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._site_url or f"http://{self.host}:{self.port}"

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (a keep-alive client reuses one)."""
        return self._httpd.accepted if self._httpd is not None else 0

    @property
    def control_url(self) -> str:
        return f"{self.url}{CONTROL_PREFIX}/"

    # --- configuration ------------------------------------------------------------------------------

    def add_api_key(self, consumer_key: str, consumer_secret: str, permissions: str = "read") -> None:
        """Register another API key (e.g. a read-only one to check that writes are refused)."""
        key = ApiKey(consumer_key, consumer_secret, permissions)
        self._keys.append(key)
        if self.verifier is not None:
            self.verifier.add_key(key)

    def set_faults(
        self,
        rate: float = 0.2,
        kinds: tuple[str, ...] | list[str] = FAULT_KINDS,
        seed: int = 1,
        paths: str | None = None,
        count: int | None = None,
        retry_after: int = 1,
        timeout_seconds: float | None = None,
    ) -> None:
        """Fail API requests: each with probability ``rate`` (seeded), or exactly the next ``count``
        ones (kinds in turn), optionally only paths matching the ``paths`` regex. ``timeout`` waits
        ``timeout_seconds`` (default 35 s) before answering; ``429`` sends ``Retry-After: retry_after``."""
        self._faults.configure(
            rate=rate,
            kinds=kinds,
            seed=seed,
            paths=paths,
            count=count,
            retry_after=retry_after,
            timeout_seconds=timeout_seconds,
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> dict | None:
        return self._faults.describe()

    @property
    def stats(self) -> dict:
        """``{"requests", "by_endpoint", "faults_injected", "by_status"}`` for API requests (a copy)."""
        with self._stats_lock:
            # writes, writes_in_flight, max_writes_in_flight: the most write requests seen at once.
            return {**copy.deepcopy(self._stats), **self.writes.stats()}

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._stats = _empty_stats()
        self.writes.reset()

    def state(self) -> dict:
        return {
            "url": self.url,
            "control_url": self.control_url,
            "counts": self.catalog.counts(),
            "config": {
                "latency_ms": self.latency_ms,
                "page_limit": self.page_limit,
                "store_variations": self.store_variations,
                "timezone": self.catalog.timezone_name,
                "batch_limit": self._batch_limit,
            },
            "faults": self.faults,
            "stats": self.stats,
        }

    # --- webhooks and orders (sync/sandbox/webhooks.py, orders.py) -----------------------------------

    def deliver_webhooks(self) -> list[dict]:
        """Send the pending webhook deliveries now, in creation order; one record per delivery
        (``webhook_id, topic, resource_id, status_code, error, success, duration, delivery_id...``)."""
        return self.webhooks.deliver_pending()

    @property
    def webhook_deliveries(self) -> list[dict]:
        """Every delivery record so far, oldest first (a copy; the newest 100,000)."""
        return self.webhooks.delivery_records()

    def create_order(self, **fields: object) -> dict:
        """``POST orders``: ``line_items=[{"product_id", "variation_id"?, "quantity"}]``, ``status``
        (default ``processing``), ``set_paid`` (default True). Sells the stock, queues the webhooks."""
        return self.catalog.create_order(**fields)

    # --- request handling (called from handler threads) ---------------------------------------------

    def _record(self, endpoint: str, status: str, faulted: bool) -> None:
        with self._stats_lock:
            self._stats["requests"] += 1
            self._stats["by_endpoint"][endpoint] = self._stats["by_endpoint"].get(endpoint, 0) + 1
            self._stats["by_status"][status] = self._stats["by_status"].get(status, 0) + 1
            if faulted:
                self._stats["faults_injected"] += 1

    def _wait(self, seconds: float) -> bool:
        """Sleep unless the server stops meanwhile; False when it is stopping."""
        if seconds <= 0:
            return not self._stop_event.is_set()
        return not self._stop_event.wait(seconds)

    def _over_page_limit(self, endpoint: str, request: ApiRequest) -> bool:
        if self.page_limit is None or endpoint not in _LISTINGS:
            return False
        try:
            per_page = int(str(request.query.get("per_page", 10)))
        except ValueError:
            return False  # the API answers its own 400
        return per_page > self.page_limit

    def serve_rest(self, handler: _Handler, request: ApiRequest) -> None:
        """:meth:`serve_api`, counting writes in flight and delaying them by the write latency."""
        with self.writes.track(request.method) as is_write:
            if is_write and not self._wait(self.writes.latency_ms / 1000):
                handler.drop()
                return
            self.serve_api(handler, request)

    def serve_api(self, handler: _Handler, request: ApiRequest) -> None:
        started = time.perf_counter()
        api = self.api
        assert api is not None
        endpoint = api.endpoint_name(request)
        fault = self._faults.draw(request.raw_path)
        config = self._faults.config
        if not self._wait(self.latency_ms / 1000):
            handler.drop()
            return
        page_too_big = self._over_page_limit(endpoint, request)  # store behaviour, not an injected fault
        if page_too_big or fault in ("500", "502", "504", "429"):
            kind = "504" if page_too_big else fault
            status, body = fault_page(kind)
            headers = [("Retry-After", str(config.retry_after if config else 1))] if kind == "429" else []
            self._finish(request, endpoint, str(status), not page_too_big, started)
            handler.send(ApiResponse(status, body, headers, _HTML_CONTENT_TYPE), head=request.method == "HEAD")
            return
        if fault == "drop":
            self._finish(request, endpoint, "dropped", True, started)
            handler.drop()
            return
        if fault == "timeout" and not self._wait(config.timeout_seconds if config else 35.0):
            handler.drop()
            return
        response = api.handle(request)
        if fault == "malformed":
            response.body = response.body[: max(1, len(response.body) // 2)]
        # Counted before answering: a client that reads stats right after its response sees itself.
        self._finish(request, endpoint, str(response.status), fault is not None, started)
        handler.send(response, head=request.method == "HEAD", extra=_REST_HEADERS)

    def _finish(self, request: ApiRequest, endpoint: str, status: str, faulted: bool, started: float) -> None:
        self._record(endpoint, status, faulted)
        if logger.isEnabledFor(logging.DEBUG):
            visible = {k: v for k, v in request.query.items() if k not in _SECRET_PARAMS}
            query = php_build_query(visible)
            logger.debug(
                "%s %s%s -> %s%s (%.1f ms)",
                request.method,
                request.raw_path,
                f"?{query}" if query else "",
                status,
                " [fault]" if faulted else "",
                (time.perf_counter() - started) * 1000,
            )

    # --- control interface --------------------------------------------------------------------------

    def serve_control(self, method: str, path: str, body: bytes) -> tuple[int, object]:
        """Run one control request; returns (status, JSON-able body)."""
        parts = [p for p in path[len(CONTROL_PREFIX) :].split("/") if p]
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            return 400, {"error": "body is not JSON"}
        if not isinstance(data, dict):
            return 400, {"error": "body must be a JSON object"}
        try:
            return self._control(method, parts, data)
        except UnknownObject as error:
            return 404, {"error": str(error)}
        except (CatalogError, ValueError, TypeError) as error:
            return 400, {"error": str(error)}

    def _control(self, method: str, parts: list[str], data: dict) -> tuple[int, object]:
        catalog = self.catalog
        fields = data.get("fields", data) if isinstance(data.get("fields", data), dict) else data
        route = (method, *[p if not p.isdigit() else "<id>" for p in parts])
        ids = [int(p) for p in parts if p.isdigit()]
        if parts and parts[0] in ("webhooks", "orders", "writes"):
            return webhooks_control.webhook_control(self, method, parts, data)
        if route == ("GET", "state"):
            return 200, self.state()
        if route == ("GET", "stats"):
            return 200, self.stats
        if route == ("POST", "stats", "reset"):
            self.reset_stats()
            return 200, self.stats
        if route == ("POST", "config"):
            unknown = set(data) - {"latency_ms", "store_variations", "page_limit"}
            if unknown:
                raise ValueError(f"unknown config keys: {sorted(unknown)}")
            if "latency_ms" in data:
                latency = float(data["latency_ms"])
                if latency < 0:
                    raise ValueError("latency_ms must be >= 0")
                self.latency_ms = latency
            if "store_variations" in data:
                self.store_variations = bool(data["store_variations"])
            if "page_limit" in data:
                limit = data["page_limit"]
                if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
                    raise ValueError("page_limit must be a positive integer or null")
                self.page_limit = limit
            return 200, self.state()["config"]
        if route == ("POST", "faults"):
            allowed = {"rate", "kinds", "seed", "paths", "count", "retry_after", "timeout_seconds"}
            unknown = set(data) - allowed
            if unknown:
                raise ValueError(f"unknown fault keys: {sorted(unknown)}")
            self.set_faults(**data)
            return 200, {"faults": self.faults}
        if route == ("DELETE", "faults"):
            self.clear_faults()
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
        return 404, {"error": f"no control endpoint {method} {'/'.join(parts)}"}


def _fields_only(data: dict) -> dict:
    if isinstance(data.get("fields"), dict):
        return data["fields"]
    return {k: v for k, v in data.items() if k != "touch_modified"}


def _empty_stats() -> dict:
    return {"requests": 0, "by_endpoint": {}, "faults_injected": 0, "by_status": {}}


# --- HTTP plumbing -------------------------------------------------------------------------------------


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.accepted = 0
        super().__init__(address, handler)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self.accepted += 1
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hanging up (or a stop() closing keep-alive sockets) is routine for a test double.
        logger.debug("connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        with contextlib.suppress(OSError):  # the peer is gone
            super().finish()

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("http: " + format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            return b""
        return self.rfile.read(size) if size > 0 else b""

    def _dispatch(self) -> None:
        sandbox = self.server.sandbox
        raw_path, _, query_string = self.path.partition("?")
        body = self._read_body()
        if raw_path == CONTROL_PREFIX or raw_path.startswith(CONTROL_PREFIX + "/"):
            status, data = sandbox.serve_control(self.command, raw_path, body)
            payload = json.dumps(data).encode()
            self.send(ApiResponse(status, payload, content_type="application/json"))
            return
        query = php_parse_qs(query_string)
        route = _rest_route(raw_path, query)
        if route is None:
            self.send(ApiResponse(404, _WORDPRESS_404, content_type=_HTML_CONTENT_TYPE), head=self.command == "HEAD")
            return
        if route in ("", "/"):
            index = {"name": "CrushMe WooCommerce sandbox", "url": sandbox.url, "namespaces": ["wc/v3"]}
            self.send(ApiResponse(200, encode_json(index)), head=self.command == "HEAD")
            return
        content_type = self.headers.get("Content-Type", "")
        post_params = (
            php_parse_qs(body.decode("utf-8", errors="replace"))
            if content_type.startswith("application/x-www-form-urlencoded")
            else {}
        )
        request = ApiRequest(
            method=self.command,
            raw_path=raw_path,
            route=route,
            query=query,
            post_params=post_params,
            body=body,
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        sandbox.serve_rest(self, request)

    def send(
        self,
        response: ApiResponse,
        *,
        head: bool = False,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            "Server: nginx",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Type: {response.content_type or JSON_CONTENT_TYPE}",
            f"Content-Length: {len(response.body)}",
        ]
        lines += [f"{name}: {value}" for name, value in (*response.headers, *extra)]
        if self.close_connection:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not head:
            data += response.body
        # One write: headers and body in one segment (no Nagle / delayed-ACK stall on keep-alive).
        self.wfile.write(data)

    def drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True
        with contextlib.suppress(OSError):  # already gone
            self.connection.shutdown(socket.SHUT_RDWR)


def _rest_route(raw_path: str, query: dict) -> str | None:
    """The REST route of a request (``/wc/v3/products``), or None when it is not a REST request."""
    path = unquote(raw_path)
    if path.startswith("/index.php/"):
        path = path[len("/index.php") :]
    if path == "/wp-json" or path.startswith("/wp-json/"):
        return path[len("/wp-json") :].rstrip("/")
    rest_route = query.get("rest_route")
    if path in ("/", "/index.php") and isinstance(rest_route, str):
        return rest_route.rstrip("/")
    return None
