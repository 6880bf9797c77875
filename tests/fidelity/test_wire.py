"""Wire-level behaviour of the emulator: key casing, nullable keys, paging, errors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.fidelity.conftest import EmulatorServer
from tests.fidelity.signing import create_integration, signed

pytestmark = pytest.mark.fidelity

FOLDER_KEYS = {
    "uuid", "parent", "name", "description", "clientMetadata", "owner", "createdAt", "lastEditedAt",
    "userRole", "syncedDatasetHash", "pathToRoot", "folderType", "integrationHash", "remoteUrl",
}  # fmt: skip
ITEM_KEYS = {
    "uuid", "parent", "itemType", "name", "description", "clientMetadata", "owner", "createdAt", "lastEditedAt",
    "isTombstone", "isPlaceholder", "backedDataUnitsCount", "storageLocation", "integrationHash", "url",
    "signedUrl", "fileSize", "mimeType", "duration", "fps", "height", "width", "dicomInstanceUid",
    "dicomStudyUid", "dicomSeriesUid", "frameCount", "audioSampleRate", "audioBitDepth", "audioCodec",
    "audioNumChannels",
}  # fmt: skip


class Api:
    def __init__(self, http: httpx.Client, key: Ed25519PrivateKey) -> None:
        self.http, self.key = http, key

    def __call__(self, method: str, path: str, *, body: Any = None, **params: Any) -> httpx.Response:
        return signed(
            self.http, self.key, method, f"/v2/public/{path}", json_body=body, params=params or None
        )


@pytest.fixture
def api(emulator_server: EmulatorServer) -> Iterator[Api]:
    with emulator_server.http() as http:
        yield Api(http, emulator_server.private_key)


@pytest.fixture
def folder(api: Api) -> Iterator[dict[str, Any]]:
    created = api("POST", "storage/folders", body={"name": f"wire-{uuid.uuid4().hex[:8]}"})
    yield created.json()
    api("DELETE", f"storage/folders/{created.json()['uuid']}")


def test_folder_json_is_camel_case_with_every_nullable_key(api: Api, folder: dict[str, Any]) -> None:
    child = api(
        "POST", "storage/folders", body={"name": "c", "parent": folder["uuid"], "clientMetadata": '{"a": 1}'}
    )
    body = child.json()
    assert set(body) == FOLDER_KEYS
    assert body["clientMetadata"] == '{"a": 1}'  # JSON text on the wire
    assert body["pathToRoot"] == [
        {"uuid": folder["uuid"], "parentUuid": None, "name": folder["name"], "syncedDatasetHash": None}
    ]
    assert (folder["parent"], folder["syncedDatasetHash"], folder["description"]) == (None, None, "")
    assert folder["createdAt"].endswith("+00:00")


def test_item_json_has_every_nullable_key(
    emulator_server: EmulatorServer, api: Api, folder: dict[str, Any]
) -> None:
    integration = create_integration(api.http, api.key, f"wire-{uuid.uuid4().hex[:8]}", "azure")
    job = api(
        "POST",
        f"storage/folders/{folder['uuid']}/data-upload-jobs",
        body={
            "externalFiles": {"audio": [{"objectUrl": "https://acct.blob.core.windows.net/c/a.mp3"}]},
            "integrationHash": integration,
        },
    ).json()
    state = api("GET", f"storage/folders/{folder['uuid']}/data-upload-jobs/{job}", timeoutSeconds=10).json()
    assert state["status"] == "DONE"
    assert set(state) == {
        "status", "itemsWithNames", "errors", "unitsPendingCount", "unitsDoneCount", "unitsErrorCount",
        "unitsCancelledCount", "unitErrors", "fileName",
    }  # fmt: skip
    item = api("GET", f"storage/items/{state['itemsWithNames'][0]['itemUuid']}", signUrl="False").json()
    assert set(item) == ITEM_KEYS
    assert (item["itemType"], item["storageLocation"], item["mimeType"]) == ("audio", "azure", "audio/mpeg")
    assert item["fps"] is None and item["signedUrl"] is None and item["clientMetadata"] == "{}"


def test_paging_ends_with_a_null_next_page_token(api: Api, folder: dict[str, Any]) -> None:
    for name in "abcde":
        api("POST", "storage/folders", body={"name": name, "parent": folder["uuid"]})
    path = f"storage/folders/{folder['uuid']}/folders"
    first = api("GET", path, pageSize=2, order="name", desc="false").json()
    names, token = [f["name"] for f in first["results"]], first["nextPageToken"]
    while token is not None:
        page = api("GET", path, pageSize=2, pageToken=token).json()
        names += [f["name"] for f in page["results"]]
        token = page["nextPageToken"]
    assert names == list("abcde")
    assert api("GET", path, pageSize=5).json()["nextPageToken"] is None
    assert [f["name"] for f in api("GET", path, order="name", desc="True").json()["results"]] == list("edcba")


@pytest.mark.parametrize("size", [0, 1001, -1])
def test_page_size_outside_1_to_1000_is_a_400(api: Api, folder: dict[str, Any], size: int) -> None:
    response = api("GET", f"storage/folders/{folder['uuid']}/items", pageSize=size)
    assert response.status_code == 400
    assert "pageSize" in response.json()["message"]


def test_unknown_folder_and_item_are_403_with_a_message(api: Api) -> None:
    for path in (f"storage/folders/{uuid.uuid4()}", f"storage/items/{uuid.uuid4()}"):
        response = api("GET", path)
        assert response.status_code == 403
        assert set(response.json()) == {"message"}


def test_unknown_route_is_404_and_wrong_method_405_with_a_message(api: Api) -> None:
    response = api("GET", "no/such/route")
    assert response.status_code == 404
    assert set(response.json()) == {"message"}
    response = api("PUT", "cloud-integrations")
    assert response.status_code == 405
    assert set(response.json()) == {"message"}


def test_invalid_requests_are_400_with_a_message(api: Api, folder: dict[str, Any]) -> None:
    bad = [
        api("POST", "storage/folders", body={"description": "no name"}),
        api("PATCH", f"storage/folders/{folder['uuid']}", body={"clientMetadata": [1, 2]}),
        api("GET", "storage/folders", isRecursive="maybe"),
        api(
            "POST",
            f"storage/folders/{folder['uuid']}/data-upload-jobs",
            body={"externalFiles": {"photos": []}},
        ),
    ]
    assert [r.status_code for r in bad] == [400, 400, 400, 400]
    assert all(isinstance(r.json()["message"], str) for r in bad)
