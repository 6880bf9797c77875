"""The sandbox's buckets: a GCS emulator whose objects mirror local directories, and whose state persists.

The sandbox config may say `buckets: {my-bucket: ./local-dir}`. `sandbox_gcs` starts the emulator of
`reconciler.gcs.emulator` on 127.0.0.1 with its storage under `state_dir / "gcs"`, so the CORS rules and
IAM policies that one process (plan, apply) sets are there for the next. Before serving it creates each
bucket that is missing and syncs its objects from the directory: a file is the object named by its path
relative to the directory (with `/`); new or changed files are written, objects whose file is gone are
deleted. The directory is the truth for objects: one uploaded through the API is gone at the next start.
Files and directories whose names start with "." (.gitkeep, .DS_Store) are skipped. Buckets no longer
in the config are left as they are. Objects whose path has a part starting with "." (`.reconciler/lock.json`)
are the sandbox's own, written through the API (a `gs://` lock, and the recorded state and job journal
beside it): they are neither mirrored nor deleted.

Why gcp-storage-emulator, in-process, seeded through its storage layer: it keeps CORS and IAM policies
on disk (fake-gcs-server drops both: a CORS patch is accepted and forgotten, and /iam is a 404), and
seeding needs no HTTP. Measured on the 2-core workplace machine, 10,000 objects of 1-2 KiB in one bucket:

- seed cold (empty state_dir) to the URL: 0.9 s on an idle disk; up to 9 s when other work loads it, all
  but half a second of it creating the 10,000 content files (plain Python needed 8 s for that alone then);
- start warm with nothing changed: a file whose size and modification time are those it was synced with
  is not read again (100,000 empty files: 2.8 s warm, of which 1.5 s is reading and rewriting the index);
  the sandbox starts its GCS only when a plan lists a bucket, manages one, or holds a gs:// lock on one;
- list all 10,000 with `iter_objects`: 0.2 s, in one page (this emulator ignores maxResults);
- a CORS patch or IAM write once 10,000 objects exist: 0.1 s (each rewrites the 7 MB index);
- for comparison, the stock emulator seeded over HTTP: 1,000 objects in 9.5 s, 2,000 in 32 s; it is
  quadratic, as every upload rewrites the whole index, so 10,000 would take about ten minutes.
  (fake-gcs-server loads 10,001 from a directory at start in 8.5 s, also superlinear: 5,000 in 2.2 s.)

A lock file (`state_dir / "gcs.lock"`) keeps two processes from running the same sandbox's GCS at once.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import mimetypes
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import google_crc32c
from gcp_storage_emulator.handlers.buckets import create_bucket  # type: ignore[import-untyped]

from reconciler.gcs.emulator import DurableStorage, EmulatorServer
from reconciler.gcs.errors import GcsError

_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
_DOWNLOAD_PATH = "/download/storage/v1/"
_SYNC_STAMP = "x-reconciler-synced"  # custom metadata: "<size>:<mtime ns>" of the file it was synced from


# url -> the object sync that a settings-only start left for later (`ensure_objects`)
_PENDING: dict[str, Callable[[], None]] = {}
_PENDING_LOCK = threading.Lock()


def ensure_objects(url: str) -> None:
    """Before objects are listed: sync them now if the sandbox's GCS at `url` was started without them."""
    with _PENDING_LOCK:  # a second lister waits until the first one's sync is done
        sync = _PENDING.pop(url, None)
        if sync is not None:
            sync()


@contextmanager
def sandbox_gcs(
    state_dir: Path, buckets: Mapping[str, Path], *, lock_wait: float = 30.0, objects: bool = True
) -> Iterator[str]:
    """Serve the sandbox's GCS until the block ends; yields its URL, for `storage_client(endpoint=...)`.

    `buckets` maps a bucket name to the local directory holding its objects (resolved by the caller).
    Another process using the same `state_dir` is waited for, up to `lock_wait` seconds. With `objects`
    false the buckets are created but their objects are synced only when `ensure_objects(url)` asks: a
    plan that reads a bucket's CORS or IAM does not walk 100,000 files.
    """
    for name, directory in buckets.items():
        if not _BUCKET_NAME.fullmatch(name):
            raise GcsError(f"sandbox bucket {name!r} is not a valid GCS bucket name", bucket=name)
        if not directory.is_dir():
            raise GcsError(f"sandbox bucket {name!r}: directory {directory} does not exist", bucket=name)
    state_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(state_dir / "gcs.lock", lock_wait):
        try:
            server = EmulatorServer(state_dir / "gcs")
        except ValueError as exc:  # a .meta that is not JSON
            raise GcsError(
                f"the sandbox's GCS state in {state_dir / 'gcs'} cannot be read ({exc}); "
                "delete that directory to start over"
            ) from exc

        def sync() -> None:
            with server.storage.deferred_writes():
                for name, directory in buckets.items():
                    try:
                        _sync_bucket(server.storage, server.url, name, directory)
                    except OSError as exc:
                        raise GcsError(
                            f"cannot load sandbox bucket {name!r} from {directory}: {exc}"
                        ) from exc

        try:
            rebase = partial(_rebase_media_links, url=server.url)
            if server.storage.objects_loaded:  # the stock layout, objects inside .meta: split it, once
                rebase(server.storage.objects)
                server.storage.save()
            server.storage.on_objects_loaded = rebase
            if objects:
                sync()
            else:
                with server.storage.deferred_writes():
                    for name in buckets:
                        if server.storage.get_bucket(name) is None:
                            create_bucket(name, server.storage)
            server.start()
            if not objects:
                _PENDING[server.url] = sync
            yield server.url
        finally:
            _PENDING.pop(server.url, None)
            server.stop()


def _sync_bucket(storage: DurableStorage, url: str, bucket: str, directory: Path) -> None:
    if storage.get_bucket(bucket) is None:
        create_bucket(bucket, storage)
    live: dict[str, dict[str, Any]] = storage.objects.setdefault(bucket, {})
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    wanted: set[str] = set()
    for name, info in _files(directory):
        wanted.add(name)
        path = directory / name
        current = live.get(name)
        # Unchanged since it was synced (same size and modification time): not read again. A sandbox
        # of 100,000 files starts without reading them; a file edited in place has a new mtime.
        stamp = f"{info.st_size}:{info.st_mtime_ns}"
        if current and current.get("metadata", {}).get(_SYNC_STAMP) == stamp:
            continue
        content = path.read_bytes()
        md5 = _b64(hashlib.md5(content, usedforsecurity=False).digest())
        if current and current.get("md5Hash") == md5 and current.get("size") == str(len(content)):
            current.setdefault("metadata", {})[_SYNC_STAMP] = stamp
            storage.save()  # deferred by the caller: written once
            continue
        resource = _object_resource(url, bucket, name, content, md5, now)
        resource["metadata"] = {_SYNC_STAMP: stamp}
        storage.create_file(bucket, name, content, resource)
    for name in sorted(set(live) - wanted):
        if any(part.startswith(".") for part in name.split("/")):
            continue  # the sandbox's own objects (a gs:// lock, its state and journal): never files
        storage.delete_object(bucket, name)


def _files(directory: Path) -> Iterator[tuple[str, os.stat_result]]:
    """The directory's files (not hidden, not in hidden directories) as object names (`/`-separated paths
    below it) with their stat, in name order. Plain strings: a Path per file costs seconds at 100,000."""
    found: list[tuple[str, os.stat_result]] = []
    top = str(directory)
    for root, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        below = os.path.relpath(root, top).replace(os.sep, "/")
        prefix = "" if below == "." else below + "/"
        for name in names:
            if not name.startswith("."):
                with contextlib.suppress(OSError):
                    info = os.stat(os.path.join(root, name))
                    if stat.S_ISREG(info.st_mode):
                        found.append((prefix + name, info))
    found.sort(key=lambda pair: pair[0])
    yield from found


def _object_resource(url: str, bucket: str, name: str, content: bytes, md5: str, now: str) -> dict[str, Any]:
    # The same fields the emulator writes for an upload (handlers/objects.py `_make_object_resource`).
    generation = str(time.time_ns())
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{generation}",
        "selfLink": f"/storage/v1/b/{bucket}/o/{name}",
        "name": name,
        "bucket": bucket,
        "generation": generation,
        "metageneration": "1",
        "contentType": content_type,
        "timeCreated": now,
        "updated": now,
        "storageClass": "STANDARD",
        "timeStorageClassUpdated": now,
        "size": str(len(content)),
        "md5Hash": md5,
        "mediaLink": f"{url}{_DOWNLOAD_PATH}b/{bucket}/o/{name}?generation={generation}&alt=media",
        "crc32c": _b64(int(google_crc32c.value(content)).to_bytes(4, "big")),
        "etag": md5,
        "acl": [],
    }


def _rebase_media_links(objects: dict[str, dict[str, Any]], url: str) -> None:
    """Point stored mediaLinks at this run's port: the client downloads from them as they are."""
    for bucket_objects in objects.values():
        for obj in bucket_objects.values():
            link = obj.get("mediaLink")
            if not isinstance(link, str) or link.startswith(url + _DOWNLOAD_PATH):
                continue
            _, sep, rest = link.partition(_DOWNLOAD_PATH)
            if sep:
                obj["mediaLink"] = f"{url}{_DOWNLOAD_PATH}{rest}"
    # Not saved: the next start points them at its own port again, and rewriting an index of 100,000
    # objects for a port number cost a second on every run. Any later save carries them along.


@contextmanager
def _exclusive(path: Path, wait: float) -> Iterator[None]:
    with path.open("a") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GcsError(
                        f"the sandbox's GCS state in {path.parent} is in use by another process"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")
