"""GCS objects written only under a generation precondition: what the lock's lease and the recorded state
are stored in.

Every write names the generation it replaces (0: the object must not exist yet), so of two writers racing
for the object exactly one wins and the other learns it lost (412). The calls are synchronous, like the rest
of `reconciler.gcs`.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.api_core import exceptions as api_exceptions
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from reconciler.gcs.client import translate_errors
from reconciler.gcs.errors import GcsError

GS_SCHEME = "gs://"
_WITHIN = 60.0


@dataclass(frozen=True, slots=True)
class StoredObject:
    data: bytes
    generation: int


def parse_gs_url(url: str) -> tuple[str, str]:
    """`gs://bucket/path/to/object` -> (bucket, object name)."""
    bucket, _, name = url.removeprefix(GS_SCHEME).partition("/")
    if not url.startswith(GS_SCHEME) or not bucket or not name or name.endswith("/"):
        raise GcsError(f"not a GCS object location (gs://bucket/path/to/object): {url!r}")
    return bucket, name


def read_object(
    client: storage.Client, bucket: str, name: str, *, within: float = _WITHIN
) -> StoredObject | None:
    """The object's bytes and the generation they belong to; None when there is no such object.

    `within`: seconds before giving up, retries included (as for the other calls here).
    """
    blob = client.bucket(bucket).blob(name)
    with translate_errors(bucket, f"read {name!r} in"):
        try:
            data = blob.download_as_bytes(timeout=within, retry=DEFAULT_RETRY.with_timeout(within))
        except api_exceptions.NotFound:
            # A missing bucket reads the same on download; writing will name it.
            return None
    return StoredObject(data=bytes(data), generation=int(blob.generation))


def write_object(
    client: storage.Client,
    bucket: str,
    name: str,
    data: bytes,
    *,
    if_generation_match: int,
    within: float = _WITHIN,
) -> int | None:
    """Write `data` if the object is still at `if_generation_match` (0: absent): its new generation.

    None when the precondition failed: someone else wrote or removed the object first.
    """
    blob = client.bucket(bucket).blob(name)
    with translate_errors(bucket, f"write {name!r} in"):
        try:
            # A precondition makes the library's retries safe: a retry of a write that did land gets 412.
            blob.upload_from_string(
                data,
                content_type="application/json",
                if_generation_match=if_generation_match,
                timeout=within,
                retry=DEFAULT_RETRY.with_timeout(within),
            )
        except api_exceptions.PreconditionFailed:
            return None
        except api_exceptions.NotFound as exc:
            if if_generation_match:  # the object we meant to replace is gone
                return None
            raise GcsError(
                f"cannot write {name!r}: bucket {bucket!r} does not exist "
                "(or the credentials in use cannot see it)",
                bucket=bucket,
                status=404,
            ) from exc
    if blob.generation is None:  # some emulators answer a write without the object's resource
        with translate_errors(bucket, f"read {name!r} in"):
            blob.reload(timeout=within)
    if blob.generation is None:
        raise GcsError(
            f"gs://{bucket}/{name}: this GCS endpoint reports no object generations, which a lock needs",
            bucket=bucket,
        )
    return int(blob.generation)


def delete_object(
    client: storage.Client, bucket: str, name: str, *, generation: int, within: float = _WITHIN
) -> bool:
    """Remove the object if it is still at `generation`. False when it is gone or was rewritten meanwhile."""
    # GCS answers ifGenerationMatch on delete; fake-gcs-server before its 2026-08 release ignores it
    # (fsouza/fake-gcs-server#1282), so the generation is read first as well.
    current = read_object(client, bucket, name, within=within)
    if current is None or current.generation != generation:
        return False
    with translate_errors(bucket, f"delete {name!r} in"):
        try:
            client.bucket(bucket).blob(name).delete(
                if_generation_match=generation, timeout=within, retry=DEFAULT_RETRY.with_timeout(within)
            )
        except (api_exceptions.PreconditionFailed, api_exceptions.NotFound):
            return False
    return True
