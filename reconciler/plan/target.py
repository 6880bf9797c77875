"""`--target ADDRESS`: a plan limited to some resources and what they depend on.

A folder address takes its subtree along, with the items of every folder in it; a dataset address its
items. Dependencies are followed from the plan's own `depends_on`, so a targeted change never runs
before what it needs.
"""

from __future__ import annotations

from reconciler.errors import ReconcilerError
from reconciler.plan.model import Change, Kind, Plan, parse_address

_FOLDER_KINDS = (Kind.FOLDER, Kind.FOLDER_ITEMS, Kind.FOLDER_ITEMS_PRUNE, Kind.FOLDER_ITEMS_MEDIA)
_DATASET_KINDS = (Kind.DATASET, Kind.DATASET_ITEMS)


def parse_targets(targets: list[str]) -> list[tuple[Kind, str]]:
    parsed = []
    for target in targets:
        try:
            kind, name = parse_address(target)
        except ValueError:
            kinds = ", ".join(k.value for k in Kind)
            raise ReconcilerError(
                f"--target {target!r}: an address is <kind>.<name>, kind one of {kinds}"
            ) from None
        if not name:
            raise ReconcilerError(f"--target {target!r}: the address names no resource")
        parsed.append((kind, name.strip("/") if kind in _FOLDER_KINDS else name))
    return parsed


def matches(change: Change, target: tuple[Kind, str]) -> bool:
    kind, name = parse_address(change.address)
    t_kind, t_name = target
    if (kind, name) == target:
        return True
    if t_kind == Kind.FOLDER and kind in _FOLDER_KINDS:
        return name == t_name or name.startswith(t_name + "/")
    return t_kind == Kind.DATASET and kind in _DATASET_KINDS and name == t_name


def targeted(plan: Plan, targets: list[str]) -> Plan:
    """The plan's changes that match a target, with everything they depend on (transitively)."""
    if not targets:
        return plan
    parsed = parse_targets(targets)
    unmatched = [
        t for t, p in zip(targets, parsed, strict=True) if not any(matches(c, p) for c in plan.changes)
    ]
    if unmatched:
        raise ReconcilerError(
            f"--target {', '.join(unmatched)}: no such resource in the configuration or the live workspace"
        )
    by_address = {c.address: c for c in plan.changes}
    keep = {c.address for c in plan.changes if any(matches(c, p) for p in parsed)}
    # The parts of a split move items between each other: one part's links without the others' unlinks
    # would put an item on two sides. A part targeted brings its split's other parts.
    splits = {by_address[a].payload.get("split") for a in keep} - {None}
    keep |= {
        c.address for c in plan.changes if c.kind == Kind.DATASET_ITEMS and c.payload.get("split") in splits
    }
    stack = list(keep)
    while stack:
        for dep in by_address[stack.pop()].depends_on:
            if dep in by_address and dep not in keep:
                keep.add(dep)
                stack.append(dep)
    untargeted = sum(1 for c in plan.actionable if c.address not in keep)
    return plan.model_copy(
        update={
            "changes": [c for c in plan.changes if c.address in keep],
            "targets": list(targets),
            "untargeted": untargeted,
        }
    )
