"""The sandbox's GCS: objects mirror local directories; CORS and IAM persist across runs and processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
import requests

from reconciler.gcs import (
    GcsError,
    add_iam_member,
    iter_objects,
    read_cors,
    read_iam_bindings,
    storage_client,
    write_cors,
)
from reconciler.gcs.sandbox import sandbox_gcs

CORS = [
    {"origins": ["https://app.encord.com"], "methods": ["GET"], "response_headers": [], "max_age_seconds": 60}
]
VIEWER = "roles/storage.objectViewer"
ENCORD = "serviceAccount:encord@p.iam.gserviceaccount.com"


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _objects(url: str, bucket: str) -> dict[str, bytes]:
    """Every object's content, downloaded through the links the listing hands out."""
    with closing(storage_client(url)) as client:
        names = [info.name for page in iter_objects(client, bucket, "") for info in page]
        return {name: client.bucket(bucket).get_blob(name).download_as_bytes() for name in names}


def test_files_become_objects_and_later_runs_sync_changes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write(src / "a.jpg", b"first")
    _write(src / "sub" / "b.json", b"{}")
    _write(src / "same-size.txt", b"aaaa")
    _write(src / "sub" / ".gitkeep", b"")
    _write(src / ".cache" / "c.jpg", b"hidden")
    with sandbox_gcs(tmp_path / "state", {"photos": src}) as url:
        assert _objects(url, "photos") == {"a.jpg": b"first", "same-size.txt": b"aaaa", "sub/b.json": b"{}"}
        with closing(storage_client(url)) as client:
            page = next(iter_objects(client, "photos", "a"))
            assert [(o.name, o.size, o.content_type) for o in page] == [("a.jpg", 5, "image/jpeg")]

    (src / "a.jpg").unlink()
    _write(src / "sub" / "b.json", b'{"changed": true}')
    _write(src / "new" / "c.png", b"png")
    _write(src / "same-size.txt", b"bbbb")
    # A new port, so this also checks that stored download links follow the emulator.
    with sandbox_gcs(tmp_path / "state", {"photos": src}) as url:
        assert _objects(url, "photos") == {
            "new/c.png": b"png",
            "same-size.txt": b"bbbb",
            "sub/b.json": b'{"changed": true}',
        }


def test_cors_and_iam_persist_across_runs_and_processes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write(src / "x.jpg", b"x")
    buckets = {"media": src}
    with sandbox_gcs(tmp_path / "state", buckets) as url, closing(storage_client(url)) as client:
        write_cors(client, "media", CORS)
        add_iam_member(client, "media", VIEWER, ENCORD)

    with sandbox_gcs(tmp_path / "state", buckets) as url, closing(storage_client(url)) as client:
        assert read_cors(client, "media") == CORS
        assert read_iam_bindings(client, "media") == {VIEWER: [ENCORD]}

    script = (
        "import json, sys; from pathlib import Path; from contextlib import closing\n"
        "from reconciler.gcs import read_cors, read_iam_bindings, storage_client\n"
        "from reconciler.gcs.sandbox import sandbox_gcs\n"
        "with sandbox_gcs(Path(sys.argv[1]), {'media': Path(sys.argv[2])}) as url:\n"
        "    with closing(storage_client(url)) as c:\n"
        "        json.dump([read_cors(c, 'media'), read_iam_bindings(c, 'media')], sys.stdout)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "STORAGE_EMULATOR_HOST"}
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "state"), str(src)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [CORS, {VIEWER: [ENCORD]}]


def test_the_emulator_stops_with_the_context(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    with sandbox_gcs(tmp_path / "state", {}) as url:
        assert requests.get(f"{url}/storage/v1/b", timeout=5).status_code == 200
    assert set(threading.enumerate()) <= before
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/storage/v1/b", timeout=5)


def test_the_emulator_stops_when_the_block_raises(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="boom"), sandbox_gcs(tmp_path / "state", {}):
        raise RuntimeError("boom")
    assert set(threading.enumerate()) <= before


def test_bad_bucket_config_is_a_gcs_error(tmp_path: Path) -> None:
    with pytest.raises(GcsError, match="does not exist"), sandbox_gcs(tmp_path, {"media": tmp_path / "nope"}):
        pass
    with (
        pytest.raises(GcsError, match="not a valid GCS bucket name"),
        sandbox_gcs(tmp_path, {"Bad!": tmp_path}),
    ):
        pass


def test_a_second_sandbox_on_the_same_state_waits_then_fails(tmp_path: Path) -> None:
    with (
        sandbox_gcs(tmp_path / "state", {}),
        pytest.raises(GcsError, match="in use by another process"),
        sandbox_gcs(tmp_path / "state", {}, lock_wait=0.2),
    ):
        pass


def test_ten_thousand_objects_seed_in_seconds(scratch: Path) -> None:
    src = scratch / "src"
    for i in range(10_000):
        _write(src / f"{i // 1000}" / f"{i:05d}.jpg", b"x" * 100)
    started = time.perf_counter()
    with sandbox_gcs(scratch / "state", {"big": src}) as url:
        cold = time.perf_counter() - started
        with closing(storage_client(url)) as client:
            names = [o.name for page in iter_objects(client, "big", "") for o in page]
    started = time.perf_counter()
    with sandbox_gcs(scratch / "state", {"big": src}):
        warm = time.perf_counter() - started
    assert len(names) == len(set(names)) == 10_000
    # Generous bounds: the stock emulator over HTTP needs minutes, so this only catches that regression.
    assert cold < 30 and warm < 30, (cold, warm)


def test_unreadable_state_is_a_gcs_error(tmp_path: Path) -> None:
    _write(tmp_path / "state" / "gcs" / ".cloudstorage" / ".meta", b"{not json")
    with pytest.raises(GcsError, match="cannot be read"), sandbox_gcs(tmp_path / "state", {}):
        pass


def test_an_unchanged_file_is_not_synced_again(tmp_path: Path) -> None:
    """Same size and modification time: not read, not rewritten (its generation stays)."""
    src = tmp_path / "src"
    _write(src / "a.jpg", b"first")
    _write(src / "b.jpg", b"second")

    def generations() -> dict[str, int | None]:
        with sandbox_gcs(tmp_path / "state", {"photos": src}) as url, closing(storage_client(url)) as client:
            return {b.name: b.generation for b in client.list_blobs("photos")}

    before = generations()
    time.sleep(0.01)
    _write(src / "b.jpg", b"SECOND")  # same size, new content and mtime
    after = generations()
    assert after["a.jpg"] == before["a.jpg"] and after["b.jpg"] != before["b.jpg"]


def test_a_plan_that_needs_no_bucket_never_starts_the_sandbox_gcs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JSON sources with a sandbox bucket for the objects: the emulator reads the directory itself, so the
    bucket is not synced into the GCS emulator at all (issue 16, point 4)."""
    from reconciler.cli.main import main

    monkeypatch.delenv("RECONCILER_SANDBOX_STATE", raising=False)
    _write(tmp_path / "bucket" / "a.jpg", b"jpg")
    (tmp_path / "items.json").write_text('{"images": [{"objectUrl": "gs://pics/a.jpg"}]}')
    (tmp_path / "reconciler.yaml").write_text(
        "backend: {kind: sandbox, state: .reconciler/sandbox.db, buckets: {pics: bucket}}\n"
        "integrations: [{title: g, provider: gcp}]\n"
        "folders: [{name: raw, data: [{integration: g, json: items.json}]}]\n"
    )
    assert main(["apply", str(tmp_path), "--auto-approve"]) == 0
    assert main(["plan", str(tmp_path), "--detailed-exitcode"]) == 0
    assert not (tmp_path / ".reconciler" / "sandbox.gcs").exists()


def test_a_settings_only_start_leaves_the_objects_unread_until_they_are_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan that reads a bucket's CORS must not walk (or read the index of) 100,000 files."""
    from reconciler.gcs import emulator, sandbox

    src = tmp_path / "src"
    _write(src / "a.jpg", b"first")
    with sandbox_gcs(tmp_path / "state", {"photos": src}) as url:  # synced: the index holds a.jpg
        assert _objects(url, "photos") == {"a.jpg": b"first"}
    _write(src / "b.jpg", b"second")
    read, synced = [], []
    real_read, real_sync = emulator._read_json, sandbox._sync_bucket
    monkeypatch.setattr(emulator, "_read_json", lambda path: read.append(path.name) or real_read(path))
    monkeypatch.setattr(sandbox, "_sync_bucket", lambda *a: synced.append(a[2]) or real_sync(*a))
    with sandbox_gcs(tmp_path / "state", {"photos": src, "fresh": src}, objects=False) as url:
        with closing(storage_client(url)) as client:
            write_cors(client, "fresh", CORS)  # a bucket no run synced yet: created, its settings kept
            assert read_cors(client, "photos") == []
        assert ".objects" not in read and synced == []
        sandbox.ensure_objects(url)  # what the workspace does before a listing: the skipped sync, now
        sandbox.ensure_objects(url)  # and only once
        assert sorted(synced) == ["fresh", "photos"] and read.count(".objects") == 1
        assert _objects(url, "photos") == {"a.jpg": b"first", "b.jpg": b"second"}
    state = tmp_path / "state"
    with sandbox_gcs(state, {"fresh": src}, objects=False) as url, closing(storage_client(url)) as client:
        assert len(read_cors(client, "fresh")) == 1  # kept across runs
