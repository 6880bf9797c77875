"""Encord JSON registration files: entries, and every problem at its JSON pointer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.registration import json_source
from reconciler.registration.entry import Entry
from reconciler.registration.json_source import parse_json_file


def parse(tmp_path: Path, document: Any) -> tuple[list[Entry], list[str]]:
    path = tmp_path / "file.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return parse_json_file(path, "file")


def test_every_documented_list_becomes_entries_in_order(tmp_path: Path) -> None:
    entries, problems = parse(
        tmp_path,
        {
            "skip_duplicate_urls": True,
            "videos": [{"objectUrl": "gs://b/v.mp4", "title": "V", "videoMetadata": {"fps": 25.0}}],
            "images": [
                {"objectUrl": "gs://b/a.jpg"},
                {
                    "objectUrl": "gs://b/b.jpg",
                    "clientMetadata": {"split": "train"},
                    "image_metadata": {"w": 1},
                },
            ],
            "audio": [{"objectUrl": "gs://b/a.mp3", "audioMetadata": {"duration": 1.5}}],
            "text": [{"objectUrl": "gs://b/t.txt", "textMetadata": {}}],
            "pdf": [{"objectUrl": "gs://b/d.pdf", "pdf_metadata": {"numPages": 2}}],
            "nifti": [{"objectUrl": "gs://b/n.nii.gz", "title": ""}],
            "image_groups": [
                {"title": "G", "objectUrl_1": "gs://b/g1.png", "objectUrl_0": "gs://b/g0.png"},
                {
                    "title": "S",
                    "createVideo": True,
                    "objectUrl_10": "gs://b/s10.png",
                    "objectUrl_2": "gs://b/s2.png",
                },
                {"title": "F", "createVideo": False, "objectUrl_0": "gs://b/f0.png"},
            ],
            "dicom_series": [
                {"title": "D", "clientMetadata": {}, "objectUrl_0": "gs://b/d0", "objectUrl_1": "gs://b/d1"}
            ],
        },
    )
    assert problems == []
    assert entries == [
        Entry("video", ("gs://b/v.mp4",), "file:/videos/0", "V", None, {"fps": 25.0}),
        Entry("image", ("gs://b/a.jpg",), "file:/images/0"),
        Entry("image", ("gs://b/b.jpg",), "file:/images/1", None, {"split": "train"}, {"w": 1}),
        Entry("audio", ("gs://b/a.mp3",), "file:/audio/0", media={"duration": 1.5}),
        Entry("text", ("gs://b/t.txt",), "file:/text/0", media={}),
        Entry("pdf", ("gs://b/d.pdf",), "file:/pdf/0", media={"numPages": 2}),
        Entry("nifti", ("gs://b/n.nii.gz",), "file:/nifti/0", title=""),
        Entry("image_group", ("gs://b/g0.png", "gs://b/g1.png"), "file:/image_groups/0", "G"),
        Entry("image_sequence", ("gs://b/s2.png", "gs://b/s10.png"), "file:/image_groups/1", "S"),
        Entry("image_group", ("gs://b/f0.png",), "file:/image_groups/2", "F"),
        Entry("dicom_series", ("gs://b/d0", "gs://b/d1"), "file:/dicom_series/0", "D", {}),
    ]


def test_null_title_and_metadata_count_as_not_given(tmp_path: Path) -> None:
    entries, problems = parse(
        tmp_path, {"images": [{"objectUrl": "gs://b/a.jpg", "title": None, "clientMetadata": None}]}
    )
    assert (entries, problems) == ([Entry("image", ("gs://b/a.jpg",), "file:/images/0")], [])


def test_an_empty_object_declares_nothing(tmp_path: Path) -> None:
    assert parse(tmp_path, "{}") == ([], [])


@pytest.mark.parametrize(
    ("document", "problems"),
    [
        ({"image": []}, ["file:/image: unknown key 'image'; did you mean 'images'?"]),
        ({"imageGroups": []}, ["file:/imageGroups: unknown key 'imageGroups'; did you mean 'image_groups'?"]),
        ({"skipDuplicateUrls": "yes"}, ["file:/skipDuplicateUrls: must be true or false, got a string"]),
        (
            {"time_series": [{"objectUrl": "gs://b/t.csv"}]},
            [
                "file:/time_series: time series are not supported by reconciler yet; register them with the SDK, "
                "in a folder this configuration does not declare `data` for"
            ],
        ),
        (
            {
                "videos": [
                    {
                        "objectUrl": "gs://b/v.mp4",
                        "config": {"sampling_rate": -1, "keyframe_mode": "x", "k": 1},
                    }
                ]
            },
            [
                "file:/videos/0/config/sampling_rate: must be a number, 0 or more, got -1",
                "file:/videos/0/config/keyframe_mode: must be one of frame, seconds",
                "file:/videos/0/config/k: unknown key 'k'",
            ],
        ),
        ({"zzz": 1}, ["file:/zzz: unknown key 'zzz'"]),
        ({"a/b~c": 1}, ["file:/a~1b~0c: unknown key 'a/b~c'"]),
        ({"skip_duplicate_urls": "yes"}, ["file:/skip_duplicate_urls: must be true or false, got a string"]),
        (
            {"images": {"objectUrl": "gs://b/a.jpg"}},
            ["file:/images: must be an array of objects, got an object"],
        ),
        ({"images": ["gs://b/a.jpg"]}, ["file:/images/0: must be an object, got a string"]),
        ({"images": [{"title": "x"}]}, ["file:/images/0: missing objectUrl"]),
        (
            {"images": [{"objectUrl": 3}]},
            ["file:/images/0/objectUrl: must be a non-empty string, got a number"],
        ),
        (
            {"images": [{"objectUrl": ""}]},
            ["file:/images/0/objectUrl: must be a non-empty string, got an empty string"],
        ),
        (
            {"images": [{"objectUrl": "gs://b/a.jpg"}, {"objectUrl": "gs://b/b.jpg", "object_url": "x"}]},
            ["file:/images/1/object_url: unknown key 'object_url'; did you mean 'objectUrl'?"],
        ),
        (
            {"images": [{"objectUrl": "gs://b/a.jpg", "client_metadata": {}}]},
            ["file:/images/0/client_metadata: unknown key 'client_metadata'; did you mean 'clientMetadata'?"],
        ),
        (
            {"images": [{"objectUrl": "gs://b/a.jpg", "videoMetadata": {}}]},
            ["file:/images/0/videoMetadata: unknown key 'videoMetadata'; image entries take imageMetadata"],
        ),
        (
            {"nifti": [{"objectUrl": "gs://b/a.nii", "niftiMetadata": {}}]},
            [
                "file:/nifti/0/niftiMetadata: unknown key 'niftiMetadata'; nifti entries take no media metadata"
            ],
        ),
        (
            {"images": [{"objectUrl": "gs://b/a.jpg", "title": 7}]},
            ["file:/images/0/title: must be a string, got a number"],
        ),
        (
            {"images": [{"objectUrl": "gs://b/a.jpg", "clientMetadata": []}]},
            ["file:/images/0/clientMetadata: must be an object, got an array"],
        ),
        (
            {"images": [{"objectUrl": "gs://b/a.jpg", "imageMetadata": 1}]},
            ["file:/images/0/imageMetadata: must be an object, got a number"],
        ),
        (
            {"images": [{"objectUrl": "gs://b/a.jpg", "imageMetadata": {}, "image_metadata": {}}]},
            ["file:/images/0/image_metadata: imageMetadata is given twice (two spellings)"],
        ),
        (
            {"image_groups": [{"title": "G"}]},
            ["file:/image_groups/0: image group without frames (objectUrl_0, objectUrl_1, ...)"],
        ),
        (
            {"image_groups": [{"title": "S", "createVideo": True}]},
            ["file:/image_groups/0: image sequence without frames (objectUrl_0, objectUrl_1, ...)"],
        ),
        (
            {"dicom_series": [{"title": "D"}]},
            ["file:/dicom_series/0: DICOM series without frames (objectUrl_0, objectUrl_1, ...)"],
        ),
        (
            {"image_groups": [{"title": "G", "objectUrl_0": "gs://b/0.png", "createVideo": "yes"}]},
            ["file:/image_groups/0/createVideo: must be true or false, got a string"],
        ),
        (
            {"dicom_series": [{"title": "D", "objectUrl_0": "gs://b/0", "createVideo": True}]},
            ["file:/dicom_series/0/createVideo: unknown key 'createVideo'"],
        ),
        (
            {"image_groups": [{"title": "G", "objectUrl": "gs://b/0.png"}]},
            [
                "file:/image_groups/0/objectUrl: unknown key 'objectUrl'; frames are objectUrl_0, objectUrl_1, ...",
                "file:/image_groups/0: image group without frames (objectUrl_0, objectUrl_1, ...)",
            ],
        ),
        (
            {
                "image_groups": [
                    {"title": "G", "objectUrl_one": "gs://b/0.png", "objectUrl_0": "gs://b/1.png"}
                ]
            },
            [
                "file:/image_groups/0/objectUrl_one: unknown key 'objectUrl_one'; frames are objectUrl_0, objectUrl_1, ..."
            ],
        ),
        (
            {"image_groups": [{"title": "G", "objectUrl_1": "gs://b/0.png", "objectUrl_01": "gs://b/1.png"}]},
            ["file:/image_groups/0/objectUrl_01: objectUrl_1 and objectUrl_01 both give frame 1"],
        ),
        (
            {"image_groups": [{"title": "G", "objectUrl_0": None}]},
            ["file:/image_groups/0/objectUrl_0: must be a non-empty string, got null"],
        ),
    ],
)
def test_each_problem_names_its_json_pointer(
    tmp_path: Path, document: dict[str, Any], problems: list[str]
) -> None:
    assert parse(tmp_path, document)[1] == problems


def test_an_entry_with_a_bad_optional_field_is_kept_without_it(tmp_path: Path) -> None:
    entries, problems = parse(
        tmp_path, {"images": [{"objectUrl": "gs://b/a.jpg", "title": 1, "clientMetadata": 2, "x": 3}]}
    )
    assert entries == [Entry("image", ("gs://b/a.jpg",), "file:/images/0")]
    assert len(problems) == 3


def test_gaps_in_frame_numbers_only_order_the_frames(tmp_path: Path) -> None:
    entries, problems = parse(
        tmp_path,
        {"image_groups": [{"title": "G", "objectUrl_7": "gs://b/7.png", "objectUrl_3": "gs://b/3.png"}]},
    )
    assert problems == []
    assert entries[0].urls == ("gs://b/3.png", "gs://b/7.png")


def test_a_key_given_twice_is_a_problem(tmp_path: Path) -> None:
    text = '{"images": [{"objectUrl": "gs://b/a.jpg", "objectUrl": "gs://b/b.jpg"}],\n "images": []}'
    entries, problems = parse(tmp_path, text)
    assert problems == [
        "file:/images: key 'images' is given more than once",
    ]
    text = '{"images": [{"objectUrl": "gs://b/a.jpg", "objectUrl": "gs://b/b.jpg"}]}'
    entries, problems = parse(tmp_path, text)
    assert problems == ["file:/images/0/objectUrl: key 'objectUrl' is given more than once"]
    assert entries == [Entry("image", ("gs://b/b.jpg",), "file:/images/0")]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "file:1:1: the file is empty; expected a JSON object"),
        ("  \n\n", "file:1:1: the file is empty; expected a JSON object"),
        (
            '{"images": [\n  {"objectUrl": "gs://b/a.jpg"}\n  {"objectUrl": "gs://b/b.jpg"}]}',
            "file:3:3: not valid JSON: Expecting ',' delimiter",
        ),
        (
            '{"images": [\n  {"objectUrl": "gs://b/a.jpg",}]}',
            "file:2:32: not valid JSON: Expecting property name enclosed in double quotes",
        ),
        (
            '\n  [{"objectUrl": "gs://b/a.jpg"}]',
            "file:2:3: expected a JSON object with keys such as `images` and `videos`, got an array",
        ),
        (
            '"images"',
            "file:1:1: expected a JSON object with keys such as `images` and `videos`, got a string",
        ),
        ("[" * 100_000 + "]" * 100_000, "file:1:1: JSON nested too deeply"),
    ],
)
def test_a_malformed_file_is_one_problem_with_line_and_column(
    tmp_path: Path, text: str, problem: str
) -> None:
    assert parse(tmp_path, text) == ([], [problem])


def test_a_file_that_is_not_utf8_is_one_problem_at_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "file.json"
    path.write_bytes(b'{"images": [\n  {"objectUrl": "gs://b/\xe9t\xe9.jpg"}]}')
    assert parse_json_file(path, "file") == ([], ["file:2:25: not UTF-8 text (byte 0xe9)"])


def test_a_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "file.json"
    path.write_bytes(b'\xef\xbb\xbf{"images": [{"objectUrl": "gs://b/a.jpg"}]}')
    assert parse_json_file(path, "file") == ([Entry("image", ("gs://b/a.jpg",), "file:/images/0")], [])


def test_a_missing_file_is_one_problem_naming_it(tmp_path: Path) -> None:
    assert parse_json_file(tmp_path / "nope.json", "nope.json") == (
        [],
        ["nope.json: cannot read the file: No such file or directory"],
    )


def test_item_limit_is_one_problem_at_the_first_item_over_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json_source, "MAX_ITEMS_PER_FILE", 3)
    document = {
        "images": [{"objectUrl": f"gs://b/{i}.jpg"} for i in range(2)],
        "videos": [{"objectUrl": f"gs://b/{i}.mp4"} for i in range(3)],
    }
    entries, problems = parse(tmp_path, document)
    assert len(entries) == 5
    assert problems == ["file:/videos/1: more than 3 items in one file (Encord's limit)"]


def test_url_limit_counts_frames_and_is_one_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_source, "MAX_URLS_PER_FILE", 4)
    document = {
        "images": [{"objectUrl": "gs://b/a.jpg"}],
        "image_groups": [
            {"title": "G", "objectUrl_0": "gs://b/0.png", "objectUrl_1": "gs://b/1.png"},
            {"title": "H", "objectUrl_0": "gs://b/2.png", "objectUrl_1": "gs://b/3.png"},
            {"title": "I", "objectUrl_0": "gs://b/4.png"},
        ],
    }
    assert parse(tmp_path, document)[1] == [
        "file:/image_groups/1: more than 4 URLs in one file (Encord's limit)"
    ]
    monkeypatch.setattr(json_source, "MAX_URLS_PER_FILE", 6)
    assert parse(tmp_path, document)[1] == []


def test_the_sdks_flags_in_either_spelling_and_a_videos_key_frames_are_accepted(tmp_path: Path) -> None:
    video = {"objectUrl": "gs://b/v.mp4", "config": {"sampling_rate": 0, "keyframe_mode": "frame"}}
    document = {
        "videos": [video],
        "skipDuplicateUrls": True,
        "upsert_metadata": False,
        "upsertMetadata": True,
    }
    entries, problems = parse(tmp_path, document)
    assert problems == []
    assert entries == [
        Entry(
            "video",
            ("gs://b/v.mp4",),
            "file:/videos/0",
            config={"sampling_rate": 0, "keyframe_mode": "frame"},
        )
    ]
