"""The live workspace in domain terms: what the provider read, translated from Encord's wire format.

The diff compares these with the config; it never sees wire models or does any I/O.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class LiveModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LiveIntegration(LiveModel):
    uuid: str
    title: str


class LiveSchemaKey(LiveModel):
    """One key of the organisation schema. `type` is canonical (varchar, text, enum, ...);
    `deleted` marks a tombstone (soft-deleted, restorable while `type` is known)."""

    type: str | None
    values: tuple[str, ...] | None = None
    size: int | None = None
    deleted: bool = False


class LiveFolder(LiveModel):
    uuid: str
    path: str
    parent_uuid: str | None
    name: str
    description: str
    client_metadata: dict[str, Any]
    item_count: int = 0


class LiveItem(LiveModel):
    uuid: str
    folder_path: str
    name: str
    url: str | None = None


class LiveDataset(LiveModel):
    uuid: str
    title: str
    description: str
    # storage item uuid -> data hash, for every data row that is backed by a storage item
    linked_items: dict[str, str] = Field(default_factory=dict)


class LiveState(LiveModel):
    integrations: dict[str, LiveIntegration] = Field(default_factory=dict)
    schema_doc: dict[str, Any] = Field(default_factory=dict)
    schema_keys: dict[str, LiveSchemaKey] = Field(default_factory=dict)
    folders: dict[str, LiveFolder] = Field(default_factory=dict)
    # folder path -> item uuids directly in it (read only for folders a dataset draws from)
    folder_items: dict[str, list[str]] = Field(default_factory=dict)
    datasets: dict[str, LiveDataset] = Field(default_factory=dict)
    # problems found while reading (e.g. two live folders with one path) that the plan must surface
    ambiguities: list[str] = Field(default_factory=list)
