"""The WooCommerce REST client: the only module of the project that speaks HTTP to WooCommerce.

Built on the ``woocommerce`` package (wc-api-python 3.0.0) for its URL building and its auth choice
(https: basic auth, or query-string keys; http: OAuth 1.0a one-legged), and fixes what that package gets
wrong for a long sync:

- one ``requests.Session`` for the client's life (keep-alive, connection pooling) instead of a new TCP
  (and TLS) connection per call;
- explicit ``(connect, read)`` timeouts; retries of timeouts, connection errors, dropped connections,
  5xx, 429 and malformed 200 bodies with exponential backoff and jitter, honouring ``Retry-After``;
  never a retry of another 4xx;
- over OAuth, the parameters are sent once (in the signed URL), lists as comma strings, with a 128-bit
  random nonce and a fresh timestamp for every attempt (a retry never resends a signed URL);
- typed errors whose messages say what an operator should check;
- a ``User-Agent`` that WAFs accept;
- secrets never in logs or exception text: the consumer key and secret, ``oauth_*`` parameters (also in
  the ``Link`` header and in urllib3's debug lines, which repeat the query string) are redacted.

Decision: keep subclassing the package, behind its exact pin, with a guard test. ``_SessionAPI``
overrides the name-mangled ``API.__request`` and ``_OAuth`` two static methods of ``OAuth``: private
surface. It was weighed against using only the ``OAuth`` signer with our own ``requests.Session``
transport, and kept because:

- that alternative removes less coupling than it seems: our encoding fix still relies on
  ``OAuth.generate_oauth_signature`` calling ``self.normalize_parameters``, so only our own OAuth 1.0a
  signer would end it, and then the package would be gone from the request path, which the tests
  exercise on purpose (the sandbox over real HTTP through the real ``woocommerce`` client);
- the surface used is small and frozen: ``WooCommerce==3.0.0`` is pinned exactly in requirements.txt
  and is the package's latest release, and tests/sync/test_woocommerce_package.py fails, naming what
  moved, if the version, ``API.__request``'s signature and its use by ``API.get``, ``API.__get_url``,
  the attributes read here, or ``OAuth``'s interface and the signature it computes change.

On an upgrade that breaks the guard, adapt ``_SessionAPI`` / ``_OAuth`` to the new source, or move to
our own signer and transport (about 60 lines: URL, auth choice, HMAC-SHA256 signature) and drop the
package; never bump the pin alone.

Usage::

    with WooCommerceClient.from_settings() as client:
        for page in client.iter_pages("products", per_page=50, params={"orderby": "id", "order": "asc"}):
            ...

A client may be shared by threads (the counter is locked and ``requests.Session`` is safe for
concurrent GETs in practice), but one client per thread is the simpler contract.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth
from urllib3.exceptions import ReadTimeoutError
from woocommerce import API
from woocommerce.oauth import OAuth

from sync.woocommerce.types import INT64_MAX, UnreadableItem

logger = logging.getLogger(__name__)

CLIENT_VERSION = "0.1.0"
DEFAULT_USER_AGENT = f"CrushMe-Catalog-Sync/{CLIENT_VERSION} (+python-requests/{requests.__version__})"
MAX_PER_PAGE = 100  # WooCommerce rejects per_page outside 1..100 with 400 rest_invalid_param
_SNIPPET_CHARS = 200
# What a store behind a TLS-terminating proxy needs so that WordPress's is_ssl() is true (and WooCommerce
# reads Basic auth): the hint for 401 woocommerce_rest_cannot_view over https quotes it.
WP_CONFIG_HTTPS_FIX = (
    "if (isset($_SERVER['HTTP_X_FORWARDED_PROTO']) && $_SERVER['HTTP_X_FORWARDED_PROTO'] === 'https') "
    "{ $_SERVER['HTTPS'] = 'on'; }"
)

# Parameters that carry credentials; never accepted from callers, never logged.
_AUTH_PARAMS = frozenset({"consumer_key", "consumer_secret"})
# key=value (or key%3Dvalue once URL-encoded again) for any credential-bearing query parameter.
_SECRET_PARAM_RE = re.compile(r"(?i)\b(oauth_[a-z_]*|consumer_key|consumer_secret)(=|%3D)[^&\s\"'<>;,)]*")
_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")


def redact(text: str, *secrets_to_hide: str) -> str:
    """Return ``text`` with credential query parameters and the given literal secrets replaced by ``***``."""
    text = _SECRET_PARAM_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    for secret in secrets_to_hide:
        if secret:
            text = text.replace(secret, "***")
    return text


class _RedactingFilter(logging.Filter):
    """Redacts credentials from urllib3's debug lines, which log every request URL with its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def _install_urllib3_redaction() -> None:
    # Logger-level filters run before any handler, so every destination gets the redacted line.
    urllib3_logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactingFilter) for f in urllib3_logger.filters):
        urllib3_logger.addFilter(_RedactingFilter())


_install_urllib3_redaction()


# --- Errors -----------------------------------------------------------------------------------------------


class WooCommerceError(Exception):
    """Base of every failure of a WooCommerce call.

    ``endpoint`` is the relative endpoint (``"products"``), ``status`` the HTTP status (None when no
    response came), ``code`` WooCommerce's error code when the body carried one, ``attempts`` how many
    HTTP attempts were made. ``retryable`` says whether a later try may succeed (transient) or not
    (configuration / request problem).
    """

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status: int | None = None,
        code: str | None = None,
        attempts: int = 1,
    ) -> None:
        # Defence in depth: whatever built the message, no credential parameter survives in it.
        super().__init__(redact(message))
        self.endpoint = endpoint
        self.status = status
        self.code = code
        self.attempts = attempts


class WooCommerceTimeout(WooCommerceError):
    """No answer within the connect or read timeout."""

    retryable = True


class WooCommerceUnavailable(WooCommerceError):
    """5xx, connection refused/reset, a dropped connection or a truncated body."""

    retryable = True


class WooCommerceUnauthorized(WooCommerceError):
    """401/403: wrong key or secret, missing permission, clock skew or a WAF. Terminal: fix the configuration."""


class WooCommerceRateLimited(WooCommerceError):
    """429 from the store, its host, WAF or CDN; ``retry_after`` in seconds when the response said so."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class WooCommerceBadResponse(WooCommerceError):
    """A 2xx whose body is not JSON, is truncated, or has the wrong shape. Retried like a transient failure."""

    retryable = True


class WooCommerceNotFound(WooCommerceError):
    """404: an unknown id (``woocommerce_rest_product_invalid_id``) or route (``rest_no_route``). Terminal."""


class WooCommerceClientError(WooCommerceError):
    """Any other 4xx (e.g. 400 ``rest_invalid_param``) or an unexpected redirect. Terminal."""


# --- Results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WooResponse:
    status: int
    data: Any  # parsed JSON
    total: int | None  # X-WP-Total
    total_pages: int | None  # X-WP-TotalPages
    elapsed_ms: float
    attempts: int = 1


@dataclass(frozen=True)
class Page:
    endpoint: str
    number: int
    per_page: int
    items: list[Any]  # objects, except for the hostile entries the caller fails one by one
    total: int | None
    total_pages: int | None


# --- Decoding -------------------------------------------------------------------------------------------

# JSON's structural tokens, with strings matched whole so that brackets and commas inside them are skipped.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]')
_LEADING_ID = re.compile(rb'\A\s*\{\s*"id"\s*:\s*"?(\d{1,19})\b')


def decode_json(body: bytes) -> Any:
    """The body's JSON; an entry that ``json`` cannot decode alone is replaced by an :class:`UnreadableItem`.

    ``json.loads`` gives up on a whole page for one entry nested about 1,000 levels deep
    (RecursionError) or holding a number of more than 4,300 digits. Such a body is split
    into its top-level entries (an object body counts as one entry) and each is decoded
    alone, so that only the hostile entry fails. A body that is not JSON at all (truncated,
    HTML) still raises ValueError.
    """
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError) as error:
        reason = _undecodable(error)
    stripped = body.strip()
    if stripped.startswith(b"{"):
        return _unreadable(stripped, reason)
    if not stripped.startswith(b"["):
        raise ValueError(reason)
    items: list[Any] = []
    for entry in _top_level_entries(stripped):
        try:
            items.append(json.loads(entry))
        except json.JSONDecodeError:
            raise
        except (RecursionError, ValueError) as error:
            items.append(_unreadable(entry, _undecodable(error)))
    return items


def _undecodable(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "nested too deep to decode (about 1,000 levels is the limit)"
    return f"cannot be decoded: {str(error)[:80]}"


def _unreadable(entry: bytes, reason: str) -> UnreadableItem:
    match = _LEADING_ID.match(entry)
    item_id = int(match.group(1)) if match else None
    return UnreadableItem(id=item_id if item_id and item_id <= INT64_MAX else None, reason=reason)


def _top_level_entries(array: bytes) -> list[bytes]:
    """The texts of a JSON array's entries, found without recursion (ValueError when unbalanced)."""
    entries: list[bytes] = []
    depth = 0
    start = 0
    for token in _JSON_TOKENS.finditer(array):
        char = token.group()[:1]
        if char in (b"[", b"{"):
            depth += 1
            if depth == 1:
                start = token.end()
        elif char in (b"]", b"}"):
            depth -= 1
            if depth == 0:
                last = array[start : token.start()]
                if last.strip() or entries:
                    entries.append(last)
                if array[token.end() :].strip():
                    raise ValueError("text after the end of the JSON array")
                return entries
            if depth < 0:
                break
        elif char == b"," and depth == 1:
            entries.append(array[start : token.start()])
            start = token.end()
    raise ValueError("unbalanced JSON array")


# --- Parameters -------------------------------------------------------------------------------------------


def _encode_scalar(name: str, value: Any) -> str:
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, datetime):
        # WordPress turns a "Z"/"+00:00" suffix into site time even with dates_are_gmt=true, so send a
        # plain UTC time; the caller sends dates_are_gmt=true. A naive datetime is taken as UTC.
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str | int | float | Decimal):
        return str(value)
    raise ValueError(f"WooCommerce parameter {name!r}: unsupported value type {type(value).__name__}")


def encode_params(params: Mapping[str, Any] | None) -> dict[str, str]:
    """Turn caller parameters into the strings WooCommerce expects.

    bools → ``"true"``/``"false"``; lists, tuples and sets → comma strings (PHP keeps only the last of a
    repeated key); datetimes → naive UTC ``YYYY-MM-DDTHH:MM:SS``; ``None`` values are dropped. Raises
    ``ValueError`` for credential parameters (the client adds auth itself) and for an empty list, which
    WooCommerce would read as "no filter" (``include=`` returns the whole catalog).
    """
    encoded: dict[str, str] = {}
    for raw_name, value in (params or {}).items():
        name = str(raw_name)
        if name.lower() in _AUTH_PARAMS or name.lower().startswith("oauth_"):
            raise ValueError(f"WooCommerce parameter {name!r} is reserved for authentication")
        if value is None:
            continue
        if isinstance(value, list | tuple | set | frozenset):
            items = sorted(value) if isinstance(value, set | frozenset) else list(value)
            if not items:
                raise ValueError(f"WooCommerce parameter {name!r} is an empty list; WooCommerce would ignore it")
            if any(isinstance(item, list | tuple | set | frozenset | Mapping) for item in items):
                raise ValueError(f"WooCommerce parameter {name!r}: nested collections are not supported")
            encoded[name] = ",".join(_encode_scalar(name, item) for item in items)
        else:
            encoded[name] = _encode_scalar(name, value)
    return encoded


def _summarize_params(params: Mapping[str, str]) -> str:
    """A short, credential-free rendering of the query for logs and messages."""
    parts = []
    for name, value in params.items():
        if name.lower() in _AUTH_PARAMS or name.lower().startswith("oauth_"):
            continue
        shown = value if len(value) <= 60 else f"{value[:57]}..."
        parts.append(f"{name}={shown}")
    return "&".join(parts)


# --- Transport on top of the woocommerce package ----------------------------------------------------------


class _OAuth(OAuth):
    """The package's OAuth 1.0a signer with a strong nonce and WooCommerce's own parameter encoding."""

    @staticmethod
    def generate_nonce() -> str:
        # The package hashes 8 random digits (10^8 values): over ~10k requests a collision inside
        # WooCommerce's 15-minute nonce memory becomes likely, and a reused nonce is a 401.
        return secrets.token_hex(16)

    @staticmethod
    def normalize_parameters(params: Mapping[str, Any]) -> OrderedDict[str, str]:
        # WooCommerce signs rawurlencode()d keys and values (RFC 3986: only "-._~" stay as they are), then
        # encodes "key=value" again. The package uses quote(), which keeps "/" and first unquotes the
        # value, so a value with "/" or a literal "%" got a signature WooCommerce rejects.
        normalized: OrderedDict[str, str] = OrderedDict()
        for key, value in params.items():
            normalized[quote(str(key), safe="~").replace("%", "%25")] = quote(str(value), safe="~").replace("%", "%25")
        return normalized

    def signed_url(self, base_url: str, params: Mapping[str, str]) -> str:
        """``base_url`` with ``params`` and the oauth_* parameters, signed with a fresh nonce."""
        signed: OrderedDict[str, Any] = OrderedDict(params)
        signed["oauth_consumer_key"] = self.consumer_key
        signed["oauth_timestamp"] = str(self.timestamp)
        signed["oauth_nonce"] = self.generate_nonce()
        signed["oauth_signature_method"] = "HMAC-SHA256"
        signed["oauth_signature"] = self.generate_oauth_signature(OrderedDict(signed), base_url)
        return f"{base_url}?{urlencode(signed)}"


class _SessionAPI(API):
    """``woocommerce.API`` whose transport is one ``requests.Session``.

    wc-api-python 3.0.0 has no hook for a session: its only transport is the name-mangled ``API.__request``,
    which calls ``requests.request`` (a new connection per call) and, over http, sends every parameter twice
    (in the signed URL and again as ``params=``). Overriding ``_API__request`` is the one way in; the
    package's URL building (``_API__get_url``), auth choice and headers are kept.
    """

    def __init__(self, url: str, consumer_key: str, consumer_secret: str, *, session: requests.Session, **kwargs):
        super().__init__(url, consumer_key, consumer_secret, **kwargs)
        self.session = session

    def _API__request(  # the name-mangled API.__request
        self, method: str, endpoint: str, data: Any, params: Mapping[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        query = dict(params or {})
        url = self._API__get_url(endpoint)
        auth = None
        headers = {"user-agent": self.user_agent, "accept": "application/json"}
        if self.is_ssl and not self.query_string_auth:
            auth = HTTPBasicAuth(self.consumer_key, self.consumer_secret)
        elif self.is_ssl:
            query.update({"consumer_key": self.consumer_key, "consumer_secret": self.consumer_secret})
        else:
            # A fresh timestamp and nonce per call; the signed URL carries the parameters, sent once.
            oauth = _OAuth(
                url=url,
                consumer_key=self.consumer_key,
                consumer_secret=self.consumer_secret,
                version=self.version,
                method=method,
                oauth_timestamp=int(time.time()),
            )
            url = oauth.signed_url(url, query)
            query = {}
        body = None
        if data is not None:
            body = json.dumps(data, ensure_ascii=False).encode("utf-8")
            headers["content-type"] = "application/json;charset=utf-8"
        return self.session.request(
            method=method,
            url=url,
            params=query or None,
            data=body,
            headers=headers,
            auth=auth,
            verify=self.verify_ssl,
            timeout=kwargs.get("timeout", self.timeout),
            # A redirect would replay the signed URL elsewhere; a misconfigured WOOCOMMERCE_URL is reported.
            allow_redirects=False,
        )


# --- The client -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    """One failed attempt, kept until we know whether it is the last one."""

    kind: type[WooCommerceError]
    status: int | None
    code: str | None
    detail: str
    retry_after: float | None = None
    retryable: bool = True


class WooCommerceClient:
    """A WooCommerce REST API v3 client: reads for the catalog sync, and :meth:`write` (webhook setup).

    Every call makes at most ``max_retries + 1`` HTTP attempts. Transient failures (timeouts, connection
    errors, 5xx, 429, malformed 2xx bodies) are retried after an exponential, jittered backoff capped at
    ``backoff_max_seconds`` (``Retry-After`` on 429/503 wins, capped likewise); the last one raises its
    typed :class:`WooCommerceError`. 401/403/404/other 4xx raise at once.
    """

    def __init__(
        self,
        *,
        url: str,
        consumer_key: str,
        consumer_secret: str,
        version: str = "wc/v3",
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_retries: int = 2,
        backoff_seconds: float = 1.0,
        backoff_max_seconds: float = 30.0,
        verify_ssl: bool = True,
        ca_bundle: str | None = None,
        user_agent: str | None = None,
        query_string_auth: bool = False,
        pool_maxsize: int = 4,
    ) -> None:
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"WooCommerce URL {redact(url or '')!r} is not an http(s) URL: set WOOCOMMERCE_URL to the "
                "store's home URL, e.g. https://shop.example.com"
            )
        if not consumer_key:
            raise ValueError("WooCommerce consumer key is empty: set WOOCOMMERCE_CONSUMER_KEY")
        if not consumer_secret:
            raise ValueError("WooCommerce consumer secret is empty: set WOOCOMMERCE_CONSUMER_SECRET")
        if timeout <= 0 or connect_timeout <= 0:
            raise ValueError("WooCommerce timeouts must be positive (WOOCOMMERCE_TIMEOUT, WOOCOMMERCE_CONNECT_TIMEOUT)")
        if max_retries < 0:
            raise ValueError("WOOCOMMERCE_MAX_RETRIES must be 0 or more")
        if backoff_seconds < 0 or backoff_max_seconds < 0:
            raise ValueError("WooCommerce backoff delays must not be negative")
        if ca_bundle and not os.path.isfile(ca_bundle):
            raise ValueError(
                f"WOOCOMMERCE_CA_BUNDLE {ca_bundle!r} is not a file: give the PEM file of the CA that "
                "signed the store's certificate, or leave it empty for the system's CAs"
            )

        self.url = url.rstrip("/")
        self.version = version
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.max_retries = int(max_retries)
        self.backoff_seconds = float(backoff_seconds)
        self.backoff_max_seconds = float(backoff_max_seconds)
        self.user_agent = user_agent or DEFAULT_USER_AGENT
        self.query_string_auth = bool(query_string_auth)
        self._secrets = (consumer_key, consumer_secret)
        self._requests_sent = 0
        self._lock = threading.Lock()

        self._session = requests.Session()
        # Retries are ours (they need a fresh OAuth nonce per attempt), so urllib3 must not retry.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_maxsize, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._api = _SessionAPI(
            self.url,
            consumer_key,
            consumer_secret,
            session=self._session,
            version=version,
            timeout=(self.connect_timeout, self.timeout),
            # requests takes a CA file path where it takes True: verify against that CA instead.
            verify_ssl=ca_bundle if verify_ssl and ca_bundle else verify_ssl,
            query_string_auth=query_string_auth,
            user_agent=self.user_agent,
        )

    @classmethod
    def from_settings(cls, **overrides: Any) -> WooCommerceClient:
        """A client configured from ``settings.WOOCOMMERCE_*``; keyword ``overrides`` win."""
        kwargs: dict[str, Any] = {
            "url": settings.WOOCOMMERCE_URL,
            "consumer_key": settings.WOOCOMMERCE_CONSUMER_KEY,
            "consumer_secret": settings.WOOCOMMERCE_CONSUMER_SECRET,
            "version": getattr(settings, "WOOCOMMERCE_API_VERSION", "wc/v3"),
            "timeout": settings.WOOCOMMERCE_TIMEOUT,
            "connect_timeout": getattr(settings, "WOOCOMMERCE_CONNECT_TIMEOUT", 5.0),
            "max_retries": settings.WOOCOMMERCE_MAX_RETRIES,
            "backoff_seconds": getattr(settings, "WOOCOMMERCE_BACKOFF_SECONDS", 1.0),
            "backoff_max_seconds": getattr(settings, "WOOCOMMERCE_BACKOFF_MAX_SECONDS", 30.0),
            "verify_ssl": getattr(settings, "WOOCOMMERCE_VERIFY_SSL", True),
            "ca_bundle": getattr(settings, "WOOCOMMERCE_CA_BUNDLE", "") or None,
            "query_string_auth": getattr(settings, "WOOCOMMERCE_QUERY_STRING_AUTH", False),
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    # -- lifecycle --

    @property
    def requests_sent(self) -> int:
        """HTTP attempts made so far, retries included (for ``SyncRun.requests``)."""
        with self._lock:
            return self._requests_sent

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> WooCommerceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<WooCommerceClient {self.url} {self.version}>"

    # -- public calls --

    def get(
        self,
        endpoint: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> WooResponse:
        """GET ``endpoint`` (relative, e.g. ``"products/12"``) and return its parsed JSON.

        ``timeout`` overrides the read timeout for this call (the connect timeout is capped by it);
        ``max_retries`` overrides the retry count (0: one attempt). Raises a :class:`WooCommerceError`
        subclass; ``ValueError`` for a bad endpoint or parameter.
        """
        return self._request(_clean_endpoint(endpoint), encode_params(params), timeout, max_retries, False)

    def write(
        self,
        method: str,
        endpoint: str,
        data: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> WooResponse:
        """POST, PUT or DELETE ``endpoint`` with a JSON body; errors as :meth:`get`.

        A POST is never retried (it may have been applied before the connection failed); PUT and
        DELETE are idempotent and retried like a GET.
        """
        method = method.upper()
        if method not in ("POST", "PUT", "DELETE"):
            raise ValueError(f"write method must be POST, PUT or DELETE, got {method!r}")
        retries = 0 if method == "POST" else None
        return self._request(
            _clean_endpoint(endpoint), encode_params(params), None, retries, False, method=method, data=data
        )

    def get_page(self, endpoint: str, *, page: int, per_page: int, params: Mapping[str, Any] | None = None) -> Page:
        """One page of a collection. ``per_page`` must be 1..100 and ``page`` ≥ 1 (``ValueError`` otherwise).

        The body must be a JSON list of objects, else :class:`WooCommerceBadResponse` (retried). A page past
        the end is an empty page (WooCommerce answers ``[]``; WP core's 400 ``rest_post_invalid_page_number``
        is read the same way).
        """
        if not isinstance(per_page, int) or isinstance(per_page, bool) or not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be an integer from 1 to {MAX_PER_PAGE}, got {per_page!r}")
        if not isinstance(page, int) or isinstance(page, bool) or page < 1:
            raise ValueError(f"page must be an integer from 1, got {page!r}")
        query = encode_params(params)
        if "page" in query or "per_page" in query:
            raise ValueError("pass page and per_page as arguments, not in params")
        query["page"] = str(page)
        query["per_page"] = str(per_page)
        endpoint = _clean_endpoint(endpoint)
        try:
            response = self._request(endpoint, query, None, None, True)
        except WooCommerceClientError as exc:
            if exc.code == "rest_post_invalid_page_number":
                return Page(endpoint, page, per_page, [], None, None)
            raise
        return Page(endpoint, page, per_page, response.data, response.total, response.total_pages)

    def iter_pages(
        self,
        endpoint: str,
        *,
        per_page: int,
        params: Mapping[str, Any] | None = None,
        max_pages: int | None = None,
    ) -> Iterator[Page]:
        """Yield the non-empty pages of a collection from page 1, each fetched by :meth:`get_page`.

        Bounded: stops after page ``X-WP-TotalPages`` (as reported by the latest page), at the first empty
        page, at a short page when the header is missing, or after ``max_pages`` pages. ``Link`` URLs are
        never followed (they repeat the previous request's oauth_* parameters). A store that ignores
        ``page`` (the same items twice in a row) raises :class:`WooCommerceBadResponse` instead of looping.
        """
        if max_pages is not None and max_pages < 1:
            raise ValueError(f"max_pages must be 1 or more, got {max_pages!r}")
        previous_ids: list[Any] | None = None
        number = 1
        while max_pages is None or number <= max_pages:
            page = self.get_page(endpoint, page=number, per_page=per_page, params=params)
            if not page.items:
                return
            ids = [item.get("id") if isinstance(item, dict) else None for item in page.items]
            if ids == previous_ids:
                raise WooCommerceBadResponse(
                    f"WooCommerce returned the same items for pages {number - 1} and {number} of GET "
                    f"{page.endpoint}: the store (or a cache in front of it) ignores the page parameter. "
                    "Exclude /wp-json/ from page caches.",
                    endpoint=page.endpoint,
                    status=200,
                )
            previous_ids = ids
            yield page
            if page.total_pages is not None:
                if number >= page.total_pages:
                    return
            elif len(page.items) < per_page:
                return
            number += 1

    # -- internals --

    def _request(
        self,
        endpoint: str,
        query: dict[str, str],
        timeout: float | None,
        max_retries: int | None,
        expect_list: bool,
        *,
        method: str = "GET",
        data: Mapping[str, Any] | None = None,
    ) -> WooResponse:
        read_timeout = self.timeout if timeout is None else float(timeout)
        if read_timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        timeouts = (min(self.connect_timeout, read_timeout), read_timeout)
        retries = self.max_retries if max_retries is None else int(max_retries)
        if retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries!r}")
        attempts = retries + 1
        label = f"{method} {endpoint}" + (f"?{_summarize_params(query)}" if query else "")
        for attempt in range(1, attempts + 1):
            outcome = self._attempt(endpoint, query, timeouts, attempt, attempts, expect_list, method=method, data=data)
            if isinstance(outcome, WooResponse):
                return outcome
            if not outcome.retryable or attempt == attempts:
                raise self._error(outcome, label, endpoint, attempt, timeouts)
            delay = self._retry_delay(attempt, outcome.retry_after)
            logger.warning(
                "woocommerce %s failed (%s), retry %d/%d in %.2fs",
                label,
                outcome.detail,
                attempt,
                retries,
                delay,
                extra={"wc_endpoint": endpoint, "wc_status": outcome.status, "wc_retry_in_s": round(delay, 3)},
            )
            time.sleep(delay)
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _attempt(
        self,
        endpoint: str,
        query: dict[str, str],
        timeouts: tuple[float, float],
        attempt: int,
        attempts: int,
        expect_list: bool,
        *,
        method: str = "GET",
        data: Mapping[str, Any] | None = None,
    ) -> WooResponse | _Failure:
        with self._lock:
            self._requests_sent += 1
        started = time.monotonic()
        try:
            if method == "GET":
                response = self._api.get(endpoint, params=query, timeout=timeouts)
            else:
                response = self._api._API__request(method, endpoint, data, params=query, timeout=timeouts)
            body = response.content  # read now: a drop mid-body surfaces here, and the connection goes back
        except requests.Timeout as exc:
            return self._log_failure(
                _Failure(WooCommerceTimeout, None, None, self._describe(exc)),
                endpoint,
                query,
                started,
                attempt,
                attempts,
            )
        except requests.exceptions.SSLError as exc:
            failure = _Failure(WooCommerceUnavailable, None, None, f"TLS error: {self._describe(exc)}", retryable=False)
            return self._log_failure(failure, endpoint, query, started, attempt, attempts)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            # requests reports a read timeout while streaming the body as a ConnectionError.
            kind = WooCommerceTimeout if _caused_by(exc, ReadTimeoutError) else WooCommerceUnavailable
            return self._log_failure(
                _Failure(kind, None, None, self._describe(exc)), endpoint, query, started, attempt, attempts
            )
        except requests.RequestException as exc:
            failure = _Failure(WooCommerceUnavailable, None, None, self._describe(exc), retryable=False)
            return self._log_failure(failure, endpoint, query, started, attempt, attempts)

        elapsed_ms = (time.monotonic() - started) * 1000
        status = response.status_code
        outcome = self._classify(response, body, elapsed_ms, attempt, expect_list)
        level = logging.DEBUG if isinstance(outcome, WooResponse) else logging.WARNING
        logger.log(
            level,
            "woocommerce %s %s params=%s status=%d elapsed_ms=%.0f attempt=%d/%d",
            method,
            endpoint,
            _summarize_params(query) or "-",
            status,
            elapsed_ms,
            attempt,
            attempts,
            extra={
                "wc_endpoint": endpoint,
                "wc_params": _summarize_params(query),
                "wc_status": status,
                "wc_elapsed_ms": round(elapsed_ms, 1),
                "wc_attempt": attempt,
            },
        )
        return outcome

    def _log_failure(
        self, failure: _Failure, endpoint: str, query: dict[str, str], started: float, attempt: int, attempts: int
    ) -> _Failure:
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.warning(
            "woocommerce GET %s params=%s status=- error=%s elapsed_ms=%.0f attempt=%d/%d",
            endpoint,
            _summarize_params(query) or "-",
            failure.kind.__name__,
            elapsed_ms,
            attempt,
            attempts,
            extra={
                "wc_endpoint": endpoint,
                "wc_params": _summarize_params(query),
                "wc_status": None,
                "wc_error": failure.kind.__name__,
                "wc_elapsed_ms": round(elapsed_ms, 1),
                "wc_attempt": attempt,
            },
        )
        return failure

    def _classify(
        self, response: requests.Response, body: bytes, elapsed_ms: float, attempt: int, expect_list: bool
    ) -> WooResponse | _Failure:
        status = response.status_code
        if 200 <= status < 300:
            try:
                data = decode_json(body)
            except ValueError:
                return _Failure(
                    WooCommerceBadResponse,
                    status,
                    None,
                    f"the body is not valid JSON ({self._body_hint(response, body)})",
                )
            # Entries that are not objects ("a string", 42, null) are the caller's to fail one by one.
            if expect_list and not isinstance(data, list):
                return _Failure(WooCommerceBadResponse, status, None, f"a JSON list was expected, got {_shape(data)}")
            return WooResponse(
                status=status,
                data=data,
                total=_int_header(response, "X-WP-Total"),
                total_pages=_int_header(response, "X-WP-TotalPages"),
                elapsed_ms=elapsed_ms,
                attempts=attempt,
            )
        code, message = _wc_error(body)
        detail = f"HTTP {status}" + (f" {code}: {message}" if code else f" ({self._body_hint(response, body)})")
        if status == 429:
            return _Failure(WooCommerceRateLimited, status, code, detail, _retry_after(response))
        if status >= 500:
            retry_after = _retry_after(response) if status == 503 else None
            return _Failure(WooCommerceUnavailable, status, code, detail, retry_after)
        if status in (401, 403):
            return _Failure(WooCommerceUnauthorized, status, code, detail, retryable=False)
        if status == 404:
            return _Failure(WooCommerceNotFound, status, code, detail, retryable=False)
        if 300 <= status < 400:
            location = self._redact(response.headers.get("Location", "?"))
            return _Failure(
                WooCommerceClientError, status, code, f"HTTP {status} redirect to {location}", retryable=False
            )
        if 400 <= status < 500:
            return _Failure(WooCommerceClientError, status, code, detail, retryable=False)
        return _Failure(WooCommerceBadResponse, status, code, detail)

    def _error(
        self, failure: _Failure, label: str, endpoint: str, attempts: int, timeouts: tuple[float, float]
    ) -> WooCommerceError:
        tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
        where = f"{label} on {self.url}"
        kind = failure.kind
        if kind is WooCommerceTimeout:
            message = (
                f"WooCommerce did not answer {where} within the timeouts (connect {timeouts[0]:g} s, read "
                f"{timeouts[1]:g} s) {tries}: {failure.detail}. The store is slow or overloaded: raise "
                "WOOCOMMERCE_TIMEOUT, lower the page size (WOOCOMMERCE_SYNC_BATCH_SIZE), or check the host."
            )
        elif kind is WooCommerceUnavailable and failure.status is None and not failure.retryable:
            message = (
                f"WooCommerce request {where} failed {tries}: {failure.detail}. Check WOOCOMMERCE_URL and, "
                "for a TLS error, the store's certificate (signed by a private CA: WOOCOMMERCE_CA_BUNDLE; "
                "WOOCOMMERCE_VERIFY_SSL=false only for a test store)."
            )
        elif kind is WooCommerceUnavailable and failure.status is None:
            message = (
                f"Could not reach WooCommerce for {where} {tries}: {failure.detail}. Check WOOCOMMERCE_URL, "
                "DNS, the firewall, and that the store is up; a connection dropped mid-answer points at a "
                "crashing PHP worker or a proxy timeout."
            )
        elif kind is WooCommerceUnavailable:
            message = (
                f"WooCommerce failed {where} with {failure.detail} {tries}. The store or a proxy in front of it "
                "is failing (check its PHP error log and proxy timeouts); pages of 100 products often hit proxy "
                "limits, so a smaller WOOCOMMERCE_SYNC_BATCH_SIZE may help."
            )
        elif kind is WooCommerceRateLimited:
            wait = f" (Retry-After {failure.retry_after:g} s)" if failure.retry_after is not None else ""
            message = (
                f"WooCommerce (or its host, WAF or CDN) rate-limited {where}: {failure.detail}{wait} {tries}. "
                "Run the sync less often or with smaller pages, or ask the host to raise the rate limit for "
                f"this server's IP / User-Agent ({self.user_agent})."
            )
        elif kind is WooCommerceUnauthorized and failure.code == "woocommerce_rest_cannot_view" and self._api.is_ssl:
            message = self._unseen_credentials_hint(where, failure)
        elif kind is WooCommerceUnauthorized:
            message = (
                f"WooCommerce refused {where}: {failure.detail}. Check WOOCOMMERCE_CONSUMER_KEY and "
                "WOOCOMMERCE_CONSUMER_SECRET (a REST API key with Read permission, from WooCommerce > Settings > "
                "Advanced > REST API), that WOOCOMMERCE_URL is exactly the site's home URL (http vs https, www), "
                "and that this server's clock is right (OAuth timestamps must be within 15 minutes). A 403 "
                f"without a WooCommerce code usually is a WAF: allow the User-Agent {self.user_agent!r}. Over "
                "https the web server must pass the Authorization header to PHP."
            )
        elif kind is WooCommerceNotFound:
            hint = (
                " Check WOOCOMMERCE_URL (the WordPress home URL; pretty permalinks must be on) and "
                f"WOOCOMMERCE_API_VERSION ({self.version})."
                if failure.code in (None, "rest_no_route")
                else ""
            )
            message = f"WooCommerce has no {where}: {failure.detail}.{hint}"
        elif kind is WooCommerceBadResponse:
            message = (
                f"WooCommerce answered {where} with an unusable body {tries}: {failure.detail}. A plugin or PHP "
                "notice printing into the response, a truncated answer, or a WAF/captcha page would do this; "
                "check that WOOCOMMERCE_URL points at WordPress and PHP display_errors is off."
            )
        else:
            message = f"WooCommerce rejected {where}: {failure.detail}."
            if failure.status is not None and 300 <= failure.status < 400:
                message += " Set WOOCOMMERCE_URL to the store's canonical home URL (the redirect target's origin)."
        kwargs: dict[str, Any] = {
            "endpoint": endpoint,
            "status": failure.status,
            "code": failure.code,
            "attempts": attempts,
        }
        if kind is WooCommerceRateLimited:
            kwargs["retry_after"] = failure.retry_after
        return kind(self._redact(message), **kwargs)

    def _unseen_credentials_hint(self, where: str, failure: _Failure) -> str:
        """401 ``woocommerce_rest_cannot_view`` over https: WooCommerce treated the request as anonymous, so
        the credentials sent never counted (a wrong secret would have said "Consumer secret is invalid")."""
        how = "in the query string (WOOCOMMERCE_QUERY_STRING_AUTH)" if self.query_string_auth else "by Basic auth"
        hint = (
            f"WooCommerce refused {where}: {failure.detail}. The key and secret were sent {how} over https, "
            "and WooCommerce treated the request as anonymous. It reads Basic auth and query-string keys only "
            "when WordPress sees the request as https (is_ssl()); behind a proxy, load balancer or CDN that "
            "ends TLS and forwards plain http, is_ssl() is false and the credentials are ignored. Fix it on "
            f'the store, in wp-config.php before "That\'s all, stop editing!": {WP_CONFIG_HTTPS_FIX} (the '
            "proxy must send X-Forwarded-Proto). Otherwise check that WOOCOMMERCE_CONSUMER_KEY is a key "
            "the store knows (an unknown key is also answered this way)"
        )
        if not self.query_string_auth:
            hint += (
                " and that the web server passes the Authorization header to PHP (CGI/FastCGI setups drop it; "
                "WOOCOMMERCE_QUERY_STRING_AUTH=true sends the keys in the query string instead)"
            )
        return hint + "."

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.backoff_max_seconds)
        # Exponential with "equal jitter": half fixed, half random, so parallel clients spread out.
        base = min(self.backoff_max_seconds, self.backoff_seconds * 2 ** (attempt - 1))
        return base / 2 + random.uniform(0, base / 2)

    def _redact(self, text: str) -> str:
        return redact(text, *self._secrets)

    def _describe(self, exc: BaseException) -> str:
        """A short, credential-free account of a transport exception (requests repeats the URL and query)."""
        text = f"{type(exc).__name__}: {exc}"
        text = re.sub(r"Max retries exceeded(?: with url: \S+)? ", "", text)
        text = self._redact(text)
        return text if len(text) <= 300 else f"{text[:297]}..."

    def _body_hint(self, response: requests.Response, body: bytes) -> str:
        content_type = response.headers.get("Content-Type", "no content type")
        snippet = _SPACE_RE.sub(" ", _TAG_RE.sub(" ", body[:2000].decode("utf-8", "replace"))).strip()
        snippet = snippet[:_SNIPPET_CHARS]
        hint = f"{content_type}, {len(body)} bytes"
        return f"{hint}: {self._redact(snippet)!r}" if snippet else hint


# --- helpers ----------------------------------------------------------------------------------------------


def _clean_endpoint(endpoint: str) -> str:
    cleaned = (endpoint or "").strip().lstrip("/")
    if not cleaned or "?" in cleaned or "#" in cleaned or "://" in cleaned:
        raise ValueError(f"endpoint must be a relative path like 'products' (no query string), got {endpoint!r}")
    return cleaned


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        if isinstance(current, BaseException):
            stack.extend([current.__cause__, current.__context__, *current.args])
            stack.append(getattr(current, "reason", None))
    return False


def _int_header(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _retry_after(response: requests.Response) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _wc_error(body: bytes) -> tuple[str | None, str | None]:
    """WooCommerce's ``{code, message}`` from an error body, when it is one."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None, None
    if isinstance(data, dict) and isinstance(data.get("code"), str):
        message = data.get("message")
        return data["code"], str(message)[:_SNIPPET_CHARS].rstrip(". ") if message is not None else None
    return None, None


def _shape(data: Any) -> str:
    if isinstance(data, dict):
        keys = ", ".join(list(data)[:5])
        return f"an object with keys {keys}" if keys else "an empty object"
    return type(data).__name__
