"""Query-string parsing and v2 paging (`{"results": [...], "nextPageToken": str | null}`)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any

from starlette.datastructures import QueryParams

from reconciler.emulator.errors import bad_request

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def query_bool(params: QueryParams, name: str, default: bool | None = None) -> bool | None:
    """`requests` sends Python's `True`/`False`; lower-case is accepted too."""
    raw = params.get(name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise bad_request(f"Query parameter {name!r} must be a boolean, got {raw!r}")


def query_int(params: QueryParams, name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"Query parameter {name!r} must be an integer, got {raw!r}") from None


def parse_uuid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise bad_request(f"{what} {value!r} is not a valid UUID") from None


def parse_order(params: QueryParams) -> tuple[str, bool]:
    """(`name` | `createdAt`, descending?) from `order` and `desc`."""
    order = params.get("order", "name")
    if order not in ("name", "createdAt"):
        raise bad_request(f"order must be 'name' or 'createdAt', got {order!r}")
    return order, bool(query_bool(params, "desc", False))


def _encode_token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _decode_token(token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):
        raise bad_request("Invalid pageToken") from None
    if not isinstance(payload, dict):
        raise bad_request("Invalid pageToken")
    return payload


def _offset_of(token: str) -> int:
    offset = _decode_token(token).get("offset")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise bad_request("Invalid pageToken")
    return offset


def page_size(params: QueryParams) -> int:
    size = query_int(params, "pageSize", DEFAULT_PAGE_SIZE)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise bad_request(f"pageSize must be between 1 and {MAX_PAGE_SIZE}, got {size}")
    return size


# Keyset pages: the token holds the sort key of the last row sent, the next page starts after it.
# Name order keys are (folded name, name, seq), creation order keys (createdAt, seq).
_KEY_SHAPES: dict[str, tuple[type, ...]] = {"name": (str, str, int), "createdAt": (str, int)}


def keyset_window(params: QueryParams, order: str) -> tuple[list[Any] | None, int]:
    """(sort key the page starts after, or None for the first page; page size)."""
    size = page_size(params)
    token = params.get("pageToken")
    if not token:
        return None, size
    after = _decode_token(token).get("after")
    shape = _KEY_SHAPES[order]
    if (
        not isinstance(after, list)
        or len(after) != len(shape)
        or not all(type(v) is t for v, t in zip(after, shape, strict=True))
    ):
        raise bad_request("Invalid pageToken")
    return after, size


def keyset_body(results: list[Any], last_key: list[Any] | None, *, more: bool) -> dict[str, Any]:
    """A page; `last_key` is the sort key of the last row in it (needed when `more`)."""
    token = _encode_token({"after": last_key}) if more and last_key is not None else None
    return {"results": results, "nextPageToken": token}


def page_window(params: QueryParams) -> tuple[int, int]:
    """(offset, size) of the page asked for; the token is an opaque offset."""
    size = page_size(params)
    token = params.get("pageToken")
    return (_offset_of(token) if token else 0), size


def page_body(results: list[Any], start: int, size: int, *, more: bool) -> dict[str, Any]:
    return {"results": results, "nextPageToken": _encode_token({"offset": start + size}) if more else None}
