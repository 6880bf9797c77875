"""What a dataset by rule must link and unlink, and which part of a split each item goes to (issue 17).

Pure functions. The plan shows, per dataset,
the items to link and to unlink with counts and up to `EXAMPLES` of each, every example citing the rule
that selects it (or that no longer does).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.selection.conditions import value_at
from reconciler.selection.rules import Candidate
from reconciler.selection.split import Split

EXAMPLES = 5


@dataclass(frozen=True)
class Membership:
    """The difference between what a dataset's rules select and what it links now."""

    link: list[str] = field(default_factory=list)  # item uuids, sorted
    unlink: list[str] = field(default_factory=list)
    unchanged: int = 0
    link_examples: list[tuple[str, str]] = field(default_factory=list)  # (item title or uuid, rule)
    unlink_examples: list[tuple[str, str]] = field(default_factory=list)


def membership(
    selected: Mapping[str, str], linked: Iterable[str], titles: Mapping[str, str] | None = None
) -> Membership:
    """`selected`: item uuid -> the rule selecting it; `linked`: the uuids the dataset links now."""
    now = set(linked)
    link = sorted(set(selected) - now)
    unlink = sorted(now - set(selected))
    named = titles or {}
    return Membership(
        link=link,
        unlink=unlink,
        unchanged=len(now & set(selected)),
        link_examples=[(named.get(u, u), selected[u]) for u in link[:EXAMPLES]],
        unlink_examples=[(named.get(u, u), "selected by no rule now") for u in unlink[:EXAMPLES]],
    )


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
