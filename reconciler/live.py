"""The live workspace in domain terms: what the provider read, translated from Encord's wire format.

The diff compares these with the config; it never sees wire models or does any I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from reconciler.selection.rules import Candidate


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
    # the linked items Encord stores itself (CORD_STORAGE): removing their data unit deletes the file
    hosted_items: list[str] = Field(default_factory=list)


@dataclass(slots=True)
class LiveEntry:
    """A live item of a folder whose data is managed: what the plan compares with a declared entry."""

    uuid: str
    item_type: str
    title: str
    client_metadata: dict[str, Any]
    media: dict[str, Any] | None = None  # what Encord reports of its media metadata, wire names (fileSize)


@dataclass
class FolderContents:
    """A managed folder's items, keyed as declared entries are: by URL, or a group's frame URLs in order.

    Plain dataclasses, not validated models: a folder may hold a million items.
    """

    folder_uuid: str
    items: dict[tuple[str, ...], LiveEntry] = field(default_factory=dict)
    # items with no URL reconciler can key them by (e.g. uploaded to Encord-hosted storage), and
    # further items with a key already seen: never touched, counted for the plan
    unkeyed: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


class LiveBucket(LiveModel):
    """The bucket side of an integration, as GCS reports it."""

    name: str
    cors: list[dict[str, Any]] = Field(default_factory=list)
    iam: dict[str, list[str]] = Field(default_factory=dict)  # role -> members
    # the binding reconciler granted, as the digest it recorded in the bucket's labels
    granted: str | None = None


class LiveState(LiveModel):
    integrations: dict[str, LiveIntegration] = Field(default_factory=dict)
    schema_doc: dict[str, Any] = Field(default_factory=dict)
    schema_keys: dict[str, LiveSchemaKey] = Field(default_factory=dict)
    folders: dict[str, LiveFolder] = Field(default_factory=dict)
    # folder path -> item uuids directly in it (read only for folders a dataset draws from)
    folder_items: dict[str, list[str]] = Field(default_factory=dict)
    datasets: dict[str, LiveDataset] = Field(default_factory=dict)
    # folder path -> its items, for folders that declare `data`
    contents: SkipValidation[dict[str, FolderContents]] = Field(default_factory=dict)
    # folder path -> its items as membership rules see them (only for folders some rule draws from)
    candidates: SkipValidation[dict[str, list[Candidate]]] = Field(default_factory=dict)
    buckets: dict[str, LiveBucket] = Field(default_factory=dict)
    # problems found while reading (e.g. two live folders with one path) that the plan must surface
    ambiguities: list[str] = Field(default_factory=list)


class FolderIndex:
    """Each folder path -> itself and every path below it, built once, so that a dataset's recursive
    references are looked up instead of scanning every folder once per dataset."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.known = set(paths)
        self.subtree: dict[str, list[str]] = defaultdict(list)
        for path in self.known:
            parts = path.split("/")
            for depth in range(1, len(parts) + 1):
                self.subtree["/".join(parts[:depth])].append(path)

    def paths_in(self, refs: Iterable[tuple[str, bool]]) -> set[str]:
        found: set[str] = set()
        for path, recursive in refs:
            if recursive:
                found.update(self.subtree.get(path, ()))
            elif path in self.known:
                found.add(path)
        return found
