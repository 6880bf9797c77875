"""Issue 17 groundwork: metadata conditions typed by the schema, and stable splits (reconciler/selection)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.selection.conditions import parse_conditions
from reconciler.selection.rules import Candidate, parse_rule, select
from reconciler.selection.split import Split

SCHEMA: dict[str, dict[str, Any]] = {
    "camera": {"type": "enum", "values": ["front", "front-wide", "rear"]},
    "scene.weather": {"type": "varchar"},
    "clip.duration_s": {"type": "number"},
    "captured_at": {"type": "datetime"},
    "reviewed": {"type": "boolean"},
}


def holds(where: dict[str, Any], metadata: dict[str, Any]) -> bool:
    conditions, problems = parse_conditions(where, SCHEMA)
    assert problems == []
    return all(c.holds(metadata) for c in conditions)


@pytest.mark.parametrize(
    ("where", "metadata", "expected"),
    [
        ({"camera": "front"}, {"camera": "front"}, True),
        ({"camera": "front"}, {"camera": "rear"}, False),
        ({"camera": "front"}, {}, False),
        ({"camera": {"in": ["front", "front-wide"]}}, {"camera": "front-wide"}, True),
        ({"camera": {"in": ["front"]}}, {}, False),
        ({"camera": {"not": "rear"}}, {"camera": "front"}, True),
        ({"camera": {"not": "rear"}}, {}, True),  # absent is "anything but"
        ({"camera": {"not_in": ["rear"]}}, {"camera": "rear"}, False),
        ({"clip.duration_s": {"gt": 10}}, {"clip.duration_s": 10.5}, True),
        ({"clip.duration_s": {"gt": 10}}, {"clip.duration_s": 10}, False),
        ({"clip.duration_s": {"gte": 10, "lt": 60}}, {"clip.duration_s": 10}, True),
        ({"clip.duration_s": {"gt": 10}}, {"clip.duration_s": "long"}, False),  # wrong type: never in range
        ({"clip.duration_s": {"gt": 10}}, {"clip": {"duration_s": 12}}, True),  # a dotted path into objects
        ({"scene.weather": "rain"}, {"scene.weather": "rain"}, True),
        (
            {"captured_at": {"gte": "2024-05-01T00:00:00Z"}},
            {"captured_at": "2024-05-02T08:00:00+02:00"},
            True,
        ),
        (
            {"captured_at": {"lt": datetime(2024, 6, 1, tzinfo=UTC)}},
            {"captured_at": "2024-06-01T00:00:00Z"},
            False,
        ),
        ({"reviewed": {"exists": False}}, {"reviewed": None}, True),  # a null reads as no value
        ({"reviewed": {"exists": True}}, {"reviewed": False}, True),
    ],
)
def test_each_condition_kind(where: dict[str, Any], metadata: dict[str, Any], expected: bool) -> None:
    assert holds(where, metadata) is expected


def test_every_problem_is_reported_at_once_naming_its_key() -> None:
    _, problems = parse_conditions(
        {
            "camra": "front",
            "camera": {"gt": "front"},
            "clip.duration_s": {"in": ["ten"]},
            "reviewed": {"exists": "yes"},
            "captured_at": {"between": 1},
        },
        SCHEMA,
    )
    assert problems == [
        "camra: not a key of the metadata schema; did you mean 'camera'?",
        "camera: gt: a range needs a number or datetime key; this one is enum",
        "clip.duration_s: in: 'ten' must be a number, got a string",
        "reviewed: exists: must be true or false",
        "captured_at: unknown operator 'between'; one of: in, not, not_in, exists, gt, gte, lt, lte",
    ]


def test_an_enum_value_outside_the_schema_is_refused() -> None:
    _, problems = parse_conditions({"camera": {"in": ["side"]}}, SCHEMA)
    assert len(problems) == 1 and problems[0].startswith("camera: in: must be one of")


def test_a_split_is_disjoint_complete_and_stable_as_items_arrive() -> None:
    split = Split("2024", (("train", 80), ("val", 10), ("test", 10)))
    first = split.assign(f"gs://b/img/{i}.jpg" for i in range(10_000))
    later = split.assign(f"gs://b/img/{i}.jpg" for i in range(20_000))
    assert {k: later[k] for k in first} == first  # no item moved when others arrived
    counts = {part: sum(1 for p in later.values() if p == part) for part in ("train", "val", "test")}
    assert sum(counts.values()) == 20_000
    assert (
        15_600 < counts["train"] < 16_400 and 1_800 < counts["val"] < 2_200 and 1_800 < counts["test"] < 2_200
    )


def test_changing_the_weights_moves_only_items_across_a_moved_boundary() -> None:
    before = Split("7", (("train", 80), ("val", 10), ("test", 10)))
    after = Split("7", (("train", 70), ("val", 20), ("test", 10)))
    ids = [f"u{i}" for i in range(5_000)]
    was, now = before.assign(ids), after.assign(ids)
    moved = Counter((was[i], now[i]) for i in ids if was[i] != now[i])
    assert set(moved) == {("train", "val")}  # the train/val boundary moved down; val/test stayed
    assert 400 < moved["train", "val"] < 600
    assert before.assign(ids) == was


def test_a_grouped_split_puts_a_whole_group_on_one_side() -> None:
    split = Split("s", (("train", 50), ("test", 50)))
    frames = {f"gs://b/drive-{d}/{f}.jpg": f"drive-{d}" for d in range(200) for f in range(20)}
    side_of_group = split.assign(set(frames.values()))  # the identity is the group
    side_of_frame = {url: side_of_group[group] for url, group in frames.items()}
    for d in range(200):
        assert len({side_of_frame[f"gs://b/drive-{d}/{f}.jpg"] for f in range(20)}) == 1


# -- rules ----------------------------------------------------------------------------------------------


ITEMS = [
    Candidate(
        "1",
        "driving/front",
        "2024-05-01-0001.jpg",
        "gs://d/front/2024-05-01/1.jpg",
        "image",
        {"camera": "front", "scene.weather": "rain"},
    ),
    Candidate(
        "2",
        "driving/front",
        "2024-06-01-0002.jpg",
        "gs://d/front/2024-06-01/2.jpg",
        "image",
        {"camera": "front", "scene.weather": "sun"},
    ),
    Candidate(
        "3",
        "driving/rear",
        "clip-3.mp4",
        "gs://d/rear/clip-3.mp4",
        "video",
        {"camera": "rear", "clip.duration_s": 12},
    ),
    Candidate(
        "4", "driving/rear/old", "clip-4.mp4", "gs://d/rear/old/clip-4.mp4", "video", {"clip.duration_s": 4}
    ),
    Candidate("5", "driving/seq", "drive-9", None, "imageSequence", {"camera": "front"}),
    Candidate(
        "6", "other", "x.jpg", "gs://d/other/x.jpg", "image", {"camera": "front", "scene.weather": "rain"}
    ),
]


def chosen(*specs: dict[str, Any]) -> dict[str, str]:
    rules = []
    for at, spec in enumerate(specs):
        rule, problems = parse_rule(f"select[{at}]", spec, SCHEMA)
        assert problems == [] and rule is not None
        rules.append(rule)
    return select(rules, ITEMS)


def test_folders_are_recursive_unless_said_otherwise() -> None:
    assert set(chosen({"folders": ["driving/rear"]})) == {"3", "4"}
    assert set(chosen({"folders": [{"path": "driving/rear", "recursive": False}]})) == {"3"}


def test_path_and_url_globs_include_and_exclude() -> None:
    assert set(chosen({"folders": ["driving"], "paths": {"include": ["driving/front/2024-05-*"]}})) == {"1"}
    # an exclude alone keeps a group (it has no URL to exclude); an include never takes one
    excluded = chosen({"folders": ["driving"], "urls": {"exclude": ["gs://d/rear/old/**"]}})
    assert set(excluded) == {"1", "2", "3", "5"}
    assert "5" not in chosen({"folders": ["driving"], "urls": {"include": ["**"]}})


def test_types_and_conditions_narrow_and_rules_are_a_union_citing_the_first() -> None:
    assert set(
        chosen({"folders": ["driving"], "types": ["video"], "where": {"clip.duration_s": {"gt": 10}}})
    ) == {"3"}
    assert set(chosen({"folders": ["driving"], "types": ["image_sequence"]})) == {"5"}
    both = chosen(
        {"folders": ["driving"], "where": {"scene.weather": "rain"}},
        {"folders": ["driving", "other"], "where": {"camera": "front"}},
    )
    assert both == {"1": "select[0]", "2": "select[1]", "5": "select[1]", "6": "select[1]"}


def test_rule_problems_are_all_reported_with_the_rule_and_field() -> None:
    rule, problems = parse_rule(
        "datasets.x.select[0]",
        {"paths": {"include": ["a[z-a]"]}, "types": ["photo"], "where": {"colour": "red"}, "size": 1},
        SCHEMA,
    )
    assert rule is None
    assert problems[0] == "datasets.x.select[0].folders: a rule takes items from at least one folder"
    assert problems[1].startswith("datasets.x.select[0].paths.include: 'a[z-a]': ")
    assert problems[2].startswith("datasets.x.select[0].types: 'photo' is not a data type")
    assert problems[3] == "datasets.x.select[0].where.colour: not a key of the metadata schema"
    assert problems[4] == "datasets.x.select[0].size: not a rule field (folders, paths, urls, types, where)"


# -- membership and split placement ----------------------------------------------------------------------


def test_a_grouped_split_places_by_the_group_and_names_items_without_it() -> None:
    from reconciler.selection.membership import split_items

    split = Split("s", (("train", 50), ("test", 50)))
    items = [
        Candidate(f"{d}-{f}", "drives", f"{f}.jpg", f"gs://b/{d}/{f}.jpg", "image", {"drive": d})
        for d in ("d1", "d2", "d3", "d4")
        for f in range(10)
    ]
    items.append(Candidate("lost", "drives", "x.jpg", "gs://b/x.jpg", "image", {}))
    parts, unplaced = split_items(split, items, group_by="drive")
    assert unplaced == ["lost"]
    for d in ("d1", "d2", "d3", "d4"):
        assert len({parts[f"{d}-{f}"] for f in range(10)}) == 1
    ungrouped, _ = split_items(split, items)
    assert ungrouped["d1-0"] == split.assign(["gs://b/d1/0.jpg"])["gs://b/d1/0.jpg"]  # by object URL
