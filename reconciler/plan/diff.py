"""Pure diff: desired state (config) against live state (domain) gives a plan. No I/O here."""

from __future__ import annotations

from typing import Any

from deepdiff import DeepDiff

from reconciler.config.loader import Config, KeySpecValue, walk_folders
from reconciler.config.models import EmbeddingKeySpec, EnumKeySpec, FolderSpec
from reconciler.live import LiveState
from reconciler.plan.diff_buckets import bucket_changes, bucket_snapshot
from reconciler.plan.diff_items import FolderWork, contents_digest, items_changes
from reconciler.plan.model import (
    Action,
    BackendRef,
    Change,
    FieldDiff,
    Kind,
    Plan,
    Risk,
    address_of,
    fingerprint,
    parse_address,
)
from reconciler.registration.desired import DesiredData

ENCORD_UI = "the Encord web app (https://app.encord.com, or app.us.encord.com for the US deployment)"


def plan_changes(
    config: Config, live: LiveState, backend: BackendRef, data: DesiredData | None = None
) -> Plan:
    return plan_with_work(config, live, backend, data)[0]


def plan_with_work(
    config: Config,
    live: LiveState,
    backend: BackendRef,
    data: DesiredData | None = None,
    only: dict[str, set[tuple[str, ...]]] | None = None,
) -> tuple[Plan, dict[str, FolderWork]]:
    """The plan, and the item-level work behind its `folder_items` changes (too large for the plan)."""
    sandbox = backend.kind == "sandbox"
    changes: list[Change] = []
    errors: list[str] = list(live.ambiguities)
    if config.integrations is not None:
        changes += _integrations(config, live, sandbox, errors)
        changes += bucket_changes(config.integrations, live)
    if config.schema_keys is not None:
        changes += _schema(config, live)
    folder_changes: list[Change] = []
    if config.folders is not None:
        folder_changes = _folders(config.folders, live, config.prune.folders)
        changes += folder_changes
    created_folders = {c.address for c in folder_changes if c.action == Action.CREATE}
    works: dict[str, FolderWork] = {}
    if data is not None and data.folders:
        integration_creates = {
            parse_address(c.address)[1]: c.address
            for c in changes
            if c.kind == Kind.INTEGRATION and c.action == Action.CREATE
        }
        item_changes, works, item_errors = items_changes(
            data, live, created_folders, integration_creates, only
        )
        changes += item_changes
        errors += item_errors
    if config.datasets is not None:
        dataset_changes = _datasets(config, live, created_folders, works)
        changes = _after_unlinks(changes, dataset_changes) + dataset_changes
    plan = Plan(
        backend=backend,
        config_source=config.source,
        config_files=config.files,
        changes=order_changes(changes),
        warnings=list(config.warnings) + (list(data.notes) if data else []),
        errors=errors,
    )
    return plan, works


def _after_unlinks(changes: list[Change], dataset_changes: list[Change]) -> list[Change]:
    """Encord refuses to delete a folder or item that is linked into a dataset: unlink first."""
    unlinks = [c.address for c in dataset_changes if c.kind == Kind.DATASET_ITEMS and c.payload.get("unlink")]
    if not unlinks:
        return changes
    return [
        c.model_copy(update={"depends_on": [*c.depends_on, *unlinks]})
        if c.kind in (Kind.FOLDER, Kind.FOLDER_ITEMS_PRUNE) and c.action == Action.DELETE
        else c
        for c in changes
    ]


# -- snapshots: the `before` of each address, also used to detect a stale saved plan ----------------


def snapshot(live: LiveState, address: str) -> dict[str, Any] | None:
    kind, name = parse_address(address)
    if kind == Kind.INTEGRATION:
        integ = live.integrations.get(name)
        return None if integ is None else {"title": integ.title, "uuid": integ.uuid}
    if kind == Kind.SCHEMA_KEY:
        key = live.schema_keys.get(name)
        return None if key is None else key.model_dump(exclude_none=True)
    if kind == Kind.FOLDER:
        folder = live.folders.get(name)
        if folder is None:
            return None
        return {
            "uuid": folder.uuid,
            "name": folder.name,
            "description": folder.description,
            "client_metadata": folder.client_metadata,
        }
    if kind in (Kind.BUCKET_CORS, Kind.BUCKET_IAM):
        return bucket_snapshot(live, kind, name)
    if kind in (Kind.FOLDER_ITEMS, Kind.FOLDER_ITEMS_PRUNE):
        return {"digest": contents_digest(live.contents.get(name))}
    ds = live.datasets.get(name)
    if ds is None:
        return None
    if kind == Kind.DATASET_ITEMS:
        return {"linked_items": sorted(ds.linked_items)}
    return {"uuid": ds.uuid, "title": ds.title, "description": ds.description}


def _change(live: LiveState, **fields: Any) -> Change:
    return Change(fingerprint=fingerprint(snapshot(live, fields["address"])), **fields)


# -- integrations -------------------------------------------------------------------------------


def _integrations(config: Config, live: LiveState, sandbox: bool, errors: list[str]) -> list[Change]:
    out: list[Change] = []
    declared = {i.title: i for i in config.integrations or []}
    for title, spec in declared.items():
        address = address_of(Kind.INTEGRATION, title)
        existing = live.integrations.get(title)
        if existing is not None:
            out.append(
                _change(
                    live,
                    address=address,
                    kind=Kind.INTEGRATION,
                    action=Action.NOOP,
                    before={"title": title, "uuid": existing.uuid},
                    after={"title": title},
                )
            )
        elif sandbox:
            out.append(
                _change(
                    live,
                    address=address,
                    kind=Kind.INTEGRATION,
                    action=Action.CREATE,
                    after={"title": title, "provider": spec.provider},
                    sandbox_only=True,
                    reason="Encord's API cannot create cloud integrations; the sandbox provisions this one "
                    "so the rest of the plan can run. Against Encord it must exist already.",
                    payload={"title": title, "provider": spec.provider},
                )
            )
        else:
            errors.append(
                f"{config.where(address)}: integration {title!r} does not exist in Encord, and Encord's API "
                f"cannot create integrations. Create it in {ENCORD_UI}: Integrations > + New integration > "
                f"{spec.provider.upper()}, with the title {title!r}; then run plan again."
            )
    for title, integ in sorted(live.integrations.items()):
        if title in declared or not config.prune.integrations:
            continue
        address = address_of(Kind.INTEGRATION, title)
        delete = {
            "address": address,
            "kind": Kind.INTEGRATION,
            "action": Action.DELETE,
            "before": {"title": title, "uuid": integ.uuid},
        }
        if sandbox:
            out.append(
                _change(
                    live,
                    **delete,
                    risk=Risk.DESTRUCTIVE,
                    sandbox_only=True,
                    reason="not in the configuration",
                    payload={"uuid": integ.uuid},
                )
            )
        else:
            out.append(
                _change(
                    live,
                    **delete,
                    risk=Risk.UNSUPPORTED,
                    reason="not in the configuration; Encord's API cannot delete integrations",
                    manual_steps=f"Delete it in {ENCORD_UI}: Integrations > {title} > Delete, "
                    f"or declare it under `integrations` to keep it.",
                )
            )
    return out


# -- metadata schema ----------------------------------------------------------------------------


def schema_shape(spec: KeySpecValue) -> dict[str, Any]:
    shape: dict[str, Any] = {"type": spec.canonical_type()}
    if isinstance(spec, EnumKeySpec):
        shape["values"] = sorted(spec.values)  # Encord stores enum values sorted
    if isinstance(spec, EmbeddingKeySpec):
        shape["size"] = spec.size
    return shape


def _schema(config: Config, live: LiveState) -> list[Change]:
    out: list[Change] = []
    declared = config.schema_keys or {}
    for key, spec in declared.items():
        address = address_of(Kind.SCHEMA_KEY, key)
        after = schema_shape(spec)
        current = live.schema_keys.get(key)
        if current is None:
            out.append(
                _change(
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
                _change(
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
            _change(
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
                _change(
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


# -- folders ------------------------------------------------------------------------------------


def _parent_path(path: str) -> str | None:
    return path.rsplit("/", 1)[0] if "/" in path else None


def _prunable(path: str, declared: dict[str, FolderSpec], mode: str) -> bool:
    if mode == "all":
        return True
    if mode == "nested":
        parts = path.split("/")
        return any("/".join(parts[:i]) in declared for i in range(1, len(parts)))
    return False


def _folders(folders: list[FolderSpec], live: LiveState, prune: str) -> list[Change]:
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
                _change(
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
        action = Action.UPDATE if diff else Action.NOOP
        fields = {d.field.split("[")[0] for d in diff}
        out.append(
            _change(
                live,
                address=address,
                kind=Kind.FOLDER,
                action=action,
                before=before,
                after=after,
                diff=diff,
                payload={"uuid": current.uuid, "set": {f: after[f] for f in sorted(fields)}},
            )
        )
    for path, current in sorted(live.folders.items()):
        if path in declared or not _prunable(path, declared, prune):
            continue
        children = [address_of(Kind.FOLDER, p) for p in live.folders if _parent_path(p) == path]
        out.append(
            _change(
                live,
                address=address_of(Kind.FOLDER, path),
                kind=Kind.FOLDER,
                action=Action.DELETE,
                risk=Risk.DESTRUCTIVE,
                before=snapshot(live, address_of(Kind.FOLDER, path)),
                depends_on=children,
                reason="not in the configuration: deleting a folder also deletes every item in it",
                payload={"uuid": current.uuid},
            )
        )
    return out


def _field_diffs(before: dict[str, Any], after: dict[str, Any]) -> list[FieldDiff]:
    diffs: list[FieldDiff] = []
    for field in ("name", "description", "client_metadata"):
        old, new = before.get(field), after.get(field)
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


# -- datasets -----------------------------------------------------------------------------------


def _in_refs(folder_path: str, refs: list[tuple[str, bool]]) -> bool:
    return any(folder_path == p or (rec and folder_path.startswith(p + "/")) for p, rec in refs)


def desired_items(
    live: LiveState, folder_paths: list[tuple[str, bool]], pruned: frozenset[str] = frozenset()
) -> set[str]:
    """Storage item UUIDs in the given folders (and their live subfolders when recursive)."""
    items: set[str] = set()
    for folder_path, uuids in live.folder_items.items():
        if _in_refs(folder_path, folder_paths):
            items.update(uuids)
    return items - pruned


def _datasets(
    config: Config, live: LiveState, created_folders: set[str], works: dict[str, FolderWork]
) -> list[Change]:
    out: list[Change] = []
    declared = {d.title: d for d in config.datasets or []}
    for title, spec in declared.items():
        address = address_of(Kind.DATASET, title)
        current = live.datasets.get(title)
        after = {"title": title, "description": spec.description}
        if current is None:
            out.append(
                _change(
                    live,
                    address=address,
                    kind=Kind.DATASET,
                    action=Action.CREATE,
                    after=after,
                    payload=dict(after),
                )
            )
        else:
            before = snapshot(live, address)
            if current.description != spec.description:
                out.append(
                    _change(
                        live,
                        address=address,
                        kind=Kind.DATASET,
                        action=Action.UPDATE,
                        risk=Risk.UNSUPPORTED,
                        before=before,
                        after=after,
                        diff=[
                            FieldDiff(field="description", before=current.description, after=spec.description)
                        ],
                        reason="Encord's API cannot change a dataset's title or description",
                        manual_steps=f"In {ENCORD_UI}: Datasets > {title} > Settings, set the description to "
                        f"{spec.description!r}.",
                    )
                )
            else:
                out.append(
                    _change(
                        live,
                        address=address,
                        kind=Kind.DATASET,
                        action=Action.NOOP,
                        before=before,
                        after=after,
                    )
                )
        if spec.folders is None:
            continue
        refs = [(r.path.strip("/"), r.recursive) for r in spec.folder_refs()]
        pruned = frozenset(uuid for path, w in works.items() if _in_refs(path, refs) for uuid, _ in w.delete)
        wanted = desired_items(live, refs, pruned)
        linked = dict(current.linked_items) if current else {}
        to_link = sorted(wanted - linked.keys())
        to_unlink = sorted(set(linked) - wanted)
        # Items registered by this apply are linked once their jobs finish.
        registering = sorted(path for path, w in works.items() if w.register and _in_refs(path, refs))
        incoming = sum(len(works[path].register) for path in registering)
        if not to_link and not to_unlink and not registering:
            continue
        folder_deps = [
            address_of(Kind.FOLDER, p) for p, _ in refs if address_of(Kind.FOLDER, p) in created_folders
        ] + [address_of(Kind.FOLDER_ITEMS, p) for p in registering]
        reasons = []
        if to_link:
            reasons.append(f"links {len(to_link)} item(s) from {', '.join(p for p, _ in refs)}")
        if incoming:
            reasons.append(f"links the {incoming} item(s) registered in {', '.join(registering)}")
        if to_unlink:
            reasons.append(
                f"unlinks {len(to_unlink)} item(s) that are not in its folders: their data units leave the "
                f"dataset, with any labels on them in projects that use it"
            )
        out.append(
            _change(
                live,
                address=address_of(Kind.DATASET_ITEMS, title),
                kind=Kind.DATASET_ITEMS,
                action=Action.UPDATE,
                risk=Risk.DESTRUCTIVE if to_unlink else Risk.SAFE,
                before={"linked_items": len(linked)},
                after={"linked_items": len(wanted) + incoming},
                diff=[FieldDiff(field="linked_items", before=len(linked), after=len(wanted) + incoming)],
                reason="; ".join(reasons),
                depends_on=([] if current else [address]) + folder_deps,
                payload={
                    "title": title,
                    "dataset_uuid": current.uuid if current else None,
                    "link": to_link,
                    "unlink": sorted(linked[u] for u in to_unlink),
                    "link_registered_in": registering,
                },
            )
        )
    for title in sorted(live.datasets):
        if title in declared or not config.prune.datasets:
            continue
        out.append(
            _change(
                live,
                address=address_of(Kind.DATASET, title),
                kind=Kind.DATASET,
                action=Action.DELETE,
                risk=Risk.UNSUPPORTED,
                before=snapshot(live, address_of(Kind.DATASET, title)),
                reason="not in the configuration; Encord's API cannot delete datasets",
                manual_steps=f"Delete it in {ENCORD_UI}: Datasets > {title} > Delete, or declare it under "
                f"`datasets` to keep it.",
            )
        )
    return out


# -- ordering -----------------------------------------------------------------------------------

_FORWARD_RANK = {
    Kind.INTEGRATION: 0,
    Kind.BUCKET_CORS: 0,
    Kind.BUCKET_IAM: 0,
    Kind.SCHEMA_KEY: 1,
    Kind.FOLDER: 2,
    Kind.DATASET: 3,
    Kind.FOLDER_ITEMS: 3,
    Kind.FOLDER_ITEMS_PRUNE: 3,
    Kind.DATASET: 3,
    Kind.DATASET_ITEMS: 4,
}


def _depth(change: Change) -> int:
    return change.address.count("/")


def order_changes(changes: list[Change]) -> list[Change]:
    """Schema and integrations, then folders parent first, then datasets; deletes after, in reverse."""
    forward = [c for c in changes if c.action != Action.DELETE]
    deletes = [c for c in changes if c.action == Action.DELETE]
    forward.sort(key=lambda c: (_FORWARD_RANK[c.kind], _depth(c), c.address))
    deletes.sort(key=lambda c: (-_FORWARD_RANK[c.kind], -_depth(c), c.address))
    return forward + deletes
