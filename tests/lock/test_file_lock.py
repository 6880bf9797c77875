"""The local lock (`fcntl.flock`): held across processes, refused with the holder named, freed by a crash."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from reconciler.lock import LockError, LockHeldError, OwnerInfo, acquire, lock_location, release, status
from reconciler.plan.model import BackendRef
from tests.lock.conftest import worker

ME = OwnerInfo(owner="carol@laptop", host="laptop", pid=303)


def _holding(lock: Path) -> subprocess.Popen[str]:
    """A worker process that holds `lock` until its stdin closes."""
    proc = worker("hold", str(lock))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("held"):
        proc.kill()
        pytest.fail(f"the worker did not take the lock: {line!r} {proc.communicate()[1][-2000:]}")
    return proc


def _finish(proc: subprocess.Popen[str]) -> None:
    """Close the worker's stdin (it releases and exits), and wait for it."""
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    proc.wait(timeout=30)


def test_a_held_local_lock_refuses_another_process_with_the_holder_named(tmp_path: Path) -> None:
    lock = tmp_path / "state" / "sandbox.lock"
    holder = _holding(lock)
    try:
        with pytest.raises(LockHeldError) as refused, acquire(str(lock), owner_info=ME):
            pytest.fail("a second holder got in")
        message = str(refused.value)
        assert f"worker-{holder.pid}" in message and f"pid {holder.pid}" in message and "\n" not in message
        assert "free as soon as that process ends" in message
        held = status(str(lock))
        assert held is not None and held.pid == holder.pid and held.expires_at is None
    finally:
        _finish(holder)
    assert status(str(lock)) is None
    with acquire(str(lock), owner_info=ME) as lease:
        assert lease.info.owner == "carol@laptop"


def test_a_crashed_holder_leaves_the_lock_free(tmp_path: Path) -> None:
    lock = tmp_path / "apply.lock"
    holder = _holding(lock)
    holder.send_signal(signal.SIGKILL)
    _finish(holder)
    assert lock.read_text(encoding="utf-8")  # its details are still in the file...
    assert status(str(lock)) is None  # ...but no process holds the lock
    with acquire(str(lock), owner_info=ME) as lease:
        held = status(str(lock))
        assert held is not None and held.lease_id == lease.info.lease_id


def test_release_leaves_the_file_empty_and_the_lock_free(tmp_path: Path) -> None:
    lock = tmp_path / "apply.lock"
    with acquire(str(lock), owner_info=ME):
        assert '"owner": "carol@laptop"' in lock.read_text(encoding="utf-8")
    assert lock.read_text(encoding="utf-8") == ""
    assert status(str(lock)) is None


def test_waiting_takes_a_local_lock_once_its_holder_ends(tmp_path: Path) -> None:
    lock = tmp_path / "apply.lock"
    holder = _holding(lock)
    threading.Timer(0.5, _finish, args=(holder,)).start()
    began = time.monotonic()
    with acquire(str(lock), owner_info=ME, wait=20) as lease:
        assert lease.info.owner == "carol@laptop"
        assert time.monotonic() - began > 0.3
    holder.wait(timeout=30)


def test_a_local_lock_cannot_be_released_by_force_from_another_process(tmp_path: Path) -> None:
    lock = tmp_path / "apply.lock"
    assert release(str(lock), force=True) is None  # free: nothing to do
    holder = _holding(lock)
    try:
        with pytest.raises(
            LockError, match=rf"no other process can release it; stop that process \(pid {holder.pid}"
        ):
            release(str(lock), force=True)
    finally:
        _finish(holder)


def test_the_lock_lives_beside_the_sandbox_state_or_in_dot_reconciler(tmp_path: Path) -> None:
    sandbox = BackendRef(kind="sandbox", location=str(tmp_path / "state" / "sandbox.db"))
    encord = BackendRef(kind="encord", location="https://api.encord.com")
    assert lock_location(sandbox, tmp_path, None) == str(tmp_path / "state" / "sandbox.lock")
    assert lock_location(encord, tmp_path, None) == str(tmp_path / ".reconciler" / "apply.lock")
    assert lock_location(encord, tmp_path, "gs://ops/locks/prod.json") == "gs://ops/locks/prod.json"
    assert lock_location(encord, tmp_path, "locks/prod.lock") == str(tmp_path / "locks" / "prod.lock")


def test_owner_info_names_the_ci_run(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "CI_JOB_URL", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    plain = OwnerInfo.current()
    assert plain.owner.endswith(f"@{plain.host}") and plain.ci_url is None
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/data")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    github = OwnerInfo.current()
    assert (github.owner, github.ci_url) == ("octocat", "https://github.com/acme/data/actions/runs/42")
    monkeypatch.delenv("GITHUB_ACTOR")
    monkeypatch.delenv("GITHUB_RUN_ID")
    monkeypatch.setenv("CI_JOB_URL", "https://gitlab.com/acme/data/-/jobs/9")
    assert OwnerInfo.current().ci_url == "https://gitlab.com/acme/data/-/jobs/9"
