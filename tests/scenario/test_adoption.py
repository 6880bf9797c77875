"""Adopting a workspace whose organisation has no metadata schema (as one built with the SDK alone)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli.main import main
from reconciler.config.loader import load_config

CONFIG = """\
backend: {kind: sandbox, state: .reconciler/sandbox.db}
integrations:
  - {title: gcs, provider: gcp}
folders:
  - name: raw
    data:
      - {integration: gcs, json: items.json}
"""


def test_declared_metadata_without_any_schema_is_one_warning_and_export_infers_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RECONCILER_SANDBOX_STATE", raising=False)
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    images = [
        {
            "objectUrl": f"gs://b/{n}.jpg",
            "clientMetadata": {"weather": ["rain", "clear"][n % 2], "count": n, "frames": {str(n): {"x": 1}}},
        }
        for n in range(8)
    ]
    (tmp_path / "items.json").write_text(json.dumps({"images": images}))

    capsys.readouterr()
    assert main(["plan", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("is not checked: the organisation has no metadata schema") == 1
    assert "clientMetadata of 8 declared entries is not checked" in out
    assert main(["apply", str(tmp_path), "--auto-approve"]) == 0

    exported = tmp_path / "exported"
    assert main(["export", str(tmp_path), "--with-items", "--out", str(exported)]) == 0
    config = load_config(exported)
    assert config.schema_keys is not None
    assert {key: spec.canonical_type() for key, spec in config.schema_keys.items()} == {
        "count": "number",
        "weather": "enum",
    }
    # The exported items keep all their metadata, per-frame objects included.
    (source,) = (exported / "items").iterdir()
    assert json.loads(source.read_text())["images"][3]["clientMetadata"]["frames"] == {"3": {"x": 1}}
    capsys.readouterr()
    assert main(["plan", str(exported), "--detailed-exitcode"]) == 2  # the inferred keys are created
    assert "schema.weather" in capsys.readouterr().out
    assert main(["apply", str(exported), "--auto-approve"]) == 0
    assert main(["plan", str(exported), "--detailed-exitcode"]) == 0
