"""Which objects the sandbox's buckets hold: each bucket is a local directory, and an upload job's object
must exist there (GCS would answer 404).

A job of 1,000 files used to stat each file. A directory's file names are now listed once and kept while
the directory stays the same one, unchanged (device, inode, mtime and ctime), checked once per job
(`begin_job`): one stat per directory and job. A listing is trusted only once the directory has been
unchanged for `SETTLED_SECONDS`, since a file added within the same filesystem clock tick leaves the times
as they were; until then each file is stat'ed. A symlink is always followed afresh: its target can change
without touching the directory.

Below the unit checks (`specs`), which ask it; it knows only GCS object names and the filesystem.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

SETTLED_SECONDS = 2.0
GCS_HOSTS = ("storage.googleapis.com", "storage.cloud.google.com")


def gcs_object(url: str) -> tuple[str, str] | None:
    """(bucket, object name) of a `gs://` or GCS HTTPS URL; None for any other URL.

    In `gs://` URLs everything after the bucket is the object name, `?` and `#` included; HTTPS
    paths are percent-decoded and their query is not part of the name.
    """
    if url.startswith("gs://"):
        bucket, _, name = url[len("gs://") :].partition("/")
        return (bucket, name) if bucket and name else None
    parts = urlsplit(url)
    if parts.scheme != "https" or (parts.hostname or "").lower() not in GCS_HOSTS:
        return None
    bucket, _, name = unquote(parts.path).lstrip("/").partition("/")
    return (bucket, name) if bucket and name else None


@dataclass(frozen=True)
class _Listing:
    # The directory as it was listed: which one (a symlink in the path may be pointed elsewhere) and
    # when it last changed (ctime too: `touch -r` or rsync can put an mtime back, never a ctime).
    stamp: tuple[int, int, int, int]  # st_dev, st_ino, st_mtime_ns, st_ctime_ns
    files: frozenset[str]  # regular files (not symlinks)
    links: frozenset[str]  # symlinks, resolved on each look-up


class BucketFiles:
    """Sandbox bucket name -> its directory, and which files those directories hold."""

    def __init__(self, directories: Mapping[str, str]) -> None:
        self.directories = dict(directories)
        self._listings: dict[str, _Listing] = {}
        self._checked: dict[str, _Listing | None] = {}  # this job's view of each directory
        self._lock = threading.Lock()

    def begin_job(self) -> None:
        """Look at each directory's mtime again before trusting its listing."""
        with self._lock:
            self._checked.clear()

    def missing(self, url: str) -> str | None:
        """The GCS-style 404 message when `url` is in a sandbox bucket but its file does not exist."""
        found = gcs_object(url)
        if found is None or found[0] not in self.directories:
            return None
        bucket, name = found
        segments = name.split("/")
        # Object names that cannot be a file below the bucket's directory (`..`, empty segments) never exist.
        if all(s not in ("", ".", "..") for s in segments) and self._is_file(
            os.path.join(self.directories[bucket], *segments[:-1]), segments[-1]
        ):
            return None
        return f"No such object: {bucket}/{name}"

    def _is_file(self, directory: str, name: str) -> bool:
        with self._lock:
            if directory not in self._checked:
                self._checked[directory] = self._listing(directory)
            listing = self._checked[directory]
        if listing is None or name in listing.links:
            return os.path.isfile(os.path.join(directory, name))  # False for a name with a NUL
        return name in listing.files

    def _listing(self, directory: str) -> _Listing | None:
        """The directory's names, if they can be trusted for this job; None: stat each file."""
        try:
            found = os.stat(directory)
        except (OSError, ValueError):  # ValueError: a NUL in the name
            return None
        stamp = (found.st_dev, found.st_ino, found.st_mtime_ns, found.st_ctime_ns)
        kept = self._listings.get(directory)
        if kept is not None and kept.stamp == stamp:
            return kept
        if time.time_ns() - max(found.st_mtime_ns, found.st_ctime_ns) < SETTLED_SECONDS * 1e9:
            return None  # changed just now: a file added in the same clock tick would be missed
        files, links = set(), set()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.is_symlink():
                        links.add(entry.name)
                    elif entry.is_file(follow_symlinks=False):
                        files.add(entry.name)
        except OSError:
            return None
        listing = _Listing(stamp, frozenset(files), frozenset(links))
        self._listings[directory] = listing
        return listing
