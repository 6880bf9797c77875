"""Membership rules: which items of which folders a dataset takes (issue 17).

Pure functions. A rule takes items from folders
(their subtrees by default) and narrows them, each narrowing optional:

- `paths`: include/exclude globs over the item's path in Files (`folder/path/title`), the glob grammar
  of bucket sources (reconciler/registration/globs.py);
- `urls`: include/exclude globs over its object URL (a group has none and never matches a URL glob);
- `types`: data types as sources name them (image, video, image_group, ..., text, pdf, nifti);
- `where`: conditions on clientMetadata (reconciler/selection/conditions.py).

A dataset's rules are a union: an item any rule selects is linked once, and the plan cites the first
rule that selected it. Selection is one pass over the items.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.registration.entry import ITEM_TYPES
from reconciler.registration.globs import GlobSet, check_glob
from reconciler.registration.sourcefile import did_you_mean
from reconciler.selection.conditions import Condition, parse_conditions


@dataclass(frozen=True, slots=True)
class Candidate:
    """An item as rules see it."""

    uuid: str
    folder: str  # its folder's path in Files
    title: str
    url: str | None  # its object URL; None for a group
    item_type: str  # Encord's item type (image, plainText, imageGroup...)
    metadata: Mapping[str, Any]

    @property
    def path(self) -> str:
        return f"{self.folder}/{self.title}"


@dataclass(frozen=True)
class Globs:
    include: GlobSet | None
    exclude: GlobSet | None

    def admits(self, text: str | None) -> bool:
        if text is None:
            return self.include is None
        if self.include is not None and self.include.fullmatch(text) is None:
            return False
        return self.exclude is None or self.exclude.fullmatch(text) is None


@dataclass(frozen=True)
class Rule:
    name: str  # how the plan cites it, e.g. `datasets.front-rain.select[1]`
    folders: tuple[tuple[str, bool], ...]  # (path, recursive)
    paths: Globs | None = None
    urls: Globs | None = None
    item_types: frozenset[str] | None = None  # Encord's names
    conditions: tuple[Condition, ...] = field(default_factory=tuple)
    # folder path -> whether the rule draws from it: items share folders, so each is decided once
    _admitted: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def takes_from(self, folder: str) -> bool:
        admitted = self._admitted.get(folder)
        if admitted is None:
            admitted = any(_within(folder, path, recursive) for path, recursive in self.folders)
            self._admitted[folder] = admitted
        return admitted

    def selects(self, item: Candidate) -> bool:
        if not self.takes_from(item.folder):
            return False
        if self.item_types is not None and item.item_type not in self.item_types:
            return False
        if self.paths is not None and not self.paths.admits(item.path):
            return False
        if self.urls is not None and not self.urls.admits(item.url):
            return False
        return all(condition.holds(item.metadata) for condition in self.conditions)


def parse_rule(
    name: str, spec: Mapping[str, Any], schema: Mapping[str, Mapping[str, Any]]
) -> tuple[Rule | None, list[str]]:
    """A rule from its written form, and every problem with it, each prefixed by `name`."""
    problems: list[str] = []
    folders = _folders(spec.get("folders"), problems)
    paths = _globs(spec.get("paths"), "paths", problems)
    urls = _globs(spec.get("urls"), "urls", problems)
    item_types = _types(spec.get("types"), problems)
    conditions: list[Condition] = []
    if spec.get("where") is not None:
        if isinstance(spec["where"], Mapping):
            conditions, where_problems = parse_conditions(spec["where"], schema)
            problems += [f"where.{p}" for p in where_problems]
        else:
            problems.append("where: must be a mapping of metadata keys to conditions")
    unknown = sorted(set(spec) - {"folders", "paths", "urls", "types", "where"})
    problems += [f"{key}: not a rule field (folders, paths, urls, types, where)" for key in unknown]
    if problems:
        return None, [f"{name}.{p}" for p in problems]
    return Rule(name, folders, paths, urls, item_types, tuple(conditions)), []


def select(rules: Sequence[Rule], items: Iterable[Candidate]) -> dict[str, str]:
    """Item uuid -> the name of the first rule that selects it; each item once (one pass)."""
    chosen: dict[str, str] = {}
    for item in items:
        for rule in rules:
            if rule.selects(item):
                chosen.setdefault(item.uuid, rule.name)
                break
    return chosen


def _within(folder: str, path: str, recursive: bool) -> bool:
    return folder == path or (recursive and folder.startswith(path + "/"))


def _folders(value: Any, problems: list[str]) -> tuple[tuple[str, bool], ...]:
    if not isinstance(value, list) or not value:
        problems.append("folders: a rule takes items from at least one folder")
        return ()
    out: list[tuple[str, bool]] = []
    for at, entry in enumerate(value):
        if isinstance(entry, str):
            out.append((entry.strip("/"), True))
        elif isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
            recursive = entry.get("recursive", True)
            if not isinstance(recursive, bool):
                problems.append(f"folders[{at}].recursive: must be true or false")
            out.append((entry["path"].strip("/"), recursive is not False))
        else:
            problems.append(f"folders[{at}]: a folder path, or {{path: ..., recursive: false}}")
    return tuple(out)


def _globs(value: Any, where: str, problems: list[str]) -> Globs | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not set(value) <= {"include", "exclude"} or not value:
        problems.append(f"{where}: give include and/or exclude, each a list of globs")
        return None
    sets: dict[str, GlobSet | None] = {"include": None, "exclude": None}
    for side in ("include", "exclude"):
        patterns = value.get(side)
        if patterns is None:
            continue
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            problems.append(f"{where}.{side}: must be a list of globs")
            continue
        bad = [(p, why) for p in patterns if (why := check_glob(p))]
        problems += [f"{where}.{side}: {p!r}: {why}" for p, why in bad]
        if not bad:
            sets[side] = GlobSet(patterns)
    return Globs(sets["include"], sets["exclude"])


def _types(value: Any, problems: list[str]) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        problems.append(f"types: a non-empty list of: {', '.join(ITEM_TYPES)}")
        return None
    unknown = [t for t in value if t not in ITEM_TYPES]
    for name in unknown:  # each named, not only the first
        hint = did_you_mean(str(name), list(ITEM_TYPES)) or f"; one of: {', '.join(ITEM_TYPES)}"
        problems.append(f"types: {name!r} is not a data type{hint}")
    if unknown:
        return None
    return frozenset(ITEM_TYPES[t] for t in value)
