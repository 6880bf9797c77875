"""Bad data sources are reported before any request reaches Encord."""

from __future__ import annotations

import json

import pytest

from reconciler.errors import ConfigError
from tests.scenario.conftest import Workspace

CONFIG = """\
integrations: [{title: gcs, provider: gcp, bucket: my-bucket, cors: unmanaged}]
metadata_schema:
  keys: {split: {type: enum, values: [train, val]}}
folders:
  - name: raw
    data:
      - {integration: gcs, json: images.json}
      - {integration: gcs, csv: videos.csv}
"""


async def test_every_bad_entry_is_reported_at_once_and_nothing_is_requested(workspace: Workspace) -> None:
    (workspace.tmp / "images.json").write_text(
        json.dumps(
            {
                "images": [
                    {"objectUrl": "gs://my-bucket/a.jpg", "clientMetadata": {"split": "test"}},
                    {"objectUrl": "gs://other-bucket/b.jpg"},
                    {"objectUrl": "gs://my-bucket/c d.jpg"},
                ]
            },
            indent=2,
        )
    )
    (workspace.tmp / "videos.csv").write_text("ObjectUrl\ngs://my-bucket/a.jpg\n")
    with pytest.raises(ConfigError) as caught:
        await workspace.plan(CONFIG)
    problems = caught.value.problems
    text = "\n".join(problems)
    assert "images.json:/images/0" in text and "test" in text  # not an enum value
    assert "images.json:/images/1" in text and "other-bucket" in text
    assert "images.json:/images/2" in text  # white space in the URL
    assert "videos.csv:2" in text and "Expected a video, got a file of type image/jpeg" in text
    assert "gs://my-bucket/a.jpg is declared twice in folder 'raw'" in text  # across two sources
    assert workspace.requests() == []


async def test_metadata_is_checked_against_the_live_schema_when_the_config_declares_none(
    workspace: Workspace,
) -> None:
    await workspace.client.set_metadata_schema({"split": {"ty": "enum", "values": ["train", "val"]}})
    (workspace.tmp / "images.json").write_text(
        json.dumps({"images": [{"objectUrl": "gs://my-bucket/a.jpg", "clientMetadata": {"split": "tset"}}]})
    )
    config = """\
integrations: [{title: gcs, provider: gcp}]
folders:
  - {name: raw, data: [{integration: gcs, json: images.json}]}
"""
    with pytest.raises(ConfigError) as caught:
        await workspace.plan(config)
    [problem] = caught.value.problems
    assert "images.json:/images/0" in problem and "'tset'" in problem
