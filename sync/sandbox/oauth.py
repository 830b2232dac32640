"""WooCommerce's server-side authentication (Basic over https, OAuth 1.0a one-legged), and PHP's
query-string parsing.

This mirrors ``WC_REST_Authentication`` (``includes/class-wc-rest-authentication.php``) step by step,
including its quirks, because the point of the sandbox is that a client which authenticates here
authenticates against a real store.

Over https (``is_ssl()`` true) Basic authentication runs first (``perform_basic_authentication``):

- the key and secret come from ``$_GET['consumer_key'/'consumer_secret']`` when both are non-empty,
  else from ``PHP_AUTH_USER``/``PHP_AUTH_PW`` (PHP's decoding of ``Authorization: Basic``);
- an unknown key sets no error: the request goes on unauthenticated (401 ``woocommerce_rest_cannot_view``
  from the controller); a known key with a wrong secret is 401 "Consumer secret is invalid.";
- whatever Basic decided, a request it did not authenticate then goes through the OAuth check, which
  resets the auth method to OAuth. That is why ``send_unauthorized_headers`` (``WWW-Authenticate:
  Basic``, only "when the auth method is basic") never fires in the current code.

Over plain http only OAuth 1.0a authenticates:

- parameters come from ``$_GET`` + ``$_POST`` (form bodies only) + an ``Authorization: OAuth`` header;
  all of them except ``oauth_signature`` are signed, sorted by key with ``strcmp``;
- each key and value is ``rawurlencode``d, joined ``key=value``, and that string is ``rawurlencode``d
  again (so ``%`` becomes ``%25``); pairs are joined with ``%26``;
- the base URL is the *site* URL plus the request path, not the host the client used;
- checks run in this order: missing parameters, consumer key, signature, timestamp (±15 min), nonce;
- the nonce store is keyed by timestamp, so only one nonce per second is remembered (as in WooCommerce).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, unquote_plus, urlsplit, urlunsplit

NONCE_WINDOW_SECONDS = 15 * 60
OAUTH_PARAM_NAMES = (
    "oauth_consumer_key",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
)
PERMISSIONS = ("read", "write", "read_write")

PhpValue = str | dict  # a PHP array is an ordered dict (keys int or str)


class WpError(Exception):
    """A WordPress REST error: rendered as ``{"code", "message", "data": {"status", ...}}``."""

    def __init__(self, code: str, message: str, status: int, **data: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.data = data

    def body(self) -> dict:
        return {"code": self.code, "message": self.message, "data": {"status": self.status, **self.data}}


# --- PHP query parsing -------------------------------------------------------------------------


def php_parse_qs(query: str) -> dict[str, PhpValue]:
    """Parse a query string the way PHP fills ``$_GET``: the last repeated key wins, ``a[]``/``a[k]``
    build arrays, ``.`` and spaces in a top-level name become ``_``."""
    result: dict[str, PhpValue] = {}
    if not query:
        return result
    for part in query.split("&"):
        if not part:
            continue
        raw_key, _, raw_value = part.partition("=")
        key = unquote_plus(raw_key, errors="replace")
        value = unquote_plus(raw_value, errors="replace")
        _php_assign(result, key, value)
    return result


def _php_index(text: str) -> int | str:
    # PHP turns canonical decimal integers into integer array keys.
    if re.fullmatch(r"-?(0|[1-9][0-9]*)", text) and len(text) < 19:
        return int(text)
    return text


def _php_assign(target: dict, key: str, value: str) -> None:
    key = key.lstrip(" ")
    bracket = key.find("[")
    indices: list[str | None] = []
    if bracket > 0 and "]" in key[bracket:]:
        base = key[:bracket]
        rest = key[bracket:]
        while rest.startswith("["):
            close = rest.find("]")
            if close < 0:
                break
            inner = rest[1:close]
            indices.append(inner if inner != "" else None)
            rest = rest[close + 1 :]
            # PHP ignores anything between "]" and the next "[", and stops at the first other char.
            next_open = rest.find("[")
            if next_open < 0:
                break
            rest = rest[next_open:]
    elif bracket > 0:
        # An unmatched "[" is turned into "_" and the rest of the name kept.
        base = key[:bracket] + "_" + key[bracket + 1 :]
    else:
        base = key
    if not base:
        return
    base = base.replace(".", "_").replace(" ", "_")
    if not indices:
        target[base] = value
        return
    container = target.get(base)
    if not isinstance(container, dict):
        container = {}
        target[base] = container
    for position, index in enumerate(indices):
        last = position == len(indices) - 1
        if index is None:
            numeric = [k for k in container if isinstance(k, int)]
            slot: int | str = max(numeric) + 1 if numeric else 0
        else:
            slot = _php_index(index)
        if last:
            container[slot] = value
        else:
            child = container.get(slot)
            if not isinstance(child, dict):
                child = {}
                container[slot] = child
            container = child


def php_value_list(value: PhpValue) -> list:
    """A PHP array's values in order, or a one-item list for a scalar."""
    if isinstance(value, dict):
        return list(value.values())
    return [value]


def php_build_query(params: dict[str, PhpValue]) -> str:
    """``build_query(urlencode_deep(...))`` as ``add_query_arg`` does it (spaces become ``+``)."""
    pairs: list[str] = []

    def walk(prefix: str, value: PhpValue) -> None:
        if isinstance(value, dict):
            for sub_key, sub_value in value.items():
                walk(f"{prefix}%5B{quote(str(sub_key), safe='')}%5D", sub_value)
        else:
            pairs.append(f"{prefix}={_php_urlencode(value)}")

    for key, value in params.items():
        walk(_php_urlencode(key), value)
    return "&".join(pairs)


def _php_urlencode(text: str) -> str:
    # PHP urlencode: like rawurlencode but space is "+" and "~" is encoded.
    return quote(text, safe="").replace("%20", "+").replace("~", "%7E")


# --- OAuth 1.0a ------------------------------------------------------------------------------------


def rawurlencode(text: str) -> str:
    """PHP ``rawurlencode`` (RFC 3986: only ``A-Za-z0-9-_.~`` stay as they are)."""
    return quote(text, safe="")


def _encode_rfc3986(value: PhpValue) -> PhpValue:
    if isinstance(value, dict):
        return {k: _encode_rfc3986(v) for k, v in value.items()}
    return rawurlencode(value)


def _join_with_equals_sign(params: dict, out: list[str], prefix: str = "") -> list[str]:
    for key, value in params.items():
        param_key = f"{prefix}%5B{key}%5D" if prefix else str(key)
        if isinstance(value, dict):
            _join_with_equals_sign(value, out, param_key)
        else:
            out.append(rawurlencode(f"{param_key}={value}"))
    return out


def _php_strcmp_key(key: str) -> bytes:
    return key.encode("utf-8", errors="surrogatepass")


def signature_base_string(method: str, base_url: str, params: dict[str, PhpValue]) -> str:
    """The string WooCommerce signs: ``METHOD&rawurlencode(url)&<normalised, sorted params>``."""
    ordered = {k: params[k] for k in sorted(params, key=_php_strcmp_key) if k != "oauth_signature"}
    normalised = {rawurlencode(k): _encode_rfc3986(v) for k, v in ordered.items()}
    query_string = "%26".join(_join_with_equals_sign(normalised, []))
    return f"{method}&{rawurlencode(base_url)}&{query_string}"


def sign(method: str, base_url: str, params: dict[str, PhpValue], consumer_secret: str, signature_method: str) -> str:
    """Base64 HMAC of :func:`signature_base_string` with key ``secret&`` (no token secret)."""
    algorithm = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}[signature_method]
    string_to_sign = signature_base_string(method, base_url, params)
    digest = hmac.new(f"{consumer_secret}&".encode(), string_to_sign.encode(), algorithm).digest()
    return base64.b64encode(digest).decode("ascii")


_HEADER_PARAM = re.compile(r'(oauth_[a-z_-]*)=(:?"([^"]*)"|([^,]*))')


def parse_authorization_header(header: str) -> dict[str, str]:
    """``WC_REST_Authentication::parse_header``: only ``oauth_*`` pairs of an ``OAuth`` header."""
    header = header.strip()
    if not header.startswith("OAuth "):
        return {}
    params: dict[str, str] = {}
    for match in _HEADER_PARAM.finditer(header):
        quoted, bare = match.group(3), match.group(4)
        params[match.group(1)] = unquote_plus(quoted if quoted else (bare or ""))
    return params


def parse_basic_authorization(header: str) -> tuple[str, str] | None:
    """``PHP_AUTH_USER`` and ``PHP_AUTH_PW`` as PHP sets them from an ``Authorization: Basic`` header
    (``php_handle_auth_data``), or None when PHP would set neither.

    The scheme is matched case-insensitively; the user is what precedes the first ``:``; both end at a
    NUL byte (PHP stores them as C strings). PHP's base64 decoder is more lenient with bad padding.
    """
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].encode("ascii", errors="ignore"), validate=False)
    except ValueError:  # binascii.Error: bad padding
        return None
    user, colon, password = decoded.partition(b":")
    if not colon:
        return None
    return (
        user.split(b"\0", 1)[0].decode("utf-8", errors="surrogateescape"),
        password.split(b"\0", 1)[0].decode("utf-8", errors="surrogateescape"),
    )


def _same_secret(expected: str, provided: PhpValue) -> bool:
    if not isinstance(provided, str):
        # ``hash_equals()`` with an array (``consumer_secret[]=``) is a PHP TypeError, i.e. a fatal 500 on
        # a real store; a mismatch is the useful answer for a test double.
        return False
    return hmac.compare_digest(expected.encode(), provided.encode("utf-8", errors="surrogateescape"))


def _php_empty(value: PhpValue | None) -> bool:
    return value is None or value == "" or value == "0" or value == {}


@dataclass
class ApiKey:
    """One row of ``woocommerce_api_keys``: credentials, permission and the nonces it has seen."""

    consumer_key: str
    consumer_secret: str
    permissions: str = "read_write"
    nonces: dict[int | str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.permissions not in PERMISSIONS:
            raise ValueError(f"permissions must be one of {PERMISSIONS}, not {self.permissions!r}")


class OAuthVerifier:
    """Authenticates requests against a set of API keys exactly as a WooCommerce store on plain http."""

    def __init__(self, site_url: str, keys: list[ApiKey] | None = None) -> None:
        self.site_url = site_url.rstrip("/")
        self._keys: dict[str, ApiKey] = {}
        self._lock = threading.Lock()
        for key in keys or []:
            self.add_key(key)

    def add_key(self, key: ApiKey) -> None:
        with self._lock:
            self._keys[key.consumer_key] = key

    def authenticate_basic(self, *, get_params: dict[str, PhpValue], authorization: str) -> tuple[ApiKey, str] | None:
        """``perform_basic_authentication`` (the caller runs it only when ``is_ssl()``): the key whose
        credentials came with the request and where they came from (``"query_string"`` or ``"basic"``),
        ``None`` when there were none or the key is unknown (WooCommerce sets no error then), or
        :class:`WpError` 401 "Consumer secret is invalid."."""
        consumer_key: PhpValue | None = None
        consumer_secret: PhpValue | None = None
        source = "query_string"
        if not _php_empty(get_params.get("consumer_key")) and not _php_empty(get_params.get("consumer_secret")):
            consumer_key, consumer_secret = get_params["consumer_key"], get_params["consumer_secret"]
        if _php_empty(consumer_key):
            basic = parse_basic_authorization(authorization)
            if basic is not None and not _php_empty(basic[0]) and not _php_empty(basic[1]):
                consumer_key, consumer_secret = basic
                source = "basic"
        if _php_empty(consumer_key) or _php_empty(consumer_secret):
            return None
        # WooCommerce looks the key up by its hash after sanitize_text_field(), which turns an array into "".
        key = self._keys.get(consumer_key) if isinstance(consumer_key, str) else None
        if key is None:
            return None
        if not _same_secret(key.consumer_secret, consumer_secret):  # type: ignore[arg-type]
            raise WpError("woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401)
        return key, source

    def authenticate(
        self,
        *,
        method: str,
        raw_path: str,
        get_params: dict[str, PhpValue],
        post_params: dict[str, PhpValue],
        authorization: str,
        is_ssl: bool = False,
        now: float | None = None,
    ) -> ApiKey | None:
        """Return the key that signed the request, ``None`` when no OAuth was attempted, or raise
        :class:`WpError` (401) with WooCommerce's code and message. The signed URL's scheme is the one
        ``is_ssl()`` implies (``get_home_url(..., is_ssl() ? 'https' : 'http')``), not the site URL's."""
        params: dict[str, PhpValue] = {**get_params, **post_params}
        if authorization:
            header_params = parse_authorization_header(authorization)
            if header_params:
                params.update(header_params)

        missing = [name for name in OAUTH_PARAM_NAMES if _php_empty(params.get(name))]
        if len(missing) == len(OAUTH_PARAM_NAMES):
            return None  # not even trying OAuth: the controller answers "cannot view"
        if missing:
            noun = "parameter" if len(missing) == 1 else "parameters"
            raise WpError(
                "woocommerce_rest_authentication_missing_parameter",
                f"Missing OAuth {noun} {', '.join(missing)}",
                401,
            )

        consumer_key = params["oauth_consumer_key"]
        key = self._keys.get(consumer_key) if isinstance(consumer_key, str) else None
        if key is None:
            raise WpError("woocommerce_rest_authentication_error", "Consumer key is invalid.", 401)

        self._check_signature(key, method, raw_path, params, is_ssl)
        self._check_timestamp_and_nonce(key, params["oauth_timestamp"], params["oauth_nonce"], now)
        return key

    def _check_signature(
        self, key: ApiKey, method: str, raw_path: str, params: dict[str, PhpValue], is_ssl: bool
    ) -> None:
        provided = params["oauth_signature"]
        if not isinstance(provided, str):
            raise WpError(
                "woocommerce_rest_authentication_error", "Invalid signature - provided signature does not match.", 401
            )
        # WooCommerce undoes a "+" that PHP's query parsing turned into a space, then rawurldecodes.
        consumer_signature = unquote(provided.replace(" ", "+"))
        site = urlsplit(self.site_url)
        home = urlunsplit(site._replace(scheme="https" if is_ssl else "http"))
        base_url = f"{home}/{raw_path.lstrip('/')}"
        signature_method = params["oauth_signature_method"]
        if signature_method not in ("HMAC-SHA1", "HMAC-SHA256"):
            raise WpError(
                "woocommerce_rest_authentication_error", "Invalid signature - signature method is invalid.", 401
            )
        expected = sign(method.upper(), base_url, params, key.consumer_secret, signature_method)
        if not hmac.compare_digest(expected.encode(), consumer_signature.encode("utf-8", errors="replace")):
            raise WpError(
                "woocommerce_rest_authentication_error", "Invalid signature - provided signature does not match.", 401
            )

    def _check_timestamp_and_nonce(self, key: ApiKey, timestamp: PhpValue, nonce: PhpValue, now: float | None) -> None:
        current = int(time.time() if now is None else now)
        try:
            stamp = float(timestamp) if isinstance(timestamp, str) else None
        except ValueError:
            stamp = None
        if stamp is None or stamp < current - NONCE_WINDOW_SECONDS or stamp > current + NONCE_WINDOW_SECONDS:
            raise WpError("woocommerce_rest_authentication_error", "Invalid timestamp.", 401)
        with self._lock:
            if nonce in key.nonces.values():
                raise WpError(
                    "woocommerce_rest_authentication_error", "Invalid nonce - nonce has already been used.", 401
                )
            # Keyed by timestamp as in WooCommerce: a second nonce in the same second replaces the first.
            store_key = _php_index(timestamp) if isinstance(timestamp, str) else str(timestamp)
            key.nonces[store_key] = nonce if isinstance(nonce, str) else str(nonce)
            oldest = current - NONCE_WINDOW_SECONDS
            for stored in list(key.nonces):
                stored_at = _float_or_none(str(stored))
                if stored_at is not None and stored_at < oldest:
                    del key.nonces[stored]

    @staticmethod
    def check_permissions(key: ApiKey, method: str) -> None:
        """``check_permissions``: GET/HEAD need read, POST/PUT/PATCH/DELETE need write."""
        method = method.upper()
        if method in ("HEAD", "GET"):
            if key.permissions not in ("read", "read_write"):
                raise WpError(
                    "woocommerce_rest_authentication_error", "The API key provided does not have read permissions.", 401
                )
        elif method in ("POST", "PUT", "PATCH", "DELETE"):
            if key.permissions not in ("write", "read_write"):
                raise WpError(
                    "woocommerce_rest_authentication_error",
                    "The API key provided does not have write permissions.",
                    401,
                )
        elif method != "OPTIONS":
            raise WpError("woocommerce_rest_authentication_error", "Unknown request method.", 401)


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
