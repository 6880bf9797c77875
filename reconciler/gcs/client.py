"""Open a `google.cloud.storage.Client`, and turn Google's exceptions into `GcsError` at this boundary.

Real GCS uses Application Default Credentials, like every Google tool. An emulator (an explicit `endpoint`,
or `STORAGE_EMULATOR_HOST` in the environment) gets anonymous credentials and a fixed project instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import google.auth
import requests
from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from reconciler.defaults import GCS_LISTING_WORKERS
from reconciler.gcs.errors import (
    GcsBucketNotFoundError,
    GcsConflictError,
    GcsCredentialsError,
    GcsError,
    GcsPermissionError,
)

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
EMULATOR_PROJECT = "reconciler-sandbox"

_ADC_HELP = (
    "run `gcloud auth application-default login`, "
    "or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file"
)


def storage_client(endpoint: str | None = None) -> storage.Client:
    """A client for `endpoint` (an emulator's URL), `$STORAGE_EMULATOR_HOST`, or real GCS with ADC.

    The client may be shared between threads: the functions in `reconciler.gcs.buckets` build their own
    `Bucket` objects per call and keep no state on it.
    """
    emulator = endpoint or os.environ.get(EMULATOR_ENV)
    if emulator:
        return _pooled(
            storage.Client(
                project=EMULATOR_PROJECT,
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                client_options=ClientOptions(api_endpoint=_with_scheme(emulator)),
            )
        )
    try:
        credentials, project = google.auth.default(scopes=list(storage.Client.SCOPE))
    except auth_exceptions.DefaultCredentialsError as exc:
        raise GcsCredentialsError(
            f"no Google Application Default Credentials ({_one_line(str(exc))}): {_ADC_HELP}"
        ) from exc
    # Bucket calls need no project; ADC may not name one, and then the client keeps None.
    return _pooled(storage.Client(project=project, credentials=credentials))


def _pooled(client: storage.Client) -> storage.Client:
    """Keep a connection per parallel listing worker: requests' default pool of 10 would otherwise open
    (and pay a handshake for) a new connection for the workers beyond it, and warn each time."""
    adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=GCS_LISTING_WORKERS)
    session = client._http  # the client's authorised requests session, created on first use
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return client


@contextmanager
def translate_errors(bucket: str, doing: str) -> Iterator[None]:
    """Re-raise what google-cloud-storage throws as a one-line `GcsError` naming `bucket`.

    `doing` completes "cannot ... bucket 'x'", e.g. "read the CORS rules of".
    """
    try:
        yield
    except api_exceptions.NotFound as exc:
        raise GcsBucketNotFoundError(bucket) from exc
    except (api_exceptions.Unauthorized, api_exceptions.Forbidden) as exc:
        raise GcsPermissionError(
            f"cannot {doing} bucket {bucket!r}: permission denied ({_one_line(exc.message)})",
            bucket=bucket,
            status=exc.code,
        ) from exc
    except (api_exceptions.PreconditionFailed, api_exceptions.Conflict) as exc:
        raise GcsConflictError(
            f"cannot {doing} bucket {bucket!r}: it changed meanwhile ({_one_line(exc.message)})",
            bucket=bucket,
            status=exc.code,
        ) from exc
    except api_exceptions.GoogleAPICallError as exc:
        raise GcsError(
            f"cannot {doing} bucket {bucket!r}: GCS answered {exc.code} ({_one_line(exc.message)})",
            bucket=bucket,
            status=exc.code,
        ) from exc
    except api_exceptions.RetryError as exc:
        raise GcsError(
            f"cannot {doing} bucket {bucket!r}: gave up retrying ({_one_line(str(exc.cause))})", bucket=bucket
        ) from exc
    except auth_exceptions.RefreshError as exc:
        raise GcsCredentialsError(
            f"Google rejected the Application Default Credentials ({_one_line(str(exc))}): {_ADC_HELP}",
            bucket=bucket,
        ) from exc
    except (auth_exceptions.TransportError, requests.RequestException) as exc:
        raise GcsError(
            f"cannot {doing} bucket {bucket!r}: cannot reach GCS ({_one_line(str(exc))})", bucket=bucket
        ) from exc


def _with_scheme(endpoint: str) -> str:
    # STORAGE_EMULATOR_HOST is often written as host:port, which requests cannot use.
    endpoint = endpoint.rstrip("/")
    return endpoint if "://" in endpoint else f"http://{endpoint}"


def _one_line(text: object, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
