"""Pure diff of a folder's items: the declared entries against the live ones, as sets keyed by URL.

The plan carries counts and a few examples, never a million rows; what apply needs item by item is the
`FolderWork`, recomputed from the same inputs when a saved plan is applied (a digest of the declared set
in the plan makes sure it is the set that was reviewed).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from reconciler.live import FolderContents, LiveState
from reconciler.plan.diff_media import media_change, media_differences
from reconciler.plan.metadata_patch import metadata_patch
from reconciler.plan.model import Action, Change, FieldDiff, Kind, Risk, address_of, fingerprint
from reconciler.registration.desired import DesiredData, FolderData, desired_digest
from reconciler.registration.entry import Entry

EXAMPLES = 5


@dataclass(slots=True)
class ItemUpdate:
    uuid: str
    entry: Entry
    patch: dict[str, Any]  # `name` and/or `clientMetadata`, as the bulk item update takes them
    before: dict[str, Any]  # the same fields as they are live, for the plan's examples


@dataclass
class FolderWork:
    """Everything apply does for one folder's items."""

    path: str
    register: list[tuple[int, Entry]] = field(default_factory=list)  # (source index, entry)
    update: list[ItemUpdate] = field(default_factory=list)
    delete: list[tuple[str, str]] = field(default_factory=list)  # (uuid, URL or group title)
    unchanged: int = 0
    undeclared: int = 0  # live items no source declares (deleted only with `prune`)
    media: list[tuple[Entry, list[tuple[str, Any, Any]]]] = field(default_factory=list)  # unchangeable


def contents_digest(contents: FolderContents | None) -> str | None:
    """A digest of a folder's live items, so a saved plan can tell that they moved since."""
    if contents is None:
        return None
    digest = hashlib.sha256()
    for key in sorted(contents.items):
        item = contents.items[key]
        row = [key, item.uuid, item.title, item.client_metadata]
        try:
            digest.update(orjson.dumps(row, option=orjson.OPT_SORT_KEYS))
        except TypeError:  # what orjson cannot write (integers beyond 64 bits)
            digest.update(json.dumps(row, sort_keys=True).encode())
    digest.update(json.dumps([sorted(contents.unkeyed), sorted(contents.duplicates)]).encode())
    return "sha256:" + digest.hexdigest()[:32]


def folder_work(
    folder: FolderData, contents: FolderContents | None, only: set[tuple[str, ...]] | None = None
) -> tuple[FolderWork, list[str]]:
    """What to register, update and delete. `only` limits registration to those keys (retry-failed)."""
    work = FolderWork(path=folder.path)
    problems: list[str] = []
    live = contents.items if contents is not None else {}
    # The live keys some entry declares: the declared set itself is not built, as a first plan of a
    # million entries finds none of them live.
    matched: set[tuple[str, ...]] = set()
    for index, entry in folder.entries:
        current = live.get(entry.urls)
        if current is None:
            if only is None or entry.urls in only:
                work.register.append((index, entry))
            continue
        matched.add(entry.urls)
        if current.item_type != entry.item_type:
            problems.append(
                f"{entry.where}: the live item {current.uuid} with this URL is a {current.item_type}, "
                f"declared as {entry.type}; delete it in Encord (or with `prune`) or fix the declaration"
            )
            continue
        if entry.media is not None and (differences := media_differences(entry, current)):
            work.media.append((entry, differences))
        patch: dict[str, Any] = {}
        before: dict[str, Any] = {}
        if entry.title is not None and entry.title != current.title:
            patch["name"], before["name"] = entry.title, current.title
        if entry.client_metadata is not None:
            metadata = metadata_patch(entry.client_metadata, current.client_metadata)
            if metadata is not None:
                patch["clientMetadata"], before["clientMetadata"] = metadata, current.client_metadata
        if patch:
            work.update.append(ItemUpdate(current.uuid, entry, patch, before))
        else:
            work.unchanged += 1
    work.undeclared = len(live) - len(matched)
    if folder.spec.prune:
        work.delete = sorted(
            (item.uuid, key[0] if len(key) == 1 else item.title)
            for key, item in live.items()
            if key not in matched
        )
        if contents is not None:
            work.delete += [(uuid, "(item with no URL)") for uuid in contents.unkeyed]
            work.delete += [(uuid, "(duplicate)") for uuid in contents.duplicates]
    return work, problems


def label(entry: Entry) -> str:
    """How an entry is named to a reader: its URL, or a group's title."""
    return entry.urls[0] if len(entry.urls) == 1 else entry.title or entry.urls[0]


def _examples(labels: list[str], total: int) -> str:
    more = f" and {total - len(labels)} more" if total > len(labels) else ""
    return ", ".join(labels) + more


def _update_examples(work: FolderWork) -> list[FieldDiff]:
    out: list[FieldDiff] = []
    for update in work.update[:EXAMPLES]:
        name = label(update.entry)
        for key, field_name in (("name", "title"), ("clientMetadata", "clientMetadata")):
            if key in update.patch:
                out.append(
                    FieldDiff(
                        field=f"{name}: {field_name}", before=update.before[key], after=update.patch[key]
                    )
                )
    return out


def items_changes(
    data: DesiredData,
    live: LiveState,
    created_folders: set[str],
    integration_creates: dict[str, str],
    only: dict[str, set[tuple[str, ...]]] | None = None,
) -> tuple[list[Change], dict[str, FolderWork], list[str]]:
    """One `folder_items.<path>` change per managed folder, and a `folder_items_prune.<path>` delete."""
    changes: list[Change] = []
    works: dict[str, FolderWork] = {}
    errors: list[str] = []
    for path, folder in data.folders.items():
        contents = live.contents.get(path)
        work, problems = folder_work(folder, contents, None if only is None else only.get(path, set()))
        errors.extend(problems)
        works[path] = work
        address = address_of(Kind.FOLDER_ITEMS, path)
        folder_address = address_of(Kind.FOLDER, path)
        depends = [folder_address] if folder_address in created_folders else []
        depends += sorted(
            {
                integration_creates[s.integration]
                for s, _ in folder.sources
                if s.integration in integration_creates
            }
        )
        by_type = Counter(entry.type for _, entry in work.register)
        live_count = len(contents.items) if contents else 0
        action = Action.UPDATE if work.register or work.update else Action.NOOP
        reasons = []
        if work.register:
            kinds = ", ".join(f"{n} {t}" for t, n in sorted(by_type.items()))
            shown = [label(entry) for _, entry in work.register[:EXAMPLES]]
            reasons.append(
                f"registers {len(work.register)} item(s) ({kinds}): {_examples(shown, len(work.register))}"
            )
        if work.update:
            reasons.append(f"updates the title or clientMetadata of {len(work.update)}")
        reasons.append(f"{work.unchanged} unchanged")
        if work.undeclared and not folder.spec.prune:
            reasons.append(f"{work.undeclared} live item(s) that no source declares are kept (prune is off)")
        fp = fingerprint({"digest": contents_digest(contents)})
        # What a saved plan's apply checks its declared items against; a no-op change is never applied
        digest = desired_digest(folder) if action != Action.NOOP or work.delete else None
        changes.append(
            Change(
                address=address,
                kind=Kind.FOLDER_ITEMS,
                action=action,
                before={"items": live_count},
                after={"items": folder.count()},
                diff=_update_examples(work),
                reason="; ".join(reasons),
                depends_on=depends,
                fingerprint=fp,
                payload={
                    "folder_path": path,
                    "folder_uuid": contents.folder_uuid if contents else None,
                    "register": dict(sorted(by_type.items())),
                    "update": len(work.update),
                    "unchanged": work.unchanged,
                    "examples": [label(entry) for _, entry in work.register[:EXAMPLES]],
                    "sources": [read.display for _, read in folder.sources],
                    "desired_digest": digest,
                },
            )
        )
        if work.media:
            changes.append(media_change(path, work.media, fp))
        if work.delete:
            changes.append(
                Change(
                    address=address_of(Kind.FOLDER_ITEMS_PRUNE, path),
                    kind=Kind.FOLDER_ITEMS_PRUNE,
                    action=Action.DELETE,
                    risk=Risk.DESTRUCTIVE,
                    before={"items": live_count},
                    after={"items": live_count - len(work.delete)},
                    reason=f"prune: deletes {len(work.delete)} item(s) that no data source declares, with "
                    "their labels in any dataset: "
                    + _examples([name for _, name in work.delete[:EXAMPLES]], len(work.delete)),
                    depends_on=[address],
                    fingerprint=fp,
                    payload={
                        "folder_path": path,
                        "folder_uuid": contents.folder_uuid if contents else None,
                        "delete": len(work.delete),
                        "examples": [name for _, name in work.delete[:EXAMPLES]],
                        "desired_digest": digest,
                    },
                )
            )
    return changes, works, errors
