"""Sidecar metadata files: JSON object or JSONL, every problem with file and line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.registration.sidecar import load_sidecar


def load(tmp_path: Path, name: str, content: bytes | str) -> tuple[dict[str, dict[str, object]], list[str]]:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return load_sidecar(path, name)


def test_json_object_maps_urls_to_client_metadata(tmp_path: Path) -> None:
    text = '{"gs://b/a.jpg": {"split": "train"}, "gs://b/seq/": {"n": 2}}'
    assert load(tmp_path, "m.json", text) == (
        {"gs://b/a.jpg": {"split": "train"}, "gs://b/seq/": {"n": 2}},
        [],
    )


def test_jsonl_takes_one_object_per_line_and_skips_blank_lines(tmp_path: Path) -> None:
    text = (
        '{"objectUrl": "gs://b/a.jpg", "clientMetadata": {"k": 1}}\r\n'
        "\n   \n"
        '{"objectUrl": "gs://b/b.jpg", "clientMetadata": {}}'  # no final newline
    )
    for name in ("m.jsonl", "m.NDJSON"):
        assert load(tmp_path, name, text) == ({"gs://b/a.jpg": {"k": 1}, "gs://b/b.jpg": {}}, [])


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    assert load(tmp_path, "m.json", b'\xef\xbb\xbf{"u": {}}')[0] == {"u": {}}
    line = b'\xef\xbb\xbf{"objectUrl": "u", "clientMetadata": {}}\n'
    assert load(tmp_path, "m.jsonl", line)[0] == {"u": {}}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{\n  "u": {"k": 1},\n  "v": {"k": 2\n}', "m.json:4:2: invalid JSON: Expecting ',' delimiter"),
        ("", "m.json:1:1: empty file; expected a JSON object of URL -> clientMetadata"),
        ("  \n", "m.json:1:1: empty file; expected a JSON object of URL -> clientMetadata"),
        ('["u"]', "m.json:1:1: expected a JSON object of URL -> clientMetadata, got an array"),
        ('{"u": {}}\n{"v": {}}', "m.json:2:1: invalid JSON: Extra data"),
        (b'{"u":\n {"k": "\xff"}}', "m.json:2:9: not UTF-8 text"),
        ('{"u": {"k": NaN}}', "m.json: invalid JSON: NaN is not JSON"),
        ('{"u": {"k": 1e999}}', "m.json: invalid JSON: 1e999 is too large for a JSON number"),
        ("[" * 200_000, "m.json: invalid JSON: nested too deeply"),
    ],
)
def test_a_broken_json_file_is_one_problem_at_its_position(
    tmp_path: Path, content: str | bytes, problem: str
) -> None:
    assert load(tmp_path, "m.json", content) == ({}, [problem])


def test_json_values_must_be_objects_and_urls_unique(tmp_path: Path) -> None:
    text = '{"u": {"k": 1}, "v": [1], "w": null, "u": {"k": 2}, "x": {"a": 1, "a": 2}}'
    sidecar, problems = load(tmp_path, "m.json", text)
    assert sidecar == {"u": {"k": 2}, "x": {"a": 2}}
    assert problems == [
        "m.json: u: given twice",
        "m.json: v: expected an object of client metadata, got an array",
        "m.json: w: expected an object of client metadata, got null",
    ]


def test_every_bad_jsonl_line_is_a_problem_with_its_number_and_good_lines_are_kept(tmp_path: Path) -> None:
    lines = [
        b'{"objectUrl": "gs://b/a.jpg", "clientMetadata": {"k": 1}}',
        b'{"objectUrl": "gs://b/b.jpg", "clientMetadata": {"k": 1}',
        b"[1, 2]",
        b'{"objectUrl": "gs://b/c.jpg", "clientMetadata": {}, "title": "x"}',
        b'{"clientMetadata": {}}',
        b'{"objectUrl": "gs://b/d.jpg", "clientMetadata": "k=1"}',
        b'{"objectUrl": "gs://b/a.jpg", "clientMetadata": {"k": 2}}',
        b'{"objectUrl": "gs://b/\xe9.jpg", "clientMetadata": {}}',
        b'{"objectUrl": "gs://b/e.jpg", "clientMetadata": {"x": Infinity}}',
        b'{"objectUrl": "gs://b/f.jpg", "clientMetadata": {"k": 3}}',
    ]
    sidecar, problems = load(tmp_path, "m.jsonl", b"\n".join(lines) + b"\n")
    assert sidecar == {"gs://b/a.jpg": {"k": 1}, "gs://b/f.jpg": {"k": 3}}
    shape = '{"objectUrl": "...", "clientMetadata": {...}}'
    assert problems == [
        "m.jsonl:2:57: invalid JSON: Expecting ',' delimiter",
        f"m.jsonl:3: expected an object {shape}, got an array",
        f"m.jsonl:4: unknown key title; a line is {shape}",
        "m.jsonl:5: objectUrl: expected the object's URL, got null",
        "m.jsonl:6: clientMetadata: expected an object, got a string",
        "m.jsonl:7: gs://b/a.jpg given twice: lines 1 and 7",
        "m.jsonl:8:23: not UTF-8 text",
        "m.jsonl:9: invalid JSON: Infinity is not JSON",
    ]


def test_an_empty_jsonl_file_declares_nothing(tmp_path: Path) -> None:
    assert load(tmp_path, "m.jsonl", "") == ({}, [])


def test_a_missing_file_is_a_problem(tmp_path: Path) -> None:
    assert load_sidecar(tmp_path / "nope.jsonl", "nope.jsonl") == (
        {},
        ["nope.jsonl: cannot read file: No such file or directory"],
    )
    assert load_sidecar(tmp_path, "dir.json")[1][0].startswith("dir.json: cannot read file:")


IMAGE = {"mimeType": "image/jpeg", "fileSize": 10, "height": 4, "width": 6}


def test_a_jsonl_line_may_give_media_metadata_checked_at_its_line(tmp_path: Path) -> None:
    text = (
        f'{{"objectUrl": "gs://b/a.jpg", "imageMetadata": {json.dumps(IMAGE)}}}\n'
        f'{{"objectUrl": "gs://b/b.jpg", "clientMetadata": {{"k": 1}}, "imageMetadata": {json.dumps(IMAGE)}}}\n'
        '{"objectUrl": "gs://b/c.mp4", "videoMetadata": {"fps": "fast"}}\n'
        '{"objectUrl": "gs://b/d.jpg", "imageMetadata": {}, "videoMetadata": {}}\n'
    )
    sidecar, problems = load(tmp_path, "m.jsonl", text)
    assert sidecar == {"gs://b/b.jpg": {"k": 1}}  # a line with media alone gives no clientMetadata
    assert sidecar.media == {  # type: ignore[attr-defined]
        "gs://b/a.jpg": ("imageMetadata", IMAGE, "m.jsonl:1"),
        "gs://b/b.jpg": ("imageMetadata", IMAGE, "m.jsonl:2"),
    }
    assert problems == [
        "m.jsonl:3: videoMetadata: missing duration, width, height, fileSize, mimeType (Encord needs all of "
        "fps, duration, width, height, fileSize, mimeType)",
        "m.jsonl:3: videoMetadata.fps: must be a number, got 'fast'",
        "m.jsonl:4: imageMetadata and videoMetadata: an object has one type, so one media-metadata key",
    ]
