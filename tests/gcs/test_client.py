"""Opening a client (ADC, emulator) and turning Google's exceptions into one-line GcsErrors."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import pytest
import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions

from reconciler.errors import ReconcilerError
from reconciler.gcs import (
    GcsBucketNotFoundError,
    GcsConflictError,
    GcsCredentialsError,
    GcsError,
    GcsPermissionError,
    read_cors,
    storage_client,
)
from reconciler.gcs.client import EMULATOR_PROJECT, translate_errors
from reconciler.gcs.emulator import EmulatorServer

from .conftest import BUCKET


def test_missing_adc_says_how_to_log_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(GcsCredentialsError) as caught:
        storage_client()
    message = str(caught.value)
    assert isinstance(caught.value, ReconcilerError)
    assert "gcloud auth application-default login" in message
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message
    assert "\n" not in message


def test_explicit_endpoint_is_anonymous_with_the_sandbox_project(emulator: EmulatorServer) -> None:
    with closing(storage_client(emulator.url)) as client:
        assert client.project == EMULATOR_PROJECT
        client.create_bucket(BUCKET)
        assert read_cors(client, BUCKET) == []


def test_storage_emulator_host_without_scheme_is_used(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url.removeprefix("http://"))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent.json")  # ADC must not be consulted
    with closing(storage_client()) as client:
        client.create_bucket(BUCKET)
        assert read_cors(client, BUCKET) == []


@pytest.mark.parametrize(
    ("raised", "expected", "fragment"),
    [
        (api_exceptions.NotFound("gone"), GcsBucketNotFoundError, "bucket 'b' does not exist"),
        (api_exceptions.Forbidden("no\nway"), GcsPermissionError, "permission denied (no way)"),
        (api_exceptions.Unauthorized("who"), GcsPermissionError, "permission denied"),
        (api_exceptions.PreconditionFailed("etag"), GcsConflictError, "changed meanwhile"),
        (api_exceptions.Conflict("etag"), GcsConflictError, "changed meanwhile"),
        (api_exceptions.InternalServerError("boom"), GcsError, "GCS answered 500"),
        (api_exceptions.RetryError("deadline", ValueError("x")), GcsError, "gave up retrying"),
        (auth_exceptions.RefreshError("invalid_grant"), GcsCredentialsError, "application-default login"),
        (requests.ConnectionError("refused"), GcsError, "cannot reach GCS (refused)"),
    ],
)
def test_google_exceptions_become_one_line_gcs_errors(
    raised: Exception, expected: type[GcsError], fragment: str
) -> None:
    with pytest.raises(expected) as caught, translate_errors("b", "read the CORS rules of"):
        raise raised
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.bucket == "b"
    assert caught.value.__cause__ is raised
