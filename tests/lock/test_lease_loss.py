"""An apply that loses its lock stops writing: the race of issue 15, played out with real processes.

The first apply is stopped (SIGSTOP) while it creates folders, its lease is removed as `lock release --force`
from another runner would, a second apply takes the lock and finishes, and then the first is resumed. The
first must notice before its next write, say so and exit non-zero; nothing may exist twice unless the first
names it (a create half-sent when the runner froze lands on resume). Encord is
`reconciler emulator serve` behind a 30 ms latency proxy (so a request in flight when the runner stalls
lands on the server, as it would on Encord), the lock a `gs://` lease on fake-gcs-server.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from benchmarks.latency_proxy import ProxyOptions, ProxyThread
from reconciler.gcs.client import storage_client
from reconciler.gcs.objects import delete_object, read_object
from reconciler.lock import LeaseInfo
from tests.fidelity.conftest import REPO_ROOT, EmulatorServer, running_emulator
from tests.lock.conftest import BUCKET

FOLDERS = 150


@pytest.fixture
def slow_emulator(tmp_path: Path) -> Iterator[tuple[EmulatorServer, str]]:
    with running_emulator(tmp_path / "emulator") as server:
        port = int(server.url.rsplit(":", 1)[1])
        options = ProxyOptions(
            upstream_host="127.0.0.1", upstream_port=port, latency_ms=30, connect_round_trips=0
        )
        with ProxyThread(options) as proxy:
            yield server, proxy.url


def _folders(server: EmulatorServer) -> list[str]:
    with closing(sqlite3.connect(f"file:{server.state_path}?mode=ro", uri=True)) as db:
        return [row[0] for row in db.execute("SELECT name FROM folders")]


def _apply(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", str(config), "--auto-approve"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_an_apply_that_lost_its_lease_stops_and_nothing_is_created_twice(
    tmp_path: Path, fake_gcs: str, location: str, slow_emulator: tuple[EmulatorServer, str]
) -> None:
    server, url = slow_emulator
    children = "\n".join(f"      - name: cam{i:03d}" for i in range(FOLDERS))
    config = tmp_path / "reconciler.yaml"
    config.write_text(
        f"backend: {{kind: encord, domain: {url}, ssh_key_file: {server.private_key_path}, lock: '{location}'}}\n"
        f"folders:\n  - name: raw\n    children:\n{children}\n"
    )
    env = {**os.environ, "STORAGE_EMULATOR_HOST": fake_gcs}
    first = _apply(config, env)
    deadline = time.monotonic() + 60
    while len(_folders(server)) < 10:  # it is writing
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first apply never started writing"
        time.sleep(0.01)
    os.kill(first.pid, signal.SIGSTOP)
    try:
        stopped_at = len(_folders(server))
        assert stopped_at < FOLDERS + 1, "the first apply finished before it could be stopped"
        # `lock release --force`, run on another runner: the lease object goes.
        name = location.removeprefix(f"gs://{BUCKET}/")
        with closing(storage_client(fake_gcs)) as gcs:
            stored = read_object(gcs, BUCKET, name)
            assert stored is not None
            assert LeaseInfo.from_json(stored.data, location).pid == first.pid
            assert delete_object(gcs, BUCKET, name, generation=stored.generation)
        time.sleep(2.5)  # longer than the confirmation interval: the first must read its lease back

        second = _apply(config, env)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, (out, err)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=120)

    assert first.returncode == 1, (out, err)
    assert "apply stopped: lost the lock" in err and "its lease object was deleted" in err, err
    assert "Traceback" not in err
    names = Counter(_folders(server))
    # No write starts once the lock is lost. A create already on the wire when the runner froze (its
    # headers sent, its body not yet) completes when the runner resumes, after the second apply made the
    # same folder: Encord offers no fencing token to refuse it. That one must be named, never silent.
    twice = {n for n, count in names.items() if count > 1}
    assert len(twice) <= 16, "more creates landed twice than could be on the wire at once"
    for name in twice:
        assert f"folder {name!r} in folder" in err and "now exists 2 times" in err, (name, err)
    assert set(names) == {"raw", *(f"cam{i:03d}" for i in range(FOLDERS))}
