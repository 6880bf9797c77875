"""gcp-storage-emulator run in-process on 127.0.0.1, with its storage kept on disk: the sandbox's GCS.

A small adapter over gcp-storage-emulator 2026.7 (pinned in pyproject, as it reaches into internals):

- `DurableStorage` writes the emulator's index (buckets and IAM policies in `.meta`, objects in `.objects`,
  read on first use) atomically and compactly, and can defer writes: stock, each object written
  re-serialises the whole index, so seeding n objects costs O(n^2) and 10,000 take minutes.
- `_Handler` makes setIamPolicy honour the policy etag, as GCS does: stock, the emulator stores whatever
  etag the client sends, so a stale read-modify-write silently wins. Now a stale etag gets 412 and every
  accepted write gets a new etag.
- Object writes and deletes honour `ifGenerationMatch` (0: the object must not exist), and a download
  reports its generation, as GCS does: stock, preconditions are ignored, so a lease (reconciler.lock)
  kept in the sandbox's GCS would not be one.
- We own the server thread: the stock `APIThread.join` shuts the server down but never joins the thread.
- Request errors go to logging, not a traceback on stderr.

The HTTP server is single-threaded (one request at a time), so the storage needs no lock. Connections close
after each response (HTTP/1.0), so a client holding a pooled connection never blocks another.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from http import HTTPStatus
from http.server import HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gcp_storage_emulator.handlers import objects as stock_objects  # type: ignore[import-untyped]
from gcp_storage_emulator.server import (  # type: ignore[import-untyped]
    Request,
    RequestHandler,
    Response,
)
from gcp_storage_emulator.settings import STORAGE_DIR  # type: ignore[import-untyped]
from gcp_storage_emulator.storage import Storage  # type: ignore[import-untyped]

logger = logging.getLogger(__name__)

_IAM_PATH = re.compile(r"(?:/storage/v1)?/b/(?P<bucket_name>[-.\w]+)/iam")
_UPLOAD_PATH = re.compile(r"/upload/storage/v1/b/(?P<bucket_name>[-.\w]+)/o")
_OBJECT_PATH = re.compile(r"(?:/storage/v1)?/b/(?P<bucket_name>[-.\w]+)/o/(?P<object_id>.*[^/]+)")
_DOWNLOAD_PATH = re.compile(r"/download/storage/v1/b/(?P<bucket_name>[-.\w]+)/o/(?P<object_id>.*[^/]+)")


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_bytes())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)


class _PreconditionFailed(Exception):
    """An object write whose `ifGenerationMatch` is not the object's generation."""


_INITIAL_ETAG = "CAE="  # what the emulator (and GCS) hands out for a bucket's first policy
_STOP_TIMEOUT = 10.0


class DurableStorage(Storage):  # type: ignore[misc]
    """The emulator's disk storage, with atomic index files and writes that can be batched.

    The objects' index is its own file (`.objects`), read on first use: a sandbox bucket of 100,000
    objects has a 70 MB index, and a run that only reads or writes bucket settings (CORS, IAM, labels)
    never needs it. `on_objects_loaded` sees the objects once they are read (the sandbox repoints their
    media links at this run's port). An index of the stock layout (objects inside `.meta`) is read as it
    is and written back split.
    """

    def __init__(self, data_dir: Path) -> None:
        self._defer_depth = 0
        self._dirty = False
        self._objects: dict[str, dict[str, Any]] | None = None
        self.on_objects_loaded: Callable[[dict[str, dict[str, Any]]], None] | None = None
        self.meta_path = data_dir / STORAGE_DIR / ".meta"
        self.objects_path = data_dir / STORAGE_DIR / ".objects"
        super().__init__(use_memory_fs=False, data_dir=str(data_dir))

    @property
    def objects(self) -> dict[str, dict[str, Any]]:
        if self._objects is None:
            self._objects = _read_json(self.objects_path) if self.objects_path.exists() else {}
            if self.on_objects_loaded is not None:
                self.on_objects_loaded(self._objects)
        return self._objects

    @objects.setter
    def objects(self, value: dict[str, dict[str, Any]]) -> None:
        self._objects = value

    @property
    def objects_loaded(self) -> bool:
        return self._objects is not None

    def _read_config_from_file(self) -> None:
        data = _read_json(self.meta_path) if self.meta_path.exists() else {}
        self.buckets = data.get("buckets") or {}
        self.resumable = data.get("resumable") or {}
        self.bucket_iam_policies = data.get("bucket_iam_policies") or {}
        self.soft_deleted = data.get("soft_deleted") or {}
        # the stock layout keeps objects in .meta; once split, `.objects` is the truth
        self._objects = None if self.objects_path.exists() or "objects" not in data else data["objects"]

    def _write_config_to_file(self) -> None:
        if self._defer_depth:
            self._dirty = True
            return
        # Each file atomic, so a process killed mid-write leaves the previous state rather than a torn
        # file; the objects first, since a .meta without objects defers to them.
        if self._objects is not None:
            _write_json(self.objects_path, self._objects)
        meta = {
            "buckets": self.buckets,
            "resumable": self.resumable,
            "bucket_iam_policies": self.bucket_iam_policies,
            "soft_deleted": self.soft_deleted,
        }
        _write_json(self.meta_path, meta)

    def save(self) -> None:
        self._write_config_to_file()

    # (bucket, generation) an upload must find; set per request (the server serves one at a time).
    expected: tuple[str, int] | None = None

    def generation_of(self, bucket: str, name: str) -> int:
        """The object's generation; 0 when there is no such object."""
        found = self.objects.get(bucket, {}).get(name)
        return int(found["generation"]) if found else 0

    def create_file(
        self, bucket_name: str, file_name: str, content: bytes, file_obj: Any, file_id: Any = None
    ) -> None:
        expected, self.expected = self.expected, None
        if expected is not None and self.generation_of(bucket_name, file_name) != expected[1]:
            raise _PreconditionFailed
        super().create_file(bucket_name, file_name, content, file_obj, file_id)

    def delete_object(self, bucket: str, name: str) -> None:
        """Delete for good: the stock delete keeps a soft-deleted copy for 7 days, as GCS does."""
        self._hard_delete_file(bucket, name)

    @contextmanager
    def deferred_writes(self) -> Iterator[None]:
        """Batch every index write inside into one, on leaving (only if something changed)."""
        self._defer_depth += 1
        try:
            yield
        finally:
            self._defer_depth -= 1
        if not self._defer_depth and self._dirty:
            self._dirty = False
            self._write_config_to_file()


class _Handler(RequestHandler):  # type: ignore[misc]
    """The stock request handler, except setIamPolicy and generation preconditions (see the module
    docstring)."""

    def _expected(self) -> int | None:
        values = parse_qs(urlsplit(self.path).query).get("ifGenerationMatch")
        return int(values[0]) if values and values[0].lstrip("-").isdigit() else None

    def do_POST(self) -> None:
        match = _UPLOAD_PATH.fullmatch(urlsplit(self.path).path)
        expected = self._expected()
        if match is None or expected is None:
            super().do_POST()
            return
        request, response = Request(self, "POST"), Response(self)
        request.set_match(match)
        self.storage.expected = (match["bucket_name"], expected)
        try:
            stock_objects.insert(request, response, self.storage)
        except _PreconditionFailed:
            _error(response, HTTPStatus.PRECONDITION_FAILED, "conditionNotMet", "Precondition Failed")
        finally:
            self.storage.expected = None
        response.close()

    def do_DELETE(self) -> None:
        match = _OBJECT_PATH.fullmatch(urlsplit(self.path).path)
        expected = self._expected()
        if match is not None and expected is not None:
            current = self.storage.generation_of(match["bucket_name"], unquote(match["object_id"]))
            if current != expected:
                response = Response(self)
                if current == 0:
                    _error(response, HTTPStatus.NOT_FOUND, "notFound", "No such object")
                else:
                    _error(response, HTTPStatus.PRECONDITION_FAILED, "conditionNotMet", "Precondition Failed")
                response.close()
                return
        super().do_DELETE()

    def do_GET(self) -> None:
        match = _DOWNLOAD_PATH.fullmatch(urlsplit(self.path).path)
        if match is None:
            super().do_GET()
            return
        request, response = Request(self, "GET"), Response(self)
        request.set_match(match)
        stock_objects.download(request, response, self.storage)
        generation = self.storage.generation_of(match["bucket_name"], unquote(match["object_id"]))
        if response.status == HTTPStatus.OK and generation:
            response["x-goog-generation"] = str(generation)  # what a client's reload reads
        response.close()

    def do_PUT(self) -> None:
        match = _IAM_PATH.fullmatch(urlsplit(self.path).path)
        if match is None:
            super().do_PUT()
            return
        request = Request(self, "PUT")
        request.set_match(match)
        response = Response(self)
        _set_iam_policy(request, response, self.storage)
        response.close()


def _set_iam_policy(request: Any, response: Any, storage: DurableStorage) -> None:
    name = request.params["bucket_name"]
    if name not in storage.buckets:
        _error(response, HTTPStatus.NOT_FOUND, "notFound", "The specified bucket does not exist.")
        return
    body = request.data if isinstance(request.data, dict) else {}
    current = storage.get_bucket_iam_policy(name) or {}
    sent = body.get("etag")
    if sent is not None and sent != current.get("etag", _INITIAL_ETAG):
        _error(response, HTTPStatus.PRECONDITION_FAILED, "conditionNotMet", "Precondition Failed")
        return
    policy = {
        "kind": "storage#policy",
        "resourceId": f"projects/_/buckets/{name}",
        "version": body.get("version", 1),
        "etag": base64.b64encode(secrets.token_bytes(6)).decode("ascii"),
        "bindings": body.get("bindings") or [],
    }
    storage.set_bucket_iam_policy(name, policy)
    response.json(policy)


def _error(response: Any, status: HTTPStatus, reason: str, message: str) -> None:
    response.status = status
    response.json(
        {
            "error": {
                "code": status.value,
                "message": message,
                "errors": [{"domain": "global", "reason": reason, "message": message}],
            }
        }
    )


class _QuietHTTPServer(HTTPServer):
    # The default backlog of 5 drops the connects of 8 threads at once, which then wait 1 s to retry.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.exception("GCS emulator failed on a request from %s", client_address)


class EmulatorServer:
    """Bound to a free port on 127.0.0.1 when made (so `url` is known); serves between start() and stop().

    Until start(), the caller may change `storage` directly, e.g. to seed objects; after it, only the
    server thread touches it.
    """

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.storage = DurableStorage(data_dir.resolve())
        self._httpd = _QuietHTTPServer(("127.0.0.1", 0), partial(_Handler, self.storage))
        port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # Daemon only as a last resort: stop() always joins it.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() may wait for the loop to notice
            name=f"gcs-emulator-{self.url}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()  # returns once serve_forever has left its loop
            self._thread.join(_STOP_TIMEOUT)
            if self._thread.is_alive():
                raise RuntimeError(f"the GCS emulator thread at {self.url} did not stop")
            self._thread = None
        self._httpd.server_close()


@contextmanager
def running_emulator(data_dir: Path) -> Iterator[EmulatorServer]:
    """An emulator serving `data_dir`'s storage until the block ends (its thread joined on the way out)."""
    server = EmulatorServer(data_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
