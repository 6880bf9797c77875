"""A saved plan carries what it needs (issue 15, point 3): applied from anywhere it checks against its own
configuration; a configuration that moved on since is said, not failed; empty or foreign files are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli.main import main

CONFIG = "backend: {kind: sandbox, state: s.db}\nfolders:\n  - name: raw\n"


@pytest.fixture(autouse=True)
def _no_state_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECONCILER_SANDBOX_STATE", raising=False)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("", "is empty: neither a saved plan"),
        ("   \n", "is empty: neither a saved plan"),
        ("{}", "is JSON but not a saved plan"),
        ('{"changes": []}', "is JSON but not a saved plan"),
        ("[]", "is JSON but not a saved plan"),
        ("# nothing but a comment\n", "declares nothing"),
    ],
)
def test_an_empty_or_foreign_file_is_refused_and_nothing_is_made(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str,
    words: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plan.json").write_text(content)
    assert main(["apply", "plan.json", "--auto-approve"]) == 1
    assert words in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "plan.json"]  # no sandbox made on the spot


def test_a_saved_plan_applied_from_another_directory_checks_against_its_own_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    repo.mkdir()
    elsewhere.mkdir()
    (repo / "reconciler.yaml").write_text(CONFIG)
    (elsewhere / "reconciler.yaml").write_text(CONFIG.replace("raw", "other").replace("s.db", "other.db"))
    monkeypatch.chdir(repo)
    assert main(["plan", "--out", "plan.json"]) == 0  # the config is `reconciler.yaml` here, as there
    monkeypatch.chdir(elsewhere)  # another workspace's config is here: it must not be used
    capsys.readouterr()
    assert main(["apply", str(repo / "plan.json"), "--auto-approve"]) == 0
    out = capsys.readouterr().out
    assert "did not converge" not in out and "Apply complete: 1 applied" in out
    assert not (elsewhere / "other.db").exists()
    monkeypatch.chdir(repo)
    assert main(["plan", "--detailed-exitcode"]) == 0


def test_a_saved_plan_applied_after_the_configuration_moved_on_says_so_and_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    assert main(["plan", "--out", "reviewed.json"]) == 0
    doc = json.loads((tmp_path / "reviewed.json").read_text())
    assert doc["config_from_plan"] == "reconciler.yaml" and doc["config_digest"].startswith("sha256:")
    # Two more pull requests merged meanwhile: the config now declares more.
    (tmp_path / "reconciler.yaml").write_text(CONFIG + "  - name: newer\n  - name: newest\n")
    capsys.readouterr()
    assert main(["apply", "reviewed.json", "--auto-approve"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Apply complete: 1 applied" in out and "did not converge" not in out
    assert "The configuration changed since this plan was made" in out
    assert main(["plan", "--detailed-exitcode"]) == 2  # the newer changes wait for their own review


def test_show_prints_a_saved_plan_without_reaching_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    assert main(["plan", "--out", "plan.json"]) == 0
    (tmp_path / "s.db").unlink()  # the workspace is gone: show needs none
    capsys.readouterr()
    assert main(["show", "plan.json"]) == 0
    out = capsys.readouterr().out
    assert "+ folder.raw" in out and "Plan: 1 to create" in out and "apply it with" in out
    assert main(["show", "plan.json", "--format", "markdown"]) == 0
    assert "### reconciler plan" in capsys.readouterr().out
    assert main(["show", "plan.json", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["create"] == 1
    assert not (tmp_path / "s.db").exists()
    (tmp_path / "empty.json").write_text("{}")
    assert main(["show", "empty.json"]) == 1
    assert "is JSON but not a saved plan" in capsys.readouterr().err
