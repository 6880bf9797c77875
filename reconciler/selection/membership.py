"""Which part of a split each item goes to (issue 17): an item's identity (its object URL, or its
`group_by` value, so a group never straddles the split) and its placement; and `EXAMPLES`, how many items
the plan shows of each dataset's links and unlinks."""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.selection.conditions import value_at
from reconciler.selection.rules import Candidate
from reconciler.selection.split import Split

EXAMPLES = 5


def identity(item: Candidate, group_by: str | None) -> str | None:
    """What a split hashes: the group's metadata value (all of a drive together), else the object URL,
    else (a group item) its uuid. None when `group_by` is given and the item lacks that key: such an
    item cannot be placed without risking a group on two sides, and the plan says so."""
    if group_by is not None:
        value = value_at(item.metadata, group_by)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            return None
        return f"{group_by}={value}"
    return item.url or item.uuid


def split_items(
    split: Split, items: Iterable[Candidate], group_by: str | None = None
) -> tuple[dict[str, str], list[str]]:
    """Item uuid -> its part; and the uuids that could not be placed (no `group_by` value)."""
    keys: dict[str, str] = {}
    unplaced: list[str] = []
    for item in items:
        key = identity(item, group_by)
        if key is None:
            unplaced.append(item.uuid)
        else:
            keys[item.uuid] = key
    placed = split.assign(set(keys.values()))  # the bounds once, each group's hash once
    return {uuid: placed[key] for uuid, key in keys.items()}, sorted(unplaced)
