"""Datasets by rule, checked offline against the whole configuration, each problem at its line.

A rule's folders must be declared; its globs must compile; its `where` keys must be keys of the declared
metadata schema, with values of their type. A split names declared datasets that hold nothing else, no
dataset is in two splits, and the weights add up to 100 (percentages) or 1 (fractions), so that a typo in
one weight is not silently renormalised. What passes is returned, parsed, and kept as `Config.selection`.

Below the loader: it reads the merged configuration through `DeclaredConfig` (what it needs of
`loader.Config`) and never imports the loader, which calls it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.config.models_datasets import DatasetSpec, SelectRule, SplitSpec
from reconciler.config.yamlbase import LoadedYaml, Location, Path_
from reconciler.registration.sourcefile import did_you_mean
from reconciler.selection.membership import split_items
from reconciler.selection.rules import Candidate, Rule, parse_rule, select
from reconciler.selection.split import Split


class DeclaredConfig(Protocol):
    """What the checks read of the merged configuration (`loader.Config` is one)."""

    @property
    def locations(self) -> Mapping[str, Location]: ...
    @property
    def schema_keys(self) -> Mapping[str, Any] | None: ...
    @property
    def folders(self) -> Sequence[Any] | None: ...
    @property
    def datasets(self) -> Sequence[DatasetSpec] | None: ...
    @property
    def splits(self) -> Sequence[SplitSpec] | None: ...
    def where(self, address: str) -> str: ...


@dataclass(frozen=True)
class SplitRules:
    name: str
    split: Split
    rules: tuple[Rule, ...]
    group_by: str | None


@dataclass
class Selection:
    """The parsed rules: per dataset title (by `select`), and per split."""

    datasets: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    splits: list[SplitRules] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.datasets or self.splits)

    def all_rules(self) -> list[Rule]:
        return [r for rules in self.datasets.values() for r in rules] + [
            r for s in self.splits for r in s.rules
        ]

    def rules_for(self, title: str) -> tuple[tuple[Rule, ...], SplitRules | None]:
        """A dataset's rules: its own `select`, or those of the split it is a part of (and that split)."""
        if title in self.datasets:
            return self.datasets[title], None
        split = next((s for s in self.splits if any(t == title for t, _ in s.split.parts)), None)
        return (split.rules if split is not None else ()), split

    def members(self, title: str, items: Sequence[Candidate]) -> tuple[dict[str, str], list[str]]:
        """Of `items`, those dataset `title` holds by its rules or as its part of a split: uuid -> the rule
        that selects it; and the items its split selects but places nowhere (no `group_by` value)."""
        rules, split = self.rules_for(title)
        cited = select(rules, items)
        if split is None:
            return cited, []
        parts, unplaced = split_items(split.split, (i for i in items if i.uuid in cited), split.group_by)
        return {uuid: cited[uuid] for uuid, part in parts.items() if part == title}, unplaced


def locate_rules(
    loaded: LoadedYaml,
    base: Path_,
    prefix: str,
    rules: Sequence[SelectRule] | None,
    locations: dict[str, Location],
) -> None:
    """Remember where each rule, and each of its fields and `where` keys, is written."""
    if base[0] == "splits":
        locations[f"{prefix}.group_by"] = loaded.locate((*base, "group_by"))
        locations[f"{prefix}.seed"] = loaded.locate((*base, "seed"))
        locations[f"{prefix}.datasets"] = loaded.locate((*base, "datasets"))
    for j, rule in enumerate(rules or ()):
        at = (*base, "select", j)
        locations[f"{prefix}.select[{j}]"] = loaded.locate(at)
        for name in ("folders", "paths", "urls", "types", "where"):
            locations[f"{prefix}.select[{j}].{name}"] = loaded.locate((*at, name))
        for k in range(len(rule.folders)):
            locations[f"{prefix}.select[{j}].folders[{k}]"] = loaded.locate((*at, "folders", k))
        for key in rule.where or {}:
            locations[f"{prefix}.select[{j}].where.{key}"] = loaded.locate((*at, "where", key))


def check_selection(config: DeclaredConfig, problems: list[str]) -> Selection:
    selection = Selection()
    schema = _schema_shapes(config)
    declared = {addr.removeprefix("folder.") for addr in config.locations if addr.startswith("folder.")}
    datasets = {d.title: d for d in config.datasets or []}
    for ds in config.datasets or []:
        if ds.select is not None:
            rules = _rules(config, f"dataset.{ds.title}", ds.select, schema, declared, problems)
            if rules is not None:
                selection.datasets[ds.title] = rules
    in_split: dict[str, str] = {}
    for split in config.splits or []:
        prefix = f"split.{split.name}"
        rules = _rules(config, prefix, split.select, schema, declared, problems)
        ok = rules is not None
        for title in split.datasets:
            where = config.where(f"{prefix}.datasets.{title}")
            spec = datasets.get(title)
            if spec is None:
                problems.append(
                    f"{where}: splits.{split.name}.datasets.{title}: dataset {title!r} is not declared under "
                    f"`datasets` (a split fills datasets declared there)"
                    + did_you_mean(title, sorted(datasets))
                )
                ok = False
            elif spec.managed:
                problems.append(
                    f"{config.where(f'dataset.{title}')}: datasets.{title}: declares folders or select "
                    f"of its own, but it is a part of split {split.name!r} ({where}); a split's datasets "
                    "hold what the split gives them and nothing else"
                )
                ok = False
            if title in in_split:
                problems.append(
                    f"{where}: splits.{split.name}.datasets.{title}: dataset {title!r} is already a part of "
                    f"split {in_split[title]!r}; a dataset belongs to one split"
                )
                ok = False
            in_split.setdefault(title, split.name)
        total = sum(split.datasets.values())
        if not (math.isclose(total, 100) or math.isclose(total, 1)):
            problems.append(
                f"{config.where(f'{prefix}.datasets')}: splits.{split.name}.datasets: the weights add up to "
                f"{total:g}; write percentages that add up to 100 or fractions that add up to 1"
            )
            ok = False
        if split.group_by is not None and config.schema_keys is not None and split.group_by not in schema:
            problems.append(
                f"{config.where(f'{prefix}.group_by')}: splits.{split.name}.group_by: {split.group_by!r} is "
                f"not a key of the metadata schema{did_you_mean(split.group_by, sorted(schema))}"
            )
            ok = False
        if ok and rules is not None:
            parts = tuple((title, float(weight)) for title, weight in split.datasets.items())
            placed = Split(str(split.seed), parts)
            selection.splits.append(SplitRules(split.name, placed, rules, split.group_by))
    return selection


def _rules(
    config: DeclaredConfig,
    prefix: str,
    specs: Sequence[SelectRule],
    schema: dict[str, dict[str, Any]],
    declared: set[str],
    problems: list[str],
) -> tuple[Rule, ...] | None:
    shown = prefix.replace("dataset.", "datasets.", 1).replace("split.", "splits.", 1)
    rules: list[Rule] = []
    failed = False
    for j, spec in enumerate(specs):
        name = f"{shown}.select[{j}]"
        if spec.where and config.schema_keys is None:
            problems.append(
                f"{config.where(f'{prefix}.select[{j}].where')}: {name}.where: conditions on metadata need "
                "the `metadata_schema` section, which types them"
            )
            failed = True
            continue
        rule, found = parse_rule(name, spec.written(), schema)
        for problem in found:
            problems.append(f"{_locate(config, prefix, j, name, problem)}: {problem}")
        for k, ref in enumerate(spec.folders):
            path = (ref if isinstance(ref, str) else ref.path).strip("/")
            if config.folders is None or path not in declared:
                hint = (
                    did_you_mean(path, sorted(declared))
                    if config.folders is not None
                    else (" (no `folders` section is declared)")
                )
                problems.append(
                    f"{config.where(f'{prefix}.select[{j}].folders[{k}]')}: {name}.folders: folder "
                    f"{path!r} is not declared{hint}"
                )
                failed = True
        if rule is None:
            failed = True
        else:
            rules.append(rule)
    return None if failed else tuple(rules)


def _locate(config: DeclaredConfig, prefix: str, j: int, name: str, problem: str) -> str:
    """The line of the field a problem names (`...select[0].where.scene.weather: ...`)."""
    head = problem.split(": ", 1)[0].removeprefix(name + ".")
    field_name, _, rest = head.partition(".")
    base = f"{prefix}.select[{j}]"
    if field_name == "where" and rest:
        # keys may hold dots: the longest known key that starts the rest
        known = sorted((k for k in _where_keys(config, base) if rest.startswith(k)), key=len, reverse=True)
        if known:
            return config.where(f"{base}.where.{known[0]}")
    bare = field_name.split("[", 1)[0]
    for candidate in (f"{base}.{field_name}", f"{base}.{bare}", base):
        if candidate in config.locations:
            return config.where(candidate)
    return config.where(base)


def _where_keys(config: DeclaredConfig, base: str) -> list[str]:
    start = f"{base}.where."
    return [a.removeprefix(start) for a in config.locations if a.startswith(start)]


def _schema_shapes(config: DeclaredConfig) -> dict[str, dict[str, Any]]:
    """The declared schema as conditions read it: key -> {type, values (enums)}."""
    shapes: dict[str, dict[str, Any]] = {}
    for key, spec in (config.schema_keys or {}).items():
        shape: dict[str, Any] = {"type": spec.canonical_type()}
        values = getattr(spec, "values", None)
        if values is not None:
            shape["values"] = list(values)
        shapes[key] = shape
    return shapes
