"""The organisation's metadata schema at the wire boundary (encord-api.md §4): the SDK's wire options
in, domain key shapes out, and the new whole document to write."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.live import LiveSchemaKey
from reconciler.plan.model import Action, Change

# The SDK writes every scalar as a `variant` with a hint; these are the hints it knows.
VARIANT_HINTS = {"number", "varchar", "text", "boolean", "datetime", "uuid"}


# -- metadata schema: wire <-> domain ------------------------------------------------------------


def schema_key_from_wire(option: Any) -> LiveSchemaKey:
    if not isinstance(option, dict):
        return LiveSchemaKey(type=None)
    ty = option.get("ty")
    if ty == "tombstone":
        previous = option.get("deleted_ty")
        inner = schema_key_from_wire(previous) if previous else LiveSchemaKey(type=None)
        return inner.model_copy(update={"deleted": True})
    if ty == "variant":
        return LiveSchemaKey(type=str(option.get("hint") or "text"))
    if ty == "enum":
        return LiveSchemaKey(type="enum", values=tuple(sorted(option.get("values") or [])))
    if ty == "embedding":
        return LiveSchemaKey(type="embedding", size=option.get("size"))
    return LiveSchemaKey(type=str(ty) if ty else None)


def schema_option_to_wire(shape: dict[str, Any]) -> dict[str, Any]:
    """A domain shape (`{"type": ..., "values"?, "size"?}`) as the SDK would write it."""
    ty = shape["type"]
    if ty == "enum":
        return {"ty": "enum", "values": sorted(shape["values"])}
    if ty == "embedding":
        return {"ty": "embedding", "size": shape["size"], "api": None}
    if ty in VARIANT_HINTS:
        return {"ty": "variant", "hint": ty}
    return {"ty": ty}


def tombstone(option: Any) -> dict[str, Any]:
    return {"ty": "tombstone", "deleted_ty": option if isinstance(option, dict) else None}


def apply_schema_changes(document: dict[str, Any], changes: Iterable[Change]) -> dict[str, Any]:
    """The new full schema document: declared keys changed, every other key left exactly as it was."""
    new = dict(document)
    for change in changes:
        key = change.payload["key"]
        if change.action == Action.DELETE:
            current = new.get(key)
            if isinstance(current, dict) and current.get("ty") != "tombstone":
                new[key] = tombstone(current)
        else:
            new[key] = schema_option_to_wire(change.payload["shape"])
    return new
