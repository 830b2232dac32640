"""The bytes a WooCommerce 11 store puts on the wire for a webhook delivery or a ping.

Header names, order and values are those of the captured deliveries (``WC_Webhook::deliver`` through
WordPress's HTTP API): no redirects followed, one request per connection, the body exactly as signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

WC_VERSION = "11.0.1"
WP_VERSION = "7.0.4"
USER_AGENT = f"WooCommerce/{WC_VERSION} Hookshot (WordPress/{WP_VERSION})"
_MAX_RESPONSE_BYTES = 1 << 20


@dataclass(frozen=True)
class HttpResult:
    status_code: int | None  # None when no HTTP answer came back
    error: str | None  # transport error (WordPress's WP_Error message), else None
    duration: float  # seconds


def signature(body: bytes, secret: str) -> str:
    """``X-WC-Webhook-Signature``: base64(HMAC-SHA256(body, secret as UTF-8)), as the samples verify."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def delivery_id(webhook_id: int, salt: bytes, now: float | None = None) -> str:
    """``wp_hash(id . time())``: an HMAC-MD5 of the webhook id and the current second, so it repeats for
    every delivery of one webhook within the same second (never an idempotency key)."""
    second = int(time.time() if now is None else now)
    return hmac.new(salt, f"{webhook_id}{second}".encode(), hashlib.md5).hexdigest()


def delivery_headers(
    *, source: str, topic: str, webhook_id: int, body: bytes, secret: str, delivery: str
) -> list[tuple[str, str]]:
    resource, _, event = topic.partition(".")
    return [
        ("User-Agent", USER_AGENT),
        ("Accept", "*/*"),
        ("Content-Type", "application/json"),
        ("X-WC-Webhook-Source", source),
        ("X-WC-Webhook-Topic", topic),
        ("X-WC-Webhook-Resource", resource),
        ("X-WC-Webhook-Event", event),
        ("X-WC-Webhook-Signature", signature(body, secret)),
        ("X-WC-Webhook-ID", str(webhook_id)),
        ("X-WC-Webhook-Delivery-ID", delivery),
    ]


def ping_headers() -> list[tuple[str, str]]:
    # The ping is a plain form POST: no signature, no X-WC-* headers.
    return [
        ("User-Agent", USER_AGENT),
        ("Accept", "*/*"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]


def post(url: str, body: bytes, headers: list[tuple[str, str]], *, timeout: float) -> HttpResult:
    """POST ``body`` to ``url`` once; never raises for transport problems (they come back as ``error``)."""
    started = time.perf_counter()
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return HttpResult(None, "A valid URL was not provided.", time.perf_counter() - started)
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    except ValueError as error:  # a port that is not a number, an IPv6 literal gone wrong...
        return HttpResult(None, f"A valid URL was not provided. ({error})", time.perf_counter() - started)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.putrequest("POST", path, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.putheader("Connection", "close")
        connection.endheaders(body)
        response = connection.getresponse()
        response.read(_MAX_RESPONSE_BYTES)
        return HttpResult(response.status, None, time.perf_counter() - started)
    except TimeoutError:
        return HttpResult(None, f"cURL error 28: Operation timed out after {timeout:g} seconds", _since(started))
    except (OSError, http.client.HTTPException, ssl.SSLError) as error:
        return HttpResult(None, f"{type(error).__name__}: {error}", _since(started))
    finally:
        connection.close()


def _since(started: float) -> float:
    return time.perf_counter() - started
