"""GCS failures as our own errors: callers never catch `google.api_core` or `google.auth` exceptions."""

from __future__ import annotations

from reconciler.errors import ReconcilerError


class GcsError(ReconcilerError):
    """Any failure talking to GCS (or the sandbox's emulator), with the bucket named when there is one."""

    def __init__(self, message: str, *, bucket: str | None = None, status: int | None = None) -> None:
        self.bucket = bucket
        self.status = status
        super().__init__(message)


class GcsCredentialsError(GcsError):
    """No Application Default Credentials, or Google rejected them."""


class GcsBucketNotFoundError(GcsError):
    """404 on a bucket: it does not exist, or GCS hides it from these credentials."""

    def __init__(self, bucket: str) -> None:
        super().__init__(
            f"bucket {bucket!r} does not exist (or the credentials in use cannot see it)",
            bucket=bucket,
            status=404,
        )


class GcsPermissionError(GcsError):
    """401/403: the credentials lack a permission on the bucket."""


class GcsConflictError(GcsError):
    """The bucket's IAM policy kept changing under us (412/409 on its etag) after the one retry."""
