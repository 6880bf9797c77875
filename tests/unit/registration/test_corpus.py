"""Whole files as users write them: read, then validate the folder, every problem at its place."""

from __future__ import annotations

from pathlib import Path

from reconciler.config.models import IntegrationSpec
from reconciler.registration.csv_source import parse_csv_file
from reconciler.registration.entry import SourceEntries
from reconciler.registration.json_source import parse_json_file
from reconciler.registration.validate import validate_folder

JSON_FILE = """\
{
  "skip_duplicate_urls": true,
  "images": [
    {"objectUrl": "gs://cats/a.jpg", "clientMetadata": {"split": "train"}},
    {"objectUrl": ["gs://cats/b.jpg"]},
    {"objectUrl": "gs://cats/c.mp4", "title": "c"},
    {"objectUrl": "gs://dogs/d.jpg", "clientMetadata": {"splt": "val"}}
  ],
  "image_groups": [
    {"title": "burst", "createVideo": true, "objectUrl_0": "gs://cats/f0.jpg", "objectUrl_1": "gs://cats/f1.jpg"}
  ],
  "video": []
}
"""

CSV_FILE = """\
Video,Image Sequence,ObjectUrl_0,ObjectUrl_1,ClientMetadata
gs://cats/v.mp4,,,,
,clip,gs://cats/f1.jpg,gs://cats/f2.jpg,
gs://cats/a.jpg,,,,

gs://cats/w.mp4,,,,"{""split"": ""test""}"
gs://cats/x.mp4,,,,{oops}
"""

SCHEMA = {"split": {"type": "enum", "values": ["train", "val"]}}


def test_a_folder_of_a_json_and_a_csv_file(tmp_path: Path) -> None:
    (tmp_path / "cats.json").write_text(JSON_FILE, encoding="utf-8")
    (tmp_path / "more.csv").write_text(CSV_FILE, encoding="utf-8")
    json_entries, json_problems = parse_json_file(tmp_path / "cats.json", "cats.json")
    csv_entries, csv_problems = parse_csv_file(tmp_path / "more.csv", "more.csv")
    assert json_problems == [
        "cats.json:/images/1/objectUrl: must be a non-empty string, got an array",
        "cats.json:/video: unknown key 'video'; did you mean 'videos'?",
    ]
    assert csv_problems == [
        "more.csv:7: ClientMetadata is not valid JSON: Expecting property name enclosed in double quotes at character 2"
    ]
    gcs = IntegrationSpec(title="cats", provider="gcp", bucket="cats")
    sources = [
        (SourceEntries("cats.json", "cats", json_entries, json_problems), gcs),
        (SourceEntries("more.csv", "cats", csv_entries, csv_problems), gcs),
    ]
    assert validate_folder("Pets/Cats", sources, SCHEMA) == [
        "cats.json:/images/2: Expected an image, got a file of type video/mp4",
        "cats.json:/images/3: the URL is in bucket 'dogs', but integration 'cats' reads 'cats'",
        "cats.json:/images/3: clientMetadata key 'splt' is not in the metadata schema; did you mean 'split'?",
        "more.csv:3: frame 0 (gs://cats/f1.jpg) is declared twice in folder 'Pets/Cats', "
        "first at cats.json:/image_groups/0 (frame 1)",
        "more.csv:4: Expected a video, got a file of type image/jpeg",
        "more.csv:4: gs://cats/a.jpg is declared twice in folder 'Pets/Cats', first at cats.json:/images/0",
        "more.csv:6: clientMetadata key 'split' must be one of 'train', 'val', got 'test'",
    ]


def test_a_malformed_json_file_is_exactly_one_problem(tmp_path: Path) -> None:
    (tmp_path / "cats.json").write_text(
        JSON_FILE.replace('"title": "c"},', '"title": "c"}'), encoding="utf-8"
    )
    assert parse_json_file(tmp_path / "cats.json", "cats.json") == (
        [],
        ["cats.json:7:5: not valid JSON: Expecting ',' delimiter"],
    )
