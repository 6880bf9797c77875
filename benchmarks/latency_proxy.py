"""An HTTP/1.1-aware TCP proxy that adds network latency and injects faults (standard library only).

    python benchmarks/latency_proxy.py --listen 0 --upstream 127.0.0.1:8765 --latency-ms 25 \\
        --error-rate 0.1 --reset-rate 0.03 --seed 1

It sits between an HTTP/1.1 client (reconciler's httpx client, the official SDK's requests) and the
emulator served by `reconciler emulator serve`, one upstream connection per client connection, and
reads each exchange's framing (request and response heads, `Content-Length` and chunked bodies), so it
can count requests on keep-alive connections and answer or break any one of them.

Latency model: one round trip per HTTP request. The whole round trip (`latency_ms`) is added before a
request is forwarded, so every request/response exchange takes `latency_ms` longer than without the
proxy; a response is passed on as soon as it has fully arrived (bodies are buffered whole). A new client
connection also pays `connect_round_trips` round trips (default 1, the TCP handshake; TLS would add more)
before its first request, since a client that opens a connection per request pays for that on a real
network (the official SDK opens one per request).

Faults are decided per request, from the seed, the request's route (method and path, UUIDs elided) and
how many requests of that route came before it; the same client run meets the same faults every time
(with concurrent requests of one route, which of them is hit may vary):

* `error_rate`: the proxy answers the request itself (after reading its whole body, so the connection
  stays in sync) with 503 or 429 (`Retry-After: 0`, JSON body `{"message": ...}`); upstream never sees it.
* `reset_rate`: the connection carrying the request is reset (SO_LINGER 0, then abort: the client sees
  ECONNRESET). Half of the resets (`reset_after_fraction`) happen after upstream has answered, so the
  request took effect but the client never learns it, the case that tests idempotency; the others
  before the request is forwarded.

Used as a library, in a coroutine (`async with LatencyProxy(...) as proxy`) or from synchronous code in
a background thread with its own event loop (`with ProxyThread(...) as proxy`); `proxy.port` is the
bound port and `proxy.stats` the counters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

MAX_HEAD_BYTES = 64 * 1024
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass
class ProxyStats:
    connections: int = 0
    requests: int = 0  # every request head read, faulted or not
    forwarded: int = 0
    errors: Counter[int] = field(default_factory=Counter)  # status -> requests answered by the proxy
    resets_before: int = 0  # connection reset before the request was forwarded
    resets_after: int = 0  # connection reset after upstream answered (the request took effect)
    routes: Counter[str] = field(default_factory=Counter)  # "METHOD /path/{id}" -> requests
    upstream_seconds: dict[str, float] = field(default_factory=dict)  # route -> time waiting for upstream
    events: list[tuple[float, str, str]] = field(default_factory=list)  # with `trace`: (time, route, action)

    @property
    def faults(self) -> int:
        return sum(self.errors.values()) + self.resets_before + self.resets_after

    def summary(self) -> str:
        errors = ", ".join(f"{n} x {status}" for status, n in sorted(self.errors.items())) or "none"
        return (
            f"{self.requests} requests on {self.connections} connections, {self.forwarded} forwarded; "
            f"answered by the proxy: {errors}; resets: {self.resets_before} before forwarding, "
            f"{self.resets_after} after upstream answered"
        )


@dataclass(frozen=True)
class ProxyOptions:
    upstream_host: str
    upstream_port: int
    latency_ms: float = 25.0
    connect_round_trips: int = 1
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (503, 429)
    reset_rate: float = 0.0
    reset_after_fraction: float = 0.5
    seed: int | None = None
    trace: bool = False  # record every request's route and fate in `stats.events`
    listen_host: str = "127.0.0.1"
    listen_port: int = 0


class _Head:
    """A parsed request or response head: the start line, headers (names lower-cased) and raw bytes."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        lines = raw.decode("latin-1").split("\r\n")
        self.start = lines[0]
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                # Repeated headers (other than the ones framing depends on) do not matter here.
                self.headers[name.strip().lower()] = value.strip()

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def wants_close(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


class _Closed(Exception):
    """The peer closed the connection (cleanly, between messages)."""


async def _read_head(reader: asyncio.StreamReader) -> _Head:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            raise _Closed from None
        raise
    except asyncio.LimitOverrunError:
        raise ValueError("message head too large") from None
    return _Head(raw)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body, raw (chunk sizes, extensions and trailers kept), to pass on unchanged."""
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        parts.append(size_line)
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers, up to the empty line
                trailer = await reader.readuntil(b"\r\n")
                parts.append(trailer)
                if trailer == b"\r\n":
                    return b"".join(parts)
        parts.append(await reader.readexactly(size + 2))


async def _read_body(reader: asyncio.StreamReader, head: _Head, *, request: bool, no_body: bool) -> bytes:
    if no_body:
        return b""
    if head.chunked:
        return await _read_chunked(reader)
    length = head.content_length
    if length is not None:
        return await reader.readexactly(length)
    # A request without either has no body; a response without either runs to the end of the connection.
    return b"" if request else await reader.read()


def _route(start_line: str) -> str:
    method, _, rest = start_line.partition(" ")
    path = rest.rsplit(" ", 1)[0].split("?", 1)[0]
    return f"{method} {_UUID.sub('{id}', path)}"


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort with an RST rather than a FIN, as a dropped connection on a real network looks."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _error_response(status: int) -> bytes:
    reason = {429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "Error")
    body = json.dumps({"message": f"injected by latency_proxy: {status} {reason}"}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Retry-After: 0\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode("latin-1") + body


class LatencyProxy:
    """The proxy on the running event loop: `await start()` / `await stop()`, or `async with`."""

    def __init__(self, options: ProxyOptions) -> None:
        self.options = options
        self.stats = ProxyStats()
        self.seed = options.seed if options.seed is not None else random.randrange(2**32)
        self._seen: Counter[str] = Counter()  # route -> requests so far, for the fault decisions
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.options.listen_host, self.options.listen_port, limit=MAX_HEAD_BYTES
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        # Handlers close their upstream connections as they end; wait for them, then let the loop run the
        # transports' close callbacks, so no socket is left for the garbage collector (ResourceWarning).
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        await asyncio.sleep(0.01)
        self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _decide(self, route: str) -> tuple[str, int]:
        """('pass'|'error'|'reset-before'|'reset-after', status) for the n-th request of a route.

        Drawn from an RNG seeded with (seed, route, n) rather than one stream in arrival order, so adding or
        removing requests elsewhere (another read, a retry) does not move the faults onto other routes:
        with a given seed the same creates are hit from one version of the client to the next.
        """
        self._seen[route] += 1
        o = self.options
        if o.error_rate <= 0 and o.reset_rate <= 0:
            return "pass", 0
        rng = random.Random(f"{self.seed}:{route}:{self._seen[route]}")
        fault, which = rng.random(), rng.random()
        if fault < o.error_rate:
            return "error", o.error_statuses[int(which * len(o.error_statuses)) % len(o.error_statuses)]
        if fault < o.error_rate + o.reset_rate:
            return ("reset-after" if which < o.reset_after_fraction else "reset-before"), 0
        return "pass", 0

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        self._writers.add(client_writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        delay = self.options.latency_ms / 1000
        handshake = delay * self.options.connect_round_trips
        try:
            while True:
                try:
                    head = await _read_head(client_reader)
                except _Closed:
                    return
                body = await _read_body(client_reader, head, request=True, no_body=False)
                self.stats.requests += 1
                route = _route(head.start)
                self.stats.routes[route] += 1
                action, status = self._decide(route)
                if self.options.trace:
                    self.stats.events.append((time.monotonic(), route, f"{action} {status or ''}".strip()))
                # The round trip, and on a new connection the handshake first.
                await asyncio.sleep(delay + handshake)
                handshake = 0.0
                if action == "reset-before":
                    self.stats.resets_before += 1
                    _reset(client_writer)
                    return
                if action == "error":
                    self.stats.errors[status] += 1
                    client_writer.write(_error_response(status))
                    await client_writer.drain()
                    if head.wants_close:
                        return
                    continue
                if upstream is not None and upstream[0].at_eof():
                    upstream[1].close()  # the server closed it while idle (keep-alive timeout): a new one
                    upstream = None
                if upstream is None:
                    upstream = await asyncio.open_connection(
                        self.options.upstream_host, self.options.upstream_port, limit=MAX_HEAD_BYTES
                    )
                up_reader, up_writer = upstream
                sent = time.perf_counter()
                up_writer.write(head.raw + body)
                await up_writer.drain()
                self.stats.forwarded += 1
                method = head.start.split(" ", 1)[0].upper()
                while True:  # interim 1xx answers precede the real one
                    response = await _read_head(up_reader)
                    code = int(response.start.split(" ", 2)[1])
                    if code >= 200:  # (no protocol upgrades: 101 would be passed on as a final answer)
                        break
                    client_writer.write(response.raw)
                no_body = method == "HEAD" or code in (204, 304)
                response_body = await _read_body(up_reader, response, request=False, no_body=no_body)
                waited = time.perf_counter() - sent
                self.stats.upstream_seconds[route] = self.stats.upstream_seconds.get(route, 0.0) + waited
                if action == "reset-after":
                    self.stats.resets_after += 1
                    _reset(client_writer)
                    return
                client_writer.write(response.raw + response_body)
                await client_writer.drain()
                delimited = no_body or response.chunked or response.content_length is not None
                if head.wants_close or response.wants_close or not delimited:
                    return
        except (_Closed, ConnectionError, asyncio.IncompleteReadError, ValueError, OSError):
            return  # either side went away mid-message: drop both, as a middlebox would
        finally:
            self._writers.discard(client_writer)
            if task is not None:
                self._tasks.discard(task)
            if not client_writer.transport.is_closing():
                client_writer.close()
            if upstream is not None:
                upstream[1].close()


class ProxyThread:
    """The proxy in a daemon thread with its own event loop, for synchronous code (subprocesses, the SDK).

    Counters are plain ints written only by the proxy's thread; read them after the traffic is over.
    """

    def __init__(self, options: ProxyOptions) -> None:
        self.proxy = LatencyProxy(options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="latency-proxy", daemon=True)

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def stats(self) -> ProxyStats:
        return self.proxy.stats

    @property
    def url(self) -> str:
        return f"http://{self.proxy.options.listen_host}:{self.port}"

    def reset_stats(self) -> None:
        self.proxy.stats = ProxyStats()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listen", default="0", help="[HOST:]PORT to listen on (0: any free port)")
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the HTTP server")
    parser.add_argument("--latency-ms", type=float, default=25.0, help="added per request (one round trip)")
    parser.add_argument("--connect-round-trips", type=int, default=1, help="added once per new connection")
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="requests answered 503/429 by the proxy"
    )
    parser.add_argument("--reset-rate", type=float, default=0.0, help="requests whose connection is reset")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    listen_host, listen_port = (
        _host_port(args.listen) if ":" in args.listen else ("127.0.0.1", int(args.listen))
    )
    up_host, up_port = _host_port(args.upstream)
    options = ProxyOptions(
        upstream_host=up_host,
        upstream_port=up_port,
        latency_ms=args.latency_ms,
        connect_round_trips=args.connect_round_trips,
        error_rate=args.error_rate,
        reset_rate=args.reset_rate,
        seed=args.seed,
        listen_host=listen_host,
        listen_port=listen_port,
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with LatencyProxy(options) as proxy:
            print(f"proxy listening on http://{listen_host}:{proxy.port} -> {up_host}:{up_port}", flush=True)
            await stop.wait()
            print(proxy.stats.summary(), file=sys.stderr)

    asyncio.run(run())


if __name__ == "__main__":
    main()
