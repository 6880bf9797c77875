"""Desired-state models: strict (unknown keys are errors), frozen, and the source of schema.json."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from reconciler.config.backends import Backend as Backend  # the backends, re-exported: config's models
from reconciler.config.backends import EncordBackend as EncordBackend
from reconciler.config.backends import SandboxBackend as SandboxBackend
from reconciler.config.models_base import StrictModel
from reconciler.config.models_datasets import DatasetFolderRef as DatasetFolderRef  # re-exported
from reconciler.config.models_datasets import DatasetSpec as DatasetSpec
from reconciler.config.models_datasets import SelectRule as SelectRule
from reconciler.config.models_datasets import SplitSpec as SplitSpec
from reconciler.config.sources import CorsRule, DataSourceSpec, IamBindingSpec

SCALAR_TYPES = ("boolean", "datetime", "number", "uuid", "varchar", "text", "geospatial")
TYPE_ALIASES = {"string": "varchar", "long_string": "text"}
EMBEDDING_MAX = 4096
EMBEDDING_ACTIVE_MAX = 2000
ENUM_MAX_VALUES = 255  # the SDK refuses 256 or more


# -- backend ------------------------------------------------------------------------------------


class IntegrationSpec(StrictModel):
    """A cloud integration, matched by title. Encord's API cannot create one: only the sandbox does."""

    title: str = Field(min_length=1)
    provider: Literal["gcp", "aws", "azure", "otc"] = Field(
        default="gcp", description="Used when the sandbox provisions the integration."
    )
    bucket: str | None = Field(
        default=None,
        description="The GCS bucket the integration reads (gcp only). Its CORS rules, and the IAM binding "
        "when declared, are then managed too.",
    )
    strict_client_only: bool = Field(
        default=False,
        description="Encord never downloads the media: every entry registered through this integration "
        "must carry its media metadata (imageMetadata, videoMetadata, ...).",
    )
    cors: list[CorsRule] | Literal["unmanaged"] | None = Field(
        default=None,
        description="The bucket's CORS rules. Absent: Encord's default (GET from app.encord.com and "
        "app.us.encord.com). `unmanaged`: left as they are.",
    )
    iam: IamBindingSpec | None = Field(
        default=None, description="An IAM binding on the bucket for the principal Encord reads with."
    )

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]", value):
            raise ValueError("a GCS bucket name: 3-222 lower-case letters, digits, '-', '_' and '.'")
        return value

    @model_validator(mode="after")
    def _bucket_needs_gcp(self) -> IntegrationSpec:
        if self.bucket is not None and self.provider != "gcp":
            raise ValueError("`bucket` is managed for gcp integrations only")
        if self.bucket is None and (self.iam is not None or isinstance(self.cors, list)):
            raise ValueError("`cors` and `iam` need the integration's `bucket`")
        return self


# -- metadata schema ----------------------------------------------------------------------------

ScalarTypeName = Literal[
    "boolean", "datetime", "number", "uuid", "varchar", "string", "text", "long_string", "geospatial"
]


class ScalarKeySpec(StrictModel):
    type: ScalarTypeName

    def canonical_type(self) -> str:
        return TYPE_ALIASES.get(self.type, self.type)


class EnumKeySpec(StrictModel):
    type: Literal["enum"]
    values: list[str] = Field(min_length=1, max_length=ENUM_MAX_VALUES)

    @field_validator("values")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            raise ValueError(f"enum values must be unique; repeated: {', '.join(dupes)}")
        if any(not v for v in values):
            raise ValueError("enum values must not be empty")
        return values

    def canonical_type(self) -> str:
        return "enum"


class EmbeddingKeySpec(StrictModel):
    type: Literal["embedding"]
    size: int = Field(ge=1, le=EMBEDDING_MAX, description="1-4096; Encord Active accepts at most 2000.")

    def canonical_type(self) -> str:
        return "embedding"


KeySpec = Annotated[ScalarKeySpec | EnumKeySpec | EmbeddingKeySpec, Field(discriminator="type")]


def _shorthand(value: Any) -> Any:
    """`caption: text` is short for `caption: {type: text}`."""
    return {"type": value} if isinstance(value, str) else value


class MetadataSchemaSpec(StrictModel):
    """The organisation's custom-metadata schema. Keys not declared here are left alone unless `prune`."""

    prune: bool = Field(
        default=False,
        description="Tombstone (never hard-delete) live keys that are not declared. A destructive change.",
    )
    keys: dict[str, Annotated[KeySpec, BeforeValidator(_shorthand)]] = Field(
        default_factory=dict,
        description="Key name to type: a type name (`text`) or an object (`{type: enum, values: [...]}`).",
    )

    def normalised(self) -> dict[str, ScalarKeySpec | EnumKeySpec | EmbeddingKeySpec]:
        return {
            key: ScalarKeySpec(type=spec) if isinstance(spec, str) else spec
            for key, spec in self.keys.items()
        }


def metadata_key_problem(key: str) -> str | None:
    """Encord's key rules (the SDK's `_is_valid_metadata_key`), as a message, or None when valid."""
    if not key:
        return "a key must not be empty"
    if key.startswith("$"):
        return "a key must not start with '$'"
    rest = key
    for ch in "-_ .":
        rest = rest.replace(ch, "")
    if not rest or not rest.isalnum():
        return "a key may hold only letters, digits, spaces, '-', '_' and '.'"
    if rest == "keyframes":
        return "'keyframes' is reserved by Encord (in any spelling with '-', '_', ' ' or '.')"
    return None


# -- folders and datasets -----------------------------------------------------------------------


MAX_METADATA_DEPTH = 100
"""client_metadata nested deeper than this is refused: JSON encoders and differs recurse, and no real
metadata comes near it."""


def json_problems(value: Any, path: str = "") -> list[str]:
    """Why `value` cannot travel as JSON (YAML dates and .nan can't, nor nesting past MAX_METADATA_DEPTH);
    empty when it can. Iterative: however deep the value, no recursion."""
    problems: list[str] = []
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_METADATA_DEPTH:
                shown = where if len(where) <= 60 else f"{where[:60]}..."
                problems.append(f"{shown}: nested deeper than {MAX_METADATA_DEPTH} levels")
                continue
            children = (
                [(v, f"{where}.{k}" if where else str(k)) for k, v in item.items()]
                if isinstance(item, dict)
                else [(v, f"{where}[{i}]") for i, v in enumerate(item)]
            )
            stack.extend((child, at, depth + 1) for child, at in reversed(children))
        elif isinstance(item, float) and not math.isfinite(item):
            problems.append(f"{where}: {item} is not a JSON number")
        elif not (item is None or isinstance(item, str | int | float | bool)):
            hint = f"; quote it ('{item}') to send it as text" if isinstance(item, date | datetime) else ""
            problems.append(f"{where}: YAML reads this as a {type(item).__name__}, which is not JSON{hint}")
    return problems


class FolderSpec(StrictModel):
    """A folder in Files, matched by its path of names from the root."""

    name: str = Field(min_length=1, max_length=300)
    description: str = ""
    client_metadata: dict[str, Any] = Field(default_factory=dict)
    children: list[FolderSpec] = Field(default_factory=list)
    data: list[DataSourceSpec] | None = Field(
        default=None,
        description="Sources of the folder's items (JSON, CSV, bucket listing). Absent: the folder's items "
        "are not managed.",
    )
    prune: bool = Field(
        default=False,
        description="With `data`: delete the folder's items that no data source declares (destructive).",
    )
    protect: bool = Field(
        default=False,
        description="Never delete this folder, even after it leaves the configuration, until a `forget:` "
        "entry names it (the mark is kept in the recorded state).",
    )
    renamed_from: str | None = Field(
        default=None,
        description="The folder's old path (e.g. `raw/cams`): it is renamed or moved here, keeping its items "
        "and dataset links, instead of deleted and created anew.",
    )

    @model_validator(mode="after")
    def _prune_needs_data(self) -> FolderSpec:
        if self.prune and self.data is None:
            raise ValueError("`prune: true` needs `data` (write `data: []` to empty the folder)")
        return self

    @field_validator("client_metadata")
    @classmethod
    def _json_only(cls, value: dict[str, Any]) -> dict[str, Any]:
        problems = json_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("name")
    @classmethod
    def _no_slash(cls, value: str) -> str:
        if "/" in value:
            raise ValueError("a folder name must not contain '/': nest folders with `children`")
        if value != value.strip():
            raise ValueError("a folder name must not start or end with white space")
        return value


class PruneSpec(StrictModel):
    """What reconciler deletes when it is live but not declared (in a declared section)."""

    folders: Literal["all", "nested", "none"] = Field(
        default="nested",
        description=(
            "nested (default): only folders inside declared folders; root folders no config declares belong "
            "to someone else in a shared organisation. all: every undeclared folder, root folders included. "
            "none: never delete a folder."
        ),
    )
    datasets: bool = Field(
        default=True,
        description="Delete undeclared datasets on the sandbox; on Encord, whose API cannot, list them as "
        "unsupported deletes with the steps to take by hand.",
    )
    integrations: bool = Field(default=True, description="Delete undeclared integrations (sandbox only).")


class ThresholdSpec(StrictModel):
    max_delete_percent: int = Field(default=30, ge=0, le=100, description="Most that may be deleted, in %.")
    max_update_percent: int = Field(default=30, ge=0, le=100, description="Most that may be updated, in %.")


class SafetySpec(StrictModel):
    """Apply refuses (unless --force) when a plan deletes or updates more than these shares of what exists."""

    min_existing: int = Field(default=10, ge=0, description="The limits apply once this many exist.")
    folders: ThresholdSpec = Field(default_factory=ThresholdSpec)
    items: ThresholdSpec = Field(
        default_factory=ThresholdSpec, description="A managed folder's items (registration, prune)."
    )
    dataset_links: ThresholdSpec = Field(
        default_factory=ThresholdSpec, description="Items linked into datasets (unlinks)."
    )


def _forget_address(value: str) -> str:
    # Only folders are protected (`protect: true`), so only a folder's address can be forgotten.
    if not value.startswith("folder.") or not value.removeprefix("folder.").strip("/"):
        raise ValueError("names a protected folder by its address: folder.<path>, e.g. folder.raw/old")
    return value


def _change_address(value: str) -> str:
    kind, dot, name = value.partition(".")
    if not dot or not name or not kind.replace("_", "").isalpha():
        raise ValueError("names a change by its plan address: <kind>.<name>, e.g. dataset.old-title")
    return value


class ConfigFile(StrictModel):
    """One configuration file. A directory of them is merged; a section absent from all is unmanaged."""

    backend: Backend | None = None
    prune: PruneSpec | None = None
    safety: SafetySpec | None = None
    forget: list[Annotated[str, AfterValidator(_forget_address)]] | None = Field(
        default=None,
        description="Addresses whose protection ends (e.g. `folder.raw/old`): they may be deleted.",
    )
    acknowledge: list[Annotated[str, AfterValidator(_change_address)]] | None = Field(
        default=None,
        description="Addresses of `unsupported` changes (what Encord's API cannot do) that are known and "
        "left as they are: the plan still shows them, marked acknowledged, but `plan --detailed-exitcode` "
        "no longer counts them, so a scheduled drift check can go green.",
    )
    integrations: list[IntegrationSpec] | None = None
    metadata_schema: MetadataSchemaSpec | None = None
    folders: list[FolderSpec] | None = None
    datasets: list[DatasetSpec] | None = None
    splits: list[SplitSpec] | None = Field(
        default=None,
        description="Stable splits: each item the split's rules select goes to one of its datasets, by a "
        "hash of the item's identity and the seed; new items land in a split without moving the old.",
    )
