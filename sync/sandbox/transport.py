"""The sandbox's HTTP/1.1 transport: sockets, keep-alive connections, the TLS handshake, reading a request,
sending it to the control interface, the REST API or WordPress's 404, and writing the response.

Routing between those three is all it decides; :class:`~sync.sandbox.server.SandboxServer` does the rest
(latency, faults, stats), the API (``rest*.py``) answers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import unquote

from .control_routes import CONTROL_PREFIX
from .oauth import php_parse_qs
from .rest_wire import JSON_CONTENT_TYPE, ApiRequest, ApiResponse, encode_json

if TYPE_CHECKING:
    from .server import SandboxServer

logger = logging.getLogger("sync.sandbox")

HTML_CONTENT_TYPE = "text/html; charset=UTF-8"
# A client that connects and never completes the handshake must not hold a thread for ever.
_TLS_HANDSHAKE_TIMEOUT_SECONDS = 10
_WORDPRESS_404 = (
    b"<!DOCTYPE html>\n<html><head><title>Page not found</title></head>"
    b"<body><h1>Oops! That page can&rsquo;t be found.</h1></body></html>\n"
)


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a burst of parallel clients on a busy machine had
    # connections reset before the accept loop ran. A web server's backlog is in the hundreds.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[RequestHandler],
        sandbox: SandboxServer,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.ssl_context = ssl_context
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

    def finish_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:  # type: ignore[override]
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        # The handshake runs here, on the connection's own thread, not in the accept loop: a client
        # that stalls or rejects the certificate only ever blocks itself.
        request.settimeout(_TLS_HANDSHAKE_TIMEOUT_SECONDS)
        try:
            connection = self.ssl_context.wrap_socket(request, server_side=True)
        except OSError:  # ssl.SSLError included: e.g. a client that does not trust the certificate
            logger.debug("TLS handshake with %s failed", client_address, exc_info=True)
            return
        connection.settimeout(None)
        try:
            super().finish_request(connection, client_address)  # type: ignore[arg-type]
        finally:
            with contextlib.suppress(OSError):  # the peer is gone
                connection.shutdown(socket.SHUT_WR)
            connection.close()

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hanging up (or a stop() closing keep-alive sockets) is routine for a test double.
        logger.debug("connection error from %s", client_address, exc_info=True)


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    disable_nagle_algorithm = True
    server: HttpServer

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
            self.send(ApiResponse(404, _WORDPRESS_404, content_type=HTML_CONTENT_TYPE), head=self.command == "HEAD")
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
            is_ssl=sandbox.is_ssl,
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
