"""The CLI as a user runs it: exit codes, formats, confirmation, saved plans, stale plans."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from reconciler.cli.main import main
from reconciler.config.jsonschema import render_schema
from reconciler.plan.model import FORMAT_VERSION

CONFIG = """\
backend: {kind: sandbox, state: state/sandbox.db}
metadata_schema:
  keys: {caption: text, split: {type: enum, values: [train, val]}}
folders:
  - name: raw
    children: [{name: cams}]
datasets:
  - {title: train, description: d, folders: [raw]}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "reconciler.yaml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_plan_apply_plan_with_detailed_exit_codes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    thresholds = gc.get_threshold()
    assert main(["plan", "--detailed-exitcode"]) == 2
    out = capsys.readouterr().out
    assert "Plan: 5 to create, 0 to update, 0 to delete, 0 unsupported." in out
    assert main(["apply", "--auto-approve"]) == 0
    assert "Apply complete: 5 applied, 0 failed, 0 skipped" in capsys.readouterr().out
    assert main(["plan", "--detailed-exitcode"]) == 0
    assert "No changes." in capsys.readouterr().out
    assert (project / "state" / "sandbox.db").exists()
    assert gc.get_freeze_count() == 0  # what a plan spares the collector goes back to it (engine.compute)
    assert gc.get_threshold() == thresholds  # and so do the collector's thresholds


def test_apply_refuses_without_a_terminal_or_auto_approve(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply"]) == 1
    err = capsys.readouterr().err
    assert "refusing to apply without --auto-approve" in err
    assert main(["plan", "--detailed-exitcode"]) == 2  # nothing was changed


def test_json_and_markdown_formats(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format_version"] == FORMAT_VERSION
    assert doc["summary"]["create"] == 5
    assert [c["address"] for c in doc["changes"]][:3] == ["schema.caption", "schema.split", "folder.raw"]
    assert main(["plan", "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert "**Plan: 5 to create, 0 to update, 0 to delete, 0 unsupported.**" in md
    assert "| ➕ | `folder.raw/cams` | create |" in md  # noqa: RUF001


def test_saved_plan_is_applied_and_a_stale_one_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--out", "plan.json"]) == 0
    assert main(["plan", "--out", "plan2.json"]) == 0
    assert main(["apply", "plan.json", "--auto-approve"]) == 0
    capsys.readouterr()
    assert main(["plan", "--detailed-exitcode"]) == 0
    # plan2 was computed before plan.json was applied: its resources have moved.
    assert main(["apply", "plan2.json", "--auto-approve"]) == 1
    err = capsys.readouterr().err
    assert "the saved plan is stale" in err and "folder.raw" in err and "schema.caption" in err


def test_config_errors_exit_1_with_file_and_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "reconciler.yaml").write_text("folders:\n  - nme: raw\n", encoding="utf-8")
    assert main(["validate"]) == 1
    err = capsys.readouterr().err
    assert "error: reconciler.yaml:2:5: folders[0].nme: unknown key" in err
    assert "error: reconciler.yaml:2:5: folders[0].name: Field required" in err
    assert "Traceback" not in err
    assert main(["plan"]) == 1
    assert not (project / "state").exists()  # no backend was touched


def test_unsupported_changes_are_shown_and_never_block(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", "--auto-approve"]) == 0
    changed = CONFIG.replace("description: d", "description: new").replace(
        "{name: cams}", "{name: cams}, {name: x}"
    )
    (project / "reconciler.yaml").write_text(changed, encoding="utf-8")
    capsys.readouterr()
    assert main(["plan", "--detailed-exitcode"]) == 2
    out = capsys.readouterr().out
    assert "dataset.train" in out and "unsupported" in out and "To do by hand:" in out
    assert "Plan: 1 to create, 0 to update, 0 to delete, 1 unsupported." in out
    assert main(["apply", "--auto-approve"]) == 0
    out = capsys.readouterr().out
    assert "1 applied" in out and "1 left to do by hand" in out


def test_schema_command_prints_schema_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == render_schema()


def test_validate_reports_counts(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "reconciler.yaml"]) == 0
    assert "2 metadata key(s), 2 folder(s), 1 dataset(s)" in capsys.readouterr().out
