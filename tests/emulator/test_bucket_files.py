"""The sandbox's bucket directories: which objects exist, with each directory listed once per change."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from reconciler.emulator import bucket_files
from reconciler.emulator.bucket_files import BucketFiles


def _settle(path: Path) -> None:
    """Date the directory back, as if it had not changed for a minute."""
    old = time.time() - 60
    os.utime(path, (old, old))


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    root = tmp_path / "bkt"
    (root / "cams" / "front").mkdir(parents=True)
    (root / "cams" / "front" / "a.jpg").write_bytes(b"x")
    (root / "top.jpg").write_bytes(b"x")
    for directory in (root / "cams" / "front", root / "cams", root):
        _settle(directory)
    return root


def test_present_absent_and_impossible_names(bucket: Path) -> None:
    files = BucketFiles({"bkt": str(bucket)})
    files.begin_job()
    assert files.missing("gs://bkt/cams/front/a.jpg") is None
    assert files.missing("gs://bkt/top.jpg") is None
    assert files.missing("gs://bkt/cams/front/b.jpg") == "No such object: bkt/cams/front/b.jpg"
    assert files.missing("gs://bkt/cams/front") is not None  # a directory is no object
    assert files.missing("gs://bkt/cams/../top.jpg") is not None
    assert files.missing("gs://bkt/nowhere/x.jpg") is not None
    assert files.missing("gs://other-bucket/x.jpg") is None  # not a sandbox bucket: not checked


def test_a_settled_directory_is_listed_once_not_stat_per_file(
    bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = BucketFiles({"bkt": str(bucket)})
    files.begin_job()
    assert files.missing("gs://bkt/cams/front/a.jpg") is None

    def no_stat(_path: str) -> bool:
        raise AssertionError("a settled directory's files are not stat'ed one by one")

    monkeypatch.setattr(bucket_files.os.path, "isfile", no_stat)
    files.begin_job()
    assert files.missing("gs://bkt/cams/front/a.jpg") is None
    assert files.missing("gs://bkt/cams/front/zzz.jpg") is not None


def test_a_file_added_later_is_seen_by_the_next_job(bucket: Path) -> None:
    files = BucketFiles({"bkt": str(bucket)})
    files.begin_job()
    assert files.missing("gs://bkt/cams/front/new.jpg") is not None
    (bucket / "cams" / "front" / "new.jpg").write_bytes(b"x")  # the directory's mtime moves to now
    files.begin_job()
    assert files.missing("gs://bkt/cams/front/new.jpg") is None
    # Changed just now, so its listing is not kept: a file added within the same mtime is still seen.
    mtime = os.stat(bucket / "cams" / "front").st_mtime_ns
    (bucket / "cams" / "front" / "newer.jpg").write_bytes(b"x")
    os.utime(bucket / "cams" / "front", ns=(mtime, mtime))
    files.begin_job()
    assert files.missing("gs://bkt/cams/front/newer.jpg") is None


def test_a_removed_file_is_missing_for_the_next_job(bucket: Path) -> None:
    files = BucketFiles({"bkt": str(bucket)})
    files.begin_job()
    assert files.missing("gs://bkt/top.jpg") is None
    (bucket / "top.jpg").unlink()
    files.begin_job()
    assert files.missing("gs://bkt/top.jpg") is not None


def test_a_symlink_is_followed_afresh(bucket: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.jpg"
    target.write_bytes(b"x")
    (bucket / "linked.jpg").symlink_to(target)
    _settle(bucket)
    files = BucketFiles({"bkt": str(bucket)})
    files.begin_job()
    assert files.missing("gs://bkt/linked.jpg") is None
    target.unlink()  # the bucket's directory does not change
    files.begin_job()
    assert files.missing("gs://bkt/linked.jpg") is not None
