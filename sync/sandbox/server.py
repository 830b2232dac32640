"""The sandbox's HTTP server: WooCommerce REST v3 on loopback, plus a JSON control interface.

``SandboxServer`` serves from a background thread (HTTP/1.1 keep-alive, one thread per connection),
over plain http or over https (``tls=True``: a certificate made at start, or ``tls_cert``/``tls_key``).
Requests under ``/wp-json/`` go to :class:`~sync.sandbox.rest_store.StoreApi` after latency and fault
injection; requests under ``/__sandbox__/`` are the control interface (``control_routes.py``, never
authenticated, faulted or delayed). The sockets and HTTP parsing are ``transport.py``'s. See
``sync/sandbox/__init__.py`` for the whole picture.
"""

from __future__ import annotations

import copy
import logging
import shutil
import ssl
import threading
import time
from pathlib import Path
from typing import Any

from . import control_routes, rest_store, webhooks, write_meter
from .catalog import SandboxCatalog
from .control_routes import CONTROL_PREFIX
from .faults import FAULT_KINDS, FaultInjector, fault_page, garbled_body
from .oauth import ApiKey, OAuthVerifier, php_build_query
from .rest import WooCommerceApi
from .rest_wire import ApiRequest, ApiResponse
from .tls import TlsFiles, make_certificate, server_context, temporary_directory
from .transport import HTML_CONTENT_TYPE, HttpServer, RequestHandler
from .write_meter import RequestCount

logger = logging.getLogger("sync.sandbox")

# Collections (paged; WooCommerce's default per_page is 10), as named in the request stats.
_LISTINGS = frozenset({"GET products", "GET products/categories", "GET products/<id>/variations", "GET variations"})
_REST_HEADERS = (
    ("X-Robots-Tag", "noindex"),
    ("X-Content-Type-Options", "nosniff"),
    ("Access-Control-Expose-Headers", "X-WP-Total, X-WP-TotalPages, Link"),
    ("Access-Control-Allow-Headers", "Authorization, X-WP-Nonce, Content-Disposition, Content-MD5, Content-Type"),
)
_SECRET_PARAMS = ("oauth_signature", "oauth_nonce", "consumer_key", "consumer_secret", "oauth_consumer_key")


class SandboxServer:
    """A WooCommerce-compatible store on loopback, backed by a :class:`SandboxCatalog`.

    ``start()`` returns once listening; ``url`` is then ``http://host:port`` or, with TLS,
    ``https://host:port`` (also the site URL OAuth signatures are checked against, unless ``site_url`` is
    given). Faults, latency and the store-wide variations switch can be changed at any time, from Python
    or through the control endpoints.

    TLS: ``tls=True`` makes a CA and a certificate for 127.0.0.1 and localhost at start (``ca_cert`` is the
    file a client must trust, removed again by ``stop()``); ``tls_cert``/``tls_key`` serve files of your
    own instead. Over https the store checks Basic auth and ``?consumer_key=&consumer_secret=`` as
    WooCommerce does when ``is_ssl()`` is true. ``proxy_hides_https=True`` plays the common hosting setup
    where TLS ends at a proxy that does not tell WordPress: the client speaks https, ``is_ssl()`` is false,
    and WooCommerce ignores Basic and query-string credentials (401 ``woocommerce_rest_cannot_view``).
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
        tls: bool = False,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        proxy_hides_https: bool = False,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        self.catalog = catalog
        self.host = host
        self.port = port
        self.store_variations = store_variations
        self.latency_ms = latency_ms
        # The most items a listing renders before the store's PHP time limit: a GET asking for more per
        # page answers the proxy's 504, as stores behind nginx do with pages of 100 (None: no limit).
        self.page_limit = page_limit
        self._site_url = site_url.rstrip("/") if site_url else None
        self.tls = tls or tls_cert is not None
        self._own_tls = None
        if tls_cert is not None and tls_key is not None:
            self._own_tls = TlsFiles(Path(tls_cert), Path(tls_key))
        self._tls_files: TlsFiles | None = None
        self._tls_directory: Path | None = None
        # What WordPress's is_ssl() answers behind a TLS-terminating proxy that sets neither HTTPS nor
        # handles X-Forwarded-Proto; only meaningful over TLS (over plain http is_ssl() is false anyway).
        self.proxy_hides_https = proxy_hides_https
        self._keys = [ApiKey(consumer_key, consumer_secret, permissions)]
        self._faults = FaultInjector()
        self._stats_lock = threading.Lock()
        self._stats = _empty_stats()
        self._stop_event = threading.Event()
        self._httpd: HttpServer | None = None
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
        context = self._tls_context() if self.tls else None
        try:
            httpd = HttpServer((self.host, self.port), RequestHandler, self, context)
        except OSError:
            self._remove_tls_files()
            raise
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
        self._remove_tls_files()
        logger.info("WooCommerce sandbox on %s stopped", self.url)

    def _tls_context(self) -> ssl.SSLContext:
        if self._own_tls is not None:
            self._tls_files = self._own_tls
            return server_context(self._own_tls)
        self._tls_directory = temporary_directory()
        try:
            self._tls_files = make_certificate(self._tls_directory, _certificate_hosts(self.host))
            return server_context(self._tls_files)
        except BaseException:
            self._remove_tls_files()
            raise

    def _remove_tls_files(self) -> None:
        if self._tls_directory is not None:
            shutil.rmtree(self._tls_directory, ignore_errors=True)
        self._tls_directory = None
        if self._own_tls is None:
            self._tls_files = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._site_url or f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ca_cert(self) -> Path | None:
        """The CA certificate that signed the generated certificate (None without TLS or with your own)."""
        return self._tls_files.ca_cert if self._tls_files is not None else None

    @property
    def is_ssl(self) -> bool:
        """What WordPress's ``is_ssl()`` answers for a request reaching this store."""
        return self.tls and not self.proxy_hides_https

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
        """``{"requests", "by_endpoint", "faults_injected", "by_status", "by_auth"}`` for API requests (a copy).

        ``by_auth`` counts the requests the API answered (injected 5xx/429/drops are not) by how they
        authenticated: ``basic``, ``query_string``, ``oauth`` or ``none``."""
        with self._stats_lock:
            # writes, writes_in_flight, max_writes_in_flight: the most write requests seen at once;
            # requests_in_flight, max_requests_in_flight: the same for every REST request.
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
                "tls": self.tls,
                "proxy_hides_https": self.proxy_hides_https,
                "is_ssl": self.is_ssl,
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

    def _record(self, endpoint: str, status: str, faulted: bool, auth: str | None) -> None:
        with self._stats_lock:
            self._stats["requests"] += 1
            self._stats["by_endpoint"][endpoint] = self._stats["by_endpoint"].get(endpoint, 0) + 1
            self._stats["by_status"][status] = self._stats["by_status"].get(status, 0) + 1
            if auth is not None:
                self._stats["by_auth"][auth] = self._stats["by_auth"].get(auth, 0) + 1
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

    def serve_rest(self, handler: RequestHandler, request: ApiRequest) -> None:
        """:meth:`serve_api`, counting writes in flight and delaying them by the write latency."""
        with self.writes.track(request.method) as count:
            if count.is_write and not self._wait(self.writes.latency_ms / 1000):
                handler.drop()
                return
            self.serve_api(_Answering(handler, count), request)  # type: ignore[arg-type]

    def serve_api(self, handler: RequestHandler, request: ApiRequest) -> None:
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
            handler.send(ApiResponse(status, body, headers, HTML_CONTENT_TYPE), head=request.method == "HEAD")
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
        elif fault == "garbled":
            response.body = garbled_body(response.body)
        # Counted before answering: a client that reads stats right after its response sees itself.
        self._finish(request, endpoint, str(response.status), fault is not None, started, response.auth)
        handler.send(response, head=request.method == "HEAD", extra=_REST_HEADERS)

    def _finish(
        self,
        request: ApiRequest,
        endpoint: str,
        status: str,
        faulted: bool,
        started: float,
        auth: str | None = None,
    ) -> None:
        self._record(endpoint, status, faulted, auth)
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

    # --- control interface (control_routes.py, webhooks_control.py) ----------------------------------

    def serve_control(self, method: str, path: str, body: bytes) -> tuple[int, object]:
        """Run one control request; returns (status, JSON-able body)."""
        return control_routes.serve_control(self, method, path, body)


def _certificate_hosts(host: str) -> tuple[str, ...]:
    names = ("127.0.0.1", "localhost", "::1")
    return names if host in names or host in ("", "0.0.0.0", "::") else (host, *names)


def _empty_stats() -> dict:
    return {"requests": 0, "by_endpoint": {}, "faults_injected": 0, "by_status": {}, "by_auth": {}}


class _Answering:
    """A request handler that takes its request out of the in-flight count just before it answers."""

    def __init__(self, handler: RequestHandler, count: RequestCount) -> None:
        self._handler, self._count = handler, count

    def send(self, *args: Any, **kwargs: Any) -> None:
        self._count.finished()
        self._handler.send(*args, **kwargs)

    def drop(self) -> None:
        self._count.finished()
        self._handler.drop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handler, name)
