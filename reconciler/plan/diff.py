"""Pure diff: desired state (config) against live state (domain) gives a plan. No I/O here.

One differ per kind of resource (diff_integrations, diff_buckets, diff_schema, diff_folders, diff_items,
diff_datasets); this module puts their changes together and orders them.
"""

from __future__ import annotations

import os

from reconciler.config.loader import Config, walk_folders
from reconciler.config.models import SafetySpec
from reconciler.live import LiveState
from reconciler.plan.diff_buckets import bucket_changes
from reconciler.plan.diff_datasets import dataset_changes, desired_items, managed_link_count
from reconciler.plan.diff_folders import folder_changes
from reconciler.plan.diff_integrations import integration_changes
from reconciler.plan.diff_items import FolderWork, items_changes
from reconciler.plan.diff_schema import schema_changes, schema_shape
from reconciler.plan.model import Action, BackendRef, Change, Kind, Plan, Risk, address_of, parse_address
from reconciler.plan.renames import as_renamed, declared_renames, moved_addresses
from reconciler.plan.safety import breaches
from reconciler.plan.snapshots import snapshot
from reconciler.registration.desired import DesiredData
from reconciler.state import RecordedState

__all__ = ["desired_items", "order_changes", "plan_changes", "plan_with_work", "schema_shape", "snapshot"]


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
    recorded: RecordedState | None = None,
) -> tuple[Plan, dict[str, FolderWork]]:
    """The plan, and the item-level work behind its `folder_items` changes (too large for the plan)."""
    sandbox = backend.kind == "sandbox"
    kept: list[str] = []
    renames = declared_renames(config.folders, live) if config.folders is not None else {}
    live = as_renamed(live, renames)
    protected = protected_addresses(config, recorded, renames)
    rename_warnings, rename_errors = rename_notes(config, live, renames)
    kept += rename_warnings + protection_notes(config, recorded, protected)
    changes: list[Change] = []
    errors: list[str] = list(live.ambiguities) + rename_errors
    if config.integrations is not None:
        changes += integration_changes(config, live, sandbox, errors)
        changes += bucket_changes(config.integrations, live)
    if config.schema_keys is not None:
        changes += schema_changes(config, live)
    folders: list[Change] = []
    if config.folders is not None:
        folders, kept_folders = keep_protected(
            folder_changes(config.folders, live, config.prune.folders, renames), protected
        )
        kept += kept_folders
        changes += folders
    created_folders = {c.address for c in folders if c.action == Action.CREATE}
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
        # clientMetadata is written against the schema: the keys this plan adds or changes come first,
        # and the bucket side (CORS, IAM) too, so `--target` on a folder takes them along
        before_items = [
            c.address
            for c in changes
            if c.kind in (Kind.SCHEMA_KEY, Kind.BUCKET_CORS, Kind.BUCKET_IAM)
            and c.action in (Action.CREATE, Action.UPDATE)
        ]
        item_changes = [
            c.model_copy(update={"depends_on": [*c.depends_on, *before_items]})
            if c.kind == Kind.FOLDER_ITEMS and c.action != Action.NOOP
            else c
            for c in item_changes
        ]
        changes += item_changes
        errors += item_errors
    if config.datasets is not None:
        datasets = dataset_changes(config, live, created_folders, works, sandbox, kept)
        changes = _after_unlinks(changes, datasets) + datasets
    plan = Plan(
        backend=backend,
        config_source=portable(config.source),
        config_files=config.files,
        config_digest=config.digest or None,
        changes=with_origins(order_changes(changes), recorded),
        renames=renames,
        protected=sorted(protected),
        warnings=list(config.warnings) + (list(data.notes) if data else []) + kept,
        errors=errors,
        managed_links=managed_link_count(config, live) if config.datasets is not None else None,
    )
    return with_threshold_warnings(acknowledged(plan, config.acknowledge), config.safety), works


def acknowledged(plan: Plan, addresses: list[str]) -> Plan:
    """Mark the unsupported changes `acknowledge:` names; one that names no such change is a warning."""
    if not addresses:
        return plan
    wanted = set(addresses)
    changes = [
        c.model_copy(update={"acknowledged": True})
        if c.address in wanted and c.risk == Risk.UNSUPPORTED
        else c
        for c in plan.changes
    ]
    found = {c.address for c in changes if c.acknowledged}
    stale = [
        f"acknowledge: {address} is not an unsupported change of this plan (anymore): remove it"
        for address in addresses
        if address not in found
    ]
    return plan.model_copy(update={"changes": changes, "warnings": [*plan.warnings, *stale]})


THRESHOLD_WARNING = "apply will refuse this plan without --force: "


def with_threshold_warnings(plan: Plan, safety: SafetySpec) -> Plan:
    """One warning per threshold apply will enforce, from the plan's numbers as they stand (call again
    once folder deletes know their items): the reviewed plan says what the merge job will refuse."""
    kept = [w for w in plan.warnings if not w.startswith(THRESHOLD_WARNING)]
    over = [f"{THRESHOLD_WARNING}{b}" for b in breaches(plan, safety)]
    return plan.model_copy(update={"warnings": [*kept, *over]})


def portable(source: str) -> str:
    """The config's path relative to the working directory when it is below it, so that a saved plan
    made in one CI checkout applies in another (at another absolute path)."""
    try:
        relative = os.path.relpath(source)
    except ValueError:
        return source
    return source if relative.startswith("..") else relative


def protected_addresses(
    config: Config, recorded: RecordedState | None, renames: dict[str, str] | None = None
) -> set[str]:
    """Declared `protect: true`, and what earlier applies recorded as protected (at its new path after a
    rename), less `forget:`."""
    declared = {f"folder.{path}" for path, spec in walk_folders(config.folders or []) if spec.protect}
    earlier = moved_addresses(recorded.protected if recorded else set(), renames or {})
    return (declared | earlier) - set(config.forget)


def protection_notes(config: Config, recorded: RecordedState | None, protected: set[str]) -> list[str]:
    """`forget:` entries that end nothing, and protections kept although `protect: true` was removed."""
    earlier = recorded.protected if recorded else set()
    notes = [
        f"forget: {address} is not protected, so there is nothing to forget"
        for address in config.forget
        if address not in earlier
    ]
    unmarked = {f"folder.{path}" for path, spec in walk_folders(config.folders or []) if not spec.protect}
    notes += [
        f"{address} stays protected although the config no longer says `protect: true`; "
        f"`forget: [{address}]` ends the protection"
        for address in sorted(unmarked & protected)
    ]
    return notes


def rename_notes(config: Config, live: LiveState, renames: dict[str, str]) -> tuple[list[str], list[str]]:
    """(warnings, errors) about `renamed_from`: a name that matches no live folder is most likely a typo;
    a rename onto a path that is live as well (a swap) cannot be done in one step."""
    notes, errors = [], []
    for path, spec in walk_folders(config.folders or []):
        old = (spec.renamed_from or "").strip("/")
        if not old or renames.get(path) == old:
            continue
        if old in live.folders and path in live.folders and old != path:
            errors.append(
                f"{config.where(f'folder.{path}')}: folder {path!r}: renamed_from {old!r}, but {path!r} is "
                "live too; rename in two applies (first to a free name), or remove renamed_from if it is done"
            )
        elif path not in live.folders and old not in live.folders:
            notes.append(
                f"folder {path!r}: renamed_from {old!r} names no live folder, so {path!r} is created anew"
            )
    return notes, errors


def protecting(address: str, protected: set[str]) -> str | None:
    """The protected folder that forbids deleting the folder at `address`: itself, a folder above it
    (its subtree is kept), or a folder below it (deleting a folder deletes everything in it)."""
    kind, name = parse_address(address)
    if kind != Kind.FOLDER:
        return None
    parts = name.split("/")
    above = next(
        (a for i in range(len(parts), 0, -1) if (a := f"folder.{'/'.join(parts[:i])}") in protected), None
    )
    if above is not None:
        return above
    return next((a for a in sorted(protected) if a.startswith(f"folder.{name}/")), None)


def keep_protected(changes: list[Change], protected: set[str]) -> tuple[list[Change], list[str]]:
    """Deletes of protected folders, of their subtrees and of the folders that hold them are dropped,
    each with the reason."""
    out, kept = [], []
    for change in changes:
        guard = protecting(change.address, protected) if change.action == Action.DELETE else None
        if guard is None:
            out.append(change)
            continue
        if guard == change.address:
            why = "is protected"
        elif guard.startswith(change.address + "/"):
            why = f"holds {guard}, which is protected"
        else:
            why = f"is inside {guard}, which is protected"
        kept.append(
            f"{change.address} is not in the configuration but {why}: it is kept. Add `forget: [{guard}]` "
            "to allow deleting it."
        )
    return out, kept


def with_origins(changes: list[Change], recorded: RecordedState | None) -> list[Change]:
    """Mark each change `config` or `drift` against the digests the last apply recorded."""
    if recorded is None:
        return changes
    out = []
    for change in changes:
        # A folder's prune (and its media differences) are read with its items: recorded as folder_items.
        recorded_as = (
            address_of(Kind.FOLDER_ITEMS, change.address.partition(".")[2])
            if change.kind in (Kind.FOLDER_ITEMS_PRUNE, Kind.FOLDER_ITEMS_MEDIA)
            else change.address
        )
        if change.action == Action.NOOP:
            pass
        elif recorded_as in recorded.digests:
            drift = recorded.digests[recorded_as] != change.fingerprint
            change = change.model_copy(update={"origin": "drift" if drift else "config"})
        elif change.action == Action.DELETE:  # live, undeclared, and unknown to the last apply: made by hand
            change = change.model_copy(update={"origin": "drift"})
        else:
            change = change.model_copy(update={"origin": "config"})
        out.append(change)
    return out


def _after_unlinks(changes: list[Change], dataset_changes: list[Change]) -> list[Change]:
    """Encord refuses to delete a folder or item that is linked into a dataset: unlink first (or, on the
    sandbox, delete the dataset first)."""
    unlinks = [
        c.address
        for c in dataset_changes
        if (c.kind == Kind.DATASET_ITEMS and c.payload.get("unlink"))
        or (c.kind == Kind.DATASET and c.action == Action.DELETE and c.executable)
    ]
    if not unlinks:
        return changes
    return [
        c.model_copy(update={"depends_on": [*c.depends_on, *unlinks]})
        if c.kind in (Kind.FOLDER, Kind.FOLDER_ITEMS_PRUNE) and c.action == Action.DELETE
        else c
        for c in changes
    ]


# -- ordering -----------------------------------------------------------------------------------

_FORWARD_RANK = {
    Kind.INTEGRATION: 0,
    Kind.BUCKET_CORS: 0,
    Kind.BUCKET_IAM: 0,
    Kind.SCHEMA_KEY: 1,
    Kind.FOLDER: 2,
    Kind.DATASET: 3,
    Kind.FOLDER_ITEMS: 3,
    Kind.FOLDER_ITEMS_MEDIA: 3,
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
