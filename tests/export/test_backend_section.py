"""The exported `backend` is the config's as written, its paths rewritten to name the same files."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli.export_cmd import backend_section, schema_ref
from reconciler.config.loader import load_config
from reconciler.export import Verbatim


def section(tmp_path: Path, backend: str, out: str = "exported") -> tuple[dict[str, object], list[str]]:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "reconciler.yaml").write_text(f"backend:\n{backend}", encoding="utf-8")
    return backend_section(load_config(project / "reconciler.yaml"), tmp_path / out)


def test_relative_paths_are_rewritten_and_variables_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATE", raising=False)
    got, notes = section(
        tmp_path,
        "  kind: sandbox\n  state: ${STATE:-.reconciler/sandbox.db}\n"
        "  buckets: {plain: bucket, absolute: /data/b}\n",
    )
    assert got == {
        "kind": "sandbox",
        "state": "${STATE:-../project/.reconciler/sandbox.db}",
        "buckets": {"plain": "../project/bucket", "absolute": "/data/b"},
    }
    assert isinstance(got["state"], Verbatim) and notes == []


def test_a_variable_set_to_a_relative_path_is_written_as_the_path_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATE", "here/sandbox.db")
    got, notes = section(tmp_path, "  kind: sandbox\n  state: ${STATE:-x.db}\n", out="a/b")
    assert got["state"] == "../../project/here/sandbox.db"
    assert notes and "backend.state" in notes[0]


def test_a_missing_state_is_written_where_it_was(tmp_path: Path) -> None:
    got, _ = section(tmp_path, "  kind: sandbox\n")
    assert got == {"kind": "sandbox", "state": "../project/.reconciler/sandbox.db"}


def test_an_encord_backend_keeps_its_secrets_as_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN", "secret-value")
    got, _ = section(
        tmp_path,
        "  kind: encord\n  domain: https://api.encord.com\n  bearer_token: ${TOKEN}\n"
        "  ssh_key_file: keys/id\n  concurrency: 4\n",
    )
    assert got["bearer_token"] == "${TOKEN}" and "secret-value" not in str(got)
    assert got["ssh_key_file"] == "../project/keys/id" and got["concurrency"] == 4


def test_the_schema_comment_points_at_reconcilers_schema_above(tmp_path: Path) -> None:
    assert schema_ref(tmp_path / "a" / "b") is None
    (tmp_path / "schema.json").write_text('{"title": "reconciler configuration"}', encoding="utf-8")
    assert schema_ref(tmp_path / "a" / "b") == "../../schema.json"
