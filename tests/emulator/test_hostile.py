"""The emulator as a shared test server facing hostile clients: auth before the body, body size cap,
read timeout, deeply nested or malformed JSON, and a bounded request log (README.md, "Limits")."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.types import Message

from reconciler.emulator.app import create_app
from reconciler.emulator.middleware import LOG_BODY_BYTES
from tests.emulator.sandbox import KEY, PUBLIC_LINE, sandbox_for
from tests.fidelity.conftest import running_emulator
from tests.fidelity.signing import key_id, load_private_key, signature_headers

FOLDERS = "/v2/public/storage/folders"
DEEP = b"[" * 100_000


def _app(tmp_path: Path, **options: Any) -> Starlette:
    return create_app(tmp_path / "state.sqlite", [PUBLIC_LINE], **options)


def _count(tmp_path: Path, table: str) -> int:
    with closing(sqlite3.connect(tmp_path / "state.sqlite")) as conn:
        (count,) = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        return int(count)


def _signed(
    method: str, target: str, body: bytes, *, key: Ed25519PrivateKey = KEY, signed_body: bytes | None = None
) -> dict[str, str]:
    headers = signature_headers(key, method, target, body if signed_body is None else signed_body)
    return {"Content-Type": "application/json", **headers}


async def _send(
    app: Starlette, method: str, path: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    async with sandbox_for(app) as client:
        return await client.request(method, path, content=body, headers=headers)


async def _asgi(
    app: Starlette,
    method: str,
    path: str,
    headers: dict[str, str],
    receive: Callable[[], Awaitable[Message]],
) -> list[Message]:
    """Call the app directly with a hand-written `receive`; the messages it sent."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return sent


def _status(sent: list[Message]) -> int:
    status: int = sent[0]["status"]
    return status


def _json(sent: list[Message]) -> Any:
    return json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


async def _never_called() -> Message:
    raise AssertionError("the body was read")


# -- authentication before the body ---------------------------------------------------------------------


async def test_unsigned_request_is_refused_without_reading_the_body(tmp_path: Path) -> None:
    app = _app(tmp_path)
    sent = await _asgi(app, "POST", FOLDERS, {"content-length": "1000000000"}, _never_called)
    assert _status(sent) == 401
    assert _json(sent) == {"message": "Missing request signature"}
    assert _count(tmp_path, "folders") == 0


async def test_signature_by_an_unknown_key_is_refused_without_reading_the_body(tmp_path: Path) -> None:
    app = _app(tmp_path)
    stranger = Ed25519PrivateKey.generate()
    headers = {**_signed("POST", FOLDERS, b"{}", key=stranger), "content-length": "1000000000"}
    sent = await _asgi(app, "POST", FOLDERS, headers, _never_called)
    assert _status(sent) == 401
    assert _json(sent)["message"] == "Unknown public key"


async def test_unknown_bearer_token_is_refused_without_reading_the_body(tmp_path: Path) -> None:
    app = _app(tmp_path)
    headers = {"authorization": "Bearer nope", "content-length": "10"}
    sent = await _asgi(app, "POST", FOLDERS, headers, _never_called)
    assert _status(sent) == 401
    # v1 answers its envelope, HTTP 200, also without reading the body
    sent = await _asgi(
        app, "POST", "/public", {"authorization": "ab:cd", "content-length": "10"}, _never_called
    )
    assert _status(sent) == 200
    assert _json(sent)["response"] == ["AUTHENTICATION_ERROR"]


async def test_forged_signature_naming_our_key_is_refused(tmp_path: Path) -> None:
    app = _app(tmp_path)
    body = json.dumps({"name": "forged"}).encode()
    stranger = Ed25519PrivateKey.generate()
    forged = _signed("POST", FOLDERS, body, key=stranger)
    # the stranger's signature, claiming to be by our authorised key
    forged["Signature-Input"] = forged["Signature-Input"].replace(key_id(stranger), key_id(KEY))
    response = await _send(app, "POST", FOLDERS, body, forged)
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid signature"}
    assert _count(tmp_path, "folders") == 0


async def test_tampered_body_is_refused(tmp_path: Path) -> None:
    app = _app(tmp_path)
    body = json.dumps({"name": "tampered"}).encode()
    headers = _signed("POST", FOLDERS, body, signed_body=json.dumps({"name": "original"}).encode())
    response = await _send(app, "POST", FOLDERS, body, headers)
    assert response.status_code == 401
    assert "Content-Digest" in response.json()["message"]
    assert _count(tmp_path, "folders") == 0


async def test_a_signed_request_still_works(tmp_path: Path) -> None:
    app = _app(tmp_path)
    body = json.dumps({"name": "fine"}).encode()
    response = await _send(app, "POST", FOLDERS, body, _signed("POST", FOLDERS, body))
    assert response.status_code == 200, response.text
    assert _count(tmp_path, "folders") == 1


# -- body size -------------------------------------------------------------------------------------------


async def test_oversized_body_declared_by_content_length_is_refused_before_reading(tmp_path: Path) -> None:
    app = _app(tmp_path, max_body_bytes=1000)
    body = json.dumps({"name": "x" * 2000}).encode()
    headers = {**_signed("POST", FOLDERS, body), "content-length": str(len(body))}
    sent = await _asgi(app, "POST", FOLDERS, headers, _never_called)
    assert _status(sent) == 413
    assert "1000 bytes" in _json(sent)["message"]
    # and through httpx, which sends the Content-Length itself
    response = await _send(app, "POST", FOLDERS, body, _signed("POST", FOLDERS, body))
    assert response.status_code == 413
    assert _count(tmp_path, "folders") == 0


async def test_the_default_limit_is_ten_megabytes(tmp_path: Path) -> None:
    app = _app(tmp_path)
    headers = {**_signed("POST", FOLDERS, b"{}"), "content-length": str(10 * 1024 * 1024 + 1)}
    assert _status(await _asgi(app, "POST", FOLDERS, headers, _never_called)) == 413
    headers["content-length"] = "not a number"
    assert _status(await _asgi(app, "POST", FOLDERS, headers, _never_called)) == 400


async def test_oversized_streamed_body_is_refused_while_streaming(tmp_path: Path) -> None:
    app = _app(tmp_path, max_body_bytes=1000)
    chunk = b"x" * 300
    body = chunk * 100
    received = 0

    async def receive() -> Message:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": chunk, "more_body": received < 100}

    sent = await _asgi(app, "POST", FOLDERS, _signed("POST", FOLDERS, body), receive)  # no Content-Length
    assert _status(sent) == 413
    assert received == 4  # stopped at the first chunk past the limit
    assert (b"connection", b"close") in sent[0]["headers"]
    assert _count(tmp_path, "folders") == 0


async def test_streamed_body_within_the_limit_is_accepted(tmp_path: Path) -> None:
    app = _app(tmp_path, max_body_bytes=1000)
    body = json.dumps({"name": "streamed"}).encode()

    async def chunks() -> Any:
        for i in range(0, len(body), 5):
            yield body[i : i + 5]

    async with sandbox_for(app) as client:
        response = await client.post(FOLDERS, content=chunks(), headers=_signed("POST", FOLDERS, body))
    assert response.status_code == 200, response.text
    assert _count(tmp_path, "folders") == 1


# -- read timeout and disconnects ------------------------------------------------------------------------


async def test_a_client_that_never_sends_its_body_is_timed_out(tmp_path: Path) -> None:
    app = _app(tmp_path, body_read_timeout_seconds=0.2)
    body = json.dumps({"name": "slow"}).encode()
    calls = 0

    async def receive() -> Message:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": body[:3], "more_body": True}
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    headers = {**_signed("POST", FOLDERS, body), "content-length": str(len(body))}
    sent = await asyncio.wait_for(_asgi(app, "POST", FOLDERS, headers, receive), 5)
    assert _status(sent) == 408
    assert _count(tmp_path, "folders") == 0


async def test_a_client_that_disconnects_mid_body_gets_no_answer(tmp_path: Path) -> None:
    app = _app(tmp_path)
    body = json.dumps({"name": "gone"}).encode()
    messages: list[Message] = [
        {"type": "http.request", "body": body[:3], "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    assert await _asgi(app, "POST", FOLDERS, _signed("POST", FOLDERS, body), receive) == []
    assert _count(tmp_path, "folders") == 0


# -- hostile JSON ----------------------------------------------------------------------------------------


async def test_deeply_nested_json_is_a_400_not_a_500(tmp_path: Path) -> None:
    app = _app(tmp_path)
    response = await _send(app, "POST", FOLDERS, DEEP, _signed("POST", FOLDERS, DEEP))
    assert response.status_code == 400
    assert response.json() == {"message": "Request JSON is nested too deeply"}
    assert _count(tmp_path, "folders") == 0


async def test_deeply_nested_json_inside_a_string_is_a_400(tmp_path: Path) -> None:
    app = _app(tmp_path)
    body = json.dumps({"name": "meta", "clientMetadata": DEEP.decode()}).encode()
    response = await _send(app, "POST", FOLDERS, body, _signed("POST", FOLDERS, body))
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["message"]
    assert _count(tmp_path, "folders") == 0


async def test_deeply_nested_json_on_v1_is_an_invalid_arguments_envelope(tmp_path: Path) -> None:
    app = _app(tmp_path)
    signature = KEY.sign(hashlib.sha256(DEEP).digest()).hex()
    headers = {"Authorization": f"{key_id(KEY)}:{signature}", "Content-Type": "application/json"}
    response = await _send(app, "POST", "/public", DEEP, headers)
    assert response.status_code == 200
    assert response.json()["status"] == 400
    assert response.json()["response"] == ["INVALID_ARGUMENTS_ERROR"]
    assert _count(tmp_path, "datasets") == 0


async def test_malformed_json_is_a_400(tmp_path: Path) -> None:
    app = _app(tmp_path)
    for body in (b"{", b'{"name": "x",}', b"\xff\xfe", b"[1, 2"):
        response = await _send(app, "POST", FOLDERS, body, _signed("POST", FOLDERS, body))
        assert response.status_code == 400, body
        assert "message" in response.json()
    assert _count(tmp_path, "folders") == 0


# -- request log -----------------------------------------------------------------------------------------


async def test_request_log_keeps_only_the_first_bytes_of_a_body(tmp_path: Path) -> None:
    log_path = tmp_path / "requests.jsonl"
    app = _app(tmp_path, request_log_path=log_path)
    big = json.dumps({"name": "n" * 100_000}).encode()
    small = json.dumps({"name": "small"}).encode()
    for body in (big, DEEP[:LOG_BODY_BYTES], small):
        await _send(app, "POST", FOLDERS, body, _signed("POST", FOLDERS, body))
    big_entry, deep_entry, small_entry = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert big_entry["body"] == big[:LOG_BODY_BYTES].decode()
    assert big_entry["body_truncated"] is True
    assert big_entry["body_bytes"] == len(big)
    assert big_entry["status"] == 200
    assert deep_entry["body"] == DEEP[:LOG_BODY_BYTES].decode()  # unparseable: logged as text
    assert deep_entry["status"] == 400
    assert small_entry["body"] == {"name": "small"}
    assert "body_truncated" not in small_entry
    assert log_path.stat().st_size < 3 * LOG_BODY_BYTES + 4000


# -- over HTTP: `reconciler emulator serve` --------------------------------------------------------------


def _raw_http(url: str, head: str, body: bytes = b"", timeout: float = 10.0) -> tuple[int, bytes]:
    """Send `head` (request line and headers) and `body` on a fresh socket; (status, response bytes)."""
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1"
    with socket.create_connection(("127.0.0.1", parts.port or 80), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def _head(method: str, path: str, headers: dict[str, str]) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines) + "\r\n"


def test_served_emulator_answers_before_a_huge_declared_body_arrives(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "served") as server:
        key = load_private_key(server.private_key_pem)
        huge = {"Content-Length": str(50 * 1024 * 1024), "Content-Type": "application/json"}
        # unsigned: refused at once, though the 50 MB body never comes
        status, _ = _raw_http(server.url, _head("POST", FOLDERS, huge))
        assert status == 401
        # signed, but over the 10 MB default: 413 at once
        status, data = _raw_http(server.url, _head("POST", FOLDERS, {**huge, **_signed_by(key, b"{}")}))
        assert status == 413
        assert b"connection: close" in data.lower()
        # deeply nested JSON: 400, and the server keeps serving
        status, _ = _raw_http(
            server.url,
            _head("POST", FOLDERS, {"Content-Length": str(len(DEEP)), **_signed_by(key, DEEP)}),
            DEEP,
        )
        assert status == 400
        with server.http() as client:
            body = json.dumps({"name": "after"}).encode()
            response = client.post(FOLDERS, content=body, headers=_signed_by(key, body))
            assert response.status_code == 200, response.text
        assert [row["name"] for row in server.query("SELECT name FROM folders")] == ["after"]
        assert [entry["status"] for entry in server.read_log()] == [401, 413, 400, 200]


def _signed_by(key: Ed25519PrivateKey, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", **signature_headers(key, "POST", FOLDERS, body)}


# -- the served emulator under hostile requests: status codes, state, memory -----------------------------

SERVED_LIMIT = 1024 * 1024  # --max-body-bytes
SERVED_BODY_TIMEOUT = 1.0  # --body-timeout
SLOW_CLIENTS = 50
MEMORY_CEILING_KB = 150 * 1024  # the served process's peak RSS, whatever happens
MEMORY_GROWTH_KB = 6 * 1024  # peak growth the hostile requests may cause over the warmed-up baseline


def _peak_rss_kb(pid: int) -> int:
    """VmHWM: the process's peak resident set size so far, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/PID/status")


def _dump(state_path: Path) -> list[str]:
    with closing(sqlite3.connect(f"file:{state_path}?mode=ro", uri=True)) as conn:
        return list(conn.iterdump())


def _response_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed without a status line: {data!r}")
        data += chunk
    return int(data.split(b" ", 2)[1])


def _stream_while_reading(url: str, head: str, chunks: Iterator[bytes]) -> tuple[int, int]:
    """Send `head`, then `chunks` from a thread, while this thread reads the answer; (status, bytes sent).

    The server answers (and closes) before the body is done, so the writer meets a closed socket.
    """
    port = urlsplit(url).port or 80
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n")

        def write() -> None:
            nonlocal sent
            try:
                for chunk in chunks:
                    sock.sendall(chunk)
                    sent += len(chunk)
            except OSError:  # EPIPE / ECONNRESET / closed by the reader: the server stopped listening
                return

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        try:
            status = _response_status(sock)
        finally:
            with contextlib.suppress(OSError):  # already reset by the server
                sock.shutdown(socket.SHUT_RDWR)
            writer.join(timeout=10)
    return status, sent


def _chunked(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """`total` bytes of body in HTTP/1.1 chunked framing (never finished: no last chunk)."""
    piece = b"x" * size
    for _ in range(total // size):
        yield f"{size:x}\r\n".encode() + piece + b"\r\n"


def _filler(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    piece = b"x" * size
    for _ in range(total // size):
        yield piece


def test_served_emulator_under_hostile_requests_keeps_its_state_and_its_memory(tmp_path: Path) -> None:
    limits = ("--max-body-bytes", str(SERVED_LIMIT), "--body-timeout", str(SERVED_BODY_TIMEOUT))
    with running_emulator(tmp_path / "served", *limits) as server:
        pid = server.process.pid
        key = server.private_key
        keep = json.dumps({"name": "keep", "clientMetadata": json.dumps({"k": "v" * 1000})}).encode()
        warm = json.dumps({"name": "warm"}).encode()
        with server.http() as client:
            # the state to keep, and a warm-up of the ordinary paths (a read, a chunked body)
            assert client.post(FOLDERS, content=keep, headers=_signed_by(key, keep)).status_code == 200
            assert client.get(FOLDERS, headers=signature_headers(key, "GET", FOLDERS, b"")).status_code == 200
            streamed = client.post(FOLDERS, content=iter([warm]), headers=_signed_by(key, warm))
            assert streamed.status_code == 200 and "content-length" not in streamed.request.headers
        before = _dump(server.state_path)
        baseline = _peak_rss_kb(pid)

        body = json.dumps({"name": "hostile"}).encode()
        stranger = Ed25519PrivateKey.generate()
        forged = _signed_by(stranger, body)
        forged["Signature-Input"] = forged["Signature-Input"].replace(key_id(stranger), key_id(key))
        tampered = _signed_by(key, json.dumps({"name": "original"}).encode())
        nested_meta = json.dumps({"name": "nested", "clientMetadata": DEEP.decode()}).encode()
        v1_deep = {"Authorization": f"{key_id(key)}:{key.sign(hashlib.sha256(DEEP).digest()).hex()}"}
        cases: list[tuple[str, dict[str, str], bytes, int]] = [
            ("unsigned", {"Content-Type": "application/json"}, body, 401),
            ("forged", forged, body, 401),
            ("tampered", tampered, body, 401),
            ("deeply nested", _signed_by(key, DEEP), DEEP, 400),
            ("nested in a string", _signed_by(key, nested_meta), nested_meta, 400),
            ("malformed", _signed_by(key, b'{"name": '), b'{"name": ', 400),
        ]
        for name, headers, payload, expected in cases:
            head = _head("POST", FOLDERS, {"Content-Length": str(len(payload)), **headers})
            status, _ = _raw_http(server.url, head, payload)
            assert status == expected, name
        with server.http() as client:
            v1 = client.post("/public", content=DEEP, headers=v1_deep)
            assert v1.status_code == 200 and v1.json()["response"] == ["INVALID_ARGUMENTS_ERROR"]

        # oversized: declared (1 GB, never sent), declared and sent (20 MB), streamed without a length (50 MB)
        status, _ = _raw_http(
            server.url, _head("POST", FOLDERS, {"Content-Length": str(2**30), **_signed_by(key, b"{}")})
        )
        assert status == 413
        declared = _head("POST", FOLDERS, {"Content-Length": str(20 * 2**20), **_signed_by(key, b"{}")})
        status, _ = _stream_while_reading(server.url, declared, _filler(20 * 2**20))
        assert status == 413
        chunked = _head("POST", FOLDERS, {"Transfer-Encoding": "chunked", **_signed_by(key, b"{}")})
        status, sent_chunked = _stream_while_reading(server.url, chunked, _chunked(50 * 2**20))
        assert status == 413
        assert sent_chunked < 20 * 2**20  # the server stopped reading soon after the limit

        # slow: many clients at once, each declaring a body and sending only a bit of it
        started = time.monotonic()
        slow_body = json.dumps({"name": "slow" * 100}).encode()
        slow_head = _head(
            "POST", FOLDERS, {"Content-Length": str(len(slow_body)), **_signed_by(key, slow_body)}
        )
        sockets = [
            socket.create_connection(("127.0.0.1", urlsplit(server.url).port or 80), timeout=10)
            for _ in range(SLOW_CLIENTS)
        ]
        try:
            for sock in sockets:
                sock.sendall(slow_head.encode("latin-1") + b"\r\n" + slow_body[:50])
            statuses = [_response_status(sock) for sock in sockets]
        finally:
            for sock in sockets:
                sock.close()
        assert statuses == [408] * SLOW_CLIENTS
        assert time.monotonic() - started < SERVED_BODY_TIMEOUT + 5

        # nothing changed; the server still serves; its memory stayed put
        assert _dump(server.state_path) == before
        with server.http() as client:
            response = client.get(FOLDERS, headers=signature_headers(key, "GET", FOLDERS, b""))
            assert response.status_code == 200
            assert [f["name"] for f in response.json()["results"]] == ["keep", "warm"]
        peak = _peak_rss_kb(pid)
        measured = f"peak RSS {baseline} kB warmed up, {peak} kB after the hostile requests"
        assert peak < MEMORY_CEILING_KB, measured
        assert peak - baseline < MEMORY_GROWTH_KB, measured
        statuses_logged = [entry["status"] for entry in server.read_log()]
        assert statuses_logged.count(408) == SLOW_CLIENTS and 500 not in statuses_logged
