"""CSV registration files: the header grammar, entries, and every problem at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.registration import csv_source
from reconciler.registration.csv_source import parse_csv_file
from reconciler.registration.entry import Entry


def parse(tmp_path: Path, text: str | bytes) -> tuple[list[Entry], list[str]]:
    path = tmp_path / "file.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return parse_csv_file(path, "file")


def test_a_single_object_url_column_means_videos(tmp_path: Path) -> None:
    entries, problems = parse(tmp_path, "ObjectUrl\ngs://b/a.mp4\r\ngs://b/b.jpg\n")
    assert problems == []
    assert entries == [
        Entry("video", ("gs://b/a.mp4",), "file:2"),
        Entry("video", ("gs://b/b.jpg",), "file:3"),
    ]


def test_object_url_with_data_type_title_and_metadata(tmp_path: Path) -> None:
    text = (
        "ObjectUrl,DataType,Title,ClientMetadata,MediaMetadata\n"
        'gs://b/a.jpg,image,A,"{""split"": ""train""}","{""width"": 3}"\n'
        "gs://b/a.mp3, Audio ,,,\n"
        "gs://b/n.nii,nifti,,,\n"
    )
    entries, problems = parse(tmp_path, text)
    assert problems == []
    assert entries == [
        Entry("image", ("gs://b/a.jpg",), "file:2", "A", {"split": "train"}, {"width": 3}),
        Entry("audio", ("gs://b/a.mp3",), "file:3"),
        Entry("nifti", ("gs://b/n.nii",), "file:4"),
    ]


def test_type_columns_and_groups(tmp_path: Path) -> None:
    text = (
        "image,VIDEO,Image Group,image_sequence,DICOM-Series,ObjectUrl_1,ObjectUrl_0,ObjectUrl_10,Title\n"
        "gs://b/a.jpg,,,,,,,,A\n"
        ",gs://b/v.mp4,,,,,,,\n"
        ",,G,,,gs://b/1.png,gs://b/0.png,gs://b/10.png,\n"
        ",,,S,,gs://b/s1.png,,gs://b/s10.png,\n"
        ",,,,D,,gs://b/d0,,\n"
    )
    entries, problems = parse(tmp_path, text)
    assert problems == []
    assert entries == [
        Entry("image", ("gs://b/a.jpg",), "file:2", "A"),
        Entry("video", ("gs://b/v.mp4",), "file:3"),
        Entry("image_group", ("gs://b/0.png", "gs://b/1.png", "gs://b/10.png"), "file:4", "G"),
        Entry("image_sequence", ("gs://b/s1.png", "gs://b/s10.png"), "file:5", "S"),
        Entry("dicom_series", ("gs://b/d0",), "file:6", "D"),
    ]


def test_blank_rows_are_skipped_and_lines_are_physical(tmp_path: Path) -> None:
    text = '\ufeffImage,Title\n\n , \ngs://b/a.jpg,"two\nlines"\ngs://b/b.jpg,\n'
    entries, problems = parse(tmp_path, text)
    assert problems == []
    assert entries == [
        Entry("image", ("gs://b/a.jpg",), "file:4", "two\nlines"),
        Entry("image", ("gs://b/b.jpg",), "file:6"),
    ]


def test_values_are_taken_as_written(tmp_path: Path) -> None:
    entries, _ = parse(tmp_path, "Image,Title\n gs://b/a.jpg , T \n")
    assert entries == [Entry("image", (" gs://b/a.jpg ",), "file:2", " T ")]


@pytest.mark.parametrize(
    ("header", "problems"),
    [
        ("Imgae", ["unknown column 'Imgae'; did you mean 'Image'?"]),
        ("ObjectUrl,Type", ["unknown column 'Type'; did you mean 'DataType'?"]),
        ("ObjectUrl,Title,title", ["column 'Title' appears twice"]),
        ("ObjectUrl,,Title", ["column 2 has no name"]),
        ("ObjectUrl;Title", ["unknown column 'ObjectUrl;Title'; columns are separated by commas"]),
        ("gs://b/a.mp4", ["unknown column 'gs://b/a.mp4'; the first row is the header, e.g. ObjectUrl"]),
        (
            "Image Group,ObjectUrl_1,ObjectUrl_01",
            ["columns 'ObjectUrl_1' and 'ObjectUrl_01' are the same frame"],
        ),
        ("ObjectUrl,Image", ["use either ObjectUrl (with DataType) or type columns (Image), not both"]),
        (
            "Title",
            [
                "no ObjectUrl column and no type column (Image, Video, Audio, Text, PDF, NIfTI, Image Group, Image Sequence or DICOM Series)"
            ],
        ),
        ("Image,DataType", ["DataType goes with an ObjectUrl column"]),
        (
            "Image,ObjectUrl_0",
            [
                "ObjectUrl_N columns are a group's frames: add an Image Group, Image Sequence or DICOM Series column"
            ],
        ),
        (
            "Image Group,DICOM Series",
            ["Image Group, DICOM Series rows need frame columns ObjectUrl_0, ObjectUrl_1, ..."],
        ),
    ],
)
def test_a_bad_header_is_reported_and_no_rows_are_read(
    tmp_path: Path, header: str, problems: list[str]
) -> None:
    assert parse(tmp_path, f"{header}\ngs://b/a.mp4\n") == (
        [],
        [f"file:1: {problem}" for problem in problems],
    )


@pytest.mark.parametrize(
    ("header", "row", "problems", "kept"),
    [
        (
            "ObjectUrl,DataType",
            "gs://b/a.jpg,imgae",
            ["DataType 'imgae' is not one of image, video, audio, text, pdf, nifti; did you mean 'image'?"],
            False,
        ),
        (
            "ObjectUrl,DataType",
            "gs://b/a.jpg,image_group",
            [
                "DataType 'image_group' is not one of image, video, audio, text, pdf, nifti; groups take Image Group, Image Sequence or DICOM Series columns"
            ],
            False,
        ),
        (
            "ObjectUrl,DataType",
            "gs://b/a.jpg, ",
            ["DataType is empty; one of image, video, audio, text, pdf, nifti"],
            False,
        ),
        ("ObjectUrl,Title", ",T", ["ObjectUrl is empty"], False),
        ("Image,Video,Title", ",,T", ["no file: a row fills one of Image, Video"], False),
        ("Image,Video", "gs://b/a.jpg,gs://b/a.mp4", ["fills Image and Video: one entry per row"], False),
        (
            "Image,Image Group,ObjectUrl_0",
            "gs://b/a.jpg,,gs://b/0.png",
            ["ObjectUrl_N cells are for group rows, not Image"],
            True,
        ),
        (
            "Image Group,ObjectUrl_0,Title",
            "G,gs://b/0.png,T",
            ["a group's title is its Image Group cell; leave Title empty"],
            True,
        ),
        (
            "Image Group,ObjectUrl_0",
            "G,",
            ["Image Group 'G' has no frames (ObjectUrl_0, ObjectUrl_1, ...)"],
            False,
        ),
        (
            "Image,ClientMetadata",
            "gs://b/a.jpg,[1]",
            ['ClientMetadata must be a JSON object, e.g. {"split": "train"}'],
            True,
        ),
        (
            "Image,ClientMetadata",
            "gs://b/a.jpg,{x}",
            [
                "ClientMetadata is not valid JSON: Expecting property name enclosed in double quotes at character 2"
            ],
            True,
        ),
        (
            "Image,MediaMetadata",
            "gs://b/a.jpg,{",
            [
                "MediaMetadata is not valid JSON: Expecting property name enclosed in double quotes at character 2"
            ],
            True,
        ),
        (
            "NIfTI,MediaMetadata",
            "gs://b/a.nii,{}",
            ["MediaMetadata is for image, video, audio, text, pdf files, not nifti"],
            True,
        ),
        (
            "Image Group,ObjectUrl_0,MediaMetadata",
            "G,gs://b/0.png,{}",
            ["MediaMetadata is for image, video, audio, text, pdf files, not image_group"],
            True,
        ),
    ],
)
def test_each_row_problem_names_its_line(
    tmp_path: Path, header: str, row: str, problems: list[str], kept: bool
) -> None:
    entries, found = parse(tmp_path, f"{header}\n\n{row}\n")
    assert found == [f"file:3: {problem}" for problem in problems]
    assert len(entries) == (1 if kept else 0)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"", "file:1: the file is empty; expected a header row such as ObjectUrl"),
        (b"\n\n", "file:1: the file is empty; expected a header row such as ObjectUrl"),
        (b"ObjectUrl,Title\ngs://b/a.mp4,A\ngs://b/b.mp4\n", "file:3: 1 cell, but the header has 2 columns"),
        (b"ObjectUrl,Title\ngs://b/a.mp4,A,B\n", "file:2: 3 cells, but the header has 2 columns"),
        (b'ObjectUrl,Title\ngs://b/a.mp4,"A"B\n', "file:2: not valid CSV: ',' expected after '\"'"),
        (
            b'ObjectUrl,Title\ngs://b/a.mp4,A\ngs://b/b.mp4,"B\n\n',
            "file:3: not valid CSV: unexpected end of data",
        ),
        (b"ObjectUrl\ngs://b/a.mp4\ngs://b/\x00.mp4\n", "file:3: a NUL byte: this is not a text CSV file"),
        (b"ObjectUrl\ngs://b/a.mp4\ngs://b/\xff.mp4\n", "file:3: not UTF-8 text (byte 0xff)"),
    ],
)
def test_a_malformed_file_is_one_problem_with_its_line(tmp_path: Path, text: bytes, problem: str) -> None:
    assert parse(tmp_path, text) == ([], [problem])


def test_a_missing_file_is_one_problem_naming_it(tmp_path: Path) -> None:
    assert parse_csv_file(tmp_path / "nope.csv", "nope.csv") == (
        [],
        ["nope.csv: cannot read the file: No such file or directory"],
    )


def test_entry_limit_is_one_problem_at_the_first_row_over_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_source, "MAX_CSV_ENTRIES", 2)
    entries, problems = parse(tmp_path, "ObjectUrl\n" + "".join(f"gs://b/{i}.mp4\n" for i in range(4)))
    assert len(entries) == 4
    assert problems == ["file:4: more than 2 entries in one CSV file"]
