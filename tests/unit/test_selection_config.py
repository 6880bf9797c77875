"""Datasets by rule in the configuration (issue 17): what `validate` refuses offline, each at its line,
and what it keeps, parsed, for the plan."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from reconciler.config.loader import Config, load_config
from reconciler.config.models_datasets import DataTypeName
from reconciler.errors import ConfigError
from reconciler.registration.entry import ITEM_TYPES

HEAD = """\
metadata_schema:
  keys:
    camera: {type: enum, values: [front, rear]}
    drive: string
folders:
  - name: raw
    children: [{name: cams}]
"""


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "reconciler.yaml"
    path.write_text(text)
    return load_config(path, env={})


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return [line for line in str(caught.value).splitlines() if line.strip()]


def test_the_data_types_a_rule_may_name_are_the_registration_types() -> None:
    assert set(get_args(DataTypeName)) == set(ITEM_TYPES)


def test_rules_and_a_split_are_kept_parsed(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        HEAD
        + """\
datasets:
  - title: front
    select: [{folders: [raw, {path: raw/cams, recursive: false}], where: {camera: front}, types: [image]}]
  - {title: a}
  - {title: b}
splits:
  - {name: s, seed: 7, group_by: drive, select: [{folders: [raw]}], datasets: {a: 0.75, b: 0.25}}
""",
    )
    selection = config.selection
    (rule,) = selection.datasets["front"]
    assert rule.folders == (("raw", True), ("raw/cams", False)) and rule.item_types == {"image"}
    (split,) = selection.splits
    assert (
        split.split.seed == "7"
        and split.split.parts == (("a", 0.75), ("b", 0.25))
        and split.group_by == "drive"
    )


def test_split_mistakes_are_each_reported_at_their_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        HEAD
        + """\
datasets:
  - {title: a, folders: [raw]}
  - {title: b}
  - {title: c}
splits:
  - {name: one, seed: x, select: [{folders: [raw]}], datasets: {a: 50, b: 50}}
  - {name: two, seed: x, select: [{folders: [raw]}], datasets: {b: 70, c: 20}}
""",
    )
    assert any(":9:" in p and "datasets.a: declares folders or select of its own" in p for p in found), found
    assert any(":14:" in p and "'b' is already a part of split 'one'" in p for p in found), found
    assert any(":14:" in p and "the weights add up to 90" in p for p in found), found


def test_a_condition_without_a_declared_schema_is_refused(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "folders: [{name: raw}]\ndatasets:\n  - title: x\n    select: [{folders: [raw], where: {camera: front}}]\n",
    )
    assert found == [
        f"{tmp_path / 'reconciler.yaml'}:4:31: datasets.x.select[0].where: conditions on metadata need the "
        "`metadata_schema` section, which types them"
    ]


def test_a_bad_glob_and_an_enum_value_outside_the_schema_are_refused(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        HEAD
        + """\
datasets:
  - title: x
    select:
      - folders: [raw]
        paths: {include: [""]}
        where: {camera: side}
""",
    )
    assert any(":12:" in p and "datasets.x.select[0].paths.include: '': an empty glob" in p for p in found), (
        found
    )
    assert any(":13:" in p and "datasets.x.select[0].where.camera:" in p and "side" in p for p in found), (
        found
    )


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("{seconds: {gt: 60, lt: 10}}", "gt 60 and lt 10 leave no value: this selects nothing"),
        ("{seconds: {gt: 10, lte: 10}}", "gt 10 and lte 10 leave no value"),
        ("{camera: {in: [front], not_in: [front]}}", "every value of `in` is also in `not_in`"),
        ("{camera: [front, rear]}", "a list is not one value; to match any of several, write {in: [...]}"),
        ("{camera: {not: [front]}}", "not: takes one value; to leave out several, write not_in: [...]"),
    ],
)
def test_a_condition_that_selects_nothing_is_refused(tmp_path: Path, where: str, message: str) -> None:
    text = HEAD.replace("    drive: string\n", "    drive: string\n    seconds: number\n") + (
        f"datasets:\n  - title: d\n    select: [{{folders: [raw], where: {where}}}]\n"
    )
    found = problems(tmp_path, text)
    assert any(message in p and "reconciler.yaml:" in p for p in found), found


def test_a_weight_given_as_a_string_is_refused(tmp_path: Path) -> None:
    text = HEAD + (
        "datasets: [{title: a}, {title: b}]\n"
        "splits:\n  - name: s\n    seed: 1\n    select: [{folders: [raw]}]\n"
        '    datasets: {a: "80", b: 20}\n'
    )
    # the weight's own line and column, its field path, and why
    assert any(
        p.endswith("reconciler.yaml:13:16: splits[0].datasets.a: Input should be a valid number")
        for p in problems(tmp_path, text)
    )
