"""The official SDK against the emulator: cloud integrations and the organisation metadata schema."""

from __future__ import annotations

import json
import uuid

import pytest
from encord import EncordUserClient

from tests.fidelity.conftest import EmulatorServer
from tests.fidelity.signing import create_integration, signed

pytestmark = pytest.mark.fidelity


def test_get_cloud_integrations_lists_sandbox_provisioned_integrations(
    emulator_server: EmulatorServer, encord_user_client: EncordUserClient
) -> None:
    suffix = uuid.uuid4().hex[:8]
    with emulator_server.http() as http:
        gcp = create_integration(http, emulator_server.private_key, f"gcp-{suffix}", "gcp")
        aws = create_integration(http, emulator_server.private_key, f"aws-{suffix}", "aws")

    listed = {i.id: i.title for i in encord_user_client.get_cloud_integrations()}
    assert listed[gcp] == f"gcp-{suffix}"
    assert listed[aws] == f"aws-{suffix}"

    by_title = encord_user_client.get_cloud_integrations(filter_integration_titles=[f"aws-{suffix}"])
    assert [(i.id, i.title) for i in by_title] == [(aws, f"aws-{suffix}")]
    # Both filters given: the result must match both.
    both = encord_user_client.get_cloud_integrations(
        filter_integration_uuids=[gcp], filter_integration_titles=[f"aws-{suffix}"], include_org_access=True
    )
    assert both == []
    stored = emulator_server.query(
        "SELECT provider FROM integrations WHERE uuid IN (?, ?) ORDER BY provider", gcp, aws
    )
    assert [r["provider"] for r in stored] == ["aws", "gcp"]


def test_sandbox_integration_titles_are_unique_and_deletable(emulator_server: EmulatorServer) -> None:
    title = f"dup-{uuid.uuid4().hex[:8]}"
    key = emulator_server.private_key
    with emulator_server.http() as http:
        integration = create_integration(http, key, title, "azure")
        duplicate = signed(
            http, key, "POST", "/sandbox/cloud-integrations", json_body={"title": title, "provider": "gcp"}
        )
        assert duplicate.status_code == 400
        assert "already exists" in duplicate.json()["message"]
        assert signed(http, key, "DELETE", f"/sandbox/cloud-integrations/{integration}").status_code == 204
    assert emulator_server.query("SELECT * FROM integrations WHERE uuid = ?", integration) == []


def test_metadata_schema_round_trips_through_a_fresh_client(
    emulator_server: EmulatorServer, encord_user_client: EncordUserClient
) -> None:
    schema = encord_user_client.metadata_schema()
    for hint in ("number", "varchar", "text", "boolean", "datetime", "uuid", "string", "long_string"):
        schema.add_scalar(f"scalar.{hint}", data_type=hint)
    schema.add_enum("colour", values=["red", "green"])
    schema.add_enum_options("colour", values=["blue"])
    schema.add_embedding("clip", size=512)
    schema.add_scalar("soft_deleted", data_type="text")
    schema.add_scalar("hard-deleted", data_type="number")
    schema.add_scalar("restored key", data_type="boolean")
    schema.save()
    schema.delete_key("soft_deleted")
    schema.delete_key("hard-deleted", hard=True)
    schema.delete_key("restored key")
    schema.restore_key("restored key")
    schema.save()

    fresh = EncordUserClient.create_with_ssh_private_key(
        ssh_private_key=emulator_server.private_key_pem, domain=emulator_server.url
    ).metadata_schema()
    assert fresh.get_key_type("scalar.number") == "number"
    assert fresh.get_key_type("scalar.string") == "varchar"
    assert fresh.get_key_type("scalar.long_string") == "text"
    assert fresh.get_key_type("scalar.uuid") == "uuid"
    assert fresh.get_key_type("colour") == "enum"
    assert list(fresh.get_enum_options("colour")) == ["blue", "green", "red"]
    assert fresh.get_embedding_size("clip") == 512
    assert fresh.is_key_deleted("soft_deleted") and fresh.is_key_deleted("hard-deleted")
    assert fresh.get_key_type("restored key") == "boolean"

    stored = json.loads(
        emulator_server.query("SELECT value FROM settings WHERE name = 'metadata_schema_v2'")[0]["value"]
    )
    assert stored["soft_deleted"] == {"ty": "tombstone", "deleted_ty": {"ty": "variant", "hint": "text"}}
    assert stored["hard-deleted"] == {"ty": "tombstone", "deleted_ty": None}
    assert stored["clip"] == {"ty": "embedding", "size": 512, "api": None}
    assert stored["colour"] == {"ty": "enum", "values": ["blue", "green", "red"]}


@pytest.mark.parametrize(
    "document",
    [
        {"$bad": {"ty": "boolean"}},
        {"key_frames": {"ty": "boolean"}},
        {"ok": {"ty": "nope"}},
        {"ok": {"ty": "enum", "values": []}},
        {"ok": {"ty": "embedding", "size": 4097}},
        {"ok": {"ty": "variant", "hint": "string"}},
        {"ok": {"ty": "tombstone", "deleted_ty": {"ty": "tombstone"}}},
        {"ok": {"ty": "varchar", "max_length": 9000}},
        ["not", "an", "object"],
    ],
)
def test_invalid_metadata_schema_is_rejected_with_400(
    emulator_server: EmulatorServer, document: object
) -> None:
    with emulator_server.http() as http:
        response = signed(
            http,
            emulator_server.private_key,
            "POST",
            "/v2/public/organisation/client-metadata-schema-v2",
            json_body=document,
        )
    assert response.status_code == 400
    assert isinstance(response.json()["message"], str)
