"""Reading the emulator's request log in tests."""

from __future__ import annotations

from typing import Any

READ_ONLY_POSTS = ("/v2/public/storage/items/get-bulk",)


def writes(entries: list[dict[str, Any]]) -> list[str]:
    """Requests that change state, as `METHOD path`; v1 RPCs as `v1 <query type> <method>`."""
    out = []
    for entry in entries:
        method, path, body = entry["method"], entry["path"], entry.get("body")
        if path in ("/public", "/public/user"):
            if isinstance(body, dict) and body.get("query_method") != "GET":
                out.append(f"v1 {body.get('query_type')} {body.get('query_method')}")
        elif method != "GET" and path not in READ_ONLY_POSTS:
            out.append(f"{method} {path}")
    return out
