"""A CI pipeline cancelled mid-registration, then run again from a fresh checkout (issue 15, point 2).

The lock and the recorded state are a `gs://` lease (fake-gcs-server); Encord is `reconciler emulator
serve`, holding each upload job PENDING for a while. The first apply gets SIGTERM while its jobs run; the
second runs in another directory (a fresh checkout: no `.reconciler/`), finds the jobs in the journal beside
the lock, waits for them, registers only what is missing, links everything into the dataset, and the plan
after it is empty.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import httpx

from reconciler.journal import GcsJournalStore, JobJournal, journal_location
from tests.fidelity.conftest import REPO_ROOT, running_emulator
from tests.fidelity.signing import create_integration

FILES = 1200


def _checkout(directory: Path, domain: str, key: Path, lock: str) -> Path:
    directory.mkdir(parents=True)
    spec = {"images": [{"objectUrl": f"gs://bench/img/{i:05d}.jpg"} for i in range(FILES)]}
    (directory / "images.json").write_text(json.dumps(spec), encoding="utf-8")
    (directory / "reconciler.yaml").write_text(
        f"backend: {{kind: encord, domain: '{domain}', ssh_key_file: '{key}', lock: '{lock}'}}\n"
        "folders:\n"
        "  - name: raw\n"
        "    data: [{integration: gcs, json: images.json, batch: {images: 100}}]\n"
        "datasets:\n"
        "  - {title: train, folders: [raw]}\n",
        encoding="utf-8",
    )
    return directory


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_cancelled_registration_resumes_from_a_fresh_checkout_and_converges_in_one_apply(
    tmp_path: Path, fake_gcs: str, location: str
) -> None:
    env = {**os.environ, "STORAGE_EMULATOR_HOST": fake_gcs}
    with running_emulator(tmp_path / "emulator", "--process-delay", "2.0") as server:
        with httpx.Client(base_url=server.url) as http:
            create_integration(http, server.private_key, "gcs", "gcp")
        first_checkout = _checkout(tmp_path / "run-1", server.url, server.private_key_path, location)
        os.environ["STORAGE_EMULATOR_HOST"] = fake_gcs  # for the journal read below
        try:
            journal = JobJournal(GcsJournalStore(journal_location(location)))
            first = subprocess.Popen(
                [sys.executable, "-m", "reconciler", "apply", str(first_checkout), "--auto-approve"],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 60
            while len(journal.pending()) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            os.kill(first.pid, signal.SIGTERM)
            out, err = first.communicate(timeout=60)
            assert first.returncode == 130, out + err
            left = journal.pending()
            assert left, "the first run was stopped before any job was journaled beside the lock"
        finally:
            del os.environ["STORAGE_EMULATOR_HOST"]

        fresh = tmp_path / "run-2"
        shutil.copytree(first_checkout, fresh, ignore=shutil.ignore_patterns(".reconciler"))
        assert not (first_checkout / ".reconciler" / "jobs.jsonl").exists()
        second = _run(env, "apply", str(fresh), "--auto-approve")
        assert second.returncode == 0, second.stdout + second.stderr
        assert f"Resumed {len(left)} upload job(s)" in second.stdout
        assert "0 missing, 0 extra" in second.stdout  # every item linked in that one apply
        again = _run(env, "plan", str(fresh), "--detailed-exitcode")
        assert again.returncode == 0, again.stdout + again.stderr

        with closing(sqlite3.connect(server.state_path)) as db:
            urls = [row[0] for row in db.execute("SELECT url FROM items")]
            rows = db.execute("SELECT count(*), count(DISTINCT item) FROM data_rows").fetchone()
        assert len(urls) == FILES and len(set(urls)) == FILES  # nothing registered twice
        assert rows == (FILES, FILES)  # each item linked once
