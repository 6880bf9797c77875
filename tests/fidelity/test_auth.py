"""Request authentication as seen over HTTP: signatures, clock skew, unknown keys, bearer tokens."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from encord import EncordUserClient
from encord.exceptions import AuthenticationError
from encord.orm.dataset import StorageLocation

from tests.fidelity.conftest import EmulatorServer
from tests.fidelity.signing import build_signed, key_id, signed

pytestmark = pytest.mark.fidelity

INTEGRATIONS = "/v2/public/cloud-integrations"


def test_unsigned_request_is_rejected(emulator_server: EmulatorServer) -> None:
    with emulator_server.http() as http:
        response = http.get(INTEGRATIONS)
    assert response.status_code == 401
    assert response.json() == {"message": "Missing request signature"}
    entry = emulator_server.read_log()[-1]
    assert (entry["auth"], entry["signature_valid"], entry["status"]) == ("none", False, 401)


def test_tampered_body_is_rejected(emulator_server: EmulatorServer) -> None:
    with emulator_server.http() as http:
        original = build_signed(
            http,
            emulator_server.private_key,
            "POST",
            "/v2/public/storage/folders",
            json_body={"name": "signed"},
        )
        tampered_body = b'{"name": "tampered"}'
        headers = {k: v for k, v in original.headers.items() if k.lower() != "content-length"}
        response = http.send(http.build_request("POST", original.url, headers=headers, content=tampered_body))
    assert response.status_code == 401
    assert "Content-Digest" in response.json()["message"]


def test_signature_over_another_target_is_rejected(emulator_server: EmulatorServer) -> None:
    with emulator_server.http() as http:
        request = build_signed(http, emulator_server.private_key, "GET", INTEGRATIONS)
        request.url = request.url.copy_with(query=b"includeOrgAccess=True")
        response = http.send(request)
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid signature"


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_created_outside_the_skew_window_is_rejected(emulator_server: EmulatorServer, offset: int) -> None:
    with emulator_server.http() as http:
        response = signed(
            http, emulator_server.private_key, "GET", INTEGRATIONS, created=int(time.time()) + offset
        )
    assert response.status_code == 401
    assert "clock skew" in response.json()["message"]


@pytest.mark.parametrize("offset", [-290, -30, 0, 290])
def test_created_inside_the_skew_window_is_accepted(emulator_server: EmulatorServer, offset: int) -> None:
    with emulator_server.http() as http:
        response = signed(
            http, emulator_server.private_key, "GET", INTEGRATIONS, created=int(time.time()) + offset
        )
    assert response.status_code == 200


def test_unknown_key_is_rejected_on_v2_and_v1(emulator_server: EmulatorServer) -> None:
    stranger = Ed25519PrivateKey.generate()
    pem = stranger.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()
    client = EncordUserClient.create_with_ssh_private_key(ssh_private_key=pem, domain=emulator_server.url)
    with pytest.raises(AuthenticationError, match="Unknown public key"):
        client.get_cloud_integrations()
    with pytest.raises(AuthenticationError):  # v1: the envelope's AUTHENTICATION_ERROR
        client.get_dataset(str(uuid.uuid4()))
    entry = emulator_server.read_log()[-1]
    assert (entry["path"], entry["key_id"], entry["signature_valid"]) == ("/public", key_id(stranger), False)


def test_request_log_records_sdk_requests_with_secrets_redacted(
    emulator_server: EmulatorServer, encord_user_client: EncordUserClient
) -> None:
    encord_user_client.get_cloud_integrations(filter_integration_titles=["a", "b"])
    entry = emulator_server.read_log()[-1]
    assert entry["method"] == "GET" and entry["path"] == INTEGRATIONS
    assert entry["query"] == "filterIntegrationTitles=a&filterIntegrationTitles=b&includeOrgAccess=False"
    assert entry["body"] is None
    assert entry["headers"]["signature"] == entry["headers"]["signature-input"] == "<redacted>"
    assert entry["headers"]["content-digest"].startswith("sha-256=:")
    assert (entry["auth"], entry["signature_valid"], entry["status"]) == ("ssh", True, 200)


def test_bearer_token_flow(emulator_server: EmulatorServer, encord_user_client: EncordUserClient) -> None:
    token = encord_user_client.get_bearer_token()
    bearer_client = EncordUserClient.create_with_bearer_token(token, domain=emulator_server.url)

    folder = bearer_client.create_storage_folder(f"bearer-{uuid.uuid4().hex[:8]}")
    assert encord_user_client.get_storage_folder(folder.uuid).name == folder.name
    created = bearer_client.create_dataset(
        f"bearer-{uuid.uuid4().hex[:8]}", StorageLocation.GCP, create_backing_folder=False
    )
    assert bearer_client.get_dataset(created["dataset_hash"]).title.startswith("bearer-")
    entry = emulator_server.read_log()[-1]
    assert (entry["auth"], entry["path"], entry["headers"]["authorization"]) == (
        "bearer",
        "/public",
        "<redacted>",
    )
    assert emulator_server.query("SELECT key_id FROM bearer_tokens WHERE token = ?", token) == [
        {"key_id": key_id(emulator_server.private_key)}
    ]

    impostor = EncordUserClient.create_with_bearer_token("not-a-token", domain=emulator_server.url)
    with pytest.raises(AuthenticationError):
        impostor.get_cloud_integrations()


def test_plain_http_client_sees_401_for_unknown_bearer(emulator_server: EmulatorServer) -> None:
    response = httpx.get(f"{emulator_server.url}{INTEGRATIONS}", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
