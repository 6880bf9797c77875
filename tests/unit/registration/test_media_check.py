"""Media metadata in Encord's terms (the SDK's models), each problem at its file and entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.registration.entry import Entry, SourceEntries
from reconciler.registration.json_source import parse_json_file
from reconciler.registration.media_check import media_problems
from reconciler.registration.validate import validate_folder

IMAGE = {"mimeType": "image/jpeg", "fileSize": 1024, "height": 480, "width": 640}
VIDEO = {"fps": 25, "duration": 1.5, "width": 640, "height": 480, "file_size": 10, "mime_type": "video/mp4"}
AUDIO = {
    "duration": 1.0,
    "fileSize": 1,
    "mimeType": "audio/mpeg",
    "sampleRate": 44100,
    "bitDepth": 16,
    "codec": "mp3",
    "numChannels": 2,
}


@pytest.mark.parametrize(
    ("data_type", "media"),
    [
        ("image", IMAGE),
        ("video", VIDEO),
        ("audio", AUDIO),
        ("text", {"file_size": 3, "mime_type": "text/plain"}),
        ("pdf", {"fileSize": 3, "numPages": 1}),
        ("video", {**VIDEO, "duration": 0, "file_size": 0}),
    ],
)
def test_what_the_sdk_accepts_passes(data_type: str, media: dict[str, Any]) -> None:
    assert media_problems(data_type, media) == []


@pytest.mark.parametrize(
    ("data_type", "media", "expected"),
    [
        (
            "video",
            {**VIDEO, "fps": "fast"},
            ["videoMetadata.fps: must be a number, got 'fast'"],
        ),
        (
            "image",
            {"width": 1},
            [
                "imageMetadata: missing mimeType, fileSize, height (Encord needs all of mimeType, fileSize, height, width)"
            ],
        ),
        (
            "image",
            {**IMAGE, "widht": 1},
            ["imageMetadata: unknown key 'widht'; did you mean 'width'?"],
        ),
        (
            "image",
            {**IMAGE, "height": 2.5, "width": True},
            [
                "imageMetadata.height: must be a whole number, got 2.5",
                "imageMetadata.width: must be a whole number, got a boolean",
            ],
        ),
        ("image", {**IMAGE, "file_size": 3}, ["imageMetadata: fileSize is given twice (two spellings)"]),
        (
            "audio",
            {**AUDIO, "duration": -1, "sampleRate": 0},
            [
                "audioMetadata.duration: must not be negative, got -1",
                "audioMetadata.sampleRate: must be greater than 0, got 0",
            ],
        ),
        ("pdf", {"fileSize": "3", "numPages": 1}, ["pdfMetadata.fileSize: must be a whole number, got '3'"]),
        ("text", {"fileSize": 3, "mimeType": None}, ["textMetadata.mimeType: must be a string, got null"]),
    ],
)
def test_what_is_wrong_is_named(data_type: str, media: dict[str, Any], expected: list[str]) -> None:
    assert media_problems(data_type, media) == expected


def test_a_bad_media_object_in_a_json_file_is_refused_at_its_entry(tmp_path: Path) -> None:
    path = tmp_path / "cams.json"
    path.write_text(
        json.dumps(
            {
                "videos": [
                    {"objectUrl": "gs://b/ok.mp4", "videoMetadata": VIDEO},
                    {"objectUrl": "gs://b/bad.mp4", "videoMetadata": {**VIDEO, "fps": "fast"}},
                ]
            }
        )
    )
    entries, problems = parse_json_file(path, "cams.json")
    assert problems == []
    found = validate_folder("raw", [(SourceEntries("cams.json", "gcs", entries, []), None)], None)
    assert found == ["cams.json:/videos/1: videoMetadata.fps: must be a number, got 'fast'"]


def test_entries_without_media_metadata_are_not_checked() -> None:
    entries = [Entry("image", ("gs://b/a.jpg",), "a")]
    assert validate_folder("raw", [(SourceEntries("s", "gcs", entries, []), None)], None) == []
