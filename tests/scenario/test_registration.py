"""Registration on the sandbox, end to end through the CLI: the example converges, changes to the
sources become registrations, updates and prunes, per-file errors are reported and retried."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from reconciler.cli.main import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "registration"


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "registration"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".reconciler"))
    monkeypatch.delenv("RECONCILER_SANDBOX_STATE", raising=False)
    return target


def items(example: Path) -> dict[str, list[tuple[str, str | None, str]]]:
    """Folder name -> (item type, url, client metadata) of every item, from the sandbox's database."""
    db = sqlite3.connect(example / ".reconciler" / "sandbox.db")
    rows = db.execute(
        "SELECT f.name, i.item_type, i.url, i.client_metadata FROM items i JOIN folders f ON f.uuid = i.parent"
    ).fetchall()
    db.close()
    out: dict[str, list[tuple[str, str | None, str]]] = {}
    for folder, item_type, url, metadata in rows:
        out.setdefault(folder, []).append((item_type, url, metadata))
    return out


def plan_json(example: Path, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    capsys.readouterr()
    assert main(["plan", str(example), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def change(plan: dict, address: str) -> dict:  # type: ignore[type-arg]
    return next(c for c in plan["changes"] if c["address"] == address)


def test_the_example_registers_everything_once_and_converges(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = example / "report.json"
    assert main(["apply", str(example), "--auto-approve", "--report", str(report)]) == 0
    assert main(["plan", str(example), "--detailed-exitcode"]) == 0
    live = items(example)
    assert len(live["cameras"]) == 210  # 150 front + 60 rear; scratch/ excluded
    assert sorted(t for t, _, _ in live["sequences"]) == ["imageSequence", "imageSequence"]
    assert len(live["clips"]) == 9
    urls = [u for folder in live.values() for _, u, _ in folder if u]
    assert len(urls) == len(set(urls))
    doc = json.loads(report.read_text())
    assert doc["registered"] == 221 and doc["failed"] == 0 and doc["errors"] == []
    out = capsys.readouterr().out
    assert "dataset camera-train" in out and "212 linked, 0 missing, 0 extra" in out


def test_source_changes_become_registrations_updates_and_prunes(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", str(example), "--auto-approve"]) == 0
    (example / "bucket" / "cams" / "rear" / "2024-05-01" / "img_9999.jpg").write_bytes(b"new")
    sidecar = example / "metadata" / "cams.jsonl"
    lines = sidecar.read_text().splitlines()
    first = json.loads(lines[0])
    first["clientMetadata"]["scene.weather"] = (
        "clear" if first["clientMetadata"]["scene.weather"] != "clear" else "rain"
    )
    sidecar.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    extras = example / "registrations" / "extras.json"
    spec = json.loads(extras.read_text())
    spec["audio"] = spec["audio"][:2]  # clips has prune: true: cabin_03.wav goes
    extras.write_text(json.dumps(spec))

    plan = plan_json(example, capsys)
    cams = change(plan, "folder_items.driving/cameras")
    assert cams["payload"]["register"] == {"image": 1} and cams["payload"]["update"] == 1
    prune = change(plan, "folder_items_prune.driving/clips")
    assert prune["risk"] == "destructive" and prune["payload"]["delete"] == 1

    capsys.readouterr()
    assert main(["apply", str(example), "--auto-approve"]) == 1  # the prune is destructive: gated
    assert (
        "need --allow-destroy: dataset_items.clips-review, folder_items_prune.driving/clips"
        in capsys.readouterr().err
    )
    assert main(["apply", str(example), "--auto-approve", "--allow-destroy"]) == 0
    assert main(["plan", str(example), "--detailed-exitcode"]) == 0
    live = items(example)
    assert len(live["cameras"]) == 211 and len(live["clips"]) == 8
    metadata = {u: json.loads(m) for _, u, m in live["cameras"]}
    assert metadata[first["objectUrl"]] == first["clientMetadata"]


def test_a_missing_object_is_a_per_file_error_that_can_be_retried(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extras = example / "registrations" / "extras.json"
    spec = json.loads(extras.read_text())
    spec["pdf"].append({"objectUrl": "gs://demo-driving-data/docs/missing.pdf"})
    extras.write_text(json.dumps(spec, indent=2))
    report = example / "report.json"
    capsys.readouterr()
    assert main(["apply", str(example), "--auto-approve", "--report", str(report)]) == 1
    out = capsys.readouterr().out
    assert "docs/missing.pdf" in out and "extras.json:/pdf/1" in out
    doc = json.loads(report.read_text())
    assert doc["failed"] == 1
    [error] = doc["errors"]
    assert error["urls"] == ["gs://demo-driving-data/docs/missing.pdf"]
    assert error["where"].endswith("extras.json:/pdf/1") and error["folder"] == "driving/clips"

    assert "✗ folder_items.driving/clips" in out and "1 of 10 file(s) failed to register" in out
    assert "dataset clips-review: 9 linked, 0 missing, 0 extra" in out  # what arrived is linked

    (example / "bucket" / "docs" / "missing.pdf").write_bytes(b"%PDF-1.4\n")
    spec["videos"][0]["title"] = "clip 04, retitled"  # not part of the retry
    extras.write_text(json.dumps(spec, indent=2))
    assert main(["apply", str(example), "--auto-approve", "--retry-failed", str(report)]) == 0
    assert len(items(example)["clips"]) == 10
    assert main(["plan", str(example), "--detailed-exitcode"]) == 2  # the title waits for a full apply
    assert main(["apply", str(example), "--auto-approve"]) == 0
    assert main(["plan", str(example), "--detailed-exitcode"]) == 0


def test_bad_entries_are_reported_at_once_with_their_places_before_any_request(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (example / "registrations" / "clips.csv").write_text(
        "ObjectUrl\ngs://demo-driving-data/videos/clip_01.mp4\ngs://demo-driving-data/cams/front/2024-05-01/img_0001.jpg\n"
    )
    extras = example / "registrations" / "extras.json"
    spec = json.loads(extras.read_text())
    spec["videos"][0]["clientMetadata"]["scene.weather"] = "sunny"
    spec["pdf"][0]["objectUrl"] = "gs://another-bucket/docs/vehicle-manual.pdf"
    spec["videos"][1]["videoMetadata"] = {"fps": "fast", "duration": 8, "width": 1280, "height": 720}
    extras.write_text(json.dumps(spec, indent=2))
    capsys.readouterr()
    assert main(["validate", str(example)]) == 1
    offline = capsys.readouterr().err
    assert main(["plan", str(example)]) == 1
    err = capsys.readouterr().err
    for found in (offline, err):
        assert "extras.json:/videos/1: videoMetadata.fps: must be a number, got 'fast'" in found
        assert "extras.json:/videos/1: videoMetadata: missing fileSize, mimeType" in found
    assert "clips.csv:3" in err and "Expected a video, got a file of type image/jpeg" in err
    assert "extras.json:/videos/0" in err and "sunny" in err
    assert "extras.json:/pdf/0" in err and "another-bucket" in err
    assert not (example / ".reconciler" / "sandbox.db").exists() or not items(example)


def test_a_saved_plan_applies_only_the_reviewed_item_sets(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = example / "plan.json"
    assert main(["plan", str(example), "--out", str(saved)]) == 0
    doc = json.loads(saved.read_text())
    cams = change(doc, "folder_items.driving/cameras")
    assert cams["payload"]["desired_digest"].startswith("sha256:")
    assert len(cams["payload"]["examples"]) == 5  # counts and a few examples, never the whole set
    assert len(saved.read_bytes()) < 50_000

    (example / "bucket" / "cams" / "rear" / "2024-05-01" / "img_5000.jpg").write_bytes(b"late")
    capsys.readouterr()
    assert main(["apply", str(saved), "--auto-approve"]) == 1
    err = capsys.readouterr().err
    assert "stale" in err and "folder_items.driving/cameras" in err
    assert not items(example)  # nothing was registered

    (example / "bucket" / "cams" / "rear" / "2024-05-01" / "img_5000.jpg").unlink()
    assert main(["apply", str(saved), "--auto-approve"]) == 0
    assert main(["plan", str(example), "--detailed-exitcode"]) == 0


def test_data_arriving_after_a_saved_plan_is_news_not_a_failed_apply(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reviewed plan does not touch a folder; an object lands in its bucket before the merge job. The
    apply does what was reviewed and exits 0; the folder is named as changed since, for the next plan."""
    assert main(["apply", str(example), "--auto-approve"]) == 0
    config = example / "reconciler.yaml"
    config.write_text(config.read_text().replace("Still images from the fleet's cameras", "Stills"))
    saved = example / "plan.json"
    assert main(["plan", str(example), "--out", str(saved)]) == 0
    assert "folder_items.driving/cameras" not in {c["address"] for c in json.loads(saved.read_text())["changes"]
                                                  if c["action"] != "noop"}  # fmt: skip
    (example / "bucket" / "cams" / "rear" / "2024-05-01" / "img_5000.jpg").write_bytes(b"late")
    capsys.readouterr()
    assert main(["apply", str(saved), "--auto-approve"]) == 0
    out = capsys.readouterr().out
    assert "folder.driving/cameras  update" in out
    assert "~ folder_items.driving/cameras: changed since this plan was made, beyond what it applied" in out
    assert "did not converge" not in out
    assert main(["plan", str(example), "--detailed-exitcode"]) == 2  # the new object, for the next review


def test_the_bucket_side_converges_and_taking_back_a_binding_is_destructive(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cors = change(plan_json(example, capsys), "bucket_cors.demo-driving-data")
    assert cors["action"] == "update" and cors["after"]["cors"][0]["origins"] == [
        "https://app.encord.com",
        "https://app.us.encord.com",
    ]
    assert main(["apply", str(example), "--auto-approve"]) == 0  # CORS and IAM round-trip: the plan is empty
    assert main(["plan", str(example), "--detailed-exitcode"]) == 0
    config = example / "reconciler.yaml"
    old = "serviceAccount:encord-reader@demo-project.iam.gserviceaccount.com"
    new = "serviceAccount:encord-reader-2@demo-project.iam.gserviceaccount.com"
    config.write_text(config.read_text().replace(old, new))
    iam = change(plan_json(example, capsys), "bucket_iam.demo-driving-data")
    assert iam["action"] == "update" and iam["risk"] == "destructive"
    assert iam["payload"]["remove"] == ["roles/storage.objectViewer", old]
    assert main(["apply", str(example), "--auto-approve", "--allow-destroy"]) == 0
    assert main(["plan", str(example), "--detailed-exitcode"]) == 0

    text = config.read_text()
    config.write_text(
        text.replace(
            f"    iam:                               # ...and this reader binding\n      member: {new}\n      role: roles/storage.objectViewer\n",
            "",
        )
    )
    assert "iam:" not in config.read_text()
    iam = change(plan_json(example, capsys), "bucket_iam.demo-driving-data")
    assert iam["action"] == "delete" and iam["risk"] == "destructive"
    assert main(["apply", str(example), "--auto-approve", "--allow-destroy"]) == 0
    assert main(["plan", str(example), "--detailed-exitcode"]) == 0


def test_a_saved_plan_of_changes_to_existing_items_applies(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", str(example), "--auto-approve"]) == 0
    extras = example / "registrations" / "extras.json"
    spec = json.loads(extras.read_text())
    spec["pdf"][0]["title"] = "Vehicle manual, 2nd edition"
    extras.write_text(json.dumps(spec))
    (example / "bucket" / "cams" / "rear" / "2024-05-01" / "img_7777.jpg").write_bytes(b"new")
    saved = example / "plan.json"
    assert main(["plan", str(example), "--out", str(saved)]) == 0
    assert main(["apply", str(saved), "--auto-approve"]) == 0
    assert main(["plan", str(example), "--detailed-exitcode"]) == 0


def test_a_source_that_declares_nothing_cannot_empty_a_pruned_folder(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", str(example), "--auto-approve"]) == 0
    config = example / "reconciler.yaml"
    text = config.read_text()
    # A case slip in a glob: the listing now matches nothing, and the folder prunes.
    config.write_text(
        text.replace('include: ["**/*.jpg"]', 'include: ["**/*.JPG"]').replace(
            "        description: Still images from the fleet's cameras\n",
            "        description: Still images from the fleet's cameras\n        prune: true\n",
        )
    )
    capsys.readouterr()
    assert main(["plan", str(example)]) == 1
    err = capsys.readouterr().err
    assert "folders.driving/cameras.data[0]: gs://demo-driving-data/cams/ declares no items" in err
    assert "prune: true" in err


def test_mistakes_of_a_whole_listing_are_one_error_at_its_place_found_offline(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = example / "reconciler.yaml"
    config.write_text(
        config.read_text()
        .replace("bucket: gs://demo-driving-data/sequences/", "bucket: gs://other-bucket/sequences/")
        .replace('title: "{relative}"', 'title: "{relativ}"')
    )
    (example / "metadata" / "cams.jsonl").write_bytes(
        b'{"objectUrl": "gs://demo-driving-data/x.jpg", \xff}\n'
    )
    capsys.readouterr()
    assert main(["validate", str(example)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert any("folders.driving/sequences.data[0]" in e and "'other-bucket'" in e for e in err)
    assert any("folders.driving/cameras.data[0]" in e and "{relativ}" in e for e in err)
    assert any("cams.jsonl:1" in e for e in err)
    assert len(err) == 3, err


def test_a_binding_the_owners_granted_is_never_taken_back(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reconciler.gcs.buckets import add_iam_member, read_iam_bindings
    from reconciler.gcs.client import storage_client
    from reconciler.gcs.sandbox import sandbox_gcs

    member = "serviceAccount:encord-reader@demo-project.iam.gserviceaccount.com"
    role = "roles/storage.objectViewer"
    state = example / ".reconciler" / "sandbox.gcs"
    buckets = {"demo-driving-data": example / "bucket"}
    with sandbox_gcs(state, buckets) as url:  # the bucket's owners grant it first, by hand
        add_iam_member(storage_client(url), "demo-driving-data", role, member)
    assert main(["apply", str(example), "--auto-approve"]) == 0
    config = example / "reconciler.yaml"
    config.write_text(
        config.read_text().replace(
            f"    iam:                               # ...and this reader binding\n      member: {member}\n      role: {role}\n",
            "",
        )
    )
    plan = plan_json(example, capsys)
    assert not [c for c in plan["changes"] if c["address"] == "bucket_iam.demo-driving-data"]
    assert main(["apply", str(example), "--auto-approve"]) == 0
    with sandbox_gcs(state, buckets) as url:
        assert member in read_iam_bindings(storage_client(url), "demo-driving-data")[role]


def test_a_journaled_job_that_cannot_be_read_any_more_is_forgotten(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = example / ".reconciler" / "sandbox.jobs.jsonl"
    journal.parent.mkdir(parents=True)
    journal.write_text(
        '{"event":"started","job":"00000000-0000-4000-8000-000000000001",'
        '"folder_uuid":"00000000-0000-4000-8000-000000000002","folder":"driving/clips","units":3}\n'
    )
    assert main(["apply", str(example), "--auto-approve"]) == 0
    assert not journal.exists()
    assert main(["plan", str(example), "--detailed-exitcode"]) == 0


def test_one_bucket_belongs_to_one_integration(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = example / "reconciler.yaml"
    config.write_text(
        config.read_text().replace(
            "integrations:\n",
            "integrations:\n  - {title: gcs-other, provider: gcp, bucket: demo-driving-data}\n",
        )
    )
    capsys.readouterr()
    assert main(["validate", str(example)]) == 1
    assert "is also named by integration 'gcs-other'" in capsys.readouterr().err


def test_media_metadata_is_compared_and_a_change_encord_cannot_make_is_unsupported(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", str(example), "--auto-approve"]) == 0
    extras = example / "registrations" / "extras.json"
    spec = json.loads(extras.read_text())
    assert spec["videos"][1]["videoMetadata"]["fps"] == 30  # the example declares it
    spec["videos"][1]["videoMetadata"]["fps"] = 25
    extras.write_text(json.dumps(spec, indent=2))
    capsys.readouterr()
    assert main(["plan", str(example), "--detailed-exitcode"]) == 2
    out = capsys.readouterr().out
    assert "! folder_items_media.driving/clips" in out
    assert "clip_05.mp4: videoMetadata.fps: 30.0 → 25.0" in out
    assert "its API cannot change it" in out
    doc = plan_json(example, capsys)
    media = change(doc, "folder_items_media.driving/clips")
    assert (media["action"], media["risk"]) == ("update", "unsupported")


def test_export_writes_media_metadata_back(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", str(example), "--auto-approve"]) == 0
    out = tmp_path / "exported"
    assert main(["export", str(example), "--with-items", "--out", str(out)]) == 0
    texts = "".join(p.read_text() for p in (out / "items").iterdir())
    assert (
        '"videoMetadata": {"fps": 30.0, "duration": 8.0, "width": 1280, "height": 720, "fileSize": 12'
        in texts
    )
    assert "strict_client_only: Encord's API does not report it" in (out / "reconciler.yaml").read_text()
    assert main(["plan", str(out), "--detailed-exitcode"]) == 0


def test_a_prune_the_config_causes_is_labelled_config_not_drift(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", str(example), "--auto-approve"]) == 0
    extras = example / "registrations" / "extras.json"
    spec = json.loads(extras.read_text())
    spec["audio"] = spec["audio"][:1]  # the data file lost two entries; nobody touched Encord
    extras.write_text(json.dumps(spec, indent=2))
    doc = plan_json(example, capsys)
    prune = change(doc, "folder_items_prune.driving/clips")
    assert (prune["action"], prune["origin"]) == ("delete", "config")


def test_an_acknowledged_unsupported_change_no_longer_keeps_the_exit_code_at_2(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", str(example), "--auto-approve"]) == 0
    extras = example / "registrations" / "extras.json"
    spec = json.loads(extras.read_text())
    spec["videos"][1]["videoMetadata"]["fps"] = 25  # a difference Encord's API cannot resolve
    extras.write_text(json.dumps(spec, indent=2))
    assert main(["plan", str(example), "--detailed-exitcode"]) == 2
    config = example / "reconciler.yaml"
    config.write_text(config.read_text() + "\nacknowledge: [folder_items_media.driving/clips]\n")
    capsys.readouterr()
    assert main(["plan", str(example), "--detailed-exitcode"]) == 0  # the scheduled drift check is green
    out = capsys.readouterr().out
    assert "folder_items_media.driving/clips" in out and "acknowledged: left as it is" in out
    assert "1 acknowledged unsupported change(s) are left as they are" in out
    # Resolved (the declaration agrees again), the entry is stale and the plan says so.
    spec["videos"][1]["videoMetadata"]["fps"] = 30
    extras.write_text(json.dumps(spec, indent=2))
    assert main(["plan", str(example), "--detailed-exitcode"]) == 0
    assert (
        "acknowledge: folder_items_media.driving/clips is not an unsupported change"
        in capsys.readouterr().out
    )
