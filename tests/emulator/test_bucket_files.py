"""The sandbox's bucket directories: which objects exist, with each directory listed once per change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.emulator import bucket_files
from reconciler.emulator.bucket_files import BucketFiles


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    root = tmp_path / "bkt"
    (root / "cams" / "front").mkdir(parents=True)
    (root / "cams" / "front" / "a.jpg").write_bytes(b"x")
    (root / "top.jpg").write_bytes(b"x")
    return root


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Directories count as settled at once (a real one must be unchanged for 2 s first)."""
    monkeypatch.setattr(bucket_files, "SETTLED_SECONDS", 0)


def _no_stat(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_stat(_path: str) -> bool:
        raise AssertionError("a settled directory's files are not stat'ed one by one")

    monkeypatch.setattr(bucket_files.os.path, "isfile", no_stat)


def test_present_absent_and_impossible_names(bucket: Path) -> None:
    files = BucketFiles({"bkt": str(bucket)})
    files.begin_job()
    assert files.missing("gs://bkt/cams/front/a.jpg") is None
    assert files.missing("gs://bkt/top.jpg") is None
    assert files.missing("gs://bkt/cams/front/b.jpg") == "No such object: bkt/cams/front/b.jpg"
    assert files.missing("gs://bkt/cams/front") is not None  # a directory is no object
    assert files.missing("gs://bkt/cams/../top.jpg") is not None
    assert files.missing("gs://bkt/nowhere/x.jpg") is not None
    assert files.missing("https://storage.googleapis.com/bkt/a%00b/c.jpg") is not None  # a NUL: no file
    assert files.missing("gs://other-bucket/x.jpg") is None  # not a sandbox bucket: not checked


@pytest.mark.usefixtures("settled")
def test_a_settled_directory_is_listed_once_not_stat_per_file(
    bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = BucketFiles({"bkt": str(bucket)})
    files.begin_job()
    assert files.missing("gs://bkt/cams/front/a.jpg") is None
    _no_stat(monkeypatch)
    files.begin_job()
    assert files.missing("gs://bkt/cams/front/a.jpg") is None
    assert files.missing("gs://bkt/cams/front/zzz.jpg") is not None


def test_a_directory_that_just_changed_is_not_listed_but_stat_per_file(
    bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bucket_files, "SETTLED_SECONDS", 3600)  # nothing here has been still that long
    files = BucketFiles({"bkt": str(bucket)})
    stats: list[str] = []
    real = os.path.isfile
    monkeypatch.setattr(bucket_files.os.path, "isfile", lambda p: stats.append(p) or real(p))
    files.begin_job()
    assert files.missing("gs://bkt/top.jpg") is None
    assert stats == [str(bucket / "top.jpg")]


@pytest.mark.usefixtures("settled")
def test_a_file_added_or_removed_is_seen_by_the_next_job_even_with_its_mtime_put_back(bucket: Path) -> None:
    files = BucketFiles({"bkt": str(bucket)})
    files.begin_job()
    assert files.missing("gs://bkt/cams/front/new.jpg") is not None
    front = bucket / "cams" / "front"
    before = os.stat(front)
    (front / "new.jpg").write_bytes(b"x")
    (front / "a.jpg").unlink()
    os.utime(front, ns=(before.st_atime_ns, before.st_mtime_ns))  # as `touch -r` or rsync would
    files.begin_job()
    assert files.missing("gs://bkt/cams/front/new.jpg") is None  # the ctime moved
    assert files.missing("gs://bkt/cams/front/a.jpg") is not None


@pytest.mark.usefixtures("settled")
def test_a_directory_symlink_pointed_elsewhere_is_listed_again(tmp_path: Path) -> None:
    root = tmp_path / "bkt"
    for version, name in (("v1", "a.jpg"), ("v2", "b.jpg")):
        (root / version).mkdir(parents=True)
        (root / version / name).write_bytes(b"x")
    (root / "cur").symlink_to(root / "v1")
    files = BucketFiles({"bkt": str(root)})
    files.begin_job()
    assert files.missing("gs://bkt/cur/a.jpg") is None
    (root / "cur").unlink()
    (root / "cur").symlink_to(root / "v2")
    files.begin_job()
    assert files.missing("gs://bkt/cur/a.jpg") is not None
    assert files.missing("gs://bkt/cur/b.jpg") is None


@pytest.mark.usefixtures("settled")
def test_a_symlinked_file_is_followed_afresh(bucket: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.jpg"
    target.write_bytes(b"x")
    (bucket / "linked.jpg").symlink_to(target)
    files = BucketFiles({"bkt": str(bucket)})
    files.begin_job()
    assert files.missing("gs://bkt/linked.jpg") is None
    target.unlink()  # the bucket's directory does not change
    files.begin_job()
    assert files.missing("gs://bkt/linked.jpg") is not None
