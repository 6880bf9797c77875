"""A separate process that takes the apply lock, for tests/lock (run as a script, not collected by pytest).

worker.py [--endpoint URL] race LOCK LOG THINGS HOLD_SECONDS
    Take LOCK (waiting up to 30 s), append "start <pid>" to LOG, create THINGS/created-by-<pid> unless
    THINGS already holds something (reading first, then writing a little later, without any atomicity
    of its own: only the lock keeps two workers from both creating), hold the rest of HOLD_SECONDS,
    append "end <pid>", release. THINGS is a local directory or gs://bucket/prefix/.
worker.py [--endpoint URL] hold LOCK
    Take LOCK, print "held <pid>", and keep it until stdin closes (or the process is killed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import closing
from pathlib import Path

from reconciler.gcs.client import storage_client
from reconciler.gcs.objects import parse_gs_url
from reconciler.lock import OwnerInfo, acquire


def _append(log: Path, line: str) -> None:
    with log.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _create_once(things: str, endpoint: str | None) -> None:
    me = f"created-by-{os.getpid()}"
    if not things.startswith("gs://"):
        folder = Path(things)
        if not any(folder.iterdir()):
            time.sleep(0.1)  # wide open for a second creator, were there no lock
            (folder / me).write_text("x", encoding="utf-8")
        return
    bucket, prefix = parse_gs_url(things.rstrip("/") + "/x")
    prefix = prefix.removesuffix("x")
    with closing(storage_client(endpoint)) as client:
        if not list(client.list_blobs(bucket, prefix=prefix, max_results=1)):
            time.sleep(0.1)
            client.bucket(bucket).blob(prefix + me).upload_from_string(b"x")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint")
    parser.add_argument("mode", choices=["race", "hold"])
    parser.add_argument("lock")
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()
    who = OwnerInfo(
        owner=f"worker-{os.getpid()}", host="test-host", pid=os.getpid(), ci_url="https://ci.example/run/7"
    )
    if args.mode == "hold":
        with acquire(args.lock, owner_info=who, endpoint=args.endpoint):
            print(f"held {os.getpid()}", flush=True)
            sys.stdin.read()
        return 0
    log, things, hold = Path(args.rest[0]), args.rest[1], float(args.rest[2])
    with acquire(args.lock, owner_info=who, endpoint=args.endpoint, wait=30.0, ttl=10.0) as lease:
        started = time.monotonic()
        _append(log, f"start {os.getpid()}")
        _create_once(things, args.endpoint)
        time.sleep(max(0.0, hold - (time.monotonic() - started)))
        lease.check()
        _append(log, f"end {os.getpid()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
