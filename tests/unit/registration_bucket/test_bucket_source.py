"""A bucket listing to entries: prefix, include/exclude, types, titles, groups, sidecar, order."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.config.sources import DataSourceSpec
from reconciler.registration.bucket_source import (
    ListingResult,
    entries_from_listing,
    natural_key,
    split_bucket_url,
)
from reconciler.registration.entry import Entry
from reconciler.registration.mediatypes import DEFAULT_EXTENSION_TYPES, extension

SOURCE = "gs://bkt/raw/"


def spec(**fields: Any) -> DataSourceSpec:
    return DataSourceSpec.model_validate({"integration": "gcs", "bucket": SOURCE, **fields})


def listing(
    names: list[str], sidecar: dict[str, dict[str, Any]] | None = None, **fields: Any
) -> ListingResult:
    return entries_from_listing(spec(**fields), iter(names), sidecar, "data[0]")


def by_url(result: ListingResult) -> dict[str, Entry]:
    assert not result.problems, result.problems
    return {entry.where: entry for entry in result.entries}


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("gs://b/raw", "b", "raw/"),
        ("gs://b/raw/", "b", "raw/"),
        ("gs://b/a/b//", "b", "a/b/"),
        ("gs://b", "b", ""),
        ("gs://b/", "b", ""),
    ],
)
def test_the_prefix_is_a_directory_with_or_without_its_slash(url: str, bucket: str, prefix: str) -> None:
    assert split_bucket_url(url) == (bucket, prefix)


@pytest.mark.parametrize("bucket", ["gs://bkt/raw", "gs://bkt/raw/"])
def test_placeholders_and_names_beside_the_prefix_are_dropped(bucket: str) -> None:
    names = ["raw/", "raw/a/", "raw/a/x.jpg", "raw2/y.jpg", "rawz.jpg", "raw/b.png"]
    result = entries_from_listing(spec(bucket=bucket), names, None, "d")
    assert [e.urls for e in result.entries] == [("gs://bkt/raw/a/x.jpg",), ("gs://bkt/raw/b.png",)]
    assert result.listed == 2


def test_an_empty_prefix_is_the_whole_bucket() -> None:
    result = listing(["a.jpg", "d/", "d/b.jpg"], bucket="gs://bkt", include=["d/*"])
    assert [e.where for e in result.entries] == ["gs://bkt/d/b.jpg"]


def test_include_then_exclude_apply_to_the_path_below_the_prefix() -> None:
    names = [f"raw/{n}" for n in ("a.jpg", "x/a.jpg", "x/y/a.jpg", "x/y/b.png", "tmp/c.jpg", "x/tmp/d.jpg")]
    result = listing(names, include=["**/*.jpg", "x/y/*"], exclude=["tmp/**", "**/tmp/*"])
    assert sorted(e.where.removeprefix("gs://bkt/raw/") for e in result.entries) == [
        "a.jpg",
        "x/a.jpg",
        "x/y/a.jpg",
        "x/y/b.png",
    ]
    assert result.listed == 6


@pytest.mark.parametrize(
    ("name", "types", "data_type"),
    [
        ("a.jpg", {}, "image"),
        ("a.JPEG", {}, "image"),
        ("v.MP4", {}, "video"),
        ("s.wav", {}, "audio"),
        ("n.txt", {}, "text"),
        ("d.pdf", {}, "pdf"),
        ("brain.nii.gz", {}, "nifti"),
        ("brain.nii", {}, "nifti"),
        ("one.dcm", {}, "dicom_series"),  # a lone .dcm is a one-file series
        ("a.xyz", {}, None),
        ("README", {}, None),
        (".jpg", {}, None),  # a hidden file has no extension
        ("n.txt", {".txt": "skip"}, None),
        ("a.xyz", {".xyz": "video"}, "video"),
        ("a.XYZ", {".XYZ": "video"}, "video"),  # extensions compare lower-case
        ("a.xyz", {"xyz": "pdf"}, "pdf"),  # the dot is optional
        ("a.jpg", {".jpg": "image_group"}, "image_group"),
    ],
)
def test_data_type_by_extension_with_the_sources_types_over_the_defaults(
    name: str, types: dict[str, str], data_type: str | None
) -> None:
    result = listing([f"raw/{name}"], types=types)
    assert not result.problems
    assert [e.type for e in result.entries] == ([data_type] if data_type else [])
    assert result.skipped == ({} if data_type else {extension(name): 1})


def test_skipped_objects_are_counted_by_extension() -> None:
    names = ["raw/a.xyz", "raw/b.xyz", "raw/c", "raw/d/e", "raw/f.txt", "raw/g.jpg"]
    result = listing(names, types={".txt": "skip"})
    assert result.skipped == {"": 2, ".txt": 1, ".xyz": 2}
    assert [e.where for e in result.entries] == ["gs://bkt/raw/g.jpg"]


@pytest.mark.parametrize(
    "name",
    [
        "a.jpg",
        "A.B.PNG",
        "x.nii.gz",
        "x.NII.GZ",
        ".nii.gz",
        "x.gz",
        "x.tar.gz",
        "noext",
        ".hidden",
        "a.",
        "dots.in.dir/x",
    ],
)
def test_the_listing_reads_extensions_as_mediatypes_does(name: str) -> None:
    types = {ext: "skip" for ext in DEFAULT_EXTENSION_TYPES}
    assert listing([f"raw/{name}"], types=types).skipped == {extension(name): 1}


def test_titles_from_the_template_else_none() -> None:
    names = ["raw/a/cat.jpg", "raw/b/brain.nii.gz", "raw/c/noext.pdf"]
    template = "{relative} | {name} | {stem} | {path} | {{literal}}"
    titles = {e.where: e.title for e in listing(names, title=template).entries}
    assert titles == {
        "gs://bkt/raw/a/cat.jpg": "a/cat.jpg | cat.jpg | cat | raw/a/cat.jpg | {literal}",
        "gs://bkt/raw/b/brain.nii.gz": "b/brain.nii.gz | brain.nii.gz | brain | raw/b/brain.nii.gz | {literal}",
        "gs://bkt/raw/c/noext.pdf": "c/noext.pdf | noext.pdf | noext | raw/c/noext.pdf | {literal}",
    }
    assert [e.title for e in listing(names).entries] == [None, None, None]


def test_a_lone_dicom_file_is_a_series_titled_by_its_path_without_a_template() -> None:
    (entry,) = listing(["raw/s/1.dcm"]).entries
    assert (entry.type, entry.urls, entry.title) == ("dicom_series", ("gs://bkt/raw/s/1.dcm",), "raw/s/1.dcm")


def never(problem: str) -> Iterator[str]:
    raise AssertionError(f"the listing was read despite {problem}")
    yield ""


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"title": "{name}-{size}"},
            "data[0]: title: unknown placeholder {size} in '{name}-{size}'; use {path}, {relative}, {name}, {stem}",
        ),
        (
            {"title": "{}"},
            "data[0]: title: unknown placeholder {} in '{}'; use {path}, {relative}, {name}, {stem}",
        ),
        (
            {"title": "{name.upper}"},
            "data[0]: title: unknown placeholder {name.upper} in '{name.upper}'; use {path}, {relative}, {name}, {stem}",
        ),
        ({"title": "{name:>9}"}, "data[0]: title: placeholder {name} takes no format or conversion"),
        (
            {"title": "{name"},
            "data[0]: title: bad template '{name': expected '}' before end of string (write {{ and }} for literal braces)",
        ),
        (
            {"groups": [{"directories": "*", "title": "{stem}"}]},
            "data[0]: groups[0].title: unknown placeholder {stem} in '{stem}'; use {dir}, {name}, {path}",
        ),
        (
            {"groups": [{"directories": "*", "title": " "}]},
            "data[0]: groups[0].title: a group needs a title (Encord requires one)",
        ),
        (
            {"include": ["[z-a].jpg"]},
            "data[0]: include: bad glob '[z-a].jpg': bad character range z-a at position 1",
        ),
        ({"exclude": [""]}, "data[0]: exclude: bad glob '': an empty glob matches nothing"),
        (
            {"groups": [{"directories": "*", "files": ["[z-a]"]}]},
            "data[0]: groups[0].files: bad glob '[z-a]': bad character range z-a at position 1",
        ),
    ],
)
def test_bad_templates_and_globs_are_problems_found_before_the_listing_is_read(
    fields: dict[str, Any], problem: str
) -> None:
    result = entries_from_listing(spec(**fields), never(problem), None, "data[0]")
    assert (result.entries, result.problems) == ([], [problem])


def test_a_directory_becomes_an_image_sequence_of_its_own_frames_in_natural_order() -> None:
    frames = ["frame10.jpg", "frame2.jpg", "Frame2.jpg", "frame1.png", "frame02.jpg", "frame100.jpg"]
    names = [f"raw/seq/s1/{f}" for f in frames] + [
        "raw/seq/s1/notes.txt",
        "raw/seq/s1/deeper/x.jpg",
        "raw/seq/s1/skip.xyz",
    ]
    entries = by_url(listing(names, groups=[{"directories": "seq/*", "title": "{dir}|{name}|{path}"}]))
    group = entries.pop("gs://bkt/raw/seq/s1/")
    assert group.type == "image_sequence" and group.title == "seq/s1|s1|raw/seq/s1"
    assert [u.removeprefix("gs://bkt/raw/seq/s1/") for u in group.urls] == [
        "frame1.png",
        "Frame2.jpg",  # equal as numbers and case-insensitively: the raw names decide
        "frame02.jpg",
        "frame2.jpg",
        "frame10.jpg",
        "frame100.jpg",
    ]
    # what the group did not take is registered on its own
    assert {url: e.type for url, e in entries.items()} == {
        "gs://bkt/raw/seq/s1/notes.txt": "text",
        "gs://bkt/raw/seq/s1/deeper/x.jpg": "image",
    }


@pytest.mark.parametrize(
    ("names", "ordered"),
    [
        (["b", "a10", "a9", "a"], ["a", "a9", "a10", "b"]),
        (["x1y10", "x1y2", "x01y3"], ["x1y2", "x01y3", "x1y10"]),
        (["a5", "ab", "a"], ["a", "a5", "ab"]),
        (["img_0", "img_00", "img_"], ["img_", "img_0", "img_00"]),
        (["B2", "a10", "b1"], ["a10", "b1", "B2"]),
        (["9" * 40, "9" * 39, "1" + "0" * 40], ["9" * 39, "9" * 40, "1" + "0" * 40]),
    ],
)
def test_natural_order(names: list[str], ordered: list[str]) -> None:
    assert sorted(names, key=natural_key) == ordered


def test_a_dicom_series_takes_dcm_files_and_files_without_extension() -> None:
    names = [
        "raw/ct/p1/IM10",
        "raw/ct/p1/IM9",
        "raw/ct/p1/a.dcm",
        "raw/ct/p1/report.pdf",
        "raw/ct/p1/scan.jpg",
    ]
    entries = by_url(listing(names, groups=[{"directories": "ct/*", "type": "dicom_series"}]))
    series = entries.pop("gs://bkt/raw/ct/p1/")
    assert series.type == "dicom_series" and series.title == "ct/p1"
    assert [u.rpartition("/")[2] for u in series.urls] == ["a.dcm", "IM9", "IM10"]
    assert sorted(entries) == ["gs://bkt/raw/ct/p1/report.pdf", "gs://bkt/raw/ct/p1/scan.jpg"]


def test_the_first_matching_rule_wins_and_files_globs_pick_frames_by_name() -> None:
    names = [
        "raw/a/special/1.jpg",
        "raw/a/special/2.jpg",
        "raw/a/plain/1.jpg",
        "raw/a/plain/f_1.png",
        "raw/a/plain/f_2.png",
    ]
    rules = [
        {"directories": "a/special", "type": "image_group", "title": "special"},
        {"directories": "a/*", "type": "image_sequence", "files": ["f_*"]},
    ]
    entries = by_url(listing(names, groups=rules))
    assert (entries["gs://bkt/raw/a/special/"].type, entries["gs://bkt/raw/a/special/"].title) == (
        "image_group",
        "special",
    )
    plain = entries["gs://bkt/raw/a/plain/"]
    assert (plain.type, len(plain.urls)) == ("image_sequence", 2)
    assert entries["gs://bkt/raw/a/plain/1.jpg"].type == "image"  # not a frame by `files`
    assert len(entries) == 3


def test_default_image_frames_follow_the_sources_types() -> None:
    names = ["raw/s/1.jp2", "raw/s/2.gif", "raw/s/3.jpg"]
    entries = by_url(listing(names, types={".jp2": "image", ".gif": "skip"}, groups=[{"directories": "s"}]))
    assert [u.rpartition("/")[2] for u in entries["gs://bkt/raw/s/"].urls] == ["1.jp2", "3.jpg"]
    assert len(entries) == 1


def test_a_matched_directory_without_frames_and_the_prefix_itself_are_no_groups() -> None:
    names = ["raw/top.jpg", "raw/empty/notes.txt", "raw/empty/sub/x.jpg"]
    entries = by_url(listing(names, groups=[{"directories": "**"}]))
    assert sorted(entries) == [
        "gs://bkt/raw/empty/notes.txt",
        "gs://bkt/raw/empty/sub/",
        "gs://bkt/raw/top.jpg",
    ]


def test_a_template_that_renders_an_empty_group_title_is_a_problem() -> None:
    result = listing(["raw/x//f.jpg"], groups=[{"directories": "**", "title": "{name}"}])
    assert result.problems == ["data[0]: gs://bkt/raw/x//: the title template '{name}' gives an empty title"]


def test_client_metadata_comes_from_the_sidecar_by_url_and_a_group_by_its_directory_url() -> None:
    sidecar = {"gs://bkt/raw/a.jpg": {"k": 1}, "gs://bkt/raw/seq/": {"k": 2}}
    entries = by_url(
        listing(["raw/a.jpg", "raw/b.jpg", "raw/seq/1.jpg"], sidecar, groups=[{"directories": "seq"}])
    )
    assert {url: e.client_metadata for url, e in entries.items()} == {
        "gs://bkt/raw/a.jpg": {"k": 1},
        "gs://bkt/raw/b.jpg": None,
        "gs://bkt/raw/seq/": {"k": 2},
    }


def test_sidecar_urls_that_match_no_entry_are_one_warning_with_five_examples_and_a_count() -> None:
    sidecar: dict[str, dict[str, Any]] = {f"gs://bkt/raw/typo{i}.jpg": {} for i in range(7)}
    sidecar["gs://bkt/raw/a.jpg"] = {}
    result = entries_from_listing(spec(metadata="meta.jsonl"), ["raw/a.jpg"], sidecar, "data[0]")
    examples = ", ".join(f"gs://bkt/raw/typo{i}.jpg" for i in range(5))
    assert result.warnings == [
        "meta.jsonl: 7 URLs match no registered entry (a typo, or an object the source does not register?): "
        f"{examples} and 2 more"
    ]
    assert len(result.entries) == 1


def test_unmatched_sidecar_urls_of_a_group_get_a_hint() -> None:
    sidecar: dict[str, dict[str, Any]] = {"gs://bkt/raw/seq": {}, "gs://bkt/raw/seq/1.jpg": {}}
    result = entries_from_listing(
        spec(groups=[{"directories": "seq"}]), ["raw/seq/1.jpg"], sidecar, "data[0]", sidecar_display="m.json"
    )
    assert result.warnings == [
        "m.json: 2 URLs match no registered entry (a group is keyed by its directory URL with a trailing slash; "
        "a frame of a group takes no metadata of its own): gs://bkt/raw/seq, gs://bkt/raw/seq/1.jpg"
    ]


def test_entries_are_sorted_by_url_whatever_the_listing_order() -> None:
    names = ["raw/z.jpg", "raw/m/2.jpg", "raw/m/1.jpg", "raw/a.jpg", "raw/n/x.mp4"]
    result = listing(names, groups=[{"directories": "m"}])
    assert [e.where for e in result.entries] == [
        "gs://bkt/raw/a.jpg",
        "gs://bkt/raw/m/",
        "gs://bkt/raw/n/x.mp4",
        "gs://bkt/raw/z.jpg",
    ]


def test_twenty_thousand_names_with_groups_in_one_pass() -> None:
    def names() -> Iterator[str]:  # a generator: the listing is read once, page by page
        for i in range(20_000):
            yield f"raw/cams/cam{i % 100}/{i}.jpg"
        yield from (f"raw/loose/{i}.png" for i in range(500))

    source = spec(
        include=["cams/**", "loose/*"], exclude=["**/*7.jpg"], groups=[{"directories": "cams/cam[1-4]?"}]
    )
    started = time.perf_counter()
    result = entries_from_listing(source, names(), None, "data[0]")
    assert time.perf_counter() - started < 2
    assert not result.problems and result.listed == 20_500
    groups = [e for e in result.entries if e.is_group]
    assert len(groups) == 40 - 4  # cam10..cam49, less cam17, 27, 37, 47 whose frames all end in 7
    assert sum(len(e.urls) for e in groups) == 36 * 200
    cam13 = next(e for e in groups if e.where == "gs://bkt/raw/cams/cam13/")
    assert cam13.urls[:3] == (
        "gs://bkt/raw/cams/cam13/13.jpg",
        "gs://bkt/raw/cams/cam13/113.jpg",
        "gs://bkt/raw/cams/cam13/213.jpg",
    )
    assert len(result.entries) == 36 + (60 - 6) * 200 + 500
    assert [e.where for e in result.entries] == sorted(e.where for e in result.entries)


def test_media_metadata_from_the_sidecar_goes_to_its_file_and_a_wrong_type_is_named_at_its_line(
    tmp_path: Any,
) -> None:
    from reconciler.registration.sidecar import load_sidecar

    media = {"mimeType": "image/png", "fileSize": 1, "height": 1, "width": 1}
    path = tmp_path / "m.jsonl"
    path.write_text(
        f'{{"objectUrl": "{SOURCE}a.png", "imageMetadata": {json.dumps(media)}}}\n'
        f'{{"objectUrl": "{SOURCE}b.mp4", "imageMetadata": {json.dumps(media)}}}\n'
    )
    sidecar, problems = load_sidecar(path, "m.jsonl")
    assert problems == []
    result = listing(["raw/a.png", "raw/b.mp4"], sidecar)
    entries = {entry.where: entry for entry in result.entries}
    assert entries[f"{SOURCE}a.png"].media == media
    assert entries[f"{SOURCE}b.mp4"].media is None
    assert result.problems == [
        f"m.jsonl:2: imageMetadata for {SOURCE}b.mp4, which is listed as video (it takes videoMetadata)"
    ]
