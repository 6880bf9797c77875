"""A strict client-only integration fed by a bucket listing: media metadata comes from the sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli.main import main

CONFIG = """\
backend: {kind: sandbox, state: .reconciler/sandbox.db, buckets: {strict-data: bucket}}
integrations:
  - {title: strict, provider: gcp, bucket: strict-data, cors: unmanaged, strict_client_only: true}
folders:
  - name: cams
    data:
      - {integration: strict, bucket: "gs://strict-data/cams/", metadata: media.jsonl}
"""
MEDIA = {"mimeType": "image/jpeg", "fileSize": 3, "height": 2, "width": 2}


def test_sidecar_media_metadata_serves_a_strict_integration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RECONCILER_SANDBOX_STATE", raising=False)
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    cams = tmp_path / "bucket" / "cams"
    cams.mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (cams / name).write_bytes(b"jpg")
    lines = [
        {"objectUrl": f"gs://strict-data/cams/{n}", "imageMetadata": MEDIA}
        for n in ("a.jpg", "b.jpg", "c.jpg")
    ]
    sidecar = tmp_path / "media.jsonl"
    sidecar.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["apply", str(tmp_path), "--auto-approve"]) == 0
    assert main(["plan", str(tmp_path), "--detailed-exitcode"]) == 0

    sidecar.write_text("".join(json.dumps(line) + "\n" for line in lines[:1]))
    capsys.readouterr()
    assert main(["plan", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("is strict client-only") == 1
    assert "2 listed object(s) have no media metadata in media.jsonl: gs://strict-data/cams/b.jpg" in err

    sidecar.write_text(json.dumps({**lines[0], "imageMetadata": {**MEDIA, "width": 0}}) + "\n")
    assert main(["validate", str(tmp_path)]) == 1  # offline: the sidecar's own problems, at its line
    assert "media.jsonl:1: imageMetadata.width: must be greater than 0, got 0" in capsys.readouterr().err
