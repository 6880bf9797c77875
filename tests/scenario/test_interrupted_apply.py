"""`kill -9` in the middle of a registration, then apply again: every file is registered exactly once.

Encord (here: `reconciler emulator serve`, holding each upload job PENDING for a while) keeps running the
jobs of a killed apply; the next apply finds their ids in the journal, polls them to the end, and only
then registers what is still missing.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from reconciler.backend import journal_for
from reconciler.journal import JobJournal
from reconciler.plan.model import BackendRef
from tests.fidelity.conftest import REPO_ROOT, EmulatorServer, running_emulator
from tests.fidelity.signing import create_integration

FILES = 1500


def write_config(tmp_path: Path, domain: str, key_file: Path) -> Path:
    spec = {"images": [{"objectUrl": f"gs://bench/img/{i:05d}.jpg"} for i in range(FILES)]}
    (tmp_path / "images.json").write_text(json.dumps(spec), encoding="utf-8")
    config = tmp_path / "reconciler.yaml"
    config.write_text(
        f"""\
backend: {{kind: encord, domain: "{domain}", ssh_key_file: "{key_file}"}}
folders:
  - name: raw
    data:
      - integration: gcs
        json: images.json
        batch: {{images: 100}}
""",
        encoding="utf-8",
    )
    return config


def journal_of(server: EmulatorServer, config_dir: Path) -> JobJournal:
    """The journal an apply against `server` (with its key file) keeps beside the config."""
    ref = BackendRef(
        kind="encord", location=server.url, options={"ssh_key_file": str(server.private_key_path.resolve())}
    )
    return journal_for(ref, config_dir)


def wait_for_jobs(journal: JobJournal, count: int) -> None:
    """Until `count` upload jobs are journaled (an apply is registering), or a minute has passed."""
    deadline = time.monotonic() + 60
    while len(journal.pending()) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def reconciler(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_kill_9_mid_registration_then_apply_registers_every_file_exactly_once(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "emulator", "--process-delay", "1.0") as server:
        with httpx.Client(base_url=server.url) as http:
            create_integration(http, server.private_key, "gcs", "gcp")
        config = write_config(tmp_path, server.url, server.private_key_path)
        journal = journal_of(server, tmp_path)

        first = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", str(config), "--auto-approve"],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_jobs(journal, 4)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        interrupted = journal.pending()
        assert interrupted, "the apply was killed before any job was journaled"

        second = reconciler("apply", str(config), "--auto-approve")
        assert second.returncode == 0, second.stdout + second.stderr
        assert f"Resumed {len(interrupted)} upload job(s)" in second.stdout
        assert not Path(journal.path).exists()  # every job ended: the journal is gone
        again = reconciler("plan", str(config), "--detailed-exitcode")
        assert again.returncode == 0, again.stdout + again.stderr

        db = sqlite3.connect(server.state_path)
        urls = [row[0] for row in db.execute("SELECT url FROM items")]
        db.close()
        assert len(urls) == FILES
        assert len(set(urls)) == FILES


def test_sigterm_mid_registration_stops_after_the_writes_in_flight_and_releases_the_lock(
    tmp_path: Path,
) -> None:
    """A cancelled CI job: SIGTERM. The apply stops writing, drops its polls, says so in one line, releases
    the lock and exits 130; the next apply resumes the journaled jobs and converges, nothing twice."""
    with running_emulator(tmp_path / "emulator", "--process-delay", "2.0") as server:
        with httpx.Client(base_url=server.url) as http:
            create_integration(http, server.private_key, "gcs", "gcp")
        config = write_config(tmp_path, server.url, server.private_key_path)
        journal = journal_of(server, tmp_path)
        first = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", str(config), "--auto-approve"],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for_jobs(journal, 4)
        signalled = time.monotonic()
        os.kill(first.pid, signal.SIGTERM)
        out, err = first.communicate(timeout=60)
        assert first.returncode == 130, out + err
        assert time.monotonic() - signalled < 10, "it waited for its jobs instead of stopping"
        assert "SIGTERM: stopping after the writes in flight" in err
        assert "interrupted: SIGTERM received: stopped before the next write" in err
        assert "upload job(s) still running are journaled, and the next apply resumes them" in err
        assert "Traceback" not in err
        assert "is free" in reconciler("lock", "status", str(config)).stdout  # released on the way out

        second = reconciler("apply", str(config), "--auto-approve")
        assert second.returncode == 0, second.stdout + second.stderr
        assert "Resumed" in second.stdout
        again = reconciler("plan", str(config), "--detailed-exitcode")
        assert again.returncode == 0, again.stdout + again.stderr
        db = sqlite3.connect(server.state_path)
        urls = [row[0] for row in db.execute("SELECT url FROM items")]
        db.close()
        assert sorted(urls) == sorted(set(urls)) and len(urls) == FILES
