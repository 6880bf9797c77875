"""Pure diff: desired state (config) against live state (domain) gives a plan. No I/O here.

One differ per kind of resource (diff_integrations, diff_buckets, diff_schema, diff_folders, diff_items,
diff_datasets); this module puts their changes together and orders them.
"""

from __future__ import annotations

from reconciler.config.loader import Config
from reconciler.live import LiveState
from reconciler.plan.diff_buckets import bucket_changes
from reconciler.plan.diff_datasets import dataset_changes, desired_items
from reconciler.plan.diff_folders import folder_changes
from reconciler.plan.diff_integrations import integration_changes
from reconciler.plan.diff_items import FolderWork, items_changes
from reconciler.plan.diff_schema import schema_changes, schema_shape
from reconciler.plan.model import Action, BackendRef, Change, Kind, Plan, parse_address
from reconciler.plan.renames import as_renamed, declared_renames
from reconciler.plan.snapshots import snapshot
from reconciler.registration.desired import DesiredData

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
) -> tuple[Plan, dict[str, FolderWork]]:
    """The plan, and the item-level work behind its `folder_items` changes (too large for the plan)."""
    sandbox = backend.kind == "sandbox"
    renames = declared_renames(config.folders, live) if config.folders is not None else {}
    live = as_renamed(live, renames)
    changes: list[Change] = []
    errors: list[str] = list(live.ambiguities)
    if config.integrations is not None:
        changes += integration_changes(config, live, sandbox, errors)
        changes += bucket_changes(config.integrations, live)
    if config.schema_keys is not None:
        changes += schema_changes(config, live)
    folders: list[Change] = []
    if config.folders is not None:
        folders = folder_changes(config.folders, live, config.prune.folders, renames)
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
        changes += item_changes
        errors += item_errors
    if config.datasets is not None:
        datasets = dataset_changes(config, live, created_folders, works)
        changes = _after_unlinks(changes, datasets) + datasets
    plan = Plan(
        backend=backend,
        config_source=config.source,
        config_files=config.files,
        changes=order_changes(changes),
        renames=renames,
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
