"""Issue 17 groundwork: metadata conditions typed by the schema, and stable splits (reconciler/selection)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.selection.conditions import parse_conditions
from reconciler.selection.split import Split, moves, split_problems

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
    assert len(problems) == 1 and problems[0].startswith("camera: in: 'side' must be one of")


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
    moved = moves(before, after, ids)
    assert set(moved) == {("train", "val")}  # the train/val boundary moved down; val/test stayed
    assert 400 < len(moved["train", "val"]) < 600
    assert moves(before, before, ids) == {}


def test_a_grouped_split_puts_a_whole_group_on_one_side() -> None:
    split = Split("s", (("train", 50), ("test", 50)))
    frames = {f"gs://b/drive-{d}/{f}.jpg": f"drive-{d}" for d in range(200) for f in range(20)}
    side_of_frame = {url: split.part_of(group) for url, group in frames.items()}  # identity: the group
    for d in range(200):
        assert len({side_of_frame[f"gs://b/drive-{d}/{f}.jpg"] for f in range(20)}) == 1


def test_split_problems() -> None:
    assert split_problems(3, {"a": 1, "b": 2}) == []
    assert split_problems(True, {"a": 0, "b": -1, "c": "x"}) == [
        "seed: must be a string or an integer (written down, so splits stay stable)",
        "datasets.a: the weight must be a positive number, got 0",
        "datasets.b: the weight must be a positive number, got -1",
        "datasets.c: the weight must be a positive number, got 'x'",
    ]
    assert split_problems("s", {"only": 1}) == ["datasets: a split needs at least two parts"]
