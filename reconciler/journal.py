"""The upload-job journal: every job is on record before it is started, and its id before it is polled.

An apply that is interrupted (Ctrl-C, a cancelled CI job, a lost runner, `kill -9`) leaves jobs running in
Encord. The next apply reads the journal, polls those same jobs until they end, and only then plans what is
still missing, so no file is registered twice. One JSON line per event; the journal is removed once every
job in it has ended.

Events: `intent` (written before a job is started: its folder and size), `started` (the job's id, once the
start answered), `finished`. An intent without its `started` is a job whose start may have landed while its
answer never came back: its id is unknown, so it cannot be polled; the next apply says so, and registers
the folder's missing files again with `skipDuplicateUrls`.

Where: a local file (fsynced) beside the sandbox state or in `.reconciler/`, or, when the lock is a `gs://`
lease, an object beside it, so that a fresh CI checkout finds the jobs a cancelled one left.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler.errors import ReconcilerError


@dataclass(frozen=True)
class PendingJob:
    job: str  # "" for an intent whose job id never came back
    folder_uuid: str
    folder_path: str
    units: int


class JournalStore(Protocol):
    def append(self, line: str) -> None: ...
    def read(self) -> str: ...
    def remove(self) -> None: ...


class LocalJournalStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            size = os.fstat(fd).st_size
            # A crash mid-write leaves a torn last line: start on a fresh one so this record survives.
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = "\n" + line
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def __str__(self) -> str:
        return str(self.path)


class GcsJournalStore:
    """The journal as a GCS object; each append rewrites it under its generation (a lost race retries)."""

    ATTEMPTS = 5

    def __init__(self, location: str, endpoint: str | None = None) -> None:
        self.location = location
        self.endpoint = endpoint
        # Jobs in flight append from worker threads at once: one at a time here, or each would lose the
        # generation race to the others (5 lost rounds made an apply fail under load). Other processes
        # are kept out by the lock's lease; a lost race with one still retries.
        self._appending = threading.Lock()

    def append(self, line: str) -> None:
        from reconciler.gcs.client import storage_client
        from reconciler.gcs.objects import parse_gs_url, read_object, write_object

        bucket, name = parse_gs_url(self.location)
        with self._appending, closing(storage_client(self.endpoint)) as client:
            for _ in range(self.ATTEMPTS):
                current = read_object(client, bucket, name)
                before = current.data if current else b""
                if before and not before.endswith(b"\n"):
                    before += b"\n"
                generation = current.generation if current else 0
                if write_object(client, bucket, name, before + line.encode(), if_generation_match=generation):
                    return
        raise ReconcilerError(f"{self.location}: the job journal kept changing while it was written")

    def read(self) -> str:
        from reconciler.gcs.client import storage_client
        from reconciler.gcs.objects import parse_gs_url, read_object

        bucket, name = parse_gs_url(self.location)
        with closing(storage_client(self.endpoint)) as client:
            stored = read_object(client, bucket, name)
        return stored.data.decode("utf-8", errors="replace") if stored else ""

    def remove(self) -> None:
        from reconciler.gcs.client import storage_client
        from reconciler.gcs.objects import delete_object, parse_gs_url, read_object

        bucket, name = parse_gs_url(self.location)
        with closing(storage_client(self.endpoint)) as client:
            stored = read_object(client, bucket, name)
            if stored is not None:
                delete_object(client, bucket, name, generation=stored.generation)

    def __str__(self) -> str:
        return self.location


def journal_location(lock: str) -> str:
    """`gs://bucket/ci/encord/lock.json` -> `gs://bucket/ci/encord/jobs.jsonl`."""
    head, _, _ = lock.rpartition("/")
    return f"{head}/jobs.jsonl"


class JobJournal:
    def __init__(self, where: Path | JournalStore) -> None:
        self.store: JournalStore = LocalJournalStore(where) if isinstance(where, Path) else where

    @property
    def path(self) -> str:
        """Where it is, for messages: a file path or a gs:// location."""
        return str(self.store)

    def _append(self, record: dict[str, object]) -> None:
        self.store.append(json.dumps(record, separators=(",", ":")) + "\n")

    def intent(self, folder_uuid: str, folder_path: str, units: int) -> str:
        """On record before a job is started; the key to pass to `started`."""
        key = secrets.token_hex(8)
        self._append(
            {"event": "intent", "key": key, "folder_uuid": folder_uuid, "folder": folder_path, "units": units}
        )
        return key

    def started(
        self, job: str, folder_uuid: str, folder_path: str, units: int, intent: str | None = None
    ) -> None:
        record: dict[str, object] = {
            "event": "started",
            "job": job,
            "folder_uuid": folder_uuid,
            "folder": folder_path,
            "units": units,
        }
        if intent is not None:
            record["intent"] = intent
        self._append(record)

    def finished(self, job: str) -> None:
        self._append({"event": "finished", "job": job})

    def abandoned(self, intent: str) -> None:
        """An intent whose job never started (its start failed for sure): nothing to wait for."""
        self._append({"event": "abandoned", "key": intent})

    def _replay(self) -> tuple[dict[str, PendingJob], dict[str, PendingJob]]:
        started: dict[str, PendingJob] = {}
        intents: dict[str, PendingJob] = {}
        for line in self.store.read().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line (a crash mid-write)
            if not isinstance(record, dict):
                continue
            event = record.get("event")
            if event in ("started", "intent"):
                pending = PendingJob(
                    str(record.get("job", "")),
                    str(record["folder_uuid"]),
                    str(record["folder"]),
                    int(record["units"]),
                )
                if event == "intent":
                    intents[str(record["key"])] = pending
                else:
                    started[pending.job] = pending
                    intents.pop(str(record.get("intent")), None)
            elif event == "finished":
                started.pop(str(record.get("job")), None)
            elif event == "abandoned":
                intents.pop(str(record.get("key")), None)
        return started, intents

    def pending(self) -> list[PendingJob]:
        """Jobs started and not yet seen to end."""
        return list(self._replay()[0].values())

    def unknown(self) -> list[PendingJob]:
        """Jobs that may have started without their id ever coming back (an intent, and nothing after)."""
        return list(self._replay()[1].values())

    def forget_unknown(self) -> None:
        for key in self._replay()[1]:
            self.abandoned(key)

    def compact(self) -> None:
        """Forget the journal once nothing in it is still running or unknown."""
        started, intents = self._replay()
        if not started and not intents and self.store.read():
            self.store.remove()
