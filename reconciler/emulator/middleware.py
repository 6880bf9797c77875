"""ASGI middleware: authenticate every request over its raw bytes, then log it as one JSON line.

Hostile-client limits (README.md, "Limits"): what can be refused from the headers alone is refused before
the body is read; the body is read with a size cap and a per-message read timeout; a request whose JSON is
nested too deeply for the parser gets a 400 instead of a 500; the log keeps only the first bytes of a body.
With `reject_replays`, a v2 signature already accepted within the clock-skew window is refused (401).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.emulator.auth import AuthOutcome, ReplayGuard, Verifier
from reconciler.emulator.errors import (
    ApiError,
    RpcError,
    bad_request,
    payload_too_large,
    request_timeout,
    too_deeply_nested,
)

V1_PATHS = frozenset({"/public", "/public/user"})
REDACTED_HEADERS = frozenset({"signature", "signature-input", "authorization"})
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_BODY_READ_TIMEOUT_SECONDS = 30.0
LOG_BODY_BYTES = 4096


class _Refused(Exception):
    """Reading the body stopped: answer with this error (413, 408, 400)."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


class _Disconnected(Exception):
    """The client went away before sending the whole body: nothing to answer."""


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


def _body_for_log(body: bytes) -> dict[str, Any]:
    """`body`: parsed JSON, text or None; over LOG_BODY_BYTES only the first bytes (as text) and the size."""
    if not body:
        return {"body": None}
    if len(body) > LOG_BODY_BYTES:
        text = body[:LOG_BODY_BYTES].decode("utf-8", errors="replace")
        return {"body": text, "body_truncated": True, "body_bytes": len(body)}
    text = body.decode("utf-8", errors="replace")
    try:
        return {"body": json.loads(text)}
    except (ValueError, RecursionError):
        return {"body": text}


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
    def __init__(
        self,
        app: ASGIApp,
        verifier: Verifier,
        request_log: RequestLog | None,
        known_key_ids: Collection[str] = (),
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        body_read_timeout_seconds: float = DEFAULT_BODY_READ_TIMEOUT_SECONDS,
        reject_replays: bool = False,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.request_log = request_log
        self.known_key_ids = frozenset(known_key_ids)
        self.max_body_bytes = max_body_bytes
        self.body_read_timeout_seconds = body_read_timeout_seconds
        self.replay_guard = (
            ReplayGuard(verifier.clock_skew_seconds, verifier.clock) if reject_replays else None
        )

    def _claim(self, outcome: AuthOutcome) -> tuple[AuthOutcome, bytes | None]:
        """With `reject_replays`: refuse a v2 signature seen before, else remember it (and return its key).

        v1 and bearer requests are not checked (README.md, "Replays").
        """
        key, created = outcome.replay_key, outcome.created
        if self.replay_guard is None or not outcome.valid or key is None or created is None:
            return outcome, None
        if not self.replay_guard.claim(key, created):
            window = self.verifier.clock_skew_seconds
            message = (
                "Replayed request: this signature was already accepted within the "
                f"±{window} s clock-skew window (the emulator runs with --reject-replays)"
            )
            return replace(outcome, valid=False, error=message), None
        return outcome, key

    def _verify(
        self, method: str, path: str, target: str, body: bytes, headers: dict[str, str]
    ) -> AuthOutcome:
        if path in V1_PATHS:
            return self.verifier.verify_v1(body, headers)
        return self.verifier.verify_v2(method, target, body, headers)

    def _refusal_from_headers(
        self, method: str, path: str, target: str, headers: dict[str, str]
    ) -> tuple[AuthOutcome | None, AuthOutcome]:
        """The auth failure decided without the body (None when only the body can decide), and the
        outcome against an empty body, which stands for a request that has none (most GETs).

        Verifying against an empty body gives the same outcome as against the real one unless the check
        gets as far as the body (the Content-Digest for v2, the signature for v1), which happens only
        for a signature naming an authorised key.
        """
        outcome = self._verify(method, path, target, b"", headers)
        if outcome.valid or (outcome.scheme == "ssh" and outcome.key_id in self.known_key_ids):
            return None, outcome
        return outcome, outcome

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        path, query = _split_target(scope)
        target = f"{path}?{query}" if query else path
        method: str = scope["method"]
        body = b""
        outcome, without_body = self._refusal_from_headers(method, path, target, headers)
        logged = False

        def log(status: int) -> None:
            # Written before the response leaves, so a client that got its answer finds the line.
            nonlocal logged
            if self.request_log is None or logged:
                return
            logged = True
            self.request_log.write(
                {
                    "method": method,
                    "path": path,
                    "query": query,
                    **_body_for_log(body),
                    "headers": {
                        k: ("<redacted>" if k in REDACTED_HEADERS else v) for k, v in headers.items()
                    },
                    "auth": outcome.scheme if outcome is not None else "none",
                    "key_id": outcome.key_id if outcome is not None else None,
                    "signature_valid": outcome.valid if outcome is not None else False,
                    "status": status,
                }
            )

        if outcome is not None:
            await _reject(send, path, outcome, log)
            return
        try:
            _check_content_length(headers, self.max_body_bytes)
            body = await _read_body(receive, self.max_body_bytes, self.body_read_timeout_seconds)
        except _Refused as refused:
            await _send_error(send, refused.error, log)
            return
        except _Disconnected:
            return
        verified = without_body if not body else self._verify(method, path, target, body, headers)
        outcome, claimed = self._claim(verified)
        if not outcome.valid:
            await _reject(send, path, outcome, log)
            return
        scope.setdefault("state", {})["key_id"] = outcome.key_id
        replayed = False
        status: int | None = None  # once the response has started

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for disconnect as usual
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send_logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                log(message["status"])
            await send(message)

        try:
            await self.app(scope, replay, send_logged)
        except RecursionError:
            # json.loads on `[[[[...` many levels deep (the body, or JSON text inside it): a 400, not a 500.
            if status is not None:
                raise
            status = 400
            if path in V1_PATHS:
                payload = RpcError("INVALID_ARGUMENTS_ERROR", too_deeply_nested().message).envelope()
                await _send_json(send, 200, payload, log)
            else:
                await _send_error(send, too_deeply_nested(), log)
        finally:
            log(500)  # no-op unless the app failed before answering
            if claimed is not None and self.replay_guard is not None and (status is None or status >= 500):
                # The server failed: the client may retry with the very same signature (README.md).
                self.replay_guard.release(claimed)


def _check_content_length(headers: dict[str, str], limit: int) -> None:
    declared = headers.get("content-length")
    if declared is None:
        return
    try:
        length = int(declared)
    except ValueError:
        raise _Refused(bad_request("Malformed Content-Length header")) from None
    if length > limit:
        raise _Refused(payload_too_large(limit))


async def _read_body(receive: Receive, limit: int, timeout_seconds: float) -> bytes:
    """The whole body; refused past `limit` bytes, or when a message takes over `timeout_seconds`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            message = await asyncio.wait_for(receive(), timeout_seconds)
        except TimeoutError:
            raise _Refused(request_timeout(timeout_seconds)) from None
        if message["type"] != "http.request":
            raise _Disconnected
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _Refused(payload_too_large(limit))
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _reject(send: Send, path: str, outcome: AuthOutcome, log: Callable[[int], None]) -> None:
    if path in V1_PATHS:
        # The legacy querier reads the status from the envelope; the HTTP status stays 200.
        await _send_json(send, 200, RpcError("AUTHENTICATION_ERROR", outcome.error).envelope(), log)
    else:
        await _send_json(send, 401, {"message": outcome.error or "Unauthenticated"}, log)


async def _send_error(send: Send, error: ApiError, log: Callable[[int], None]) -> None:
    # The body may be partly unread: ask the server to close the connection after answering.
    await _send_json(send, error.status, {"message": error.message}, log, close=True)


async def _send_json(
    send: Send, status: int, payload: Any, log: Callable[[int], None], *, close: bool = False
) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    log(status)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
