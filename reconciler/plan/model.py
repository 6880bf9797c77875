"""The plan: a typed, serialisable value of changes, ordered by dependency.

Each change has an address, an action, a risk class, before/after with a field diff, and a reason that
is for the reader only. `payload` carries what apply needs (UUIDs, items to link) so a saved plan can
be applied without recomputing it; `fingerprint` is a digest of `before` as it was read, so apply can
tell which resource moved since the plan was made.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 2  # 2: folder items, item prunes and the bucket side (CORS, IAM) joined the plan


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "no-op"


class Risk(StrEnum):
    SAFE = "safe"
    DESTRUCTIVE = "destructive"
    UNSUPPORTED = "unsupported"  # the real API cannot do it: shown with manual steps, never executed


class Kind(StrEnum):
    INTEGRATION = "integration"
    SCHEMA_KEY = "schema"
    FOLDER = "folder"
    DATASET = "dataset"
    DATASET_ITEMS = "dataset_items"
    FOLDER_ITEMS = "folder_items"  # a folder's items: registered from its data sources, updated
    FOLDER_ITEMS_PRUNE = "folder_items_prune"  # a folder's items that no source declares (prune)
    FOLDER_ITEMS_MEDIA = "folder_items_media"  # declared media metadata Encord cannot change (unsupported)
    BUCKET_CORS = "bucket_cors"  # an integration's bucket: its CORS rules
    BUCKET_IAM = "bucket_iam"  # an integration's bucket: the reader's IAM binding


def address_of(kind: Kind, name: str) -> str:
    """`<kind>.<name>`: the kind never contains a dot, so any title or key can follow it."""
    return f"{kind.value}.{name}"


def parse_address(value: str) -> tuple[Kind, str]:
    kind, _, name = value.partition(".")
    return Kind(kind), name


class FieldDiff(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str
    before: Any = None
    after: Any = None


class Change(BaseModel):
    model_config = ConfigDict(frozen=True)

    address: str
    kind: Kind
    action: Action
    risk: Risk = Risk.SAFE
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    diff: list[FieldDiff] = Field(default_factory=list)
    reason: str = ""
    manual_steps: str | None = None
    sandbox_only: bool = False
    depends_on: list[str] = Field(default_factory=list)
    payload: dict[str, Any] = Field(default_factory=dict)
    fingerprint: str | None = None
    # where the change comes from, against the recorded state of the last apply: "config" (the YAML was
    # edited) or "drift" (the live side changed since); None when nothing was recorded for it
    origin: str | None = None
    acknowledged: bool = False  # an unsupported change the config's `acknowledge:` names

    @property
    def executable(self) -> bool:
        return self.action != Action.NOOP and self.risk != Risk.UNSUPPORTED


class BackendRef(BaseModel):
    """Where the plan was computed: enough to reconnect when applying a saved plan (never credentials)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    location: str  # sandbox state file (absolute) or the Encord domain
    options: dict[str, Any] = Field(default_factory=dict)


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True)

    format_version: int = FORMAT_VERSION
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    backend: BackendRef
    config_source: str | None = (
        None  # the config file or directory, to check convergence after `apply PLANFILE`
    )
    config_files: list[str] = Field(default_factory=list)
    config_digest: str | None = None  # of the configuration's files when the plan was made
    config_from_plan: str | None = None  # the configuration's path relative to the saved plan file
    changes: list[Change] = Field(default_factory=list)
    renames: dict[str, str] = Field(default_factory=dict)  # folder: new path -> old path (renamed_from)
    protected: list[str] = Field(default_factory=list)  # addresses under protection when planned
    targets: list[str] = Field(default_factory=list)  # --target: the plan covers only these (and their needs)
    untargeted: int = 0  # with targets: changes outside them, left out of this plan
    # data rows linked now in the datasets whose membership the config manages, changed or not: what the
    # `safety` threshold on dataset links is a share of (None in plans saved before it was recorded)
    managed_links: int | None = None
    warnings: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)

    @property
    def actionable(self) -> list[Change]:
        return [c for c in self.changes if c.action != Action.NOOP]

    @property
    def has_changes(self) -> bool:
        """Anything to do or to decide: an acknowledged unsupported change is neither."""
        return any(not c.acknowledged for c in self.actionable)

    def summary_counts(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for change in self.actionable:
            counts["unsupported" if change.risk == Risk.UNSUPPORTED else change.action.value] += 1
        return {key: counts.get(key, 0) for key in ("create", "update", "delete", "unsupported")}

    def summary_line(self) -> str:
        line = self._summary()
        acknowledged = sum(1 for c in self.actionable if c.acknowledged)
        if acknowledged:
            line += f" ({acknowledged} acknowledged unsupported change(s) are left as they are.)"
        return line

    def _summary(self) -> str:
        c = self.summary_counts()
        if self.targets:
            scope = f"Targeted plan ({', '.join(self.targets)}): "
            others = (
                f" {self.untargeted} other change(s) outside the targets are pending: plan without --target."
                if self.untargeted
                else " Nothing else differs."
            )
            if not self.has_changes:
                return f"{scope}no changes in the targeted resources.{others}"
            return (
                f"{scope}{c['create']} to create, {c['update']} to update, {c['delete']} to delete, "
                f"{c['unsupported']} unsupported.{others}"
            )
        if not self.has_changes:
            return "No changes. The live workspace matches the configuration."
        return (
            f"Plan: {c['create']} to create, {c['update']} to update, {c['delete']} to delete, "
            f"{c['unsupported']} unsupported."
        )


def fingerprint(value: Any) -> str | None:
    if value is None:
        return None
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()[:32]
