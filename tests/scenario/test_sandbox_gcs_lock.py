"""A CI configuration's `gs://` lock, tried locally: on the sandbox, a lock in one of its buckets is served by
the sandbox's own GCS emulator, with GCS's generation preconditions (issue 15, point 6)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from reconciler.cli.main import main
from reconciler.gcs.emulator import running_emulator

CONFIG = """\
backend:
  kind: sandbox
  state: .reconciler/sandbox.db
  buckets: {ci-state: bucket}
  lock: gs://ci-state/.reconciler/lock.json
folders:
  - name: raw
"""


def _objects(tmp_path: Path) -> dict[str, dict[str, object]]:
    index = tmp_path / ".reconciler" / "sandbox.gcs" / "gcs" / ".cloudstorage" / ".objects"
    found: dict[str, dict[str, object]] = json.loads(index.read_text()).get("ci-state", {})
    return found


def test_a_gs_lock_on_a_sandbox_bucket_keeps_lock_state_and_journal_in_the_sandbox_gcs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RECONCILER_SANDBOX_STATE", raising=False)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    (tmp_path / "bucket").mkdir()
    (tmp_path / "bucket" / "data.txt").write_text("a file of the bucket")
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    assert main(["apply", str(tmp_path), "--auto-approve"]) == 0
    # The recorded state went beside the lock, in the sandbox's GCS; the lease itself was released.
    objects = _objects(tmp_path)
    assert ".reconciler/state.json" in objects and ".reconciler/lock.json" not in objects
    assert "data.txt" in objects  # the bucket's own files are still mirrored
    with closing(sqlite3.connect(tmp_path / ".reconciler" / "sandbox.db")) as db:
        assert db.execute("SELECT name FROM folders").fetchall() == [("raw",)]
    capsys.readouterr()
    assert main(["plan", str(tmp_path), "--detailed-exitcode"]) == 0  # the drift baseline is read from there
    assert main(["lock", "status", str(tmp_path)]) == 0
    assert "gs://ci-state/.reconciler/lock.json is free" in " ".join(capsys.readouterr().out.split())
    assert "STORAGE_EMULATOR_HOST" not in __import__("os").environ  # left as it was


def test_the_sandbox_gcs_honours_generation_preconditions(tmp_path: Path) -> None:
    from reconciler.gcs.client import storage_client
    from reconciler.gcs.objects import delete_object, read_object, write_object

    with running_emulator(tmp_path) as server, closing(storage_client(server.url)) as client:
        client.create_bucket("locks")
        first = write_object(client, "locks", "a.json", b"1", if_generation_match=0)
        assert first is not None
        assert write_object(client, "locks", "a.json", b"2", if_generation_match=0) is None  # exists
        stored = read_object(client, "locks", "a.json")
        assert stored is not None and (stored.data, stored.generation) == (b"1", first)
        assert write_object(client, "locks", "a.json", b"3", if_generation_match=first + 1) is None
        second = write_object(client, "locks", "a.json", b"4", if_generation_match=first)
        assert second is not None and second != first
        assert delete_object(client, "locks", "a.json", generation=first) is False
        assert delete_object(client, "locks", "a.json", generation=second) is True
        assert read_object(client, "locks", "a.json") is None
