"""The official SDK against the emulator: registering cloud files with data-upload jobs."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from encord import EncordUserClient
from encord.orm.dataset import LongPollingStatus
from encord.orm.storage import StorageItemType
from encord.storage import StorageFolder

from tests.fidelity.conftest import EmulatorServer, running_emulator
from tests.fidelity.signing import create_integration

pytestmark = pytest.mark.fidelity

SPEC: dict[str, Any] = {
    "images": [
        {"objectUrl": "gs://bucket/img/one.jpg", "title": "one", "clientMetadata": {"split": "train"}}
    ],
    "videos": [{"objectUrl": "gs://bucket/vid/clip.mp4"}],
    "image_groups": [
        {"title": "group", "objectUrl_0": "gs://bucket/grp/0.jpg", "objectUrl_1": "gs://bucket/grp/1.jpg"},
        {
            "title": "sequence",
            "createVideo": True,
            "objectUrl_1": "gs://bucket/seq/b.png",
            "objectUrl_0": "gs://bucket/seq/a.png",
        },
    ],
    "dicom_series": [
        {"title": "series", "objectUrl_0": "gs://bucket/dcm/1", "objectUrl_1": "gs://bucket/dcm/2.dcm"}
    ],
    "skip_duplicate_urls": True,
}


@pytest.fixture(scope="module")
def gcp_integration(emulator_server: EmulatorServer) -> str:
    with emulator_server.http() as http:
        return create_integration(
            http, emulator_server.private_key, f"upload-gcp-{uuid.uuid4().hex[:8]}", "gcp"
        )


@pytest.fixture
def folder(encord_user_client: EncordUserClient) -> Iterator[StorageFolder]:
    folder = encord_user_client.create_storage_folder(f"upload-{uuid.uuid4().hex[:8]}")
    yield folder
    folder.delete()


def test_registering_every_kind_creates_one_item_per_unit(
    emulator_server: EmulatorServer, folder: StorageFolder, gcp_integration: str
) -> None:
    job = folder.add_private_data_to_folder_start(gcp_integration, SPEC)
    result = folder.add_private_data_to_folder_get_result(job)

    assert result.status == LongPollingStatus.DONE
    assert (result.units_done_count, result.units_error_count, result.unit_errors) == (5, 0, [])
    items = {i.name: i for i in folder.list_items()}
    assert {n: i.item_type for n, i in items.items()} == {
        "one": StorageItemType.IMAGE,
        "/vid/clip.mp4": StorageItemType.VIDEO,
        "group": StorageItemType.IMAGE_GROUP,
        "sequence": StorageItemType.IMAGE_SEQUENCE,
        "series": StorageItemType.DICOM_SERIES,
    }
    assert {i.item_uuid for i in result.items_with_names} == {i.uuid for i in items.values()}
    one = items["one"]
    assert (one.url, one.mime_type, one.integration_hash, one.client_metadata) == (
        "gs://bucket/img/one.jpg",
        "image/jpeg",
        uuid.UUID(gcp_integration),
        {"split": "train"},
    )
    stored = emulator_server.query(
        "SELECT media FROM items WHERE name = 'sequence' AND parent = ?", str(folder.uuid)
    )
    frames = json.loads(stored[0]["media"])["frames"]
    assert [f["url"] for f in frames] == [
        "gs://bucket/seq/a.png",
        "gs://bucket/seq/b.png",
    ]  # objectUrl_N order


def test_skip_duplicate_urls_registers_nothing_new_and_upserts_metadata(
    emulator_server: EmulatorServer, folder: StorageFolder, gcp_integration: str
) -> None:
    first = folder.add_private_data_to_folder_get_result(
        folder.add_private_data_to_folder_start(gcp_integration, SPEC)
    )
    assert len(first.items_with_names) == 5

    again = dict(SPEC, upsert_metadata=True)
    again["images"] = [dict(SPEC["images"][0], clientMetadata={"split": "val"})]
    second = folder.add_private_data_to_folder_get_result(
        folder.add_private_data_to_folder_start(gcp_integration, again)
    )
    assert second.status == LongPollingStatus.DONE
    assert (second.items_with_names, second.units_done_count) == ([], 5)
    assert len(emulator_server.query("SELECT uuid FROM items WHERE parent = ?", str(folder.uuid))) == 5
    assert next(i for i in folder.list_items() if i.name == "one").client_metadata == {"split": "val"}


BAD_SPEC: dict[str, Any] = {
    "images": [
        {"objectUrl": "gs://bucket/ok.jpg"},
        {"objectUrl": "s3://bucket/wrong-cloud.jpg"},
        {"title": "no url"},
    ],
    "videos": [{"objectUrl": "gs://bucket/not-a-video.jpg"}],
}


def test_ignore_errors_finishes_done_with_unit_errors_and_keeps_good_units(
    folder: StorageFolder, gcp_integration: str
) -> None:
    job = folder.add_private_data_to_folder_start(gcp_integration, BAD_SPEC, ignore_errors=True)
    result = folder.add_private_data_to_folder_get_result(job)

    assert result.status == LongPollingStatus.DONE
    assert (result.units_done_count, result.units_error_count) == (1, 3)
    messages = {tuple(e.object_urls): e.error for e in result.unit_errors}
    assert messages[("gs://bucket/not-a-video.jpg",)] == "Expected a video, got a file of type image/jpeg"
    assert "cannot be read with the GCP integration" in messages[("s3://bucket/wrong-cloud.jpg",)]
    assert messages[()] == "Missing objectUrl"
    assert [i.name for i in folder.list_items()] == ["/ok.jpg"]


def test_without_ignore_errors_any_unit_error_fails_the_job_and_keeps_nothing(
    emulator_server: EmulatorServer, folder: StorageFolder, gcp_integration: str
) -> None:
    job = folder.add_private_data_to_folder_start(gcp_integration, BAD_SPEC)
    result = folder.add_private_data_to_folder_get_result(job)

    assert result.status == LongPollingStatus.ERROR
    assert (result.units_error_count, result.units_cancelled_count, result.items_with_names) == (3, 1, [])
    assert len(result.errors) == 3
    assert emulator_server.query("SELECT * FROM items WHERE parent = ?", str(folder.uuid)) == []


def test_cancel_after_completion_cancels_nothing(folder: StorageFolder, gcp_integration: str) -> None:
    job = folder.add_private_data_to_folder_start(
        gcp_integration, {"images": [{"objectUrl": "gs://b/c.jpg"}]}
    )
    assert folder.add_private_data_to_folder_get_result(job).status == LongPollingStatus.DONE
    assert folder.add_data_to_folder_job_cancel(job).units_cancelled_count == 0


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """A second server whose jobs stay PENDING for a while and whose polls are held at most 0.3 s."""
    with running_emulator(
        tmp_path_factory.mktemp("slow"), "--process-delay", "0.8", "--long-poll-cap", "0.3"
    ) as server:
        yield server


def test_sdk_polls_are_long_polls_not_a_busy_loop(slow_server: EmulatorServer) -> None:
    client = EncordUserClient.create_with_ssh_private_key(
        ssh_private_key=slow_server.private_key_pem, domain=slow_server.url
    )
    with slow_server.http() as http:
        integration = create_integration(http, slow_server.private_key, "slow-gcp", "gcp")
    folder = client.create_storage_folder("slow")
    job = folder.add_private_data_to_folder_start(integration, {"images": [{"objectUrl": "gs://b/slow.jpg"}]})

    started = time.monotonic()
    result = folder.add_private_data_to_folder_get_result(job, timeout_seconds=30)
    elapsed = time.monotonic() - started

    assert result.status == LongPollingStatus.DONE
    assert 0.5 <= elapsed < 5
    polls = [e for e in slow_server.read_log() if e["path"].endswith(f"/data-upload-jobs/{job}")]
    assert 2 <= len(polls) <= 6  # each held up to the cap, never answered PENDING at once
    assert all(p["query"] == "timeoutSeconds=30" for p in polls)
