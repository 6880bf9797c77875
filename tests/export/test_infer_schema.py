"""A metadata schema inferred from the metadata a workspace holds (export, when the organisation has none)."""

from __future__ import annotations

from reconciler.export_schema import infer_schema


def test_each_key_gets_the_most_specific_type_its_values_allow() -> None:
    metadata = [
        {
            "reviewed": n % 2 == 0,
            "count": n if n else 0.5,
            "weather": ["rain", "clear"][n % 2],
            "note": f"free text {n}",
            "clip": [0.1, 0.2, 0.3],
            "where": {"latitude": 1.5, "longitude": -3},
            "session": "6f1c1a5e-8d0a-4f35-9a53-2f4c6f2b7d10",
            "captured": "2024-05-01T12:00:00Z",
            "empty": None,
        }
        for n in range(6)
    ]
    keys, left = infer_schema(metadata)
    assert keys == {
        "captured": "datetime",
        "clip": {"type": "embedding", "size": 3},
        "count": "number",
        "note": "varchar",
        "reviewed": "boolean",
        "session": "uuid",
        "weather": {"type": "enum", "values": ["clear", "rain"]},
        "where": "geospatial",
    }
    assert left == []


def test_few_values_seen_once_each_are_not_guessed_to_be_an_enum() -> None:
    keys, _ = infer_schema([{"camera": "front"}, {"camera": "rear"}])
    assert keys == {"camera": "varchar"}


def test_objects_need_no_schema_and_mixed_or_invalid_keys_are_named() -> None:
    metadata = [
        {"frames": {"0": {"x": 1}}, "mixed": 1, "$bad": 1, "keyframes": [1, 2], "ragged": [1]},
        {"frames": {"3": {"x": 2}}, "mixed": "one", "ragged": [1, 2]},
    ]
    keys, left = infer_schema(metadata)
    assert keys == {}
    assert left == [
        "$bad (a key must not start with '$')",
        "mixed (its values fit no schema type: objects, lists or mixed types)",
        "ragged (its values fit no schema type: objects, lists or mixed types)",
    ]
