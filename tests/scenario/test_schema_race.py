"""The schema is one document written by full replacement: a write clobbered by another writer is
merged once more into theirs, and a second clobber is an error, never a silent loss."""

from __future__ import annotations

from typing import Any

from tests.scenario.conftest import Workspace

CONFIG = "metadata_schema:\n  keys: {caption: text}\n"


def clobber_after_writes(workspace: Workspace, times: int) -> None:
    """Another writer replaces the document right after each of our next `times` writes."""
    write = workspace.client.set_metadata_schema
    left = [times]

    async def write_then_clobber(schema: dict[str, Any]) -> None:
        await write(schema)
        if left[0] > 0:
            left[0] -= 1
            await write({"theirs": {"ty": "variant", "hint": "number"}})

    workspace.client.set_metadata_schema = write_then_clobber  # type: ignore[method-assign]


async def test_a_clobbered_schema_write_is_merged_into_the_other_writers_document(
    workspace: Workspace,
) -> None:
    clobber_after_writes(workspace, times=1)
    report = await workspace.apply(CONFIG)
    assert report.result.ok
    document = await workspace.client.get_metadata_schema()
    assert document["theirs"] == {"ty": "variant", "hint": "number"}  # their key survives
    assert document["caption"] == {"ty": "variant", "hint": "text"}  # and ours is there


async def test_a_second_clobber_fails_the_schema_change(workspace: Workspace) -> None:
    clobber_after_writes(workspace, times=2)
    report = await workspace.apply(CONFIG)
    assert "schema.caption" in report.result.failed
    assert "replaced by another writer" in report.result.failed["schema.caption"]
