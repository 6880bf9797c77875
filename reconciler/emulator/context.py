"""What every handler needs: the store, the job runner, settings; and small request helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from reconciler.emulator.errors import bad_request
from reconciler.emulator.jobs import JobRunner
from reconciler.emulator.store import Store


@dataclass(frozen=True)
class Emulator:
    store: Store
    runner: JobRunner
    user_email: str
    long_poll_cap_seconds: float
    metadata_patch: str = "replace"  # or "merge": see reconciler/defaults.py


def patched_metadata(em: Emulator, current: Any, patch: dict[str, Any]) -> dict[str, Any]:
    """The metadata after a PATCH: the document sent (replace), or the current one with its keys set
    (merge; a null value is stored as null, the least helpful reading of a merge)."""
    if em.metadata_patch == "merge":
        stored = json.loads(current) if isinstance(current, str) else current  # rows hold JSON text
        return {**(stored if isinstance(stored, dict) else {}), **patch}
    return patch


def emulator(request: Request) -> Emulator:
    state: Emulator = request.app.state.emulator
    return state


def caller_key_id(request: Request) -> str | None:
    """The authenticated key id, set by the auth middleware."""
    key_id: str | None = request.scope.get("state", {}).get("key_id")
    return key_id


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request("Request body is not valid JSON") from None


async def json_object(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    return body
