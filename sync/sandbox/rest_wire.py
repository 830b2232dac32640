"""The REST API's request and response as data, and the wire rules WordPress applies to them: JSON as
``wp_json_encode`` writes it, a request body read as ``WP_REST_Request`` does, and ``_fields`` filtering."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .oauth import PhpValue, WpError
from .params import wp_parse_list

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"


@dataclass
class ApiRequest:
    method: str
    raw_path: str  # the path as sent (percent-encoded), without the query string
    route: str  # the REST route: raw_path after "/wp-json", decoded, without trailing slash
    query: dict[str, PhpValue]
    post_params: dict[str, PhpValue] = field(default_factory=dict)
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    is_ssl: bool = False  # what WordPress's is_ssl() answers for this request


@dataclass
class ApiResponse:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = JSON_CONTENT_TYPE
    endpoint: str = "unknown"
    auth: str = "none"  # how the request authenticated: "basic", "query_string", "oauth" or "none"


def encode_json(data: object) -> bytes:
    """JSON as PHP's ``wp_json_encode`` writes it: compact, ``\\uXXXX`` for non-ASCII, ``\\/`` for ``/``."""
    return json.dumps(data, separators=(",", ":")).replace("/", "\\/").encode("ascii")


def encode_page(items: list[object], raw: list[str | None]) -> bytes:
    """A JSON list of ``items``, except where ``raw`` holds a text to serve in an item's place."""
    if not any(text is not None for text in raw):
        return encode_json(items)
    parts = [text.encode() if text is not None else encode_json(item) for item, text in zip(items, raw, strict=True)]
    return b"[" + b",".join(parts) + b"]"


def error_response(error: WpError, endpoint: str = "unknown") -> ApiResponse:
    return ApiResponse(status=error.status, body=encode_json(error.body()), endpoint=endpoint)


def int_id(item: object) -> int:
    raw = item.get("id") if isinstance(item, dict) else item
    try:
        return int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def json_body(request: ApiRequest) -> dict:
    if request.post_params:
        return dict(request.post_params)
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except ValueError:
        raise WpError("rest_invalid_json", "Invalid JSON body passed.", 400) from None
    if not isinstance(data, dict):
        raise WpError("rest_invalid_json", "Invalid JSON body passed.", 400)
    return data


def requested_fields(query: dict[str, PhpValue]) -> list[str]:
    raw = query.get("_fields")
    if raw is None or raw == "":
        return []
    return [part for part in wp_parse_list(raw) if part]


def filter_fields(item: dict, fields: list[str]) -> dict:
    """``rest_filter_response_fields`` plus WooCommerce keeping ``id``: only the asked fields, nested
    ``a.b`` paths supported."""
    result: dict = {"id": item["id"]} if "id" in item else {}
    for name in fields:
        top, _, rest = name.partition(".")
        if top not in item:
            continue
        if not rest:
            result[top] = item[top]
        elif isinstance(item[top], dict):
            nested = _filter_fields_nested(item[top], rest)
            if nested is not None:
                existing = result.get(top)
                result[top] = {**existing, **nested} if isinstance(existing, dict) else nested
    if "id" in result and fields and "id" not in fields:
        result = {"id": result.pop("id"), **result}
    return result


def _filter_fields_nested(value: dict, path: str) -> dict | None:
    top, _, rest = path.partition(".")
    if top not in value:
        return None
    if not rest:
        return {top: value[top]}
    if isinstance(value[top], dict):
        nested = _filter_fields_nested(value[top], rest)
        return None if nested is None else {top: nested}
    return None


def single_fields(item: dict, query: dict[str, PhpValue]) -> dict:
    fields = requested_fields(query)
    if not fields:
        return item
    filtered = filter_fields(item, fields)
    if "_links" in item:
        filtered["_links"] = item["_links"]  # single-item responses keep their links (observed)
    return filtered
