"""A folder delete says what it destroys, and one Encord would refuse is a plan error (issue 9, point 6)."""

from __future__ import annotations

from uuid import UUID

from tests.scenario.conftest import Workspace

CONFIG = """\
prune: {folders: all}
integrations: [{title: gcs}]
folders:
  - name: keep
  - name: drop
    children: [{name: sub}]
"""


async def test_a_folder_delete_counts_items_links_and_subfolders_and_blocks_on_unmanaged_links(
    workspace: Workspace,
) -> None:
    assert (await workspace.apply(CONFIG + "datasets: [{title: theirs}]\n")).ok
    folders = {f.name: f for f in await workspace.client.list_folders()}
    integration = (await workspace.client.list_cloud_integrations())[0]
    items = await workspace.register(
        str(folders["drop"].uuid),
        {"images": [{"objectUrl": "gs://b/1.jpg"}, {"objectUrl": "gs://b/2.jpg"}]},
        str(integration.integration_uuid),
    )
    dataset = (await workspace.client.list_datasets())[0]
    await workspace.client.link_items(str(dataset.dataset_uuid), [UUID(items[0])])  # by hand: not managed

    smaller = CONFIG.replace("  - name: drop\n    children: [{name: sub}]\n", "")
    plan = await workspace.plan(smaller)  # no `datasets` section: reconciler does not manage "theirs"
    drop = next(c for c in plan.changes if c.address == "folder.drop")
    assert (
        drop.payload["items"] == 2 and drop.payload["linked_items"] == 1 and drop.payload["subfolders"] == 1
    )
    assert "deletes 2 item(s) (1 used in datasets) and 1 subfolder(s)" in drop.reason
    assert any(e.startswith("folder.drop: 1 of its item(s) are used by datasets") for e in plan.errors)

    # managed, the dataset unlinks the item first: the delete is no longer blocked
    managed = smaller + "datasets: [{title: theirs, folders: [keep]}]\n"
    plan = await workspace.plan(managed)
    assert not plan.errors
    report = await workspace.apply(managed)
    assert report.ok, report.result


async def test_on_the_sandbox_an_undeclared_dataset_goes_first_and_the_folder_delete_is_not_blocked(
    workspace: Workspace,
) -> None:
    assert (await workspace.apply(CONFIG + "datasets: [{title: old}]\n")).ok
    folders = {f.name: f for f in await workspace.client.list_folders()}
    integration = (await workspace.client.list_cloud_integrations())[0]
    items = await workspace.register(
        str(folders["drop"].uuid),
        {"images": [{"objectUrl": "gs://b/1.jpg"}]},
        str(integration.integration_uuid),
    )
    dataset = (await workspace.client.list_datasets())[0]
    await workspace.client.link_items(str(dataset.dataset_uuid), [UUID(items[0])])

    smaller = CONFIG.replace("  - name: drop\n    children: [{name: sub}]\n", "") + "datasets: []\n"
    plan = await workspace.plan(smaller)
    assert not plan.errors
    changes = {c.address: c for c in plan.actionable}
    assert changes["dataset.old"].payload["rows"] == 1
    assert "dataset.old" in changes["folder.drop"].depends_on
    report = await workspace.apply(smaller)
    assert report.ok, report.result
    assert (await workspace.plan(smaller)).actionable == []
    assert await workspace.client.list_datasets() == []


async def test_the_plan_warns_of_the_item_threshold_a_folder_delete_crosses(workspace: Workspace) -> None:
    assert (await workspace.apply(CONFIG)).ok
    folders = {f.name: f for f in await workspace.client.list_folders()}
    integration = (await workspace.client.list_cloud_integrations())[0]
    images = [{"objectUrl": f"gs://b/{n}.jpg"} for n in range(12)]
    await workspace.register(str(folders["drop"].uuid), {"images": images}, str(integration.integration_uuid))
    smaller = CONFIG.replace("  - name: drop\n    children: [{name: sub}]\n", "")
    plan = await workspace.plan(smaller)
    # The folder delete counts its items only after the plan is made; the warning must see them.
    assert (
        "apply will refuse this plan without --force: 12 of 12 managed items would be deleted "
        "(100%, above the 30% limit)"
    ) in plan.warnings
