"""`reconciler lock status` and `reconciler lock release`, through the parser `add_lock_parser` registers."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.cloud import storage

from reconciler.cli import lock_cmd, output
from reconciler.errors import ReconcilerError
from reconciler.lock import OwnerInfo, acquire
from tests.lock.conftest import plant_expired, worker

ALICE = OwnerInfo(owner="alice", host="ci-1", pid=101, ci_url="https://ci.example/runs/5")


def run(*argv: str) -> int:
    """`reconciler lock ...` with the CLI's error boundary: an expected error is one line and exit 1."""
    parser = argparse.ArgumentParser(prog="reconciler")
    lock_cmd.add_lock_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["lock", *argv])
    try:
        code: int = args.func(args)
    except ReconcilerError as exc:
        output.error(str(exc))  # as reconciler.cli.main does
        return 1
    return code


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "reconciler.yaml").write_text(
        "backend: {kind: sandbox, state: state/sandbox.db}\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def test_status_and_release_of_the_sandbox_lock(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = project / "state" / "sandbox.lock"
    assert run("status") == 0
    assert f"The apply lock {lock} is free." in capsys.readouterr().out
    holder = worker("hold", str(lock))
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().startswith("held")
        assert run("status", str(project)) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert f"is held by worker-{holder.pid} (host test-host, pid {holder.pid}" in out
        assert "expires" not in out  # a local lock lasts as long as its process
        assert run("release", "--force") == 1
        out = " ".join(capsys.readouterr().err.split())
        assert "no other process can release it; stop that process" in out
        assert "a process that has ended holds no lock" in out
    finally:
        holder.stdin.close()
        holder.stdout.close()
        assert holder.stderr is not None
        holder.stderr.close()
        holder.wait(timeout=30)
    assert run("release", "--force") == 0
    assert "is free: nothing to release" in capsys.readouterr().out


def test_status_and_release_of_a_gcs_lease(
    fake_gcs: str, location: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs)
    lease = acquire(location, owner_info=ALICE)
    lease.take()
    try:
        assert run("status", "--location", location) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert (
            f"The apply lock {location} is held by alice (host ci-1, pid 101, https://ci.example/runs/5)"
            in out
        )
        assert run("release", "--location", location) == 1
        assert "add --force to remove it anyway" in capsys.readouterr().err
        assert run("release", "--location", location, "--force") == 0
        assert f"Released the apply lock {location}, held by alice" in " ".join(
            capsys.readouterr().out.split()
        )
        assert run("status", "--location", location) == 0
        assert "is free" in capsys.readouterr().out
    finally:
        lease.release()


def test_an_expired_lease_is_shown_as_such(
    fake_gcs: str,
    gcs: storage.Client,
    location: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs)
    plant_expired(gcs, location)
    assert run("status", "--location", location) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "holds an expired lease of crashed (host gone, pid 1)" in out
        and "the next apply takes it over" in out
    )
    assert run("release", "--location", location) == 0  # no --force needed for an expired lease
    assert "Released the apply lock" in capsys.readouterr().out
