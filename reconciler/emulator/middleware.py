"""ASGI middleware: authenticate every request over its raw bytes, then log it as one JSON line."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.emulator.auth import AuthOutcome, Verifier
from reconciler.emulator.errors import RpcError

V1_PATHS = frozenset({"/public", "/public/user"})
REDACTED_HEADERS = frozenset({"signature", "signature-input", "authorization"})


class RequestLog:
    """Appends one JSON object per request; other tests diff our client's traffic against the SDK's."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._lock = threading.Lock()

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self._lock, self._path.open("a", encoding="utf-8") as fh:
            fh.write(line)


def _body_for_log(body: bytes) -> Any:
    if not body:
        return None
    text = body.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _split_target(scope: Scope) -> tuple[str, str]:
    """(raw path, raw query) exactly as sent; some servers put the query inside raw_path."""
    raw_path: bytes | None = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    path, _, query_in_path = path.partition("?")
    query = scope.get("query_string", b"").decode("latin-1") or query_in_path
    return path, query


class AuthMiddleware:
    def __init__(self, app: ASGIApp, verifier: Verifier, request_log: RequestLog | None) -> None:
        self.app = app
        self.verifier = verifier
        self.request_log = request_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        headers = _headers(scope)
        path, query = _split_target(scope)
        target = f"{path}?{query}" if query else path
        if path in V1_PATHS:
            outcome = self.verifier.verify_v1(body, headers)
        else:
            outcome = self.verifier.verify_v2(scope["method"], target, body, headers)

        logged = False

        def log(status: int) -> None:
            # Written before the response leaves, so a client that got its answer finds the line.
            nonlocal logged
            if self.request_log is None or logged:
                return
            logged = True
            self.request_log.write(
                {
                    "method": scope["method"],
                    "path": path,
                    "query": query,
                    "body": _body_for_log(body),
                    "headers": {
                        k: ("<redacted>" if k in REDACTED_HEADERS else v) for k, v in headers.items()
                    },
                    "auth": outcome.scheme,
                    "key_id": outcome.key_id,
                    "signature_valid": outcome.valid,
                    "status": status,
                }
            )

        if not outcome.valid:
            await _reject(send, path, outcome, log)
            return
        scope.setdefault("state", {})["key_id"] = outcome.key_id
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for disconnect as usual
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                log(message["status"])
            await send(message)

        try:
            await self.app(scope, replay, send_logged)
        finally:
            log(500)  # no-op unless the app failed before answering


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _reject(send: Send, path: str, outcome: AuthOutcome, log: Callable[[int], None]) -> None:
    if path in V1_PATHS:
        # The legacy querier reads the status from the envelope; the HTTP status stays 200.
        status, payload = 200, RpcError("AUTHENTICATION_ERROR", outcome.error).envelope()
    else:
        status, payload = 401, {"message": outcome.error or "Unauthenticated"}
    body = json.dumps(payload).encode()
    log(status)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
