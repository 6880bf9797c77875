"""`reject_replays` / `--reject-replays`: a v2 signature already accepted within the clock-skew window is
refused (reconciler/emulator/README.md, "Replays")."""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from reconciler.emulator.app import create_app
from reconciler.emulator.auth import ReplayGuard, Verifier, parse_authorized_key
from reconciler.emulator.middleware import AuthMiddleware
from reconciler.encord.auth import SshKeyAuth
from reconciler.encord.client import EncordClient
from reconciler.errors import EncordAuthError
from tests.emulator.sandbox import KEY, PUBLIC_LINE, sandbox_for
from tests.fidelity.conftest import running_emulator
from tests.fidelity.signing import signature_headers

FOLDERS = "/v2/public/storage/folders"
REPLAYED = "Replayed request: this signature was already accepted within the ±300 s clock-skew window"


def _app(tmp_path: Path, **options: Any) -> Starlette:
    return create_app(
        tmp_path / "state.sqlite", [PUBLIC_LINE], request_log_path=tmp_path / "log.jsonl", **options
    )


def _folder_names(tmp_path: Path) -> list[str]:
    with closing(sqlite3.connect(tmp_path / "state.sqlite")) as conn:
        return [name for (name,) in conn.execute("SELECT name FROM folders ORDER BY name")]


def _signed(body: bytes, *, method: str = "POST", target: str = FOLDERS, created: int | None = None) -> Any:
    return {
        "Content-Type": "application/json",
        **signature_headers(KEY, method, target, body, created=created),
    }


async def test_off_by_default_a_repeated_signature_is_accepted(tmp_path: Path) -> None:
    body = json.dumps({"name": "twice"}).encode()
    headers = _signed(body)
    async with sandbox_for(_app(tmp_path)) as client:
        for _ in range(2):
            assert (await client.post(FOLDERS, content=body, headers=headers)).status_code == 200
    assert _folder_names(tmp_path) == ["twice", "twice"]


async def test_a_replayed_signature_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    body = json.dumps({"name": "once"}).encode()
    headers = _signed(body)
    async with sandbox_for(_app(tmp_path, reject_replays=True)) as client:
        assert (await client.post(FOLDERS, content=body, headers=headers)).status_code == 200
        replay = await client.post(FOLDERS, content=body, headers=headers)
        assert replay.status_code == 401
        assert replay.json()["message"].startswith(REPLAYED)
        # a replayed read is refused as well: every v2 method is checked
        get = _signed(b"", method="GET")
        assert (await client.get(FOLDERS, headers=get)).status_code == 200
        assert (await client.get(FOLDERS, headers=get)).status_code == 401
    assert _folder_names(tmp_path) == ["once"]
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [(e["status"], e["signature_valid"]) for e in log] == [
        (200, True),
        (401, False),
        (200, True),
        (401, False),
    ]


async def test_distinct_requests_are_accepted(tmp_path: Path) -> None:
    now = int(time.time())
    async with sandbox_for(_app(tmp_path, reject_replays=True)) as client:
        for name in ("a", "b"):  # same second, different bodies
            body = json.dumps({"name": name}).encode()
            assert (await client.post(FOLDERS, content=body, headers=_signed(body))).status_code == 200
        body = json.dumps({"name": "c"}).encode()
        for created in (now - 1, now, now + 1):  # the same request signed at three times
            headers = _signed(body, created=created)
            assert (await client.post(FOLDERS, content=body, headers=headers)).status_code == 200
        # same body, another target
        for target in ("/v2/public/storage/folders?x=1", "/v2/public/storage/folders?x=2"):
            response = await client.get(target, headers=_signed(b"", method="GET", target=target))
            assert response.status_code == 200
    assert _folder_names(tmp_path) == ["a", "b", "c", "c", "c"]


async def test_a_request_refused_before_authentication_completed_does_not_use_up_its_signature(
    tmp_path: Path,
) -> None:
    body = json.dumps({"name": "real"}).encode()
    headers = _signed(body)
    async with sandbox_for(_app(tmp_path, reject_replays=True)) as client:
        tampered = await client.post(FOLDERS, content=b'{"name": "evil"}', headers=headers)
        assert tampered.status_code == 401 and "Content-Digest" in tampered.json()["message"]
        assert (await client.post(FOLDERS, content=body, headers=headers)).status_code == 200
    assert _folder_names(tmp_path) == ["real"]


async def test_v1_and_bearer_requests_are_not_checked(tmp_path: Path) -> None:
    async with sandbox_for(_app(tmp_path, reject_replays=True)) as client:
        token_request = _signed(b"", method="GET", target="/v2/public/user/bearer-token")
        token = (await client.get("/v2/public/user/bearer-token", headers=token_request)).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        for _ in range(2):
            assert (await client.get(FOLDERS, headers=bearer)).status_code == 200
        body = json.dumps(
            {"query_type": "dataset", "query_method": "GET", "values": {"uid": "nope", "payload": None}}
        ).encode()
        v1 = {"Authorization": f"{SshKeyAuth(KEY).key_id}:{KEY.sign(hashlib.sha256(body).digest()).hex()}"}
        answers = [(await client.post("/public", content=body, headers=v1)).json() for _ in range(2)]
        assert answers[0] == answers[1] and answers[0]["response"] != ["AUTHENTICATION_ERROR"]


# -- a server failure releases the signature --------------------------------------------------------------


def _middleware(inner: Callable[[Scope, Receive, Send], Any]) -> AuthMiddleware:
    keys = dict([parse_authorized_key(PUBLIC_LINE)])
    return AuthMiddleware(
        inner, Verifier(keys, lambda _: None, time.time, 300), None, frozenset(keys), reject_replays=True
    )


@pytest.mark.parametrize("failure", ["503", "raise"])
async def test_a_server_failure_releases_the_signature_for_a_retry(failure: str) -> None:
    calls = 0

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal calls
        calls += 1
        await receive()
        if calls == 1 and failure == "raise":
            raise RuntimeError("boom")
        status = 503 if calls == 1 else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = _middleware(inner)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = _signed(b"{}")
    async with httpx.AsyncClient(transport=transport, base_url="http://e") as client:
        first = await client.post(FOLDERS, content=b"{}", headers=headers)
        assert first.status_code in (500, 503)
        assert (await client.post(FOLDERS, content=b"{}", headers=headers)).status_code == 200  # retried
        assert (await client.post(FOLDERS, content=b"{}", headers=headers)).status_code == 401  # replayed
    assert calls == 2


# -- reconciler's client: retries re-sign, but within one second the signature is the same -----------------


class _FailOnce(httpx.AsyncBaseTransport):
    """Answers the first PATCH with 503, after passing it on to the emulator (`forward`) or without."""

    def __init__(self, app: Starlette, *, forward: bool) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._forward = forward
        self.signatures: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "PATCH":
            return await self._inner.handle_async_request(request)
        self.signatures.append(request.headers["signature"])
        if len(self.signatures) > 1:
            return await self._inner.handle_async_request(request)
        if self._forward:
            await (await self._inner.handle_async_request(request)).aread()
        return httpx.Response(503, json={"message": "proxy says no"})


def _client(transport: httpx.AsyncBaseTransport, clock: Callable[[], float]) -> EncordClient:
    async def no_sleep(_: float) -> None:
        return None

    return EncordClient(
        "http://sandbox.invalid", SshKeyAuth(KEY), transport=transport, sleep=no_sleep, clock=clock
    )


def _same_second() -> Callable[[], float]:
    second = float(int(time.time()))
    return lambda: second


def _next_second_each_call() -> Callable[[], float]:
    seconds = itertools.count(int(time.time()))
    return lambda: float(next(seconds))


async def test_the_clients_retry_of_a_request_that_never_reached_the_server_is_accepted(
    tmp_path: Path,
) -> None:
    transport = _FailOnce(_app(tmp_path, reject_replays=True), forward=False)
    async with _client(transport, _same_second()) as client:
        folder = await client.create_folder("f")
        assert (await client.update_folder(folder.uuid, name="g")).name == "g"
    # the retry was re-signed, but within the same second it is the very same signature
    assert len(transport.signatures) == 2 and transport.signatures[0] == transport.signatures[1]


async def test_the_clients_retry_of_a_request_the_server_accepted_is_a_replay_within_the_same_second(
    tmp_path: Path,
) -> None:
    transport = _FailOnce(_app(tmp_path, reject_replays=True), forward=True)
    async with _client(transport, _same_second()) as client:
        folder = await client.create_folder("f")
        with pytest.raises(EncordAuthError, match="Replayed request"):
            await client.update_folder(folder.uuid, name="g")
    assert _folder_names(tmp_path) == ["g"]  # the first attempt did land


async def test_the_clients_retry_a_second_later_carries_a_new_signature(tmp_path: Path) -> None:
    transport = _FailOnce(_app(tmp_path, reject_replays=True), forward=True)
    async with _client(transport, _next_second_each_call()) as client:
        folder = await client.create_folder("f")
        assert (await client.update_folder(folder.uuid, name="g")).name == "g"
    assert len(transport.signatures) == 2 and transport.signatures[0] != transport.signatures[1]


# -- the guard's memory ------------------------------------------------------------------------------------


def test_signatures_are_forgotten_once_they_expire() -> None:
    now = 1000.0
    guard = ReplayGuard(300, lambda: now)
    assert guard.claim(b"a", 1000) and not guard.claim(b"a", 1000)
    now = 1300.0  # created + window: still verifiable, still remembered
    assert not guard.claim(b"a", 1000)
    now = 1300.5
    assert guard.claim(b"b", 1300) and len(guard) == 1  # a pruned
    assert guard.claim(b"a", 1000)  # (the verifier would refuse it for its clock skew by now)


def test_the_guard_keeps_at_most_max_entries_forgetting_those_nearest_expiry() -> None:
    guard = ReplayGuard(300, lambda: 1000.0, max_entries=3)
    for key, created in ((b"late", 1200), (b"early", 900), (b"mid", 1000), (b"new", 1100)):
        assert guard.claim(key, created)
    assert len(guard) == 3
    assert guard.claim(b"early", 900)  # evicted: replayable again (and "mid" evicted in turn)
    assert not guard.claim(b"late", 1200) and not guard.claim(b"new", 1100)


def test_release_forgets_a_signature() -> None:
    guard = ReplayGuard(300, lambda: 1000.0, max_entries=2)
    assert guard.claim(b"a", 1000)
    guard.release(b"a")
    assert len(guard) == 0 and guard.claim(b"a", 1000) and not guard.claim(b"a", 1000)
    for _ in range(10):  # released keys' heap entries do not pile up
        guard.release(b"a")
        assert guard.claim(b"a", 1000)
    assert len(guard._heap) <= 2 * 2 + 1


# -- over HTTP -----------------------------------------------------------------------------------------


def test_served_with_reject_replays(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "served", "--reject-replays") as server:
        body = json.dumps({"name": "served"}).encode()
        headers = {
            "Content-Type": "application/json",
            **signature_headers(server.private_key, "POST", FOLDERS, body),
        }
        with server.http() as client:
            assert client.post(FOLDERS, content=body, headers=headers).status_code == 200
            replay = client.post(FOLDERS, content=body, headers=headers)
            assert replay.status_code == 401 and replay.json()["message"].startswith(REPLAYED)
        assert [row["name"] for row in server.query("SELECT name FROM folders")] == ["served"]
