"""The upload-job journal: every job id is on disk before it is polled.

An apply that is interrupted (Ctrl-C, a lost CI runner, `kill -9`) leaves jobs running in Encord. The
next apply reads the journal, polls those same jobs until they end, and only then plans what is still
missing, so no file is registered twice. One JSON line per event, flushed and fsynced; the file is
removed once every job in it has ended.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PendingJob:
    job: str
    folder_uuid: str
    folder_path: str
    units: int


class JobJournal:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, record: dict[str, object]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, separators=(",", ":")) + "\n"
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

    def started(self, job: str, folder_uuid: str, folder_path: str, units: int) -> None:
        self._append(
            {
                "event": "started",
                "job": job,
                "folder_uuid": folder_uuid,
                "folder": folder_path,
                "units": units,
            }
        )

    def finished(self, job: str) -> None:
        self._append({"event": "finished", "job": job})

    def pending(self) -> list[PendingJob]:
        """Jobs started and not yet seen to end. A torn last line (a crash mid-write) is ignored."""
        if not self.path.exists():
            return []
        started: dict[str, PendingJob] = {}
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(record, dict):
                continue
            if record.get("event") == "started":
                started[str(record["job"])] = PendingJob(
                    str(record["job"]),
                    str(record["folder_uuid"]),
                    str(record["folder"]),
                    int(record["units"]),
                )
            elif record.get("event") == "finished":
                started.pop(str(record.get("job")), None)
        return list(started.values())

    def compact(self) -> None:
        """Forget the journal once nothing in it is still running."""
        if self.path.exists() and not self.pending():
            self.path.unlink()
