"""Fault injection for the sandbox's WooCommerce API (never for the control endpoints).

Faults look like what sits in front of a real store produces: nginx/PHP HTML error pages for
500/502/504, a WAF/CDN 429 with ``Retry-After``, a slow upstream, a body cut short, a dropped
connection. The choice is drawn from a seeded RNG so a run can be reproduced.
"""

from __future__ import annotations

import json
import random
import re
import threading
from dataclasses import dataclass

FAULT_KINDS = ("500", "502", "504", "429", "timeout", "malformed", "drop")  # the default mix
# Asked for by name only (the default mix, and so every seeded run, stays as it was).
EXTRA_FAULT_KINDS = ("garbled",)
DEFAULT_TIMEOUT_SECONDS = 35.0

_NGINX_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_WORDPRESS_CRITICAL_ERROR = (
    '<!DOCTYPE html>\n<html lang="en-US">\n<head>\n'
    '\t<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />\n'
    '\t<meta name="viewport" content="width=device-width">\n'
    '\t<title>WordPress &rsaquo; Error</title>\n</head>\n<body id="error-page">\n'
    '\t<div class="wp-die-message"><p>There has been a critical error on this website.</p>'
    '<p><a href="https://wordpress.org/documentation/article/faq-troubleshooting/">'
    "Learn more about troubleshooting WordPress.</a></p></div>\n</body>\n</html>\n"
)


def fault_page(kind: str) -> tuple[int, bytes]:
    """Status and HTML body for an HTTP-level fault kind (500, 502, 504, 429)."""
    if kind == "500":
        return 500, _WORDPRESS_CRITICAL_ERROR.encode()
    reasons = {"502": "Bad Gateway", "504": "Gateway Time-out", "429": "Too Many Requests"}
    return int(kind), _NGINX_PAGE.format(code=kind, reason=reasons[kind]).encode()


def garbled_body(body: bytes) -> bytes:
    """The JSON answer with every resource's ``regular_price`` turned into an object: valid JSON that no
    parser accepts, as a plugin hooked on the REST response can produce after the request was applied.
    A body that is not JSON is returned as it is."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    items = data if isinstance(data, list) else [data]
    if isinstance(data, dict):  # a batch answer lists its items per action
        items += [
            item for key in ("create", "update", "delete") if isinstance(data.get(key), list) for item in data[key]
        ]
    for item in items:
        if isinstance(item, dict) and "id" in item:
            item["regular_price"] = {"garbled": True}
    return json.dumps(data).encode()


@dataclass(frozen=True)
class FaultConfig:
    rate: float
    kinds: tuple[str, ...]
    seed: int
    paths: str | None
    count: int | None
    retry_after: int
    timeout_seconds: float

    def as_dict(self) -> dict:
        return {
            "rate": self.rate,
            "kinds": list(self.kinds),
            "seed": self.seed,
            "paths": self.paths,
            "count": self.count,
            "retry_after": self.retry_after,
            "timeout_seconds": self.timeout_seconds,
        }


class FaultInjector:
    """Decides, per API request, whether and how to fail it. Thread-safe.

    With ``count`` set, the next ``count`` matching requests fail (``rate`` is ignored) and the kinds are
    used in turn, so ``kinds=("500", "429"), count=2`` gives exactly a 500 then a 429. Otherwise each
    matching request fails with probability ``rate`` and a kind drawn from ``kinds``. ``paths`` is a
    regex searched in the request path (e.g. ``r"/products$"``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config: FaultConfig | None = None
        self._rng = random.Random(0)
        self._pattern: re.Pattern[str] | None = None
        self._remaining: int | None = None
        self._position = 0

    def configure(
        self,
        *,
        rate: float = 0.2,
        kinds: tuple[str, ...] | list[str] = FAULT_KINDS,
        seed: int = 1,
        paths: str | None = None,
        count: int | None = None,
        retry_after: int = 1,
        timeout_seconds: float | None = None,
    ) -> FaultConfig:
        kinds = tuple(str(kind) for kind in kinds)
        unknown = [kind for kind in kinds if kind not in FAULT_KINDS + EXTRA_FAULT_KINDS]
        if not kinds or unknown:
            raise ValueError(
                f"kinds must be a non-empty subset of {FAULT_KINDS + EXTRA_FAULT_KINDS}; unknown: {unknown}"
            )
        if not 0 <= float(rate) <= 1:
            raise ValueError("rate must be between 0 and 1")
        if count is not None and int(count) < 0:
            raise ValueError("count must be >= 0")
        pattern = re.compile(paths) if paths else None
        config = FaultConfig(
            rate=float(rate),
            kinds=kinds,
            seed=int(seed),
            paths=paths,
            count=None if count is None else int(count),
            retry_after=int(retry_after),
            timeout_seconds=DEFAULT_TIMEOUT_SECONDS if timeout_seconds is None else float(timeout_seconds),
        )
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            self._pattern = pattern
            self._remaining = config.count
            self._position = 0
        return config

    def clear(self) -> None:
        with self._lock:
            self._config = None
            self._pattern = None
            self._remaining = None

    @property
    def config(self) -> FaultConfig | None:
        return self._config

    def describe(self) -> dict | None:
        with self._lock:
            if self._config is None:
                return None
            return {**self._config.as_dict(), "remaining": self._remaining}

    def draw(self, path: str) -> str | None:
        """The fault kind for this request, or None to serve it normally."""
        with self._lock:
            config = self._config
            if config is None:
                return None
            if self._pattern is not None and not self._pattern.search(path):
                return None
            if self._remaining is not None:
                if self._remaining <= 0:
                    return None
                self._remaining -= 1
                kind = config.kinds[self._position % len(config.kinds)]
                self._position += 1
                return kind
            if self._rng.random() >= config.rate:
                return None
            return self._rng.choice(config.kinds)
