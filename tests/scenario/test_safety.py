"""Apply refuses destructive changes without --allow-destroy, and plans past the safety thresholds
without --force; the plan shows destructive changes first, in their own group."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli.main import main


def folders(n: int, safety: str = "") -> str:
    children = "\n".join(f"      - name: cam{i:02d}" for i in range(n))
    return (
        "backend: {kind: sandbox, state: s.db}\n"
        f"{safety}"
        "folders:\n"
        "  - name: raw\n"
        "    children:\n"
        f"{children}\n"
    )


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reconciler.yaml").write_text(folders(12))
    assert main(["apply", "--auto-approve"]) == 0
    return tmp_path


def test_destructive_changes_need_allow_destroy_and_are_shown_first(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = (workspace / "reconciler.yaml").read_text()
    (workspace / "reconciler.yaml").write_text(
        config.replace("      - name: cam11\n", "").replace(
            "  - name: raw\n", "  - name: raw\n    description: x\n"
        )
    )
    capsys.readouterr()
    assert main(["plan"]) == 0
    out = capsys.readouterr().out
    gated, rest = out.split("Other changes:")
    assert "Destructive changes (apply needs --allow-destroy):" in gated and "folder.raw/cam11" in gated
    assert "folder.raw " in rest
    assert main(["apply", "--auto-approve"]) == 1
    err = capsys.readouterr().err
    assert "1 destructive change(s) need --allow-destroy: folder.raw/cam11" in err
    assert main(["plan", "--detailed-exitcode"]) == 2  # nothing ran, not even the safe update
    assert main(["apply", "--auto-approve", "--allow-destroy"]) == 0
    assert main(["plan", "--detailed-exitcode"]) == 0


def test_deleting_more_than_the_threshold_needs_force(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace / "reconciler.yaml").write_text(folders(8))  # 4 of 13 managed folders: 31%
    capsys.readouterr()
    assert main(["apply", "--auto-approve", "--allow-destroy"]) == 1
    err = capsys.readouterr().err
    assert "4 of 13 managed folders would be deleted (31%, above the 30% limit)" in err
    assert main(["plan", "--detailed-exitcode"]) == 2
    assert main(["apply", "--auto-approve", "--allow-destroy", "--force"]) == 0
    assert main(["plan", "--detailed-exitcode"]) == 0


def test_the_config_sets_the_thresholds(workspace: Path) -> None:
    (workspace / "reconciler.yaml").write_text(folders(8, "safety:\n  folders: {max_delete_percent: 40}\n"))
    assert main(["apply", "--auto-approve", "--allow-destroy"]) == 0
    (workspace / "reconciler.yaml").write_text(folders(2, "safety:\n  min_existing: 100\n"))
    assert main(["apply", "--auto-approve", "--allow-destroy"]) == 0  # too few exist for a limit


def test_target_limits_plan_and_apply_to_a_subtree_and_what_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reconciler.yaml").write_text(
        "backend: {kind: sandbox, state: s.db}\n"
        "folders:\n"
        "  - name: raw\n"
        "    children: [{name: a, children: [{name: deep}]}, {name: b}]\n"
        "  - name: other\n"
        "datasets:\n"
        "  - {title: train, folders: [raw/b]}\n"
    )
    capsys.readouterr()
    assert main(["plan", "--target", "folder.raw/a", "--format", "json"]) == 0
    doc = __import__("json").loads(capsys.readouterr().out)
    assert [c["address"] for c in doc["changes"]] == ["folder.raw", "folder.raw/a", "folder.raw/a/deep"]
    assert main(["apply", "--auto-approve", "--target", "folder.raw/a"]) == 0
    out = capsys.readouterr().out
    assert "Apply complete: 3 applied" in out and "did not converge" not in out
    capsys.readouterr()
    assert main(["plan", "--target", "folder.raw/a", "--detailed-exitcode"]) == 0
    said = capsys.readouterr().out
    assert "Targeted plan (folder.raw/a): no changes in the targeted resources." in said
    assert "3 other change(s) outside the targets are pending" in said and "No changes. The live" not in said
    assert main(["plan", "--detailed-exitcode"]) == 2  # other, raw/b and the dataset wait
    assert main(["plan", "--target", "folder.nope"]) == 1
    assert "--target folder.nope: no such resource" in capsys.readouterr().err
    assert main(["plan", "--target", "nonsense"]) == 1


def test_renamed_from_renames_and_moves_a_folder_with_its_items_and_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import sqlite3

    monkeypatch.chdir(tmp_path)
    spec = {"images": [{"objectUrl": f"gs://b/{i}.jpg"} for i in range(3)]}
    (tmp_path / "images.json").write_text(json.dumps(spec))
    head = "backend: {kind: sandbox, state: s.db}\nintegrations: [{title: gcs, provider: gcp}]\n"
    data = "data: [{integration: gcs, json: images.json}]"
    (tmp_path / "reconciler.yaml").write_text(
        head
        + "folders:\n  - name: raw\n    children:\n"
        + f"      - {{name: cams, {data}, children: [{{name: night}}]}}\n"
        + "datasets: [{title: train, folders: [raw/cams]}]\n"
    )
    assert main(["apply", "--auto-approve"]) == 0

    def folder_rows() -> dict[str, str]:
        db = sqlite3.connect(tmp_path / "s.db")
        rows = dict(db.execute("SELECT name, uuid FROM folders").fetchall())
        db.close()
        return rows

    before = folder_rows()
    # cams becomes archive/cameras: renamed and moved under a folder that does not exist yet
    (tmp_path / "reconciler.yaml").write_text(
        head
        + "folders:\n  - name: raw\n  - name: archive\n    children:\n"
        + f"      - {{name: cameras, renamed_from: raw/cams, {data}, children: [{{name: night}}]}}\n"
        + "datasets: [{title: train, folders: [archive/cameras]}]\n"
    )
    capsys.readouterr()
    assert main(["plan", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    actions = {c["address"]: c["action"] for c in doc["changes"]}
    assert actions == {"folder.archive": "create", "folder.archive/cameras": "update"}
    assert main(["apply", "--auto-approve"]) == 0  # nothing destructive: no --allow-destroy needed
    assert main(["plan", "--detailed-exitcode"]) == 0
    after = folder_rows()
    assert after["cameras"] == before["cams"] and after["night"] == before["night"]


def test_a_change_made_in_encord_by_hand_is_shown_as_drift(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import sqlite3

    db = sqlite3.connect(workspace / "s.db")  # someone edits a folder in Encord's web app
    db.execute("UPDATE folders SET description = 'edited by hand' WHERE name = 'cam03'")
    db.commit()
    db.close()
    config = (workspace / "reconciler.yaml").read_text()
    (workspace / "reconciler.yaml").write_text(
        config.replace("      - name: cam04\n", "      - {name: cam04, description: new}\n")
    )
    capsys.readouterr()
    assert main(["plan", "--format", "json"]) == 0
    origins = {c["address"]: c["origin"] for c in json.loads(capsys.readouterr().out)["changes"]}
    assert origins == {"folder.raw/cam03": "drift", "folder.raw/cam04": "config"}
    assert main(["plan"]) == 0
    text = capsys.readouterr().out
    assert "drift: changed in Encord since the last apply" in text  # the origin of every change, in text
    assert "from the config" in text


def test_a_protected_folder_is_kept_after_it_leaves_the_config_until_forgotten(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = (workspace / "reconciler.yaml").read_text()
    (workspace / "reconciler.yaml").write_text(
        config.replace("      - name: cam00\n", "      - {name: cam00, protect: true}\n")
    )
    assert main(["apply", "--auto-approve"]) == 0  # records the protection
    (workspace / "reconciler.yaml").write_text(
        config + "forget: [folder.raw/cam05]\n"
    )  # protect: true removed
    capsys.readouterr()
    assert main(["plan"]) == 0
    out = capsys.readouterr().out
    assert "folder.raw/cam00 stays protected although the config no longer says `protect: true`" in out
    assert "forget: folder.raw/cam05 is not protected, so there is nothing to forget" in out
    (workspace / "reconciler.yaml").write_text(config.replace("      - name: cam00\n", ""))
    capsys.readouterr()
    assert main(["plan", "--detailed-exitcode"]) == 0
    out = capsys.readouterr().out
    assert "folder.raw/cam00 is not in the configuration but is protected: it is kept" in out
    assert "forget: [folder.raw/cam00]" in out
    (workspace / "reconciler.yaml").write_text(
        config.replace("      - name: cam00\n", "") + "forget: [folder.raw/cam00]\n"
    )
    assert main(["plan", "--detailed-exitcode"]) == 2
    assert main(["apply", "--auto-approve", "--allow-destroy"]) == 0
    assert main(["plan", "--detailed-exitcode"]) == 0


def test_review_findings_on_thresholds_targets_drift_renames_and_locks(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import sqlite3

    # the plan itself says that apply will need --force
    (workspace / "reconciler.yaml").write_text(folders(8))
    capsys.readouterr()
    assert main(["plan"]) == 0
    assert "apply will refuse this plan without --force: 4 of 13 managed folders" in capsys.readouterr().out

    # a saved plan with --target converges within its targets
    (workspace / "reconciler.yaml").write_text(folders(12) + "  - name: extra\n  - name: more\n")
    assert main(["plan", "--target", "folder.extra", "--out", "p.json"]) == 0
    capsys.readouterr()
    assert main(["apply", "p.json", "--auto-approve"]) == 0
    assert "did not converge" not in capsys.readouterr().out

    # a folder made by hand in Encord is drift; so is one deleted by hand and declared again
    assert main(["apply", "--auto-approve"]) == 0
    db = sqlite3.connect(workspace / "s.db")
    parent = db.execute("SELECT parent FROM folders WHERE name = 'cam00'").fetchone()[0]
    db.execute(
        "INSERT INTO folders (uuid, parent, name, description, client_metadata, owner, created_at, "
        "last_edited_at) SELECT '00000000-0000-4000-8000-00000000abcd', parent, 'handmade', '', "
        "client_metadata, owner, created_at, last_edited_at FROM folders WHERE name = 'cam00'"
    )
    db.commit()
    db.close()
    capsys.readouterr()
    assert main(["plan", "--format", "json"]) == 0
    origins = {c["address"]: c["origin"] for c in json.loads(capsys.readouterr().out)["changes"]}
    assert origins == {"folder.raw/handmade": "drift"}, origins
    assert parent

    # a renamed_from that names nothing is said, not silently a create
    (workspace / "reconciler.yaml").write_text(
        folders(12).replace("      - name: cam11\n", "      - {name: cam11b, renamed_from: raw/cam1l}\n")
        + "  - name: extra\n  - name: more\n"
    )
    assert main(["plan"]) == 0
    assert "renamed_from 'raw/cam1l' names no live folder" in capsys.readouterr().out

    # a lock that is neither gs:// nor a local path is refused by validate
    (workspace / "reconciler.yaml").write_text("backend: {kind: sandbox, state: s.db, lock: 's3://b/lock'}\n")
    assert main(["validate"]) == 1
    assert "a lock is gs://bucket/path/to/lock.json or a local file path" in capsys.readouterr().err


def test_swapping_two_folders_by_renamed_from_is_refused_in_one_step(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    swapped = (
        folders(12)
        .replace("      - name: cam00\n", "      - {name: cam00, renamed_from: raw/cam01}\n")
        .replace("      - name: cam01\n", "      - {name: cam01, renamed_from: raw/cam00}\n")
    )
    (workspace / "reconciler.yaml").write_text(swapped)
    capsys.readouterr()
    assert main(["plan"]) == 1
    assert (
        "renamed_from 'raw/cam01', but 'raw/cam00' is live too; rename in two applies"
        in capsys.readouterr().out
    )


def nested(protect: bool = False, root: str = "raw", renamed: str = "") -> str:
    night = "{name: night, protect: true}" if protect else "{name: night}"
    rename = f", renamed_from: {renamed}" if renamed else ""
    return (
        "backend: {kind: sandbox, state: s.db}\n"
        f"folders:\n  - {{name: {root}{rename}, children: [{{name: cams, children: [{night}]}}]}}\n"
    )


def test_a_protected_folder_survives_its_parent_a_renamed_parent_and_an_older_saved_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    monkeypatch.chdir(tmp_path)
    config = tmp_path / "reconciler.yaml"
    config.write_text(nested())
    assert main(["apply", "--auto-approve"]) == 0
    config.write_text("backend: {kind: sandbox, state: s.db}\nfolders:\n  - name: raw\n")
    assert main(["plan", "--out", "old.json"]) == 0  # deletes cams and night: made before the protection

    config.write_text(nested(protect=True))
    assert main(["apply", "--auto-approve"]) == 0  # night is protected from now on
    capsys.readouterr()
    assert main(["apply", "old.json", "--auto-approve", "--allow-destroy"]) == 1
    err = capsys.readouterr().err
    assert "the saved plan deletes what is protected now: folder.raw/cams/night (protected: folder" in err
    assert "folder.raw/cams (protected: folder.raw/cams/night)" in err

    # the parent leaves the config: neither it nor the protected folder inside it is deleted
    config.write_text("backend: {kind: sandbox, state: s.db}\nfolders:\n  - name: raw\n")
    assert main(["plan"]) == 0
    out = capsys.readouterr().out
    assert "folder.raw/cams is not in the configuration but holds folder.raw/cams/night" in out
    assert main(["apply", "--auto-approve", "--allow-destroy"]) == 0

    # the protection follows a rename of a folder above it, without protect: true in the config
    config.write_text(nested(root="fleet", renamed="raw"))
    assert main(["apply", "--auto-approve"]) == 0
    config.write_text(
        "backend: {kind: sandbox, state: s.db}\nfolders:\n  - name: fleet\n    children: [{name: cams}]\n"
    )
    capsys.readouterr()
    assert main(["plan", "--detailed-exitcode"]) == 0
    assert "folder.fleet/cams/night is not in the configuration but is protected" in capsys.readouterr().out
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("SELECT count(*) FROM folders WHERE name = 'night'").fetchone()[0] == 1
    db.close()
