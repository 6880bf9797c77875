"""The GCS side of reconciler: bucket CORS rules, IAM bindings and object listings, as plain values.

Synchronous, over the official google-cloud-storage library; callers run each call in a worker thread.
Every failure is a `GcsError`. The sandbox's emulator lives in `reconciler.gcs.sandbox` (imported only
when a sandbox runs).
"""

from reconciler.gcs.buckets import (
    CorsRuleData,
    ObjectInfo,
    add_iam_member,
    iter_objects,
    read_cors,
    read_iam_bindings,
    remove_iam_member,
    write_cors,
)
from reconciler.gcs.client import storage_client
from reconciler.gcs.errors import (
    GcsBucketNotFoundError,
    GcsConflictError,
    GcsCredentialsError,
    GcsError,
    GcsPermissionError,
)

__all__ = [
    "CorsRuleData",
    "GcsBucketNotFoundError",
    "GcsConflictError",
    "GcsCredentialsError",
    "GcsError",
    "GcsPermissionError",
    "ObjectInfo",
    "add_iam_member",
    "iter_objects",
    "read_cors",
    "read_iam_bindings",
    "remove_iam_member",
    "storage_client",
    "write_cors",
]
