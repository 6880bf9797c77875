"""What an export infers: a dataset's folders from its linked items, an integration's provider from its
items, and YAML that reads back exactly as the live values are."""

from __future__ import annotations

from pathlib import Path

from reconciler.config.loader import load_config
from reconciler.export import ExportItem, ExportRead, build_export, infer_folders, infer_provider
from reconciler.live import LiveDataset, LiveFolder, LiveSchemaKey, LiveState


def test_a_whole_linked_subtree_is_one_recursive_reference() -> None:
    items = {"a": [], "a/b": ["1"], "a/c": ["2"], "a/c/d": []}
    assert infer_folders(items, {"1", "2"}) == (["a"], "")


def test_siblings_are_listed_when_their_parent_holds_more() -> None:
    items = {"d": [], "d/x": ["1"], "d/y": ["2"], "d/z": ["3"]}
    assert infer_folders(items, {"1", "2"}) == (["d/x", "d/y"], "")


def test_a_folder_without_its_unlinked_subfolders_is_not_recursive() -> None:
    items = {"a": ["1"], "a/b": ["2"], "a/b/c": ["3"], "a/d": ["4"], "e": ["5"]}
    refs, _ = infer_folders(items, {"1", "2", "3", "5"})
    assert refs == [{"path": "a", "recursive": False}, "a/b", "e"]


def test_part_of_a_folder_cannot_be_expressed() -> None:
    refs, why = infer_folders({"a": ["1", "2"], "b": ["3"]}, {"1", "3"})
    assert refs is None and why == "it holds 1 of the 2 items of a"


def test_items_outside_every_folder_cannot_be_expressed() -> None:
    refs, why = infer_folders({"a": ["1"]}, {"1", "9"})
    assert refs is None and "1 of its 2 items are in no folder" in why


def test_an_empty_dataset_gets_no_folders() -> None:
    assert infer_folders({"a": ["1"]}, set()) == (None, "it holds no items of any folder")


def item(url: str | None, location: str = "gcp") -> ExportItem:
    return ExportItem("u", "image", "t", {}, (url,) if url else (), "i", location)


def test_the_provider_is_the_one_that_reads_every_url() -> None:
    assert infer_provider([item("s3://bucket/a.jpg", "s3")]) == "aws"
    assert infer_provider([item("https://acct.blob.core.windows.net/c/a.jpg", "azure")]) == "azure"
    assert infer_provider([item("gs://b/a.jpg"), item("https://storage.googleapis.com/b/c.jpg")]) == "gcp"
    assert infer_provider([item(None, "openTelekom")]) == "otc"  # no URL: the storage location tells
    assert infer_provider([]) is None


def test_values_yaml_would_misread_come_back_exactly(tmp_path: Path) -> None:
    metadata = {
        "day": "2024-05-01",
        "version": "1.0",
        "on": "no",
        "cost": "$5 ${HOME} $$",
        "nested": {"x": ["null", "~", 3, 2.5, True, None]},
        "multi": "line one\nline two\n",
        "yes": "key that YAML 1.1 reads as true",
    }
    live = LiveState(
        folders={
            "yes": LiveFolder(
                uuid="f1",
                path="yes",
                parent_uuid=None,
                name="yes",
                description="1e3",
                client_metadata=metadata,
            ),
            "yes/${X}": LiveFolder(
                uuid="f2", path="yes/${X}", parent_uuid="f1", name="${X}", description="", client_metadata={}
            ),
        },
        datasets={"2024-05-01": LiveDataset(uuid="d", title="2024-05-01", description="${HOME} costs $$")},
        schema_keys={
            "k": LiveSchemaKey(type="enum", values=("1.0", "no", "yes")),
            "gone": LiveSchemaKey(type="text", deleted=True),
            "who": LiveSchemaKey(type="user"),
        },
    )
    export = build_export(ExportRead(live, {}), {"kind": "sandbox", "state": "s.db"}, with_items=False)
    (tmp_path / "reconciler.yaml").write_text(export.text, encoding="utf-8")
    config = load_config(tmp_path / "reconciler.yaml", env={"HOME": "/home/me", "X": "x"})
    assert config.folders is not None and config.datasets is not None and config.schema_keys is not None
    folder = config.folders[0]
    assert (folder.name, folder.description, folder.client_metadata) == ("yes", "1e3", metadata)
    assert folder.children[0].name == "${X}"
    assert (config.datasets[0].title, config.datasets[0].description) == ("2024-05-01", "${HOME} costs $$")
    assert list(config.schema_keys) == ["k"] and config.schema_prune is False
    assert config.schema_keys["k"].model_dump() == {"type": "enum", "values": ["1.0", "no", "yes"]}
    assert "# Left out: 1 tombstoned key(s)." in export.text
    assert "who (user)" in export.text
