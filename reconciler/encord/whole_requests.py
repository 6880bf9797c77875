"""Each request goes to the socket in one write, just before its answer is read.

httpcore writes a request's head and body separately, and yields to the event loop between them. A run that
freezes there (a stopped or starved CI runner) leaves a half-sent request that the server completes whenever
the run resumes, possibly long after its lock passed on to another apply. Held back until the first read and
written at once, a request is either on the wire whole or not at all, and no other task runs in between.
A write's guard (the lock still ours, no stop asked) is asked once more right before that one write: a run
that froze anywhere between its earlier check and the socket finds out there.
"""

from __future__ import annotations

import ssl
import typing
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

import httpcore
import httpx

# The guard of the write this task is sending, if it is one (set by the client around each attempt).
request_guard: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar("request_guard", default=None)


class _WholeRequestStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._pending = bytearray()
        self._timeout: float | None = None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._pending += buffer
        self._timeout = timeout

    async def _flush(self) -> None:
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            guard = request_guard.get()
            if guard is not None:
                await guard()  # raises, and the request is dropped unsent with its connection
            await self._inner.write(data, timeout=self._timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        await self._flush()
        return await self._inner.read(max_bytes, timeout=timeout)

    async def aclose(self) -> None:
        self._pending.clear()
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        await self._flush()
        return _WholeRequestStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _WholeRequestBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _WholeRequestStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _WholeRequestStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def whole_request_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's own transport, its connection pool writing each request whole (httpx has no public hook for
    the network backend; without the private attribute it is httpx's transport as it comes)."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.AsyncNetworkBackend):
        pool._network_backend = _WholeRequestBackend(backend)  # type: ignore[union-attr]
    return transport
