"""A request reaches the socket in one write, and only when its answer is about to be read."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import httpcore
import httpx
import pytest

from reconciler.encord.whole_requests import _WholeRequestStream, request_guard, whole_request_transport


class Recording(httpcore.AsyncNetworkStream):
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.writes.append(buffer)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return b""

    async def aclose(self) -> None:
        pass


async def test_head_and_body_are_held_back_and_written_once_before_the_read() -> None:
    inner = Recording()
    stream = _WholeRequestStream(inner)
    await stream.write(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n")
    await stream.write(b"{}")
    assert inner.writes == []
    await stream.read(100)
    assert inner.writes == [b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"]
    await stream.read(100)
    assert len(inner.writes) == 1  # nothing more to send


def _one_shot_server() -> tuple[int, list[bytes], threading.Thread]:
    """Answers one request; records each chunk recv() returned before the request was whole."""
    listener = socket.create_server(("127.0.0.1", 0))
    chunks: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            data = b""
            while not (b"\r\n\r\n" in data and data.endswith(b'{"a": 1}')):
                chunk = conn.recv(65536)
                chunks.append(chunk)
                data += chunk
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], chunks, thread


async def test_through_httpx_the_server_receives_the_request_in_one_piece() -> None:
    port, chunks, thread = _one_shot_server()
    async with httpx.AsyncClient(transport=whole_request_transport(httpx.Limits())) as client:
        answer: Any = await client.post(f"http://127.0.0.1:{port}/x", content=b'{"a": 1}')
    await asyncio.to_thread(thread.join, 5)
    assert answer.text == "ok"
    assert len(chunks) == 1 and chunks[0].startswith(b"POST /x HTTP/1.1") and chunks[0].endswith(b'{"a": 1}')


async def test_the_writes_guard_is_asked_right_before_the_one_write_and_can_stop_it() -> None:
    inner = Recording()
    stream = _WholeRequestStream(inner)
    asked: list[int] = []

    async def lost() -> None:
        asked.append(len(inner.writes))
        raise RuntimeError("lost the lock")

    token = request_guard.set(lost)
    try:
        await stream.write(b"POST / HTTP/1.1\r\n\r\n")
        with pytest.raises(RuntimeError):
            await stream.read(100)
    finally:
        request_guard.reset(token)
    assert asked == [0] and inner.writes == []
