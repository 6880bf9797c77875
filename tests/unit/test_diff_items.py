"""The items of a folder as sets: register, update, unchanged, prune; digests; dataset links."""

from __future__ import annotations

from pathlib import Path

from reconciler.config.loader import load_config
from reconciler.journal import JobJournal
from reconciler.live import FolderContents, LiveEntry, LiveFolder, LiveState
from reconciler.plan.diff import plan_with_work
from reconciler.plan.diff_items import contents_digest
from reconciler.plan.model import Action, BackendRef, Kind, Risk
from reconciler.registration.desired import DesiredData, FolderData, desired_digest
from reconciler.registration.entry import Entry, SourceEntries

SANDBOX = BackendRef(kind="sandbox", location="/tmp/x.db")


def config(tmp_path: Path, prune: bool = False):  # type: ignore[no-untyped-def]
    path = tmp_path / "reconciler.yaml"
    path.write_text(
        "folders:\n"
        "  - name: raw\n"
        f"    prune: {str(prune).lower()}\n"
        "    data: [{integration: gcs, json: x.json}]\n"
        "datasets:\n"
        "  - {title: train, folders: [raw]}\n",
        encoding="utf-8",
    )
    return load_config(path, env={})


def data(cfg, entries: list[Entry]) -> DesiredData:  # type: ignore[no-untyped-def]
    folder = cfg.folders[0]
    source = folder.data[0]
    fd = FolderData(path="raw", spec=folder, where="reconciler.yaml:2:5")
    fd.sources.append((source, SourceEntries("x.json", "gcs", entries, [])))
    return DesiredData(folders={"raw": fd})


def image(url: str, **kw) -> Entry:  # type: ignore[no-untyped-def]
    return Entry(type="image", urls=(url,), where=f"x.json:/images/{url}", **kw)


def live_with(items: dict[str, LiveEntry]) -> LiveState:
    contents = FolderContents(folder_uuid="f-1", items={(url,): item for url, item in items.items()})
    return LiveState(
        folders={
            "raw": LiveFolder(
                uuid="f-1", path="raw", parent_uuid=None, name="raw", description="", client_metadata={}
            )
        },
        contents={"raw": contents},
        folder_items={"raw": sorted(i.uuid for i in items.values())},
    )


def test_new_entries_are_registered_and_counted_by_type(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    entries = [
        image("gs://b/1.jpg"),
        image("gs://b/2.jpg"),
        Entry("video", ("gs://b/v.mp4",), "x.json:/videos/0"),
    ]
    plan, works = plan_with_work(cfg, live_with({}), SANDBOX, data(cfg, entries))
    change = next(c for c in plan.changes if c.kind == Kind.FOLDER_ITEMS)
    assert change.action == Action.UPDATE
    assert change.payload["register"] == {"image": 2, "video": 1}
    assert len(works["raw"].register) == 3
    # the dataset links what this apply registers, after the registration
    link = next(c for c in plan.changes if c.kind == Kind.DATASET_ITEMS)
    assert link.payload["link_registered_in"] == ["raw"]
    assert "folder_items.raw" in link.depends_on


def test_unchanged_and_updated_items_compare_only_declared_fields(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    live = live_with(
        {
            "gs://b/1.jpg": LiveEntry("u1", "image", "/1.jpg", {"a": 1}),
            "gs://b/2.jpg": LiveEntry("u2", "image", "/2.jpg", {"a": 1}),
            "gs://b/3.jpg": LiveEntry("u3", "image", "/3.jpg", {}),
        }
    )
    entries = [
        image("gs://b/1.jpg"),  # nothing declared: unchanged whatever Encord holds
        image("gs://b/2.jpg", client_metadata={"a": 2}),
        image("gs://b/3.jpg", title="three"),
    ]
    plan, works = plan_with_work(cfg, live, SANDBOX, data(cfg, entries))
    work = works["raw"]
    assert work.unchanged == 1 and not work.register and not work.delete
    assert {u.uuid: u.patch for u in work.update} == {
        "u2": {"clientMetadata": {"a": 2}},
        "u3": {"name": "three"},
    }
    change = next(c for c in plan.changes if c.kind == Kind.FOLDER_ITEMS)
    assert change.payload["update"] == 2 and change.payload["unchanged"] == 1
    assert any(d.field.endswith("clientMetadata") for d in change.diff)


def test_prune_deletes_only_when_the_folder_says_so_and_unlinks_first(tmp_path: Path) -> None:
    live = live_with({"gs://b/old.jpg": LiveEntry("u-old", "image", "old", {})})
    live = live.model_copy(
        update={"datasets": {"train": live.datasets.get("train") or _dataset({"u-old": "dh-1"})}}
    )
    keep_cfg = config(tmp_path, prune=False)
    plan, works = plan_with_work(keep_cfg, live, SANDBOX, data(keep_cfg, []))
    assert not works["raw"].delete
    assert not any(c.kind == Kind.FOLDER_ITEMS_PRUNE for c in plan.changes)

    prune_cfg = config(tmp_path, prune=True)
    plan, works = plan_with_work(prune_cfg, live, SANDBOX, data(prune_cfg, []))
    prune = next(c for c in plan.changes if c.kind == Kind.FOLDER_ITEMS_PRUNE)
    assert prune.risk == Risk.DESTRUCTIVE and prune.payload["delete"] == 1
    unlink = next(c for c in plan.changes if c.kind == Kind.DATASET_ITEMS)
    assert unlink.payload["unlink"] == ["dh-1"]
    assert unlink.address in prune.depends_on


def _dataset(linked: dict[str, str]):  # type: ignore[no-untyped-def]
    from reconciler.live import LiveDataset

    return LiveDataset(uuid="d-1", title="train", description="", linked_items=linked)


def test_a_type_clash_with_a_live_item_is_a_plan_error(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    live = live_with({"gs://b/v.mp4": LiveEntry("u1", "image", "v", {})})
    plan, _ = plan_with_work(
        cfg, live, SANDBOX, data(cfg, [Entry("video", ("gs://b/v.mp4",), "x.json:/videos/0")])
    )
    assert any("declared as video" in e for e in plan.errors)


def test_digests_ignore_order_and_see_every_field(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    a, b = image("gs://b/1.jpg"), image("gs://b/2.jpg", title="t")
    first = desired_digest(data(cfg, [a, b]).folders["raw"])
    assert first == desired_digest(data(cfg, [b, a]).folders["raw"])
    assert first != desired_digest(data(cfg, [a, image("gs://b/2.jpg", title="u")]).folders["raw"])
    live = FolderContents("f", {("gs://b/1.jpg",): LiveEntry("u", "image", "t", {})})
    moved = FolderContents("f", {("gs://b/1.jpg",): LiveEntry("u", "image", "t", {"x": 1})})
    assert contents_digest(live) != contents_digest(moved)


def test_the_journal_keeps_started_jobs_until_they_finish(tmp_path: Path) -> None:
    journal = JobJournal(tmp_path / "jobs.jsonl")
    journal.started("j1", "f", "raw", 10)
    journal.started("j2", "f", "raw", 5)
    journal.finished("j1")
    with (tmp_path / "jobs.jsonl").open("a") as fh:
        fh.write('{"event": "started", "job": "j3", "fold')  # a torn line from a crash mid-write
    assert [p.job for p in JobJournal(tmp_path / "jobs.jsonl").pending()] == ["j2"]
    journal.compact()
    assert Path(journal.path).exists()
    journal.finished("j2")
    journal.compact()
    assert not Path(journal.path).exists()
