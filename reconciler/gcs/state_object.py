"""The recorded state as a GCS object beside a `gs://` lock, so every CI runner sees the same one."""

from __future__ import annotations

from contextlib import closing

from reconciler.errors import ReconcilerError
from reconciler.gcs.client import storage_client
from reconciler.gcs.objects import parse_gs_url, read_object, write_object
from reconciler.state import RecordedState, stamp


def state_location(lock: str) -> str:
    """`gs://bucket/ci/encord/lock.json` -> `gs://bucket/ci/encord/state.json`."""
    bucket, name = parse_gs_url(lock)
    folder = name.rpartition("/")[0]
    return f"gs://{bucket}/{folder + '/' if folder else ''}state.json"


class GcsStateStore:
    def __init__(self, location: str, endpoint: str | None = None) -> None:
        self.location = location
        self.endpoint = endpoint

    def load(self) -> RecordedState | None:
        bucket, name = parse_gs_url(self.location)
        with closing(storage_client(self.endpoint)) as client:
            stored = read_object(client, bucket, name)
        return None if stored is None else RecordedState.from_json(stored.data.decode(), self.location)

    def save(self, state: RecordedState) -> None:
        """Written under the apply lock; the generation precondition still refuses a lost race."""
        bucket, name = parse_gs_url(self.location)
        stamp(state)
        with closing(storage_client(self.endpoint)) as client:
            current = read_object(client, bucket, name)
            data = (state.to_json() + "\n").encode()
            if (
                write_object(
                    client, bucket, name, data, if_generation_match=current.generation if current else 0
                )
                is None
            ):
                raise ReconcilerError(f"{self.location}: the recorded state changed while it was written")

    def __str__(self) -> str:
        return self.location
