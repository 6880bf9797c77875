"""Several `reconciler apply` processes at once on one workspace, with a `gs://` lock on fake-gcs-server:
exactly one applies at a time, the others are refused naming the holder, and nothing is created twice."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from reconciler import lock as lock_module
from reconciler.cli import apply_cmd
from reconciler.cli.main import main
from reconciler.gcs.state_object import GcsStateStore, state_location
from reconciler.lock import acquire
from tests.fidelity.conftest import REPO_ROOT
from tests.lock.conftest import plant_expired


def test_racing_applies_take_turns_and_create_everything_once(
    tmp_path: Path, fake_gcs: str, location: str
) -> None:
    children = "\n".join(f"      - name: cam{i:02d}" for i in range(30))
    (tmp_path / "reconciler.yaml").write_text(
        f"backend: {{kind: sandbox, state: s.db, lock: '{location}'}}\n"
        f"folders:\n  - name: raw\n    children:\n{children}\n"
    )
    env = {**os.environ, "STORAGE_EMULATOR_HOST": fake_gcs}
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", str(tmp_path), "--auto-approve"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        results.append((racer.returncode, out, err))
    applied = [r for r in results if r[0] == 0]
    refused = [r for r in results if r[0] != 0]
    assert applied, results
    for _, _, err in refused:
        assert "lock release --force" in err, err  # refused because another apply held the lock
    db = sqlite3.connect(tmp_path / "s.db")
    names = [row[0] for row in db.execute("SELECT name FROM folders")]
    db.close()
    assert sorted(names) == sorted(["raw", *(f"cam{i:02d}" for i in range(30))])  # each exactly once
    # the recorded state lives beside the gs:// lock, where every runner sees it
    recorded = GcsStateStore(state_location(location), endpoint=fake_gcs).load()
    assert recorded is not None and "folder.raw/cam29" in recorded.digests


def test_apply_is_refused_while_another_holds_the_local_lock(tmp_path: Path, monkeypatch: object) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "backend: {kind: sandbox, state: s.db}\nfolders: [{name: raw}]\n"
    )
    with acquire(str(tmp_path / "s.lock")):
        assert main(["apply", str(tmp_path), "--auto-approve"]) == 1
    assert main(["apply", str(tmp_path), "--auto-approve"]) == 0


def test_apply_takes_over_an_expired_lease_and_says_whose_it_was(
    tmp_path: Path, fake_gcs: str, gcs: Any, location: str, monkeypatch: Any, capsys: Any
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs)
    (tmp_path / "reconciler.yaml").write_text(
        f"backend: {{kind: sandbox, state: s.db, lock: '{location}', lock_ttl_seconds: 45}}\nfolders: [{{name: raw}}]\n"
    )
    plant_expired(gcs, location, owner="crashed-runner")
    assert main(["apply", str(tmp_path), "--auto-approve"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"took over the expired lock {location} of crashed-runner (host gone, pid 1)" in err


def test_the_lease_lasts_the_configured_ttl(
    tmp_path: Path, fake_gcs: str, location: str, monkeypatch: Any
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs)
    (tmp_path / "reconciler.yaml").write_text(
        f"backend: {{kind: sandbox, state: s.db, lock: '{location}', lock_ttl_seconds: 45}}\nfolders: [{{name: raw}}]\n"
    )
    taken: list[float] = []
    real = lock_module.acquire

    def spy(where: str, **kwargs: Any) -> Any:
        taken.append(kwargs["ttl"])
        return real(where, **kwargs)

    monkeypatch.setattr(apply_cmd, "acquire", spy)
    assert main(["apply", str(tmp_path), "--auto-approve"]) == 0
    assert taken == [45.0]
