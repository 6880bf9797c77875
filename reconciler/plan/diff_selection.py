"""Pure: which items each dataset by rule, and each part of a split, should hold now.

The candidates are the live items of the folders the rules draw from (`LiveState.candidates`), read once,
and visited once: each dataset's rules and each split's rules decide on an item in the same pass. Every
chosen item carries its citation, the rule (and split part) that selects it, which the plan shows beside
its examples.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from reconciler.config.loader import Config
from reconciler.config.selection_check import SplitRules
from reconciler.live import FolderIndex, LiveState
from reconciler.plan.diff_items import FolderWork
from reconciler.selection.membership import EXAMPLES, split_items
from reconciler.selection.rules import Candidate, Rule


@dataclass
class RuledMembership:
    """What a dataset's rules (or its split) choose: item uuid -> citation, and what the plan should say."""

    chosen: dict[str, str] = field(default_factory=dict)
    # why a linked item leaves, where it is not simply "selected by no rule now" (a split's moves)
    leaving: dict[str, str] = field(default_factory=dict)
    moves_in: dict[str, int] = field(default_factory=dict)  # another part of its split -> items coming here
    notes: list[str] = field(default_factory=list)  # said with its change, if it has one
    warnings: list[str] = field(default_factory=list)  # said once in the plan, change or not


class ItemPaths:
    """uuid -> `folder/title`, for the examples the plan shows; built on first use, so a plan with nothing
    to show (no change) never pays for a string per item."""

    def __init__(self, live: LiveState) -> None:
        self._live = live
        self._items: dict[str, Candidate] | None = None

    def item(self, uuid: str) -> Candidate | None:
        if self._items is None:
            self._items = {c.uuid: c for items in self._live.candidates.values() for c in items}
        return self._items.get(uuid)

    def get(self, uuid: str, default: str) -> str:
        item = self.item(uuid)
        return item.path if item is not None else default

    def no_longer_selected(self, uuid: str, rules: tuple[Rule, ...]) -> str:
        """Why a linked item leaves a dataset by rule: the rules whose folders hold it and that no longer
        select it, or that none of them draws from its folder."""
        item = self.item(uuid)
        drawing = [r.name for r in rules if item is not None and r.takes_from(item.folder)]
        if not drawing:
            return "in no rule's folders now" if item is not None else "selected by no rule now"
        return f"{', '.join(drawing)} no longer select{'s' if len(drawing) == 1 else ''} it"


def ruled_memberships(
    config: Config, live: LiveState, pruned: frozenset[str], registering: set[str] | None = None
) -> dict[str, RuledMembership]:
    """Dataset title -> its ruled membership, for datasets with `select` and the parts of every split.
    `registering`: folders this apply registers items in (a rule that matches nothing there yet is fine)."""
    index = FolderIndex(live.candidates)
    targets = [*config.selection.datasets.values(), *(split.rules for split in config.selection.splits)]
    passes = _one_pass(live, index, targets, pruned)
    out: dict[str, RuledMembership] = {}
    for title, rules in config.selection.datasets.items():
        found = passes.pop(0)
        out[title] = RuledMembership(found.chosen)
        out[title].warnings += _idle_rules(rules, found, index, registering or set())
    for split in config.selection.splits:
        out.update(_split_memberships(live, split, passes.pop(0), index, registering or set()))
    return out


@dataclass
class _Found:
    """What one target's rules (a dataset's, or a split's) found in the one pass over the candidates."""

    chosen: dict[str, str] = field(default_factory=dict)  # item uuid -> the first rule selecting it
    selected: list[Candidate] = field(default_factory=list)  # those items, in candidate order
    reached: list[Candidate] = field(default_factory=list)  # every candidate in the rules' folders


def _one_pass(
    live: LiveState, index: FolderIndex, targets: list[tuple[Rule, ...]], pruned: frozenset[str]
) -> list[_Found]:
    """Each candidate is visited once: every target whose rules draw from its folder decides on it there,
    by its first rule that selects it."""
    drawing: dict[str, list[int]] = {}  # folder path -> the targets drawing from it
    for at, rules in enumerate(targets):
        for path in index.paths_in({f for rule in rules for f in rule.folders}):
            drawing.setdefault(path, []).append(at)
    found = [_Found() for _ in targets]
    for path in sorted(drawing):
        here = [(found[at], targets[at]) for at in drawing[path]]
        for item in live.candidates.get(path, ()):
            if item.uuid in pruned:
                continue
            for into, rules in here:
                into.reached.append(item)
                for rule in rules:
                    if rule.selects(item):
                        into.chosen[item.uuid] = rule.name
                        into.selected.append(item)
                        break
    return found


def _idle_rules(
    rules: tuple[Rule, ...], found: _Found, index: FolderIndex, registering: set[str]
) -> list[str]:
    """A rule whose folders hold items but that selects none of them (none an earlier rule did not) is
    most likely a typo in a glob, a type or a condition: said, since the plan would quietly unlink."""
    if not found.reached:
        return []
    hits = Counter(found.chosen.values())
    out = []
    for rule in rules:
        if hits[rule.name] or index.paths_in(rule.folders) & registering:
            continue
        reachable = sum(1 for i in found.reached if rule.takes_from(i.folder))  # only for an idle rule
        if not reachable:
            continue
        earlier = " that an earlier rule does not" if rule is not rules[0] else ""
        out.append(
            f"{rule.name} selects no item{earlier} among the {reachable} in its folders: check its globs, "
            "types and conditions"
        )
    return out


def _split_memberships(
    live: LiveState, split: SplitRules, found: _Found, index: FolderIndex, registering: set[str]
) -> dict[str, RuledMembership]:
    cited = found.chosen
    idle = _idle_rules(split.rules, found, index, registering)
    parts, unplaced = split_items(split.split, found.selected, split.group_by)
    total = sum(weight for _, weight in split.split.parts)
    out = {title: RuledMembership(notes=[]) for title, _ in split.split.parts}
    shares = {title: f"{weight / total:.0%}" for title, weight in split.split.parts}
    cites: dict[tuple[str, str], str] = {}  # one string per part and rule, not one per item
    for uuid, title in parts.items():
        rule = cited[uuid]
        cite = cites.get((title, rule))
        if cite is None:
            cite = cites[(title, rule)] = _split_cite(split, shares[title], rule)
        out[title].chosen[uuid] = cite
    # where each item is linked now, among the split's datasets: a changed seed or weight shows as moves
    linked_in = {
        uuid: title
        for title, _ in split.split.parts
        if (ds := live.datasets.get(title)) is not None
        for uuid in ds.linked_items
    }
    moves: Counter[tuple[str, str]] = Counter(
        (linked_in[uuid], title) for uuid, title in parts.items() if linked_in.get(uuid, title) != title
    )
    for (was, now), count in sorted(moves.items()):
        out[now].moves_in[was] = count
    for member in out.values():  # one note per part, however many parts its items come from
        if member.moves_in:
            (first, n), *others = member.moves_in.items()
            sources = [f"{n} item(s) move here from {first!r}", *(f"{m} from {w!r}" for w, m in others)]
            member.notes.append(f"{' and '.join(sources)} (the split's seed, weights or grouping changed)")
    unplaced_set = set(unplaced)
    for uuid, was in linked_in.items():
        part = parts.get(uuid)
        if part is not None and part != was:
            out[was].leaving[uuid] = f"moves to {part!r}"
        elif part is None and uuid in unplaced_set:
            out[was].leaving[uuid] = f"no `{split.group_by}` value: in no part"
    if parts:
        for title, _ in split.split.parts:
            if title not in parts.values():
                out[title].warnings.append(
                    f"splits.{split.name}: dataset {title!r} gets no item: its share lands on no "
                    f"{'group' if split.group_by else 'item'} (too few to split that way, or its weight is "
                    "too small)"
                )
    out[split.split.parts[0][0]].warnings += idle
    if unplaced:
        paths = ItemPaths(live)
        shown = [paths.get(u, u) for u in unplaced[:EXAMPLES]]
        out[split.split.parts[0][0]].warnings.append(_unplaced_warning(split, len(unplaced), shown))
    return out


@dataclass
class Incoming:
    """What the plan can tell of the items this apply registers into a dataset's rule folders."""

    chosen: list[tuple[str, str]] = field(default_factory=list)  # (shown path, citation), by path
    # Apply matches again once they exist; when the plan cannot predict it exactly (a title left to
    # Encord under a path glob; a group placed by a split, which knows it by its item uuid), the change
    # is kept even if no entry is predicted to match.
    uncertain: bool = False


def incoming_selected(
    config: Config,
    title: str,
    works: dict[str, FolderWork],
    paths: list[str],
    warnings: list[str] | None = None,
) -> Incoming:
    """Of the entries this apply registers in `paths`, those dataset `title` will hold by its rules, as
    the plan can tell before they exist: by their declared URL, type, title and metadata. A title the
    source leaves to Encord is shown as the object's file name."""
    rules, split = config.selection.rules_for(title)
    entries = [(path, entry) for path in paths for _, entry in works[path].register]
    items = [
        Candidate(
            f"{path}\0{entry.where}",  # unique per entry: titles and file names may repeat
            path,
            entry.title or entry.urls[0].rsplit("/", 1)[-1],
            None if entry.is_group else entry.urls[0],
            entry.item_type,
            entry.client_metadata or {},
        )
        for path, entry in entries
    ]
    uncertain = any(rule.paths is not None for rule in rules) and any(e.title is None for _, e in entries)
    if split is not None and split.group_by is None:
        uncertain = uncertain or any(e.is_group for _, e in entries)
    held, unplaced = config.selection.members(title, items)
    shown = {c.uuid: c.path for c in items}
    if split is not None:
        if unplaced and warnings is not None and title == split.split.parts[0][0]:
            examples = sorted(shown[u] for u in unplaced)[:EXAMPLES]
            warnings.append(_unplaced_warning(split, len(unplaced), examples))
        share = dict(split.split.parts)[title] / sum(w for _, w in split.split.parts)
        held = {u: _split_cite(split, f"{share:.0%}", rule) for u, rule in held.items()}
    return Incoming(sorted((shown[u], cite) for u, cite in held.items()), uncertain)


def _split_cite(split: SplitRules, share: str, rule: str) -> str:
    """`splits.stills 80%`, and which of its rules selected the item when it has several."""
    which = f", {rule.removeprefix(f'splits.{split.name}.')}" if len(split.rules) > 1 else ""
    return f"splits.{split.name} {share}{which}"


def _unplaced_warning(split: SplitRules, count: int, shown: list[str]) -> str:
    return (
        f"{count} item(s) the split selects have no `{split.group_by}` value and go to no part of "
        f"splits.{split.name}, so that no group can straddle it: e.g. {', '.join(shown)}"
    )
