"""What every part of the sandbox catalog shares: its constants, its errors, and WooCommerce's text rules
for slugs, money and price HTML (pure functions, no state)."""

from __future__ import annotations

import functools
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

DEFAULT_SITE_URL = "http://127.0.0.1:8800"
# Not UTC on purpose: filters without dates_are_gmt compare against site-local time.
DEFAULT_TIMEZONE = "Europe/Berlin"

PRODUCT_STATUSES = ("publish", "future", "draft", "pending", "private", "trash")
ANY_STATUSES = frozenset({"publish", "future", "draft", "pending", "private"})
STOCK_STATUSES = ("instock", "outofstock", "onbackorder")
PRODUCT_TYPES = ("simple", "grouped", "external", "variable")


class CatalogError(LookupError):
    """Raised for an unknown id or an invalid edit; the control endpoints map it to 404/400."""


class UnknownObject(CatalogError):
    pass


def slugify(text: str) -> str:
    """Roughly WordPress's ``sanitize_title``: accents removed, lowercase, other non-ASCII %-encoded."""
    return slug_part(text) or "product"


@functools.lru_cache(maxsize=65536)
def slug_part(text: str) -> str:
    text = re.sub(r"<[^>]*>", "", text)
    text = re.sub(r"&[#\w]+;", "", text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower()
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch if ch.isalnum() else "-")
        elif ch.isalnum():
            out.append(quote(ch).lower())
        else:
            out.append("-")
    return re.sub(r"-+", "-", "".join(out)).strip("-")


def money(value: Decimal | float | int | str | None) -> str:
    """WooCommerce money strings: ``""`` when unset, otherwise the number as entered (``"20"``, ``"9.99"``)."""
    if value is None or value == "":
        return ""
    number = Decimal(str(value))
    text = format(number.normalize(), "f") if number == number.to_integral_value() else f"{number:.2f}"
    return text


def price_number(text: str) -> Decimal | None:
    if text in ("", None):
        return None
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None


def price_html(price: str, regular: str, on_sale: bool) -> str:
    def amount(value: str) -> str:
        return (
            '<span class="woocommerce-Price-amount amount"><bdi>'
            f'{value}&nbsp;<span class="woocommerce-Price-currencySymbol">&euro;</span></bdi></span>'
        )

    if price == "":
        return ""
    if on_sale and regular:
        return f'<del aria-hidden="true">{amount(regular)}</del> <ins aria-hidden="true">{amount(price)}</ins>'
    return amount(price)


def unique_slug(slug: str, used: set[str]) -> str:
    candidate = slug
    suffix = 2
    while candidate in used:
        candidate = f"{slug}-{suffix}"
        suffix += 1
    used.add(candidate)
    return candidate
