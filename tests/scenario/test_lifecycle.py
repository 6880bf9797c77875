"""Scenario: create, modify, remove from the config, against the sandbox; after every apply a fresh plan is empty."""

from __future__ import annotations

from uuid import UUID

from reconciler.apply.run import apply_plan
from reconciler.plan.model import Action, Plan, Risk
from tests.scenario.conftest import Workspace

STEP1 = """\
backend: {kind: sandbox}
integrations:
  - {title: gcs-main, provider: gcp}
metadata_schema:
  keys:
    reviewed: boolean
    captured: datetime
    exposure: number
    session: uuid
    model: string
    caption: text
    notes: long_string
    weather: {type: enum, values: [clear, rain]}
    clip: {type: embedding, size: 512}
    where: geospatial
folders:
  - name: driving
    description: fleet
    client_metadata: {owner: perception}
    children:
      - name: front
        client_metadata: {fps: 30}
        children:
          - {name: day}
          - {name: night}
      - name: rear
datasets:
  - title: train
    description: training
    folders: [driving/front]
  - title: night-eval
    folders: [{path: driving/front/night, recursive: false}]
"""


def executable(plan: Plan) -> list[str]:
    return [c.address for c in plan.changes if c.executable]


async def test_create_modify_remove(workspace: Workspace) -> None:
    # Step 1: everything is created, in order; the plan afterwards is empty.
    report = await workspace.apply(STEP1)
    assert report.ok, report
    assert len(report.result.applied) == 18
    assert executable(await workspace.plan(STEP1)) == []

    schema = await workspace.client.get_metadata_schema()
    assert schema["model"] == {"ty": "variant", "hint": "varchar"}
    assert schema["weather"] == {"ty": "enum", "values": ["clear", "rain"]}
    assert schema["clip"] == {"ty": "embedding", "size": 512, "api": None}
    assert schema["where"] == {"ty": "geospatial"}
    roots = await workspace.client.list_folders()
    assert [f.name for f in roots] == ["driving"]
    children = await workspace.client.list_folders(roots[0].uuid)
    assert sorted(f.name for f in children) == ["front", "rear"]
    titles = sorted(d.title for d in await workspace.client.list_datasets())
    assert titles == ["night-eval", "train"]

    # A second apply of the same config sends no request that writes.
    mark = len(workspace.requests())
    again = await workspace.apply(STEP1)
    assert again.ok and again.result.applied == []
    assert workspace.writes(since=mark) == []

    # Step 2: data arrives in a folder; the datasets that draw from it link the new items.
    front = next(f for f in children if f.name == "front")
    live = {f.name: f for f in await workspace.client.list_folders(front.uuid)}
    integration = (await workspace.client.list_cloud_integrations())[0]
    night_items = await workspace.register(
        str(live["night"].uuid),
        {"images": [{"objectUrl": f"gs://bucket/night/{i}.jpg"} for i in range(3)]},
        str(integration.integration_uuid),
    )
    day_items = await workspace.register(
        str(live["day"].uuid),
        {"videos": [{"objectUrl": "gs://bucket/day/a.mp4"}]},
        str(integration.integration_uuid),
    )
    plan = await workspace.plan(STEP1)
    links = {c.address: c for c in plan.changes if c.executable}
    assert set(links) == {"dataset_items.train", "dataset_items.night-eval"}
    assert sorted(links["dataset_items.train"].payload["link"]) == sorted(night_items + day_items)
    assert sorted(links["dataset_items.night-eval"].payload["link"]) == sorted(night_items)
    assert (await workspace.apply(STEP1)).ok
    assert executable(await workspace.plan(STEP1)) == []
    datasets = {d.title: d for d in await workspace.client.list_datasets()}
    rows = (await workspace.client.get_dataset(str(datasets["train"].dataset_uuid))).data_rows
    assert sorted(str(r.backing_item_uuid) for r in rows) == sorted(night_items + day_items)

    # Step 3: modify: metadata, descriptions, enum values, a new folder.
    step3 = (
        STEP1.replace("owner: perception", "owner: perception, tier: gold")
        .replace(
            "weather: {type: enum, values: [clear, rain]}",
            "weather: {type: enum, values: [clear, rain, snow]}",
        )
        .replace(
            "- name: rear",
            "- name: rear\n        description: rear camera\n        children: [{name: archive}]",
        )
    )
    plan = await workspace.plan(step3)
    changed = {c.address: c.action for c in plan.changes if c.executable}
    assert changed == {
        "schema.weather": Action.UPDATE,
        "folder.driving": Action.UPDATE,
        "folder.driving/rear": Action.UPDATE,
        "folder.driving/rear/archive": Action.CREATE,
    }
    assert all(c.risk == Risk.SAFE for c in plan.changes)
    assert (await workspace.apply(step3)).ok
    assert executable(await workspace.plan(step3)) == []
    root = (await workspace.client.list_folders())[0]
    assert root.client_metadata is not None and '"tier": "gold"' in root.client_metadata
    assert (await workspace.client.get_metadata_schema())["weather"]["values"] == ["clear", "rain", "snow"]

    # Step 4: remove from the config: a folder subtree, a schema key (pruned), a dataset.
    step4 = (
        step3.replace(
            "      - name: rear\n        description: rear camera\n        children: [{name: archive}]\n", ""
        )
        .replace("metadata_schema:\n", "metadata_schema:\n  prune: true\n")
        .replace("    where: geospatial\n", "")
        .replace("  - title: night-eval\n    folders: [{path: driving/front/night, recursive: false}]\n", "")
    )
    plan = await workspace.plan(step4)
    by_address = {c.address: c for c in plan.actionable}
    assert sorted(a for a in by_address if by_address[a].executable) == [
        "dataset.night-eval",
        "folder.driving/rear",
        "folder.driving/rear/archive",
        "schema.where",
    ]
    assert by_address["schema.where"].risk == Risk.DESTRUCTIVE
    # Encord's API cannot delete a dataset; the sandbox, the user's own, can (data rows go, items stay)
    assert by_address["dataset.night-eval"].risk == Risk.DESTRUCTIVE
    assert "deletes the dataset and its 3 data row(s)" in (by_address["dataset.night-eval"].reason or "")
    report = await workspace.apply(step4)
    assert report.ok and report.unsupported == []
    after = await workspace.plan(step4)
    assert after.actionable == []  # --detailed-exitcode can return to 0
    assert [d.title for d in await workspace.client.list_datasets()] == ["train"]
    schema = await workspace.client.get_metadata_schema()
    assert schema["where"] == {"ty": "tombstone", "deleted_ty": {"ty": "geospatial"}}
    assert "exposure" in schema  # declared keys untouched
    front_and_rear = await workspace.client.list_folders(root.uuid)
    assert [f.name for f in front_and_rear] == ["front"]


async def test_undeclared_schema_keys_survive_without_prune(workspace: Workspace) -> None:
    await workspace.client.set_metadata_schema({"theirs": {"ty": "variant", "hint": "number"}})
    assert (await workspace.apply("metadata_schema:\n  keys: {mine: text}\n")).ok
    schema = await workspace.client.get_metadata_schema()
    assert schema == {
        "theirs": {"ty": "variant", "hint": "number"},
        "mine": {"ty": "variant", "hint": "text"},
    }


async def test_a_failure_skips_only_its_dependents_and_is_reported_once(workspace: Workspace) -> None:
    config = "folders:\n  - name: a\n    children: [{name: b}]\n  - name: c\n"
    plan = await workspace.plan(config)
    # Point the child at a parent that does not exist: the emulator answers 403, as Encord does.
    broken = plan.model_copy(
        update={
            "changes": [
                c.model_copy(update={"payload": {**c.payload, "parent_uuid": str(UUID(int=1))}})
                if c.address == "folder.a/b"
                else c
                for c in plan.changes
            ]
        }
    )
    report = await apply_plan(broken, workspace.client, config=workspace.config(config))
    assert report.result.applied == ["folder.a", "folder.c"]
    assert list(report.result.failed) == ["folder.a/b"]
    assert not report.ok


async def test_removing_a_folder_a_dataset_draws_from_unlinks_its_items_first(workspace: Workspace) -> None:
    config = """\
prune: {folders: all}
integrations: [{title: gcs}]
folders:
  - name: keep
  - name: drop
datasets:
  - {title: d, folders: [keep, drop]}
"""
    assert (await workspace.apply(config)).ok
    folders = {f.name: f for f in await workspace.client.list_folders()}
    integration = (await workspace.client.list_cloud_integrations())[0]
    kept = await workspace.register(
        str(folders["keep"].uuid),
        {"images": [{"objectUrl": "gs://b/k.jpg"}]},
        str(integration.integration_uuid),
    )
    await workspace.register(
        str(folders["drop"].uuid),
        {"images": [{"objectUrl": "gs://b/d.jpg"}]},
        str(integration.integration_uuid),
    )
    assert (await workspace.apply(config)).ok

    smaller = config.replace("  - name: drop\n", "").replace("[keep, drop]", "[keep]")
    plan = await workspace.plan(smaller)
    by_address = {c.address: c for c in plan.actionable}
    assert set(by_address) == {"dataset_items.d", "folder.drop"}
    assert by_address["folder.drop"].depends_on == ["dataset_items.d"]
    assert by_address["dataset_items.d"].risk == Risk.DESTRUCTIVE
    report = await workspace.apply(smaller)
    assert report.ok, report.result
    assert executable(await workspace.plan(smaller)) == []
    dataset = (await workspace.client.list_datasets())[0]
    rows = (await workspace.client.get_dataset(str(dataset.dataset_uuid))).data_rows
    assert [str(r.backing_item_uuid) for r in rows] == kept


async def test_apply_reports_what_still_differs_afterwards(workspace: Workspace) -> None:
    # The plan covers folder `a` only; the config checked afterwards also wants `b`, which nothing
    # created: apply must say so rather than claim success.
    plan = await workspace.plan("folders: [{name: a}]\n")
    wider = workspace.config("folders: [{name: a}, {name: b}]\n")
    report = await apply_plan(plan, workspace.client, config=wider)
    assert report.result.applied == ["folder.a"]
    assert [c.address for c in report.not_converged] == ["folder.b"]
    assert not report.ok
