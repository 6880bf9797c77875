"""Query-string parsing and v2 paging (`{"results": [...], "nextPageToken": str | null}`)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from starlette.datastructures import QueryParams

from reconciler.emulator.errors import bad_request
from reconciler.emulator.store import Row

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


def sort_rows(rows: list[Row], params: QueryParams) -> list[Row]:
    """Names sort case-insensitively (casefold), ties by the exact name, then by creation order."""
    order, desc = parse_order(params)
    if order == "name":
        return sorted(rows, key=lambda r: (r["name"].casefold(), r["name"], r["seq"]), reverse=desc)
    return sorted(rows, key=lambda r: (r["created_at"], r["seq"]), reverse=desc)


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise bad_request("Invalid pageToken") from None
    if not isinstance(offset, int) or offset < 0:
        raise bad_request("Invalid pageToken")
    return offset


def page_window(params: QueryParams) -> tuple[int, int]:
    """(offset, size) of the page asked for; the token is an opaque offset."""
    size = query_int(params, "pageSize", DEFAULT_PAGE_SIZE)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise bad_request(f"pageSize must be between 1 and {MAX_PAGE_SIZE}, got {size}")
    token = params.get("pageToken")
    return (_decode_token(token) if token else 0), size


def page_body(results: list[Any], start: int, size: int, *, more: bool) -> dict[str, Any]:
    return {"results": results, "nextPageToken": _encode_token(start + size) if more else None}


def page(rows: Sequence[Row], params: QueryParams, render: Callable[[Row], Any]) -> dict[str, Any]:
    """One page of already filtered and sorted rows."""
    start, size = page_window(params)
    chunk = rows[start : start + size]
    return page_body([render(r) for r in chunk], start, size, more=start + size < len(rows))
