"""A pull request's configuration reads no file outside its own directory tree (issue 15, point 5)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from reconciler.cli.main import main

SECRET = "-----BEGIN OPENSSH PRIVATE KEY----- not-for-logs"


def test_data_files_outside_the_configuration_are_refused_at_their_line_and_never_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RECONCILER_SANDBOX_STATE", raising=False)
    outside = tmp_path / "runner"
    outside.mkdir()
    key = outside / "credentials.csv"
    key.write_text(SECRET + "\n")
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "ok.json").write_text('{"images": [{"objectUrl": "gs://b/a.jpg"}]}')
    (repo / "data" / "escape.json").symlink_to(key)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    (repo / "reconciler.yaml").write_text(
        "backend: {kind: sandbox}\n"
        "integrations: [{title: g, provider: gcp}]\n"
        "folders:\n"
        "  - name: raw\n"
        "    data:\n"
        "      - {integration: g, csv: '${GOOGLE_APPLICATION_CREDENTIALS}'}\n"
        "      - {integration: g, json: data/escape.json}\n"
        "      - {integration: g, json: ../runner/credentials.csv}\n"
        "      - {integration: g, json: data/ok.json}\n"
    )
    for command in (["validate", str(repo)], ["plan", str(repo)]):
        capsys.readouterr()
        assert main(command) == 1
        captured = capsys.readouterr()
        err = captured.err
        assert (
            "reconciler.yaml:6:" in err and "data[0].csv: ${GOOGLE_APPLICATION_CREDENTIALS} is outside" in err
        )
        assert "reconciler.yaml:7:" in err and "data[1].json: data/escape.json is outside" in err
        assert "reconciler.yaml:8:" in err and "data[2].json: ../runner/credentials.csv is outside" in err
        assert "data[3]" not in err  # inside the tree: fine
        assert "not-for-logs" not in captured.out + err and str(key) not in err
    state = repo / ".reconciler" / "sandbox.db"
    if state.exists():  # refused before anything was sent: the sandbox holds nothing
        with closing(sqlite3.connect(state)) as db:
            assert db.execute("SELECT count(*) FROM folders").fetchone() == (0,)
