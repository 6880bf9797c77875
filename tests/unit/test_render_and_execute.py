"""Renderers and the executor's ordering and failure handling."""

from __future__ import annotations

import asyncio
import json

from reconciler.apply.executor import Unit, execute
from reconciler.errors import EncordError
from reconciler.plan.markdown import render_markdown
from reconciler.plan.model import FORMAT_VERSION, Action, BackendRef, Change, FieldDiff, Kind, Plan, Risk
from reconciler.plan.render import render_json, render_text

BACKEND = BackendRef(kind="sandbox", location="/tmp/x.db")


def sample_plan() -> Plan:
    return Plan(
        backend=BACKEND,
        changes=[
            Change(address="schema.a", kind=Kind.SCHEMA_KEY, action=Action.CREATE, after={"type": "text"}),
            Change(address="schema.b", kind=Kind.SCHEMA_KEY, action=Action.CREATE, after={"type": "number"}),
            Change(address="folder.raw", kind=Kind.FOLDER, action=Action.CREATE, after={"name": "raw"}),
            Change(address="folder.raw/x", kind=Kind.FOLDER, action=Action.CREATE, depends_on=["folder.raw"]),
            Change(
                address="folder.raw/x/y", kind=Kind.FOLDER, action=Action.CREATE, depends_on=["folder.raw/x"]
            ),
            Change(
                address="folder.keep",
                kind=Kind.FOLDER,
                action=Action.UPDATE,
                diff=[FieldDiff(field="description", before="a", after="b")],
            ),
            Change(address="folder.same", kind=Kind.FOLDER, action=Action.NOOP),
            Change(
                address="dataset.d",
                kind=Kind.DATASET,
                action=Action.UPDATE,
                risk=Risk.UNSUPPORTED,
                reason="Encord's API cannot change a dataset's title or description",
                manual_steps="In the Encord web app: Datasets > d > Settings",
            ),
            Change(address="folder.old", kind=Kind.FOLDER, action=Action.DELETE, risk=Risk.DESTRUCTIVE),
        ],
    )


def test_text_render_has_symbols_details_and_summary() -> None:
    text = render_text(sample_plan())
    assert "Plan: 5 to create, 1 to update, 1 to delete, 1 unsupported." in text
    assert 'description: "a" → "b"' in text
    assert "To do by hand: In the Encord web app: Datasets > d > Settings" in text
    assert "folder.same" not in text  # no-ops are not shown
    assert "(destructive)" in text


def test_json_render_is_a_versioned_document() -> None:
    doc = json.loads(render_json(sample_plan()))
    assert doc["format_version"] == FORMAT_VERSION
    assert doc["summary"] == {"create": 5, "update": 1, "delete": 1, "unsupported": 1, "no-op": 1}
    first = doc["changes"][0]
    assert {"address", "action", "risk", "before", "after"} <= first.keys()
    assert first == {**first, "address": "schema.a", "action": "create", "risk": "safe", "before": None}
    assert (
        Plan.model_validate({k: v for k, v in doc.items() if k != "summary"}).actionable[0].address
        == "schema.a"
    )


def test_markdown_leads_with_the_summary_and_destructive_changes_and_folds_the_rest() -> None:
    md = render_markdown(sample_plan())
    assert md.startswith("### reconciler plan: `sandbox`\n\n**Plan: 5 to create")
    destructive = md.index(
        "<details open><summary><b>⛔ Destructive: 1 change(s); apply needs --allow-destroy"
    )
    assert (
        destructive
        < md.index("| 🗑️ | `folder.old` | delete |")
        < md.index("Safe · folder: 3 create, 1 update")
    )
    assert "<details><summary><b>Unsupported: to do by hand in Encord · dataset: 1 update" in md
    assert "- `dataset.d`: In the Encord web app: Datasets > d > Settings" in md


def test_a_long_markdown_plan_is_cut_with_a_pointer_to_the_full_plan() -> None:
    many = [
        Change(address=f"folder.f{i:04d}", kind=Kind.FOLDER, action=Action.CREATE, reason="x" * 80)
        for i in range(2000)
    ]
    md = render_markdown(
        Plan(backend=BackendRef(kind="sandbox", location="/x"), changes=many), full_plan="plan.json"
    )
    assert len(md) <= 60_000
    assert "are not shown to keep this comment under 60,000 characters" in md and "`plan.json`" in md


def test_a_cut_comment_names_what_it_left_out_registrations_and_deletes_first() -> None:
    many = [
        Change(address=f"folder.f{i:04d}", kind=Kind.FOLDER, action=Action.CREATE, reason="x" * 80)
        for i in range(2000)
    ]
    registration = Change(
        address="folder_items.raw/cams", kind=Kind.FOLDER_ITEMS, action=Action.UPDATE, reason="registers 9"
    )
    md = render_markdown(
        Plan(backend=BackendRef(kind="sandbox", location="/x"), changes=[*many, registration])
    )
    assert len(md) <= 60_000
    cut = md[md.index("> **Cut:**") :]
    shown = md.count("| ➕ | `folder.f")  # noqa: RUF001
    assert f"{2001 - shown} change(s) are not shown" in cut
    assert f"({2000 - shown} folder create, 1 folder_items update)" in cut
    # its section comes after the 2,000 folders, so it is cut; the note names it before any folder
    assert cut.index("`folder_items.raw/cams`") < cut.index("`folder.f")


def test_executor_runs_parents_first_batches_schema_and_skips_dependents_of_a_failure() -> None:
    ran: list[str] = []

    async def run_unit(unit: Unit) -> None:
        await asyncio.sleep(0)
        ran.append(unit.name)
        if unit.name == "folder.raw/x":
            raise EncordError("boom", status=500, trace_id="t1")

    result = asyncio.run(execute(sample_plan(), run_unit, concurrency=4))
    assert ran.count("schema") == 1  # both keys in one document write
    assert ran.index("folder.raw") < ran.index("folder.raw/x")
    assert "dataset.d" not in ran and "folder.same" not in ran
    assert result.failed == {"folder.raw/x": "boom (trace id t1)"}
    assert result.skipped == {"folder.raw/x/y": "folder.raw/x"}
    assert result.applied == ["schema.a", "schema.b", "folder.raw", "folder.keep", "folder.old"]
    assert not result.ok


def test_executor_bounds_concurrency() -> None:
    plan = Plan(
        backend=BACKEND,
        changes=[Change(address=f"folder.f{i}", kind=Kind.FOLDER, action=Action.CREATE) for i in range(20)],
    )
    in_flight = peak = 0

    async def run_unit(unit: Unit) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1

    result = asyncio.run(execute(plan, run_unit, concurrency=3))
    assert peak == 3 and len(result.applied) == 20
