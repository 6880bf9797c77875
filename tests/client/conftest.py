"""Shared fixtures: a fresh Ed25519 key, a recording MockTransport and a client factory."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reconciler.encord.auth import Auth, BearerAuth, SshKeyAuth
from reconciler.encord.client import EncordClient

DOMAIN = "http://sandbox.invalid"
F1 = "00000000-0000-0000-0000-0000000000f1"
I1 = "00000000-0000-0000-0000-0000000000a1"
BEARER = "tok-SECRET-bearer-0123456789abcdef"


def folder_json(uuid: str = F1, name: str = "f", parent: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "parent": parent,
        "name": name,
        "description": "",
        "clientMetadata": None,
        "owner": "me@x",
        "createdAt": "2024-01-01T00:00:00+00:00",
        "lastEditedAt": "2024-01-01T00:00:00+00:00",
        "userRole": "admin",
        "syncedDatasetHash": None,
        "pathToRoot": [],
        **extra,
    }


def item_json(uuid: str = I1, parent: str = F1, name: str = "i") -> dict[str, Any]:
    return {
        "uuid": uuid,
        "parent": parent,
        "itemType": "image",
        "name": name,
        "clientMetadata": "{}",
        "owner": "me",
        "createdAt": "2024-01-01T00:00:00+00:00",
        "lastEditedAt": "2024-01-01T00:00:00+00:00",
        "backedDataUnitsCount": 0,
        "storageLocation": "gcp",
        "integrationHash": None,
        "url": "gs://b/i.jpg",
        **{
            k: None
            for k in [
                "signedUrl",
                "fileSize",
                "mimeType",
                "duration",
                "fps",
                "height",
                "width",
                "dicomInstanceUid",
                "dicomStudyUid",
                "dicomSeriesUid",
                "frameCount",
                "audioSampleRate",
                "audioBitDepth",
                "audioCodec",
                "audioNumChannels",
            ]
        },
    }


@dataclass
class Sleeps:
    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@dataclass
class Recorder:
    """A MockTransport handler wrapper that keeps every request it saw."""

    handler: Callable[[httpx.Request], httpx.Response]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.handler(request)

    @property
    def targets(self) -> list[str]:
        return [f"{r.method} {r.url.raw_path.decode()}" for r in self.requests]

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def ok(data: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(data).encode(), headers=headers)


@pytest.fixture
def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def key_pem(private_key: Ed25519PrivateKey) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def ssh_auth(private_key: Ed25519PrivateKey) -> SshKeyAuth:
    return SshKeyAuth(private_key)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(ssh_auth: SshKeyAuth, sleeps: Sleeps) -> Callable[..., tuple[EncordClient, Recorder]]:
    def make(
        handler: Callable[[httpx.Request], httpx.Response], *, auth: Auth | None = None, **kwargs: Any
    ) -> tuple[EncordClient, Recorder]:
        recorder = Recorder(handler)
        kwargs.setdefault("sleep", sleeps)
        client = EncordClient(DOMAIN, auth or ssh_auth, transport=httpx.MockTransport(recorder), **kwargs)
        return client, recorder

    return make


@pytest.fixture
def bearer_auth() -> BearerAuth:
    return BearerAuth(BEARER)


def write_key(path: Path, pem: str, mode: int = 0o600) -> Path:
    path.write_text(pem)
    path.chmod(mode)
    return path


class FakeEncord:
    """A tiny in-memory Encord for folder/dataset creates, with failure injection.

    `fail_next` holds callables `(request) -> Response | Exception | None`; the first one is consumed per
    request before normal handling (None = handle normally). An `after` hook lets a failure happen
    *after* the server did the work (e.g. the connection dropped once the folder was created).
    """

    def __init__(self) -> None:
        self.folders: dict[str, dict[str, Any]] = {}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.before: list[Callable[[httpx.Request], httpx.Response | Exception | None]] = []
        self.after: list[Callable[[httpx.Request, httpx.Response], httpx.Response | Exception | None]] = []
        self.counter = 0
        self.posts = 0

    def _uuid(self) -> str:
        self.counter += 1
        return f"00000000-0000-0000-0000-{self.counter:012x}"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.before:
            injected = self.before.pop(0)(request)
            if isinstance(injected, Exception):
                raise injected
            if injected is not None:
                return injected
        response = self.handle(request)
        if self.after:
            injected_after = self.after.pop(0)(request, response)
            if isinstance(injected_after, Exception):
                raise injected_after
            if injected_after is not None:
                return injected_after
        return response

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v2/public/")
        body = json.loads(request.content) if request.content else None
        if request.method == "GET" and (path == "storage/folders" or path.endswith("/folders")):
            parent = None if path == "storage/folders" else path.split("/")[2]
            found = [f for f in self.folders.values() if f["parent"] == parent]
            return ok({"results": sorted(found, key=lambda f: f["name"]), "nextPageToken": None})
        if request.method == "POST" and path == "storage/folders":
            self.posts += 1
            folder = folder_json(self._uuid(), body["name"], body.get("parent"))
            self.folders[folder["uuid"]] = folder
            return ok(folder)
        if request.method == "GET" and path == "datasets/list":
            title = request.url.params.get("titleEq")
            found = [d for d in self.datasets.values() if title is None or d["title"] == title]
            return ok({"result": found})
        if request.method == "POST" and path == "datasets":
            self.posts += 1
            uuid = self._uuid()
            self.datasets[uuid] = {"datasetUuid": uuid, "title": body["title"], "description": ""}
            return ok({"datasetUuid": uuid, "backingFolderUuid": None})
        if request.method == "POST" and path.endswith("/data-upload-jobs"):
            self.posts += 1
            return ok(self._uuid())
        return ok({"message": f"no route {request.method} {path}"}, 404)
