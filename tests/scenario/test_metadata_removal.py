"""Removing a clientMetadata key converges whether Encord merges or replaces metadata on PATCH.

Which one Encord does is UNCONFIRMED, so the emulator does either (`emulator serve --metadata-patch`), and
the same config changes are applied against both: keys go from items (bulk PATCH) and from a folder
(PATCH), and the next plan is empty. A control shows the merge mode would keep the key if reconciler sent
the new document alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli.main import main
from tests.fidelity.conftest import EmulatorServer, running_emulator
from tests.fidelity.signing import create_integration, signed

CONFIG = """\
backend: {{kind: encord, domain: {domain}, ssh_key_file: {key}}}
integrations: [{{title: s3, provider: aws}}]
metadata_schema:
  keys: {{split: {{type: enum, values: [train, val]}}, reviewed: boolean, camera: varchar}}
folders:
  - name: raw
    client_metadata: {folder_metadata}
    data: [{{integration: s3, json: items.json}}]
"""


@pytest.fixture(params=["replace", "merge"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path / "emulator", "--metadata-patch", request.param) as srv:
        yield srv


def write(
    tmp_path: Path, server: EmulatorServer, folder: dict[str, object], items: dict[str, object]
) -> Path:
    (tmp_path / "reconciler.yaml").write_text(
        CONFIG.format(domain=server.url, key=server.private_key_path, folder_metadata=json.dumps(folder))
    )
    images = [{"objectUrl": f"s3://bucket/{n}.jpg", "clientMetadata": items} for n in range(3)]
    (tmp_path / "items.json").write_text(json.dumps({"images": images}))
    return tmp_path


def live_metadata(server: EmulatorServer) -> tuple[list[dict[str, object]], dict[str, object]]:
    items = [json.loads(row["client_metadata"]) for row in server.query("SELECT client_metadata FROM items")]
    (folder,) = server.query("SELECT client_metadata FROM folders WHERE name = 'raw'")
    return items, json.loads(folder["client_metadata"])


def test_a_removed_key_goes_in_either_mode(server: EmulatorServer, tmp_path: Path) -> None:
    with server.http() as http:
        create_integration(http, server.private_key, "s3", "aws")
    full = {"split": "train", "reviewed": True, "camera": "front"}
    config = write(tmp_path, server, {"team": "ml", "owner": "ana"}, full)
    assert main(["apply", str(config), "--auto-approve"]) == 0
    assert main(["plan", str(config), "--detailed-exitcode"]) == 0

    config = write(tmp_path, server, {"team": "ml"}, {"split": "val"})
    assert main(["apply", str(config), "--auto-approve"]) == 0
    assert main(["plan", str(config), "--detailed-exitcode"]) == 0
    items, folder = live_metadata(server)
    for document in [*items, folder]:
        assert not {k for k, v in document.items() if v is not None} & {"reviewed", "camera", "owner"}
    assert {json.dumps(i, sort_keys=True) for i in items} in (
        {'{"split": "val"}'},  # replaced: the document sent, without the nulls' keys having values
        {'{"camera": null, "reviewed": null, "split": "val"}'},  # merged: the keys set to null
    )

    # Declaring the key again brings it back, and the plan settles again.
    config = write(tmp_path, server, {"team": "ml"}, {"split": "val", "camera": "rear"})
    assert main(["apply", str(config), "--auto-approve"]) == 0
    assert main(["plan", str(config), "--detailed-exitcode"]) == 0
    items, _ = live_metadata(server)
    assert all(item["camera"] == "rear" for item in items)


def test_control_merged_without_nulls_a_key_would_stay(server: EmulatorServer, tmp_path: Path) -> None:
    """What the nulls are for: in merge mode, the new document alone leaves the old key in place."""
    with server.http() as http:
        create_integration(http, server.private_key, "s3", "aws")
    config = write(tmp_path, server, {}, {"split": "train", "camera": "front"})
    assert main(["apply", str(config), "--auto-approve"]) == 0
    (item,) = server.query("SELECT uuid FROM items LIMIT 1")
    patch = {"itemPatches": {item["uuid"]: {"clientMetadata": {"split": "val"}}}}
    with server.http() as http:
        response = signed(
            http, server.private_key, "PATCH", "/v2/public/storage/items/patch-bulk", json_body=patch
        )
    assert response.status_code == 200, response.text
    (row,) = server.query("SELECT client_metadata FROM items WHERE uuid = ?", item["uuid"])
    kept = json.loads(row["client_metadata"]).get("camera")
    assert kept == ("front" if "merge" in server.process.args else None)
