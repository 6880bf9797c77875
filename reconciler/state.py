"""Recorded state: what the last apply left behind, kept beside the lock (never secrets).

One digest per resource (the fingerprint of its live state right after the apply) and the addresses
under protection. Plan reads it to tell where each change comes from: `config` (the live side is as the
last apply left it, so someone edited the configuration) or `drift` (the live side changed since, by
hand or by another tool). A resource marked `protect: true` stays protected after it leaves the config,
until a `forget:` entry names it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from reconciler.errors import ReconcilerError

STATE_VERSION = 1


@dataclass
class RecordedState:
    digests: dict[str, str | None] = field(default_factory=dict)  # address -> live fingerprint
    protected: set[str] = field(default_factory=set)
    applied_at: str | None = None

    def to_json(self) -> str:
        doc = {
            "version": STATE_VERSION,
            "applied_at": self.applied_at,
            "protected": sorted(self.protected),
            "digests": dict(sorted(self.digests.items())),
        }
        return json.dumps(doc, indent=1)

    @classmethod
    def from_json(cls, text: str, where: str) -> RecordedState:
        try:
            doc: Any = json.loads(text)
            if doc.get("version") != STATE_VERSION:
                raise ValueError(f"version {doc.get('version')!r}, expected {STATE_VERSION}")
            return cls(
                digests={str(k): v for k, v in doc["digests"].items()},
                protected={str(a) for a in doc["protected"]},
                applied_at=doc.get("applied_at"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ReconcilerError(f"{where}: not a recorded state reconciler wrote ({exc})") from None


class StateStore(Protocol):
    """Where the recorded state lives: a local file, or a GCS object beside a `gs://` lock."""

    def load(self) -> RecordedState | None: ...
    def save(self, state: RecordedState) -> None: ...


def stamp(state: RecordedState) -> None:
    state.applied_at = datetime.now(UTC).isoformat(timespec="seconds")


class LocalStateStore:
    """The recorded state as a local JSON file, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> RecordedState | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ReconcilerError(f"{self.path}: cannot read the recorded state ({exc.strerror})") from None
        return RecordedState.from_json(text, str(self.path))

    def save(self, state: RecordedState) -> None:
        stamp(state)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(state.to_json() + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def __str__(self) -> str:
        return str(self.path)
