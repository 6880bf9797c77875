"""Pure diff of the folder tree: a folder is its path; fields compared one by one (metadata by key)."""

from __future__ import annotations

from typing import Any

from deepdiff import DeepDiff

from reconciler.config.loader import walk_folders
from reconciler.config.models import FolderSpec
from reconciler.live import LiveState
from reconciler.plan.metadata_patch import metadata_patch, present
from reconciler.plan.model import (
    Action,
    Change,
    FieldDiff,
    Kind,
    Risk,
    address_of,
)
from reconciler.plan.snapshots import make_change, snapshot


def _parent_path(path: str) -> str | None:
    return path.rsplit("/", 1)[0] if "/" in path else None


def _prunable(path: str, declared: dict[str, FolderSpec], mode: str) -> bool:
    if mode == "all":
        return True
    if mode == "nested":
        parts = path.split("/")
        return any("/".join(parts[:i]) in declared for i in range(1, len(parts)))
    return False


def folder_changes(
    folders: list[FolderSpec], live: LiveState, prune: str, renames: dict[str, str] | None = None
) -> list[Change]:
    """`live` is already seen through `renames` (new path -> old path): a renamed folder is compared at
    its new path, and its change moves and renames it."""
    renames = renames or {}
    out: list[Change] = []
    declared = dict(walk_folders(folders))
    for path, spec in declared.items():
        address = address_of(Kind.FOLDER, path)
        parent = _parent_path(path)
        after = {"name": spec.name, "description": spec.description, "client_metadata": spec.client_metadata}
        current = live.folders.get(path)
        depends = [address_of(Kind.FOLDER, parent)] if parent and parent not in live.folders else []
        if current is None:
            out.append(
                make_change(
                    live,
                    address=address,
                    kind=Kind.FOLDER,
                    action=Action.CREATE,
                    after=after,
                    depends_on=depends,
                    payload={
                        **after,
                        "parent_path": parent,
                        "parent_uuid": live.folders[parent].uuid if parent in live.folders else None,
                    },
                )
            )
            continue
        before = snapshot(live, address)
        assert before is not None
        diff = _field_diffs(before, after)
        fields = {d.field.split("[")[0] for d in diff}
        payload: dict[str, Any] = {"uuid": current.uuid, "set": {f: after[f] for f in sorted(fields)}}
        if "client_metadata" in fields:
            live_metadata = before.get("client_metadata")
            payload["set"]["client_metadata"] = metadata_patch(spec.client_metadata, live_metadata)
        reason = ""
        old = renames.get(path)
        if old is not None:
            diff.insert(0, FieldDiff(field="path", before=old, after=path))
            if _parent_path(old) != parent:  # a move: to the new parent, which may be created first
                payload["move_to"] = {
                    "parent_path": parent,
                    "parent_uuid": live.folders[parent].uuid if parent in live.folders else None,
                }
            payload["renamed_from"] = old
            reason = f"renamed from {old}: the folder keeps its items, subfolders and dataset links"
        out.append(
            make_change(
                live,
                address=address,
                kind=Kind.FOLDER,
                action=Action.UPDATE if diff else Action.NOOP,
                before=before,
                after=after,
                diff=diff,
                reason=reason,
                depends_on=depends if old is not None else [],
                payload=payload,
            )
        )
    for path, current in sorted(live.folders.items()):
        if path in declared or not _prunable(path, declared, prune):
            continue
        children = [address_of(Kind.FOLDER, p) for p in live.folders if _parent_path(p) == path]
        known = live.folder_items.get(path)  # read for managed data and dataset folders only
        reason = "not in the configuration: deleting a folder also deletes every item in it"
        if known is not None:
            reason += f" ({len(known)} item(s))"
        out.append(
            make_change(
                live,
                address=address_of(Kind.FOLDER, path),
                kind=Kind.FOLDER,
                action=Action.DELETE,
                risk=Risk.DESTRUCTIVE,
                before=snapshot(live, address_of(Kind.FOLDER, path)),
                depends_on=children,
                reason=reason,
                payload={"uuid": current.uuid, "items": len(known) if known is not None else None},
            )
        )
    return out


def _field_diffs(before: dict[str, Any], after: dict[str, Any]) -> list[FieldDiff]:
    diffs: list[FieldDiff] = []
    for field in ("name", "description", "client_metadata"):
        old, new = before.get(field), after.get(field)
        if field == "client_metadata" and isinstance(old, dict) and present(old) == present(new):
            continue  # a null value is no value (metadata_patch.py)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            dd = DeepDiff(old, new, ignore_order=False, verbose_level=2)
            for path, old_v, new_v in _deepdiff_rows(dd):
                diffs.append(FieldDiff(field=f"{field}{path}", before=old_v, after=new_v))
        else:
            diffs.append(FieldDiff(field=field, before=old, after=new))
    return diffs


_MISSING = None


def _deepdiff_rows(dd: DeepDiff) -> list[tuple[str, Any, Any]]:
    rows: list[tuple[str, Any, Any]] = []
    for path, value in (dd.get("dictionary_item_added") or {}).items():
        rows.append((path.removeprefix("root"), _MISSING, value))
    for path, value in (dd.get("dictionary_item_removed") or {}).items():
        rows.append((path.removeprefix("root"), value, _MISSING))
    for key in ("values_changed", "type_changes"):
        for path, change in (dd.get(key) or {}).items():
            rows.append((path.removeprefix("root"), change.get("old_value"), change.get("new_value")))
    for key in ("iterable_item_added", "iterable_item_removed"):
        for path, value in (dd.get(key) or {}).items():
            added = key.endswith("added")
            rows.append((path.removeprefix("root"), None if added else value, value if added else None))
    return sorted(rows, key=lambda row: row[0])
