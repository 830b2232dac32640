"""WordPress REST argument validation (``rest_validate_request_arg``) for the sandbox's routes.

Only the parameters present in the request are validated, in the order the controller registers
them, and every invalid one is reported in one 400 ``rest_invalid_param`` (``data.params`` with the
message per parameter, ``data.details`` with code and message as WordPress >= 5.5 adds them).
Parameters a route does not declare are ignored, as WordPress does.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .oauth import PhpValue, WpError

_LIST_SPLIT = re.compile(r"[\s,]+")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?$")


@dataclass(frozen=True)
class Arg:
    type: str  # integer | number | string | boolean | array
    default: object = None
    enum: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    format: str | None = None  # "date-time"
    items: str = "integer"  # item type of an array
    items_enum: tuple[str, ...] | None = None


class _Invalid(Exception):
    def __init__(self, code: str, message: str, data: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def wp_parse_list(value: PhpValue) -> list:
    if isinstance(value, dict):
        return list(value.values())
    return [part for part in _LIST_SPLIT.split(value) if part != ""]


def _is_integer(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        number = float(value.strip()) if value.strip() else None
    except ValueError:
        return False
    return number is not None and math.isfinite(number) and number == round(number)


def _is_number(value: object) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _wp_sprintf_list(values: tuple[str, ...]) -> str:
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return f"{values[0]} and {values[1]}"
    return ", ".join(values[:-1]) + f", and {values[-1]}"


def _check_enum(param: str, value: str, enum: tuple[str, ...]) -> None:
    if value not in enum:
        if len(enum) == 1:
            raise _Invalid("rest_not_in_enum", f"{param} is not {enum[0]}.")
        raise _Invalid("rest_not_in_enum", f"{param} is not one of {_wp_sprintf_list(enum)}.")


def _validate(param: str, value: PhpValue, arg: Arg) -> object:
    """Validate and sanitise one value; raise :class:`_Invalid` with WordPress's wording."""
    if arg.type == "array":
        items = wp_parse_list(value)
        result = []
        for index, item in enumerate(items):
            item_arg = Arg(type=arg.items, enum=arg.items_enum)
            result.append(_validate(f"{param}[{index}]", item, item_arg))
        return result
    if isinstance(value, dict):
        raise _Invalid("rest_invalid_type", f"{param} is not of type {arg.type}.", {"param": param})
    if arg.type == "integer":
        if not _is_integer(value):
            raise _Invalid("rest_invalid_type", f"{param} is not of type integer.", {"param": param})
        number = int(float(value))
        if arg.minimum is not None and arg.maximum is not None:
            if not arg.minimum <= number <= arg.maximum:
                raise _Invalid(
                    "rest_out_of_bounds",
                    f"{param} must be between {arg.minimum} (inclusive) and {arg.maximum} (inclusive)",
                )
        elif arg.minimum is not None and number < arg.minimum:
            raise _Invalid("rest_out_of_bounds", f"{param} must be greater than or equal to {arg.minimum}")
        elif arg.maximum is not None and number > arg.maximum:
            raise _Invalid("rest_out_of_bounds", f"{param} must be less than or equal to {arg.maximum}")
        return number
    if arg.type == "number":
        if not _is_number(value):
            raise _Invalid("rest_invalid_type", f"{param} is not of type number.", {"param": param})
        return value
    if arg.type == "boolean":
        lowered = value.lower()
        if lowered not in ("true", "false", "1", "0"):
            raise _Invalid("rest_invalid_type", f"{param} is not of type boolean.", {"param": param})
        return lowered in ("true", "1")
    # string
    if arg.enum is not None:
        _check_enum(param, value, arg.enum)
    if arg.format == "date-time" and not _DATE_TIME.match(value):
        raise _Invalid("rest_invalid_date", "Invalid date.")
    return value


def validate_params(query: dict[str, PhpValue], spec: dict[str, Arg]) -> dict[str, object]:
    """Validated, sanitised values for every declared parameter (defaults filled in).

    Raises :class:`WpError` 400 ``rest_invalid_param`` listing every invalid parameter.
    """
    values: dict[str, object] = {}
    invalid: dict[str, str] = {}
    details: dict[str, dict] = {}
    for name, arg in spec.items():
        if name not in query:
            values[name] = arg.default
            continue
        try:
            values[name] = _validate(name, query[name], arg)
        except _Invalid as error:
            invalid[name] = error.message
            details[name] = {"code": error.code, "message": error.message, "data": error.data}
    if invalid:
        raise WpError(
            "rest_invalid_param",
            f"Invalid parameter(s): {', '.join(invalid)}",
            400,
            params=invalid,
            details=details,
        )
    return values


# --- the routes' declared parameters, in registration order ------------------------------------------

PRODUCT_ORDERBY = ("date", "id", "include", "title", "slug", "modified", "menu_order", "price", "popularity", "rating")
PRODUCT_STATUS_ENUM = ("any", "future", "trash", "draft", "pending", "private", "publish")
PRODUCT_TYPE_ENUM = ("simple", "grouped", "external", "variable")
STOCK_STATUS_ENUM = ("instock", "outofstock", "onbackorder")
CATEGORY_ORDERBY = ("id", "include", "name", "slug", "term_group", "description", "count")

_BASE_COLLECTION = {
    "context": Arg("string", default="view", enum=("view", "edit")),
    "page": Arg("integer", default=1, minimum=1),
    "per_page": Arg("integer", default=10, minimum=1, maximum=100),
    "search": Arg("string"),
    "after": Arg("string", format="date-time"),
    "before": Arg("string", format="date-time"),
    "modified_after": Arg("string", format="date-time"),
    "modified_before": Arg("string", format="date-time"),
    "dates_are_gmt": Arg("boolean", default=False),
    "exclude": Arg("array", default=[]),
    "include": Arg("array", default=[]),
    "offset": Arg("integer"),
    "order": Arg("string", default="desc", enum=("asc", "desc")),
    "orderby": Arg("string", default="date", enum=PRODUCT_ORDERBY),
    "parent": Arg("array", default=[]),
    "parent_exclude": Arg("array", default=[]),
    "slug": Arg("string"),
    "status": Arg("string", default="any", enum=PRODUCT_STATUS_ENUM),
}

PRODUCT_LIST_ARGS: dict[str, Arg] = {
    **_BASE_COLLECTION,
    "type": Arg("string", enum=PRODUCT_TYPE_ENUM),
    "sku": Arg("string"),
    "featured": Arg("boolean"),
    "category": Arg("string"),
    "tag": Arg("string"),
    "on_sale": Arg("boolean"),
    "min_price": Arg("string"),
    "max_price": Arg("string"),
    "stock_status": Arg("string", enum=STOCK_STATUS_ENUM),
}

VARIATION_LIST_ARGS: dict[str, Arg] = {
    **_BASE_COLLECTION,
    "sku": Arg("string"),
    "on_sale": Arg("boolean"),
    "min_price": Arg("string"),
    "max_price": Arg("string"),
    "stock_status": Arg("string", enum=STOCK_STATUS_ENUM),
}

CATEGORY_LIST_ARGS: dict[str, Arg] = {
    "context": Arg("string", default="view", enum=("view", "edit")),
    "page": Arg("integer", default=1, minimum=1),
    "per_page": Arg("integer", default=10, minimum=1, maximum=100),
    "search": Arg("string"),
    "exclude": Arg("array", default=[]),
    "include": Arg("array", default=[]),
    "offset": Arg("integer"),
    "order": Arg("string", default="asc", enum=("asc", "desc")),
    "orderby": Arg("string", default="name", enum=CATEGORY_ORDERBY),
    "hide_empty": Arg("boolean", default=False),
    "parent": Arg("integer"),
    "product": Arg("integer"),
    "slug": Arg("string"),
}

SINGLE_ARGS: dict[str, Arg] = {
    "context": Arg("string", default="view", enum=("view", "edit")),
}

DELETE_ARGS: dict[str, Arg] = {
    "force": Arg("boolean", default=False),
}
