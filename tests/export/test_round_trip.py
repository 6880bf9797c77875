"""`reconciler export` on the sandbox: what it writes, `plan` accepts with no changes."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest

from reconciler.backend import backend_ref, open_client
from reconciler.cli import export_cmd
from reconciler.cli.main import main
from reconciler.config.loader import load_config
from reconciler.errors import ReconcilerError
from reconciler.export import ExportRead, build_export, read_for_export

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def export(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="reconciler")
    export_cmd.add_export_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["export", *argv])
    code: int = args.func(args)
    return code


def copy_example(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / name
    shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns(".reconciler"))
    monkeypatch.delenv("RECONCILER_SANDBOX_STATE", raising=False)
    assert main(["apply", str(target), "--auto-approve"]) == 0
    return target


def test_the_quickstart_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    example = copy_example("quickstart", tmp_path, monkeypatch)
    out = tmp_path / "exported"
    assert export(str(example), "--out", str(out)) == 0
    assert main(["plan", str(out), "--detailed-exitcode"]) == 0
    text = (out / "reconciler.yaml").read_text()
    assert "state: ${RECONCILER_SANDBOX_STATE:-../quickstart/.reconciler/sandbox.db}" in text
    config = load_config(out)
    assert [i.title for i in config.integrations or []] == ["gcs-driving-data", "s3-archive"]
    assert config.schema_keys is not None and len(config.schema_keys) == 10
    folders = {a.removeprefix("folder.") for a in config.locations if a.startswith("folder.")}
    assert "driving/front-camera/night" in folders and len(folders) == 5
    # The datasets hold no items yet: nothing tells which folders they draw from.
    assert [d.folders for d in config.datasets or []] == [None, None]
    assert "folders: left out, so its items are not managed: it holds no items of any folder" in text
    out_text = capsys.readouterr().out
    assert "Exported 2 integration(s), 10 metadata key(s), 5 folder(s), 2 dataset(s)" in out_text


def test_an_export_is_not_overwritten_without_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = copy_example("quickstart", tmp_path, monkeypatch)
    out = tmp_path / "exported"
    assert export(str(example), "--out", str(out)) == 0
    with pytest.raises(ReconcilerError, match="exists already; pass --force"):
        export(str(example), "--out", str(out))
    assert export(str(example), "--out", str(out), "--force") == 0


def test_the_registration_example_round_trips_with_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = copy_example("registration", tmp_path, monkeypatch)
    out = tmp_path / "exported"
    assert export(str(example), "--out", str(out), "--with-items") == 0
    assert main(["plan", str(out), "--detailed-exitcode"]) == 0
    config = load_config(out)
    assert config.backend.model_dump()["buckets"] == {"demo-driving-data": "../registration/bucket"}
    datasets = {d.title: [(r.path, r.recursive) for r in d.folder_refs()] for d in config.datasets or []}
    assert datasets == {
        "camera-train": [("driving/cameras", True), ("driving/sequences", True)],
        "clips-review": [("driving/clips", True)],
    }
    assert sorted(p.name for p in (out / "items").iterdir()) == [
        "driving__cameras.json",
        "driving__clips.json",
        "driving__sequences.json",
    ]
    sequences = json.loads((out / "items" / "driving__sequences.json").read_text())
    assert [g["createVideo"] for g in sequences["image_groups"]] == [True, True]
    assert len(json.loads((out / "items" / "driving__cameras.json").read_text())["images"]) == 210


PARTIAL = """\
backend: {kind: sandbox, state: state/sandbox.db}
integrations:
  - {title: "gcs $$team", provider: gcp}
metadata_schema:
  keys: {split: {type: enum, values: [train, val]}, note: text}
folders:
  - name: raw
    description: "yes"
    client_metadata: {version: "1.0", day: "2024-05-01", cost: "$$5"}
    data:
      - {integration: "gcs $$team", json: raw.json}
  - name: hosted
datasets:
  - {title: whole, folders: [raw]}
  - {title: partial, description: "$${HOME}"}
"""
RAW = {
    "images": [
        {"objectUrl": "gs://b/a.jpg", "clientMetadata": {"split": "train"}},
        {"objectUrl": "gs://b/b.jpg", "title": "on"},
    ],
    "videos": [{"objectUrl": "gs://b/c.mp4", "clientMetadata": {"note": "${X} 2024-05-01"}}],
}


def add_item(state: Path, folder: str, url: str | None, integration: str | None, metadata: str) -> None:
    """An item the config could not have registered (Encord-hosted, or metadata outside the schema)."""
    db = sqlite3.connect(state)
    parent = db.execute("SELECT uuid FROM folders WHERE name = ?", (folder,)).fetchone()[0]
    name = url.rsplit("/", 1)[-1] if url else "uploaded.jpg"
    db.execute(
        "INSERT INTO items (uuid, parent, item_type, name, url, client_metadata, owner, created_at, "
        "last_edited_at, storage_location, integration_hash, media, url_key, name_fold) "
        "VALUES (?, ?, 'image', ?, ?, ?, 'me', '2024-01-01', '2024-01-01', ?, ?, '{}', ?, ?)",
        (str(uuid.uuid4()), parent, name, url, metadata, "gcp" if url else "encord", integration, url, name),
    )
    db.commit()
    db.close()


async def link_one(config_path: Path) -> None:
    config = load_config(config_path)
    async with open_client(backend_ref(config.backend, config.base_dir)) as client:
        dataset = next(d for d in await client.list_datasets() if d.title == "partial")
        raw = next(f for f in await client.list_folders() if f.name == "raw")
        first = (await client.list_items(raw.uuid))[0]
        await client.link_items(str(dataset.dataset_uuid), [first.uuid])


def test_what_cannot_be_declared_is_left_out_and_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "reconciler.yaml").write_text(PARTIAL, encoding="utf-8")
    (project / "raw.json").write_text(json.dumps(RAW), encoding="utf-8")
    assert main(["apply", str(project), "--auto-approve"]) == 0
    asyncio.run(link_one(project))
    state = project / "state" / "sandbox.db"
    integration = sqlite3.connect(state).execute("SELECT uuid FROM integrations").fetchone()[0]
    add_item(state, "hosted", None, None, "{}")
    add_item(state, "hosted", "gs://b/legacy.jpg", integration, '{"legacy": 1}')
    out = tmp_path / "exported"
    capsys.readouterr()
    assert export(str(project), "--out", str(out), "--with-items") == 0
    notes = capsys.readouterr().err
    assert main(["plan", str(out), "--detailed-exitcode"]) == 0, capsys.readouterr().out

    text = (out / "reconciler.yaml").read_text()
    assert "# folders: left out, so its items are not managed: it holds 1 of the 3 items of raw." in text
    assert "dataset partial: folders: left out" in notes
    assert "1 item(s) with no URL (Encord-hosted" in text and "1 item(s) with no URL" in notes
    assert "1 item(s) are declared without the clientMetadata the schema rejects" in text
    config = load_config(out, env={"HOME": "/home/me", "X": "x"})
    datasets = {d.title: d for d in config.datasets or []}
    assert datasets["whole"].folders == ["raw"] and datasets["partial"].folders is None
    assert datasets["partial"].description == "${HOME}"
    assert config.folders is not None
    raw = next(f for f in config.folders if f.name == "raw")
    assert raw.client_metadata == {"version": "1.0", "day": "2024-05-01", "cost": "$5"}
    assert raw.data is not None and raw.data[0].integration == "gcs $team"
    hosted_items = json.loads((out / "items" / "hosted.json").read_text())
    assert hosted_items == {"images": [{"objectUrl": "gs://b/legacy.jpg", "title": "legacy.jpg"}]}
    raw_items = json.loads((out / "items" / "raw.json").read_text())
    assert raw_items["videos"][0]["clientMetadata"] == {"note": "${X} 2024-05-01"}


def test_a_folder_with_items_of_two_integrations_gets_a_file_for_each(tmp_path: Path) -> None:
    config_text = """\
backend: {kind: sandbox, state: sandbox.db}
integrations: [{title: gcs, provider: gcp}, {title: s3, provider: aws}]
folders:
  - name: mixed
    data:
      - {integration: gcs, json: gcs.json}
      - {integration: s3, json: s3.json}
"""
    (tmp_path / "reconciler.yaml").write_text(config_text, encoding="utf-8")
    (tmp_path / "gcs.json").write_text('{"images": [{"objectUrl": "gs://b/a.jpg"}]}', encoding="utf-8")
    (tmp_path / "s3.json").write_text('{"images": [{"objectUrl": "s3://b/a.jpg"}]}', encoding="utf-8")
    assert main(["apply", str(tmp_path), "--auto-approve"]) == 0
    config = load_config(tmp_path)

    async def read() -> ExportRead:
        async with open_client(backend_ref(config.backend, config.base_dir)) as client:
            return await read_for_export(client, with_items=True)

    export = build_export(asyncio.run(read()), {"kind": "sandbox", "state": "sandbox.db"}, with_items=True)
    assert sorted(export.files) == ["items/mixed.gcs.json", "items/mixed.s3.json"]
    assert "provider: aws" in export.text and "data:" in export.text
