"""The store's webhooks that feed the sync queue: install them, check them, put them back.

A webhook is "ours" when its topic is one we need and its delivery URL is ours, or, for one that
points elsewhere, its name is ours (so a moved receiver is found and corrected, never duplicated).
What WooCommerce does with them (notes §11): a webhook is created ``active`` whatever status is
sent; its secret is never shown again; the 7th failed delivery in a row disables it, and
re-activating it does not reset its failure count, so one more failure disables it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sync.woocommerce.client import WooCommerceClient

WEBHOOK_TOPICS = (
    "product.created",
    "product.updated",
    "product.deleted",
    "product.restored",
    "order.created",
    "order.updated",
)
NAME_PREFIX = "CrushMe sync: "
LIST_PAGE = 100


def webhook_name(topic: str) -> str:
    return f"{NAME_PREFIX}{topic}"


@dataclass(frozen=True, slots=True)
class WebhookState:
    topic: str
    id: int | None  # None: missing
    status: str  # active, paused, disabled, or "missing"
    delivery_url: str
    problem: str = ""  # empty when the webhook is as it should be


@dataclass
class InstallResult:
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)  # more webhooks of ours for one topic (left alone)


def webhooks_list(*, client: WooCommerceClient) -> list[dict[str, Any]]:
    """Every webhook of the store (all statuses), read page by page."""
    found: list[dict[str, Any]] = []
    for page in client.iter_pages("webhooks", per_page=LIST_PAGE, params={"status": "all"}):
        found += page.items
    return found


def _ours(webhooks: list[dict[str, Any]], *, delivery_url: str) -> dict[str, list[dict[str, Any]]]:
    """Our webhooks by topic: those delivering to ``delivery_url`` first, then those with our name."""
    by_topic: dict[str, list[dict[str, Any]]] = {topic: [] for topic in WEBHOOK_TOPICS}
    for hook in sorted(webhooks, key=lambda h: (h.get("delivery_url") != delivery_url, h.get("id") or 0)):
        topic = str(hook.get("topic") or "").lower()
        if topic in by_topic and (hook.get("delivery_url") == delivery_url or hook.get("name") == webhook_name(topic)):
            by_topic[topic].append(hook)
    return by_topic


def webhooks_install(*, client: WooCommerceClient, delivery_url: str, secret: str) -> InstallResult:
    """Create the missing webhooks; point existing ones at ``delivery_url`` with ``secret``. Idempotent.

    An existing webhook is updated (PUT name, delivery URL and secret: the secret cannot be read
    back, so it is always sent) but its status is left alone: ``webhooks_reactivate`` does that.
    Raises WooCommerceError.
    """
    if not delivery_url or not secret:
        raise ValueError("a delivery URL and a secret are needed")
    result = InstallResult()
    for topic, hooks in _ours(webhooks_list(client=client), delivery_url=delivery_url).items():
        body = {"name": webhook_name(topic), "delivery_url": delivery_url, "secret": secret}
        if not hooks:
            created = client.write("POST", "webhooks", {**body, "topic": topic, "status": "active"})
            result.created.append(int(created.data["id"]))
            continue
        keep, *extra = hooks
        client.write("PUT", f"webhooks/{keep['id']}", body)
        result.updated.append(int(keep["id"]))
        result.duplicates += [int(hook["id"]) for hook in extra]
    return result


def webhooks_check(*, client: WooCommerceClient, delivery_url: str) -> list[WebhookState]:
    """One state per needed topic; ``problem`` says what is wrong (missing, not active, elsewhere)."""
    states: list[WebhookState] = []
    for topic, hooks in _ours(webhooks_list(client=client), delivery_url=delivery_url).items():
        if not hooks:
            states.append(WebhookState(topic, None, "missing", "", "missing: run --install"))
            continue
        hook = hooks[0]
        status, url = str(hook.get("status") or "?"), str(hook.get("delivery_url") or "")
        problems = []
        if status != "active":
            problems.append(f"{status}: run --reactivate (WooCommerce keeps its failure count)")
        if url != delivery_url:
            problems.append(f"delivers to {url!r}, not {delivery_url!r}: run --install")
        states.append(WebhookState(topic, int(hook["id"]), status, url, "; ".join(problems)))
    return states


def webhooks_reactivate(*, client: WooCommerceClient, delivery_url: str) -> list[int]:
    """Set our webhooks that are not active back to ``active``; returns their ids."""
    reactivated: list[int] = []
    for hooks in _ours(webhooks_list(client=client), delivery_url=delivery_url).values():
        for hook in hooks[:1]:
            if hook.get("status") != "active":
                client.write("PUT", f"webhooks/{hook['id']}", {"status": "active"})
                reactivated.append(int(hook["id"]))
    return reactivated
