"""A stand-in for GCS's object listing, for sizes fake-gcs-server cannot hold here (standard library only).

fake-gcs-server loads its objects in quadratic time (10,000 in 8 s, 20,000 in 54 s, 40,000 in 200 s on
this machine) and scans every object for each listing request, so it is measured at 20,000 objects and a
million-object listing is served by this: the names of a generated bucket kept sorted in memory, and
`GET /storage/v1/b/<bucket>/o` answered as GCS's JSON API answers it (`prefix`, `startOffset`,
`endOffset`, `maxResults` up to 1,000, `pageToken`; items with name, size and contentType, or the name
alone when `fields` asks only for it, as GCS's partial responses do; `nextPageToken` while more match).
Nothing else of GCS is here.

    with ListingServer(names) as server:   # server.url, for storage_client() or STORAGE_EMULATOR_HOST
        ...
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, unquote, urlsplit

MAX_RESULTS = 1000  # what GCS returns at most per page


class ListingServer:
    def __init__(self, names: Sequence[str], bucket: str = "bench-bucket", size: int = 1024) -> None:
        self.names = sorted(names)
        self.bucket = bucket
        self.size = size
        self.requests = 0
        self._items = [
            json.dumps({"name": name, "size": str(size), "contentType": "image/jpeg"}).encode()
            for name in self.names
        ]
        self._names_only = [json.dumps({"name": name}).encode() for name in self.names]
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def page(self, query: dict[str, str]) -> bytes:
        """One page of the listing, as GCS's JSON API answers it (items pre-encoded: the stand-in should
        cost next to nothing, so that what is measured is the client)."""
        prefix = query.get("prefix", "")
        start = max(prefix, query.get("pageToken") or query.get("startOffset") or "")
        end = query.get("endOffset")
        limit = min(int(query.get("maxResults", MAX_RESULTS)), MAX_RESULTS)
        at = bisect_left(self.names, start)
        stop = min(
            len(self.names), at + limit, bisect_left(self.names, end) if end is not None else len(self.names)
        )
        if prefix:
            stop = min(stop, bisect_left(self.names, prefix + "\U0010ffff", at, stop))
        fields = query.get("fields", "")
        if fields and "items(" in fields and fields.split("items(")[1].split(")")[0].strip() == "name":
            body = b'{"items":[' + b",".join(self._names_only[at:stop]) + b"]"  # a partial response
        else:
            body = b'{"kind":"storage#objects","items":[' + b",".join(self._items[at:stop]) + b"]"
        more = stop < len(self.names) and self.names[stop].startswith(prefix)
        if more and (end is None or self.names[stop] < end):
            body += b',"nextPageToken":' + json.dumps(self.names[stop]).encode()  # like fake-gcs-server
        return body + b"}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                segments = [unquote(s) for s in parts.path.split("/")]
                if segments[1:3] != ["storage", "v1"] or segments[3:4] != ["b"] or segments[5:] != ["o"]:
                    self._send(404, {"error": {"code": 404, "message": "not served by the listing stand-in"}})
                    return
                if segments[4] != server.bucket:
                    self._send(
                        404, {"error": {"code": 404, "message": "The specified bucket does not exist."}}
                    )
                    return
                with server._lock:
                    server.requests += 1
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                self._send(200, server.page(query))

            def _send(self, status: int, body: dict[str, object] | bytes) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@contextmanager
def listing_process(names: Sequence[str], bucket: str = "bench-bucket") -> Iterator[str]:
    """A `ListingServer` in a process of its own (forked: the names are not pickled), so that it shares
    no interpreter lock with the proxy or the driver; yields its URL."""
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)

    def serve() -> None:
        server = ListingServer(names, bucket)
        sending.send(server.url)
        server.serve_forever()

    process = context.Process(target=serve, daemon=True)
    process.start()
    try:
        yield receiving.recv()
    finally:
        process.terminate()
        process.join()
