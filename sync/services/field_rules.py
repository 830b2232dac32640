"""Field-by-field resolution of a local edit against WooCommerce's current values (``SYNC_FIELD_RULES``).

A field conflicts when the edit changes it (``new != base``) and WooCommerce changed it too since the
staff member saw it (the value read just before the push differs from ``base``). Each conflicting
field is resolved by its rule:

- ``last_write`` (default): the later change wins (the edit's ``created_at`` against WooCommerce's
  ``date_modified_gmt``; a tie goes to the edit, which is the newer intent);
- ``central``: WooCommerce is the central store and wins;
- ``max`` / ``min``: the larger / smaller of the two (prices);
- ``concat``: WooCommerce's text, a space, then the edit's (text fields only; one copy when equal).

Stock is never resolved by a rule: it is merged as deltas (``WooCommerce now + (new - base)``), so a
restock of 10 → 15 while WooCommerce sold 2 ends at 13. ``manage_stock`` takes ``central`` or
``last_write`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

RULE_LAST_WRITE = "last_write"
RULE_CENTRAL = "central"
RULE_MAX = "max"
RULE_MIN = "min"
RULE_CONCAT = "concat"
RULE_DELTA = "delta"  # stock: not configurable

PRICE_FIELDS = ("regular_price", "sale_price")
TEXT_FIELDS = ("name",)
STOCK_FIELD = "stock_quantity"
PUSH_FIELDS = (*PRICE_FIELDS, STOCK_FIELD, "manage_stock", *TEXT_FIELDS)

# Which rules make sense for which field.
ALLOWED_RULES: dict[str, tuple[str, ...]] = {
    "regular_price": (RULE_LAST_WRITE, RULE_CENTRAL, RULE_MAX, RULE_MIN),
    "sale_price": (RULE_LAST_WRITE, RULE_CENTRAL, RULE_MAX, RULE_MIN),
    "manage_stock": (RULE_LAST_WRITE, RULE_CENTRAL),
    "name": (RULE_LAST_WRITE, RULE_CENTRAL, RULE_CONCAT),
}


class FieldRulesError(ValueError):
    """``SYNC_FIELD_RULES`` names an unknown field or rule, or a rule that makes no sense for its field."""


def field_rules_parse(text: str) -> dict[str, str]:
    """``"regular_price=central,sale_price=last_write"`` → ``{field: rule}``; raises FieldRulesError."""
    rules: dict[str, str] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, rule = part.partition("=")
        name, rule = name.strip(), rule.strip()
        if not sep or not name or not rule:
            raise FieldRulesError(f"SYNC_FIELD_RULES: {part!r} is not field=rule")
        if name == STOCK_FIELD:
            raise FieldRulesError(
                "SYNC_FIELD_RULES: stock_quantity takes no rule: stock is always merged as deltas "
                "(WooCommerce's current stock + the edit's change)"
            )
        if name not in ALLOWED_RULES:
            raise FieldRulesError(
                f"SYNC_FIELD_RULES: unknown field {name!r} (fields: {', '.join(sorted(ALLOWED_RULES))})"
            )
        if rule not in ALLOWED_RULES[name]:
            raise FieldRulesError(
                f"SYNC_FIELD_RULES: the rule {rule!r} makes no sense for {name} "
                f"(allowed: {', '.join(ALLOWED_RULES[name])})"
            )
        if name in rules:
            raise FieldRulesError(f"SYNC_FIELD_RULES: {name} is given twice")
        rules[name] = rule
    return rules


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def values_equal(name: str, left: Any, right: Any) -> bool:
    """Equal as WooCommerce means it: prices and stock by amount (``"12.5"`` = ``"12.50"``)."""
    if name in PRICE_FIELDS or name == STOCK_FIELD:
        if left in (None, "") or right in (None, ""):
            return left in (None, "") and right in (None, "")
        a, b = _decimal(left), _decimal(right)
        return a is not None and a == b
    return left == right


@dataclass(frozen=True, slots=True)
class FieldResolution:
    rule: str
    result: Any
    conflict: bool
    winner: str  # "local", "remote", "merged"

    def record(self, *, local: Any, remote: Any, base: Any) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "local": local,
            "remote": remote,
            "base": base,
            "result": self.result,
            "conflict": self.conflict,
            "winner": self.winner,
        }


def field_resolve(
    *,
    name: str,
    base: Any,
    local: Any,
    remote: Any,
    rules: dict[str, str],
    local_at: datetime | None,
    remote_at: datetime | None,
) -> FieldResolution:
    """The value to push for one field (see the module docstring). ``remote`` is WooCommerce's current value."""
    if name == STOCK_FIELD:
        delta = int(local) - int(base if base is not None else 0)
        current = int(_decimal(remote) or 0)
        return FieldResolution(
            rule=RULE_DELTA, result=current + delta, conflict=not values_equal(name, remote, base), winner="merged"
        )
    rule = rules.get(name, RULE_LAST_WRITE)
    if values_equal(name, remote, base) or values_equal(name, remote, local):
        return FieldResolution(rule=rule, result=local, conflict=False, winner="local")
    if rule == RULE_CENTRAL:
        return FieldResolution(rule=rule, result=remote, conflict=True, winner="remote")
    if rule in (RULE_MAX, RULE_MIN):
        a, b = _decimal(local), _decimal(remote)
        if a is None or b is None:
            # An empty price ("no sale") has no size: the one that is a price wins either way.
            winner = "local" if b is None else "remote"
        else:
            winner = "local" if (a >= b if rule == RULE_MAX else a <= b) else "remote"
        return FieldResolution(rule=rule, result=local if winner == "local" else remote, conflict=True, winner=winner)
    if rule == RULE_CONCAT:
        remote_text, local_text = str(remote or "").strip(), str(local or "").strip()
        merged = remote_text if local_text in ("", remote_text) else f"{remote_text} {local_text}".strip()
        return FieldResolution(rule=rule, result=merged, conflict=True, winner="merged")
    # last_write
    if remote_at is not None and local_at is not None and remote_at > local_at:
        return FieldResolution(rule=rule, result=remote, conflict=True, winner="remote")
    return FieldResolution(rule=rule, result=local, conflict=True, winner="local")
