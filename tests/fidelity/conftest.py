"""Fixtures that run the emulator as a real HTTP server and point the official Encord SDK at it.

`emulator_server` (session) and `encord_user_client` are shared with other test packages: keep the names.
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import socket
import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from pydantic.warnings import PydanticDeprecatedSince212

from reconciler.encord.auth import SshKeyAuth
from reconciler.encord.client import EncordClient
from tests.fidelity.parity import RUN, Parity, World, our_client, register
from tests.fidelity.signing import load_private_key

# encord 0.1.211 declares an `@model_validator(mode="after")` on a classmethod
# (encord/beta/scene/layout.py); pydantic >= 2.12 warns about it once, at import time.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message="Using `@model_validator` with mode='after' on a classmethod is deprecated",
        category=PydanticDeprecatedSince212,
    )
    from encord import EncordUserClient

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 20.0


@dataclass
class EmulatorServer:
    url: str
    private_key_path: Path
    public_key_path: Path
    state_path: Path
    request_log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def private_key_pem(self) -> str:
        return self.private_key_path.read_text()

    @property
    def private_key(self) -> Ed25519PrivateKey:
        return load_private_key(self.private_key_pem)

    def read_log(self) -> list[dict[str, Any]]:
        if not self.request_log_path.exists():
            return []
        return [json.loads(line) for line in self.request_log_path.read_text().splitlines() if line.strip()]

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Read the emulator's SQLite state directly (read-only), to check what it stored."""
        with closing(sqlite3.connect(f"file:{self.state_path}?mode=ro", uri=True)) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql, args).fetchall()]

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def write_key_pair(directory: Path) -> tuple[Path, Path]:
    key = Ed25519PrivateKey.generate()
    private_path = directory / "id_ed25519"
    public_path = directory / "id_ed25519.pub"
    private_path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()))
    private_path.chmod(0o600)  # as ssh-keygen writes it: reconciler warns about a readable key
    public_line = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    public_path.write_text(f"{public_line} fidelity@tests\n")
    return private_path, public_path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_ready(process: subprocess.Popen[bytes], stderr_path: Path) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                line = process.stdout.readline().decode()
                if "emulator listening on" in line:
                    return
                if not line:
                    break
    raise RuntimeError(f"emulator did not start:\n{stderr_path.read_text()}")


@contextmanager
def running_emulator(directory: Path, *extra_args: str) -> Iterator[EmulatorServer]:
    """Start `reconciler emulator serve` on a free loopback port; stop it on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = write_key_pair(directory)
    port = _free_port()
    state_path = directory / "state.sqlite"
    log_path = directory / "requests.jsonl"
    stderr_path = directory / "stderr.txt"
    command = [
        sys.executable,
        "-m",
        "reconciler",
        "emulator",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--state",
        str(state_path),
        "--authorized-key",
        str(public_path),
        "--request-log",
        str(log_path),
        *extra_args,
    ]
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        _wait_until_ready(process, stderr_path)
        yield EmulatorServer(
            f"http://127.0.0.1:{port}", private_path, public_path, state_path, log_path, process
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


@pytest.fixture(scope="session")
def emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path_factory.mktemp("emulator")) as server:
        yield server


@pytest.fixture(scope="session")
def encord_user_client(emulator_server: EmulatorServer) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(
        ssh_private_key=emulator_server.private_key_pem, domain=emulator_server.url
    )


# -- request parity (test_request_parity*.py): one emulator per module, objects made by our client --------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path_factory.mktemp("request-parity")) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def world(server: EmulatorServer) -> World:
    async def build() -> World:
        async with our_client(server) as client:
            integration = await client.sandbox_create_integration(f"parity-{RUN}", "aws")
            shared = await client.create_folder(f"parity-{RUN}")
            items_folder = await client.create_folder("items", parent=shared.uuid)
            items = await register(client, items_folder.uuid, integration.integration_uuid)
        return World(integration.integration_uuid, shared.uuid, items_folder.uuid, items)

    return asyncio.run(build())


@pytest.fixture(scope="module")
def sdk(server: EmulatorServer) -> Any:
    return EncordUserClient.create_with_ssh_private_key(
        ssh_private_key=server.private_key_pem, domain=server.url
    )


@pytest.fixture
async def ours(server: EmulatorServer) -> AsyncIterator[EncordClient]:
    async with our_client(server) as client:
        yield client


@pytest.fixture
def parity(server: EmulatorServer) -> Parity:
    return Parity(server, SshKeyAuth(server.private_key).key_id)
