"""A folder's entries against Encord's rules, the integration and the metadata schema."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from typing import Any

import pytest

from reconciler.config.models import IntegrationSpec
from reconciler.registration.entry import Entry, SourceEntries
from reconciler.registration.mediatypes import mime_suffix, type_mismatch
from reconciler.registration.validate import _UrlRules, split_url, validate_folder

GCS = IntegrationSpec(title="gcs", provider="gcp", bucket="bkt")


def source(*entries: Entry, display: str = "file") -> SourceEntries:
    return SourceEntries(display, "gcs", list(entries), [])


def check(
    *entries: Entry,
    integration: IntegrationSpec | None = GCS,
    schema: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[str]:
    return validate_folder("F", [(source(*entries), integration)], schema)


def image(url: str = "gs://bkt/a.jpg", **fields: Any) -> Entry:
    return Entry("image", (url,), "file:/images/0", **fields)


def test_good_entries_have_no_problems() -> None:
    assert (
        check(
            image(title="x" * 300, client_metadata={"n": 1}),
            Entry("video", ("https://storage.googleapis.com/bkt/v.mp4?x=1",), "file:/videos/0"),
            Entry("image_group", ("gs://bkt/0.png", "gs://bkt/1.png"), "file:/image_groups/0", "G"),
            Entry("dicom_series", ("gs://bkt/d/1", "gs://bkt/d/2.dcm"), "file:/dicom_series/0", "D"),
            Entry("nifti", ("gs://bkt/n.nii.gz",), "file:/nifti/0"),
            schema={"n": {"type": "number"}},
        )
        == []
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("gs://bkt/" + "é" * 8200, "the URL is 16,409 bytes; Encord's limit is 16,384"),
        ("gs://bkt/a b.jpg", "the URL contains whitespace"),
        ("gs://bkt/a\tb.jpg", "the URL contains whitespace"),
        ("gs://bkt/a.jpg\n", "the URL contains whitespace"),
        ("gs://bkt/a\u00a0b.jpg", "the URL contains whitespace"),
        ("gs://other/a.jpg", "the URL is in bucket 'other', but integration 'gcs' reads 'bkt'"),
        (
            "https://storage.googleapis.com/other/a.jpg",
            "the URL is in bucket 'other', but integration 'gcs' reads 'bkt'",
        ),
        (
            "https://storage.cloud.google.com/other/a.jpg",
            "the URL is in bucket 'other', but integration 'gcs' reads 'bkt'",
        ),
        (
            "s3://bkt/a.jpg",
            "the GCP integration 'gcs' cannot read this URL; expected gs://<bucket>/<key> or https://storage.googleapis.com/<bucket>/<key>",
        ),
        (
            "gs://bkt/",
            "the GCP integration 'gcs' cannot read this URL; expected gs://<bucket>/<key> or https://storage.googleapis.com/<bucket>/<key>",
        ),
        (
            "https://storage.googleapis.com/bkt",
            "the GCP integration 'gcs' cannot read this URL; expected gs://<bucket>/<key> or https://storage.googleapis.com/<bucket>/<key>",
        ),
        (
            "bkt/a.jpg",
            "the GCP integration 'gcs' cannot read this URL; expected gs://<bucket>/<key> or https://storage.googleapis.com/<bucket>/<key>",
        ),
        ("gs://bkt/a.mp4", "Expected an image, got a file of type video/mp4"),
        ("gs://bkt/a.tar.gz", "Expected an image, got a file of type application/x-tar"),
    ],
)
def test_url_rules(url: str, problem: str) -> None:
    assert check(image(url)) == [f"file:/images/0: {problem}"]


def test_the_bucket_is_compared_only_for_a_gcp_integration_that_names_one() -> None:
    assert check(image("gs://any/a.jpg"), integration=IntegrationSpec(title="g", provider="gcp")) == []
    assert check(image("gs://BKT/a.jpg")) == []


@pytest.mark.parametrize(
    ("provider", "good", "bad"),
    [
        (
            "gcp",
            [
                "gs://b/k.jpg",
                "https://storage.googleapis.com/b/k.jpg",
                "HTTPS://Storage.Cloud.Google.com/b/k.jpg",
            ],
            ["https://b.s3.amazonaws.com/k.jpg", "http://storage.googleapis.com/b/k.jpg"],
        ),
        (
            "aws",
            [
                "s3://b/k.jpg",
                "https://b.s3.eu-west-1.amazonaws.com/k.jpg",
                "https://s3.amazonaws.com/b/k.jpg",
            ],
            ["gs://b/k.jpg", "https://amazonaws.com.evil.io/k.jpg", "s3://b/"],
        ),
        (
            "azure",
            [
                "https://acct.blob.core.windows.net/c/k.jpg",
                "https://u@acct.blob.core.windows.net:443/c/k.jpg",
            ],
            ["https://acct.file.core.windows.net/c/k.jpg", "https://acct.blob.core.windows.net/"],
        ),
        (
            "otc",
            ["https://b.obs.eu-de.otc.t-systems.com/k.jpg"],
            ["https://b.obs.eu-de.example.com/k.jpg", "s3://b/k.jpg"],
        ),
    ],
)
def test_each_provider_reads_its_own_urls(provider: str, good: list[str], bad: list[str]) -> None:
    integration = IntegrationSpec(title="i", provider=provider)  # type: ignore[arg-type]
    assert [url for url in good if check(image(url), integration=integration)] == []
    assert [url for url in bad if not check(image(url), integration=integration)] == []


def test_an_undeclared_integration_needs_only_a_url_some_provider_reads() -> None:
    assert check(image("s3://b/a.jpg"), image("gs://other/b.jpg"), integration=None) == []
    assert check(image("https://example.com/a.jpg"), integration=None) == [
        "file:/images/0: not a cloud storage URL Encord can read: "
        "gs://<bucket>/<key> or https://storage.googleapis.com/<bucket>/<key>; "
        "s3://<bucket>/<key> or https://<bucket>.s3.<region>.amazonaws.com/<key>; "
        "https://<account>.blob.core.windows.net/<container>/<key>; "
        "https://<bucket>.obs.<region>.otc.t-systems.com/<key>"
    ]


def test_an_object_url_file_of_images_read_as_videos_fails_like_encord() -> None:
    entry = Entry("video", ("gs://bkt/photo.jpg?alt=media",), "file.csv:2")
    assert check(entry) == ["file.csv:2: Expected a video, got a file of type image/jpeg"]


def test_data_types_against_extensions() -> None:
    entries = [
        Entry("audio", ("gs://bkt/a.wav",), "a"),
        Entry("text", ("gs://bkt/t.json",), "t"),
        Entry("pdf", ("gs://bkt/d.pdf",), "p"),
        Entry("pdf", ("gs://bkt/d.txt",), "p2"),
        Entry("nifti", ("gs://bkt/n.nii",), "n"),
        Entry("nifti", ("gs://bkt/n.png",), "n2"),
        Entry("dicom_series", ("gs://bkt/x.jpg",), "d", "D"),
        Entry("image", ("gs://bkt/no-extension",), "i"),
    ]
    assert check(*entries) == [
        "p2: Expected a PDF file, got a file of type text/plain",
        "n2: Expected a NIfTI file, got a file of type image/png",
        "d: frame 0 (gs://bkt/x.jpg): Expected a DICOM file, got a file of type image/jpeg",
    ]


def test_each_frame_of_a_group_is_checked() -> None:
    group = Entry(
        "image_sequence", ("gs://bkt/0.png", "gs://bkt/1.mp4", "gs://x/2.png"), "file:/image_groups/0", "S"
    )
    assert check(group) == [
        "file:/image_groups/0: frame 1 (gs://bkt/1.mp4): Expected an image, got a file of type video/mp4",
        "file:/image_groups/0: frame 2 (gs://x/2.png): the URL is in bucket 'x', but integration 'gcs' reads 'bkt'",
    ]


def test_titles() -> None:
    assert check(image(title="x" * 301), Entry("image_group", ("gs://bkt/0.png",), "g")) == [
        "file:/images/0: the title is 301 characters; Encord's limit is 300",
        "g: an image group needs a title (Encord requires one with a cloud integration)",
    ]


def test_strict_client_only_needs_media_metadata_and_cannot_take_groups() -> None:
    strict = IntegrationSpec(title="s", provider="gcp", strict_client_only=True)
    entries = [
        image(),
        image("gs://b/b.jpg", media={"mimeType": "image/jpeg", "fileSize": 9, "height": 1, "width": 1}),
        Entry("nifti", ("gs://b/n.nii",), "n"),
        Entry("video", ("gs://b/v.mp4",), "v"),
        Entry("dicom_series", ("gs://b/0",), "d", "D"),
    ]
    prefix = "integration 's' is strict client-only (Encord never reads the files)"
    assert check(*entries, integration=strict) == [
        f"file:/images/0: {prefix}: give imageMetadata",
        f"v: {prefix}: give videoMetadata",
        f"d: {prefix}: every frame of a DICOM series needs its dicomMetadata, which a registration file cannot "
        "give per frame; register the frames as single files, or use an integration that is not strict client-only",
    ]
    assert check(image(), integration=None) == []


SCHEMA: dict[str, dict[str, Any]] = {
    "n": {"type": "number"},
    "b": {"type": "boolean"},
    "v": {"type": "varchar", "max_length": 3},
    "v8": {"type": "varchar"},
    "t": {"type": "text"},
    "d": {"type": "datetime"},
    "u": {"type": "uuid"},
    "e": {"type": "enum", "values": ["train", "val"]},
    "emb": {"type": "embedding", "size": 3},
    "geo": {"type": "geospatial"},
    "who": {"type": "user"},
    "old": {"type": "text", "deleted": True},
    "split": {"type": "text"},
}


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        (
            {"n": 1, "b": True, "v": "abc", "t": "x" * 10_000, "e": "val", "who": "a@b.c", "keyframes": [1]},
            None,
        ),
        ({"v8": "x" * 8192, "d": "2024-05-01T12:00:00Z", "u": "0b0e8d56-3c1a-4a8e-9a53-0f3f2d2b7c11"}, None),
        (
            {"d": "2024-05-01", "emb": [0, 1.5, -2], "geo": {"latitude": -90, "longitude": 180}, "n": None},
            None,
        ),
        ({"nn": 1}, "clientMetadata key 'nn' is not in the metadata schema; did you mean 'n'?"),
        ({"Split": 1}, "clientMetadata key 'Split' is not in the metadata schema; did you mean 'split'?"),
        ({"old": "x"}, "clientMetadata key 'old' was deleted from the metadata schema"),
        ({"n": True}, "clientMetadata key 'n' must be a number, got a boolean"),
        ({"n": "1"}, "clientMetadata key 'n' must be a number, got a string"),
        ({"n": float("nan")}, "clientMetadata key 'n' must be a finite number"),
        ({"b": 1}, "clientMetadata key 'b' must be true or false, got a number"),
        ({"v": "abcd"}, "clientMetadata key 'v' is 4 characters; the schema allows 3"),
        ({"v8": "x" * 8193}, "clientMetadata key 'v8' is 8,193 characters; the schema allows 8,192"),
        ({"t": 1}, "clientMetadata key 't' must be a string, got a number"),
        (
            {"d": "May 1st"},
            "clientMetadata key 'd' must be an ISO 8601 date and time, e.g. 2024-05-01T12:00:00Z, got 'May 1st'",
        ),
        (
            {"d": 1714564800},
            "clientMetadata key 'd' must be an ISO 8601 date and time, e.g. 2024-05-01T12:00:00Z, got a number",
        ),
        ({"u": "not-a-uuid"}, "clientMetadata key 'u' must be a UUID string, got 'not-a-uuid'"),
        (
            {"e": "trian"},
            "clientMetadata key 'e' must be one of 'train', 'val', got 'trian'; did you mean 'train'?",
        ),
        ({"e": 1}, "clientMetadata key 'e' must be one of 'train', 'val', got 1"),
        ({"emb": [1, 2]}, "clientMetadata key 'emb' must be a list of 3 numbers, got 2"),
        (
            {"emb": [1, True, 2]},
            "clientMetadata key 'emb' must be a list of 3 numbers, and not all are (finite) numbers",
        ),
        ({"emb": "1,2,3"}, "clientMetadata key 'emb' must be a list of 3 numbers, got a string"),
        (
            {"geo": [1, 2]},
            'clientMetadata key \'geo\' must be {"latitude": -90..90, "longitude": -180..180}, got an array',
        ),
        (
            {"geo": {"latitude": 91, "longitude": 0}},
            'clientMetadata key \'geo\' must be {"latitude": -90..90, "longitude": -180..180}, got latitude 91',
        ),
        (
            {"geo": {"latitude": 0}},
            'clientMetadata key \'geo\' must be {"latitude": -90..90, "longitude": -180..180}, got longitude None',
        ),
        ({"who": 7}, "clientMetadata key 'who' must be a string naming a user, got a number"),
    ],
)
def test_client_metadata_against_the_schema(metadata: dict[str, Any], problem: str | None) -> None:
    expected = [] if problem is None else [f"file:/images/0: {problem}"]
    assert check(image(client_metadata=metadata), schema=SCHEMA) == expected


def test_enum_values_are_listed_up_to_ten() -> None:
    schema = {"e": {"type": "enum", "values": [f"v{i}" for i in range(12)]}}
    assert check(image(client_metadata={"e": "x"}), schema=schema) == [
        "file:/images/0: clientMetadata key 'e' must be one of "
        "'v0', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8', 'v9', ..., got 'x'"
    ]


def test_no_schema_skips_metadata_checks_and_an_empty_schema_knows_no_key() -> None:
    assert check(image(client_metadata={"anything": object()}), schema=None) == []
    assert check(image(client_metadata={"k": 1}), schema={}) == [
        "file:/images/0: clientMetadata key 'k' is not in the metadata schema"
    ]


def test_a_url_declared_twice_in_a_folder_names_both_places() -> None:
    first = SourceEntries("a.json", "gcs", [Entry("image", ("gs://bkt/a.png",), "a.json:/images/0")], [])
    second = SourceEntries(
        "b.csv",
        "gcs",
        [
            Entry("image_group", ("gs://bkt/0.png", "gs://bkt/a.png", "gs://bkt/0.png"), "b.csv:2", "G"),
            Entry("image", ("gs://bkt/0.png",), "b.csv:3"),
            Entry("image", ("gs://bkt/b.png",), "b.csv:4"),
        ],
        [],
    )
    assert validate_folder("Projects/Cats", [(first, GCS), (second, None)], None) == [
        "b.csv:2: frame 1 (gs://bkt/a.png) is declared twice in folder 'Projects/Cats', first at a.json:/images/0",
        "b.csv:2: frame 2 (gs://bkt/0.png) is declared twice in folder 'Projects/Cats', first at b.csv:2 (frame 0)",
        "b.csv:3: gs://bkt/0.png is declared twice in folder 'Projects/Cats', first at b.csv:2 (frame 0)",
    ]


def test_equal_entries_from_two_sources_are_still_duplicates() -> None:
    entry = Entry("image", ("gs://bkt/a.png",), "gs://bkt/a.png")
    twin = Entry("image", ("gs://bkt/a.png",), "gs://bkt/a.png")
    assert validate_folder("F", [(source(entry), GCS), (source(twin), GCS)], None) == [
        "gs://bkt/a.png: gs://bkt/a.png is declared twice in folder 'F', first at gs://bkt/a.png"
    ]


def test_source_reading_problems_are_not_repeated() -> None:
    read = SourceEntries("a.json", "gcs", [], ["a.json:1:1: the file is empty; expected a JSON object"])
    assert validate_folder("F", [(read, GCS)], None) == []


def test_long_urls_are_shortened_in_messages() -> None:
    url = "gs://bkt/" + "a" * 300 + ".png"
    group = Entry("image_group", (url, url), "g", "G")
    [problem] = check(group)
    assert problem == f"g: frame 1 ({url[:200]}...) is declared twice in folder 'F', first at g (frame 0)"


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("gs://b/k/a.jpg", ("gs", "b", "k/a.jpg")),
        ("GS://B", ("gs", "b", "")),
        ("https://storage.googleapis.com/b/k.png?x=/y#f", ("https", "storage.googleapis.com", "b/k.png")),
        ("https://u:p@h.s3.amazonaws.com:443/k/a.tar.gz", ("https", "h.s3.amazonaws.com", "k/a.tar.gz")),
        ("s3://b?x/y", ("s3", "b", "")),
        ("s3://b#x/y", ("s3", "b", "")),
        ("no/scheme.jpg", ("", "", "no/scheme.jpg")),
    ],
)
def test_split_url(url: str, parts: tuple[str, str, str]) -> None:
    assert split_url(url) == parts


@pytest.mark.parametrize(
    "url",
    [
        "gs://bkt/a.JPG",
        "gs://bkt/dir.v1/name",
        "gs://bkt/a.tar.gz",
        "gs://bkt/a.tgz",
        "gs://bkt/x.svgz",
        "gs://bkt/.nii.gz",
        "gs://bkt/scan.NII.GZ",
        "gs://bkt/...rtf",
        "gs://bkt/..a.json",
        "gs://bkt/.hidden",
        "gs://bkt/a.x.mp4",
        "gs://bkt/k/n.jpg?q=1.mp4#f.png",
    ],
)
@pytest.mark.parametrize("data_type", ["image", "video", "text", "nifti", "pdf"])
def test_the_cached_type_check_answers_as_type_mismatch(url: str, data_type: str) -> None:
    expected = type_mismatch(data_type, url)
    entry = Entry(data_type, (url,), "e")
    assert check(entry) == ([] if expected is None else [f"e: {expected}"])


FAST_PATH_URLS = [
    "gs://bkt/a.jpg",
    "gs://BKT/a.jpg",
    "gs://other/a.jpg",
    "gs://bkt/",
    "gs:///a.jpg",
    "gs://bkt",
    "gs://bkt/a b.jpg",
    "gs://bkt/a\tb.jpg",
    "gs://bkt/a\u3000b.jpg",
    "gs://bkt/a\u00e9.jpg",
    "gs://bkt/a.jpg?x=1",
    "gs://bkt/a#b.jpg",
    "gs://user@bkt/a.jpg",
    "gs://bkt:443/a.jpg",
    "gs://bkt/" + "k" * 5000 + ".jpg",
    "gs://bkt/" + "\u00e9" * 9000 + ".jpg",
    "gs://bkt/a.mp4",
    "GS://bkt/a.jpg",
]


@pytest.mark.parametrize("url", FAST_PATH_URLS)
@pytest.mark.parametrize("integration", [GCS, IntegrationSpec(title="g", provider="gcp"), None])
def test_the_fast_path_for_gs_urls_answers_as_the_full_checks(
    url: str, integration: IntegrationSpec | None
) -> None:
    rules = _UrlRules(integration, {})
    assert rules.problems(url, "image") == rules._problems(url, "image")


def test_mime_suffix_is_the_last_two_suffixes_by_splitext() -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        key = "".join(rng.choice("ab./.") for _ in range(rng.randint(0, 10))) + rng.choice(
            ["", ".jpg", ".tar.gz", ".nii.gz", ".NII.GZ", ".", ".."]
        )
        name = key.rsplit("/", 1)[-1]
        root, ext = os.path.splitext(name)
        expected = (
            key[-7:] if key[-7:].lower() == ".nii.gz" else os.path.splitext(root)[1] + ext if ext else ""
        )
        assert mime_suffix(key) == expected, key
