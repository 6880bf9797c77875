"""Pure diff of the organisation's metadata schema, key by key; risk where stored values stop fitting."""

from __future__ import annotations

from typing import Any

from reconciler.config.loader import Config, KeySpecValue
from reconciler.config.models import EmbeddingKeySpec, EnumKeySpec
from reconciler.live import LiveState
from reconciler.plan.model import (
    Action,
    Change,
    FieldDiff,
    Kind,
    Risk,
    address_of,
)
from reconciler.plan.snapshots import make_change


def schema_shape(spec: KeySpecValue) -> dict[str, Any]:
    shape: dict[str, Any] = {"type": spec.canonical_type()}
    if isinstance(spec, EnumKeySpec):
        shape["values"] = sorted(spec.values)  # Encord stores enum values sorted
    if isinstance(spec, EmbeddingKeySpec):
        shape["size"] = spec.size
    return shape


def schema_changes(config: Config, live: LiveState) -> list[Change]:
    out: list[Change] = []
    declared = config.schema_keys or {}
    for key, spec in declared.items():
        address = address_of(Kind.SCHEMA_KEY, key)
        after = schema_shape(spec)
        current = live.schema_keys.get(key)
        if current is None:
            out.append(
                make_change(
                    live,
                    address=address,
                    kind=Kind.SCHEMA_KEY,
                    action=Action.CREATE,
                    after=after,
                    payload={"key": key, "shape": after},
                )
            )
            continue
        before = current.model_dump(exclude_none=True)
        live_shape = {k: v for k, v in before.items() if k != "deleted"}
        if "values" in live_shape:
            live_shape["values"] = list(live_shape["values"])
        if live_shape == after and not current.deleted:
            out.append(
                make_change(
                    live,
                    address=address,
                    kind=Kind.SCHEMA_KEY,
                    action=Action.NOOP,
                    before=before,
                    after=after,
                )
            )
            continue
        risk, reasons = Risk.SAFE, []
        if current.deleted:
            reasons.append("restores a tombstoned key")
        if current.type is not None and current.type != after["type"]:
            risk = Risk.DESTRUCTIVE
            reasons.append(
                f"changes the type from {current.type} to {after['type']}: values already stored under "
                f"this key stay as {current.type} and may no longer match, filter or sort as expected"
            )
        elif after["type"] == "enum" and current.values is not None:
            removed = sorted(set(current.values) - set(after["values"]))
            added = sorted(set(after["values"]) - set(current.values))
            if removed:
                risk = Risk.DESTRUCTIVE
                reasons.append(
                    f"removes enum values {removed}: items holding them no longer match the schema"
                )
            if added:
                reasons.append(f"adds enum values {added}")
        elif after["type"] == "embedding" and current.size != after.get("size"):
            risk = Risk.DESTRUCTIVE
            reasons.append(
                f"changes the embedding size from {current.size} to {after['size']}: stored embeddings "
                f"of the old size no longer fit"
            )
        diff = [
            FieldDiff(field=f, before=before.get(f), after=after.get(f, False if f == "deleted" else None))
            for f in ("type", "values", "size", "deleted")
            if _norm(before.get(f)) != _norm(after.get(f, False if f == "deleted" else None))
        ]
        out.append(
            make_change(
                live,
                address=address,
                kind=Kind.SCHEMA_KEY,
                action=Action.UPDATE,
                risk=risk,
                before=before,
                after=after,
                diff=diff,
                reason="; ".join(reasons),
                payload={"key": key, "shape": after},
            )
        )
    if config.schema_prune:
        for key, current in sorted(live.schema_keys.items()):
            if key in declared or current.deleted:
                continue
            out.append(
                make_change(
                    live,
                    address=address_of(Kind.SCHEMA_KEY, key),
                    kind=Kind.SCHEMA_KEY,
                    action=Action.DELETE,
                    risk=Risk.DESTRUCTIVE,
                    before=current.model_dump(exclude_none=True),
                    reason="not declared and metadata_schema.prune is on: the key is tombstoned "
                    "(soft-deleted, restorable by declaring it again), never hard-deleted",
                    payload={"key": key},
                )
            )
    return out


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
