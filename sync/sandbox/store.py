"""The sandbox catalog's state: the items, the lock, the version, the clock and the id sequences.

Products, variations and categories are kept as dicts in WooCommerce REST v3 shape
(``catalog.products[id]`` is what ``GET products/<id>`` returns, minus ``_links``). Every read and write
goes through one re-entrant lock, so the HTTP server's threads, the control endpoints and tests may
mutate the catalog while a client pages through it. :class:`CatalogStore` holds that state and what
every other part needs to change it consistently (``_changed`` bumps the version that caches depend on,
``_emit`` tells the webhook listeners); the other concerns are its subclasses, assembled in
``catalog.py``.
"""

from __future__ import annotations

import functools
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from .values import DEFAULT_SITE_URL, DEFAULT_TIMEZONE, CatalogError

_DATE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$",
)


@functools.lru_cache(maxsize=4096)
def _iso_day(day: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))


def _iso(timestamp: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of a (zone-shifted) unix timestamp; cheaper than strftime per call."""
    day, second = divmod(timestamp, 86400)
    hours, rest = divmod(second, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{_iso_day(day)}{hours:02d}:{minutes:02d}:{seconds:02d}"


class CatalogStore:
    """The catalog's state and its clock; see the module docstring."""

    def __init__(self, *, site_url: str = DEFAULT_SITE_URL, timezone: str = DEFAULT_TIMEZONE, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.site_url = site_url.rstrip("/")
        self.timezone_name = timezone
        self.tz = ZoneInfo(timezone)
        self.products: dict[int, dict] = {}
        self.variations: dict[int, dict] = {}
        self.categories: dict[int, dict] = {}
        self.tags: dict[int, dict] = {}
        self.version = 0
        # Called as listener(topic, resource_id) for each webhook-worthy change, under the lock
        # (``webhooks.WebhookDispatcher`` queues deliveries from it). Generation emits nothing.
        self.listeners: list[Callable[[str, int], None]] = []
        self._last_post_id = 0
        self._last_term_id = 0
        self._runtime_rng = random.Random(seed + 1_000_003)
        self._queries: OrderedDict[tuple, list[int]] = OrderedDict()
        self._category_counts_version = -1
        self._offsets: dict[int, int] = {}
        # (kind, id) -> JSON text served in that item's place, byte for byte (see set_raw_item).
        self.raw_items: dict[tuple[str, int], str] = {}
        # When set, every listing announces this X-WP-Total (and the pages it implies) whatever it holds.
        self.claimed_total: int | None = None
        # When True, listings answer page 1 whatever ``page`` asks (a page cache in front of /wp-json/).
        self.ignores_page = False

    # --- dates -------------------------------------------------------------------------------------

    def _dates(self, timestamp: int) -> tuple[str, str]:
        """(site-local, GMT) strings for a unix timestamp, second precision, no zone suffix."""
        # Zone offsets change on the hour, so one lookup per hour is enough (generation makes ~10^5 calls).
        bucket = timestamp // 3600
        offset = self._offsets.get(bucket)
        if offset is None:
            utc_offset = datetime.fromtimestamp(timestamp, self.tz).utcoffset()
            offset = int(utc_offset.total_seconds()) if utc_offset else 0
            self._offsets[bucket] = offset
        return _iso(timestamp + offset), _iso(timestamp)

    def _timestamp_from(self, value: str, *, gmt: bool) -> int:
        match = _DATE_RE.match(value)
        if not match:
            raise CatalogError(f"invalid date {value!r}")
        naive = datetime(*(int(part) for part in match.groups()[:6]))  # noqa: DTZ001 - zone attached below
        suffix = match.group(7)
        if suffix:
            return int(datetime.fromisoformat(value.replace("z", "+00:00").replace("Z", "+00:00")).timestamp())
        return int(naive.replace(tzinfo=UTC if gmt else self.tz).timestamp())

    def site_time(self, value: str) -> str:
        """What ``WP_Date_Query`` compares for a filter value: a zone suffix is converted to site time,
        a naive value is taken as it is (whichever column it is compared with)."""
        match = _DATE_RE.match(value)
        if not match:
            raise CatalogError(f"invalid date {value!r}")
        if match.group(7):
            aware = datetime.fromisoformat(
                re.sub(r"\.\d+", "", value).replace("z", "+00:00").replace("Z", "+00:00").replace(" ", "T")
            )
            return aware.astimezone(self.tz).replace(tzinfo=None).isoformat()
        return "{}-{}-{}T{}:{}:{}".format(*match.groups()[:6])

    def _now(self) -> int:
        return int(time.time())

    # --- ids -----------------------------------------------------------------------------------------

    def _next_post_id(self, rng: random.Random | None = None) -> int:
        rng = rng or self._runtime_rng
        # Revisions, orders and other posts take ids from the same sequence, hence the gaps.
        gap = rng.choice((0, 0, 0, 0, 0, 0, 1, 2, 3, 7)) if rng.random() < 0.3 else 0
        self._last_post_id += 1 + gap
        return self._last_post_id

    def _next_term_id(self, rng: random.Random | None = None) -> int:
        rng = rng or self._runtime_rng
        self._last_term_id += 1 + (rng.randint(1, 4) if rng.random() < 0.25 else 0)
        return self._last_term_id

    def _touch(self, item: dict) -> None:
        item["date_modified"], item["date_modified_gmt"] = self._dates(self._now())

    def _changed(self) -> None:
        self.version += 1
        self._queries.clear()

    def _emit(self, topic: str, resource_id: int) -> None:
        for listener in self.listeners:
            listener(topic, resource_id)

    # --- site URL ------------------------------------------------------------------------------------

    def set_site_url(self, site_url: str) -> None:
        """Point permalinks and image URLs at ``site_url`` (the server calls this when it starts)."""
        site_url = site_url.rstrip("/")
        with self.lock:
            old = self.site_url
            if old == site_url:
                return
            self.site_url = site_url

            def fix(url: str) -> str:
                return site_url + url[len(old) :] if url.startswith(old) else url

            for product in self.products.values():
                product["permalink"] = fix(product["permalink"])
                for image in product["images"]:
                    image["src"] = fix(image["src"])
            for variation in self.variations.values():
                variation["permalink"] = fix(variation["permalink"])
                if variation["image"]:
                    variation["image"]["src"] = fix(variation["image"]["src"])
            for category in self.categories.values():
                if category["image"]:
                    category["image"]["src"] = fix(category["image"]["src"])
            self._changed()

    # --- summary ------------------------------------------------------------------------------------

    def counts(self) -> dict:
        with self.lock:
            by_status: dict[str, int] = {}
            by_type: dict[str, int] = {}
            for product in self.products.values():
                by_status[product["status"]] = by_status.get(product["status"], 0) + 1
                by_type[product["type"]] = by_type.get(product["type"], 0) + 1
            return {
                "products": len(self.products),
                "variations": len(self.variations),
                "categories": len(self.categories),
                "products_by_status": by_status,
                "products_by_type": by_type,
            }
