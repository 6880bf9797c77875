"""Four applies race for one lock, each in a process of its own: one holder at a time, nothing created twice.

Each worker (tests/lock/worker.py) takes the lock, logs "start <pid>", creates a thing unless one exists
(check, pause, create: a race unless the lock holds), waits out half a second, logs "end <pid>", releases.
"""

from __future__ import annotations

import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest

from reconciler.gcs.client import storage_client
from reconciler.lock import status
from tests.lock.conftest import BUCKET, worker

WORKERS = 4
HOLD = 0.5


def _race(lock: str, things: str, log: Path, endpoint: str | None) -> list[int]:
    procs = [worker("race", lock, str(log), things, str(HOLD), endpoint=endpoint) for _ in range(WORKERS)]
    deadline = time.monotonic() + 60
    for proc in procs:
        try:
            _out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail("a worker did not finish within 60 s")
        assert proc.returncode == 0, err[-2000:]
    return [proc.pid for proc in procs]


def _assert_one_at_a_time(log: Path, pids: list[int]) -> None:
    lines = [line.split() for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2 * WORKERS, lines
    # start a, end a, start b, end b, ...: never two starts without an end between them.
    for (first, first_pid), (second, second_pid) in zip(lines[::2], lines[1::2], strict=True):
        assert (first, second) == ("start", "end"), lines
        assert first_pid == second_pid, lines
    assert sorted(int(pid) for _, pid in lines[::2]) == sorted(pids)  # every worker had its turn


def test_racing_applies_on_a_gcs_lease_run_one_at_a_time(
    fake_gcs: str, location: str, prefix: str, tmp_path: Path
) -> None:
    log = tmp_path / "race.log"
    things = f"gs://{BUCKET}/{prefix}things/"
    pids = _race(location, things, log, fake_gcs)
    _assert_one_at_a_time(log, pids)
    with closing(storage_client(fake_gcs)) as gcs:
        created = [blob.name for blob in gcs.list_blobs(BUCKET, prefix=f"{prefix}things/")]
    assert len(created) == 1, created
    assert status(location, endpoint=fake_gcs) is None  # the last one released it


def test_racing_applies_on_a_local_lock_run_one_at_a_time(tmp_path: Path) -> None:
    log = tmp_path / "race.log"
    things = tmp_path / "things"
    things.mkdir()
    lock = tmp_path / ".reconciler" / "sandbox.lock"
    pids = _race(str(lock), str(things), log, None)
    _assert_one_at_a_time(log, pids)
    assert len(list(things.iterdir())) == 1
    assert status(str(lock)) is None
