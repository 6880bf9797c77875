"""The pure diff: config against a live state built by hand, no I/O."""

from __future__ import annotations

from pathlib import Path

from reconciler.config.loader import Config, load_config
from reconciler.live import LiveDataset, LiveFolder, LiveIntegration, LiveSchemaKey, LiveState
from reconciler.plan.diff import plan_changes
from reconciler.plan.model import Action, BackendRef, Change, Kind, Plan, Risk

SANDBOX = BackendRef(kind="sandbox", location="/tmp/x.db")
ENCORD = BackendRef(kind="encord", location="https://api.encord.com")


def config(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env={})


def by_address(plan: Plan) -> dict[str, Change]:
    return {c.address: c for c in plan.changes}


def folder(path: str, uuid: str, parent: str | None = None, **kw: object) -> LiveFolder:
    return LiveFolder(
        uuid=uuid,
        path=path,
        parent_uuid=parent,
        name=path.rsplit("/", 1)[-1],
        description=str(kw.get("description", "")),
        client_metadata=dict(kw.get("client_metadata", {})),
    )  # type: ignore[arg-type]


def test_empty_workspace_creates_everything_in_dependency_order(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        """\
integrations: [{title: gcs}]
metadata_schema: {keys: {a: text, e: {type: enum, values: [z, a]}}}
folders:
  - name: raw
    children: [{name: cams, children: [{name: front}]}]
datasets: [{title: train, folders: [raw]}]
""",
    )
    plan = plan_changes(cfg, LiveState(), SANDBOX)
    assert [c.address for c in plan.changes] == [
        "integration.gcs",
        "schema.a",
        "schema.e",
        "folder.raw",
        "folder.raw/cams",
        "folder.raw/cams/front",
        "dataset.train",
    ]
    assert all(c.action == Action.CREATE for c in plan.changes)
    changes = by_address(plan)
    assert changes["integration.gcs"].sandbox_only
    assert changes["schema.e"].after == {"type": "enum", "values": ["a", "z"]}
    assert changes["folder.raw/cams"].depends_on == ["folder.raw"]
    assert changes["folder.raw/cams"].payload["parent_path"] == "raw"
    assert plan.summary_line() == "Plan: 7 to create, 0 to update, 0 to delete, 0 unsupported."


def test_matching_workspace_is_an_empty_plan(tmp_path: Path) -> None:
    cfg = config(tmp_path, "metadata_schema: {keys: {a: string}}\nfolders: [{name: raw, description: d}]\n")
    live = LiveState(
        schema_keys={"a": LiveSchemaKey(type="varchar")},
        folders={"raw": folder("raw", "u1", description="d")},
    )
    plan = plan_changes(cfg, live, SANDBOX)
    assert not plan.has_changes
    assert plan.summary_line() == "No changes. The live workspace matches the configuration."


def test_schema_type_change_is_destructive_and_says_why(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        "metadata_schema: {keys: {a: number, e: {type: enum, values: [x]}, m: {type: embedding, size: 8}}}\n",
    )
    live = LiveState(
        schema_keys={
            "a": LiveSchemaKey(type="text"),
            "e": LiveSchemaKey(type="enum", values=("x", "y")),
            "m": LiveSchemaKey(type="embedding", size=4),
        }
    )
    changes = by_address(plan_changes(cfg, live, SANDBOX))
    assert changes["schema.a"].risk == Risk.DESTRUCTIVE
    assert "changes the type from text to number" in changes["schema.a"].reason
    assert (
        changes["schema.e"].risk == Risk.DESTRUCTIVE
        and "removes enum values ['y']" in changes["schema.e"].reason
    )
    assert changes["schema.m"].risk == Risk.DESTRUCTIVE and "from 4 to 8" in changes["schema.m"].reason


def test_enum_values_added_are_safe_and_tombstones_are_restored(tmp_path: Path) -> None:
    cfg = config(tmp_path, "metadata_schema: {keys: {e: {type: enum, values: [x, y]}, t: text}}\n")
    live = LiveState(
        schema_keys={
            "e": LiveSchemaKey(type="enum", values=("x",)),
            "t": LiveSchemaKey(type="text", deleted=True),
        }
    )
    changes = by_address(plan_changes(cfg, live, SANDBOX))
    assert changes["schema.e"].risk == Risk.SAFE and "adds enum values ['y']" in changes["schema.e"].reason
    assert (
        changes["schema.t"].action == Action.UPDATE
        and "restores a tombstoned key" in changes["schema.t"].reason
    )


def test_prune_tombstones_undeclared_keys_only_when_asked(tmp_path: Path) -> None:
    live = LiveState(
        schema_keys={"old": LiveSchemaKey(type="text"), "gone": LiveSchemaKey(type="text", deleted=True)}
    )
    keep = plan_changes(config(tmp_path, "metadata_schema: {keys: {}}\n"), live, SANDBOX)
    assert not keep.has_changes
    prune = plan_changes(config(tmp_path, "metadata_schema: {prune: true, keys: {}}\n"), live, SANDBOX)
    (change,) = prune.actionable
    assert (
        change.address == "schema.old" and change.action == Action.DELETE and change.risk == Risk.DESTRUCTIVE
    )


def test_folder_metadata_diff_is_field_by_field(tmp_path: Path) -> None:
    cfg = config(tmp_path, "folders: [{name: raw, client_metadata: {a: 1, b: {c: 2}}}]\n")
    live = LiveState(folders={"raw": folder("raw", "u1", client_metadata={"a": 1, "b": {"c": 3}, "z": 0})})
    change = by_address(plan_changes(cfg, live, SANDBOX))["folder.raw"]
    assert change.action == Action.UPDATE
    assert [(d.field, d.before, d.after) for d in change.diff] == [
        ("client_metadata['b']['c']", 3, 2),
        ("client_metadata['z']", 0, None),
    ]
    # A key that goes is sent as null, so it goes whether Encord merges or replaces (metadata_patch.py).
    assert change.payload == {"uuid": "u1", "set": {"client_metadata": {"a": 1, "b": {"c": 2}, "z": None}}}


def test_a_live_null_is_no_value(tmp_path: Path) -> None:
    cfg = config(tmp_path, "folders: [{name: raw, client_metadata: {a: 1}}]\n")
    live = LiveState(folders={"raw": folder("raw", "u1", client_metadata={"a": 1, "gone": None})})
    assert by_address(plan_changes(cfg, live, SANDBOX))["folder.raw"].action == Action.NOOP


def test_undeclared_folders_are_deleted_children_first(tmp_path: Path) -> None:
    cfg = config(tmp_path, "prune: {folders: all}\nfolders: [{name: keep}]\n")
    live = LiveState(
        folders={
            "keep": folder("keep", "k"),
            "old": folder("old", "o"),
            "old/sub": folder("old/sub", "s", parent="o"),
        }
    )
    plan = plan_changes(cfg, live, SANDBOX)
    assert [c.address for c in plan.actionable] == ["folder.old/sub", "folder.old"]
    assert all(c.risk == Risk.DESTRUCTIVE for c in plan.actionable)
    assert by_address(plan)["folder.old"].depends_on == ["folder.old/sub"]


def test_absent_sections_are_not_managed(tmp_path: Path) -> None:
    live = LiveState(
        folders={"x": folder("x", "x")},
        datasets={"d": LiveDataset(uuid="d", title="d", description="")},
        integrations={"i": LiveIntegration(uuid="i", title="i")},
    )
    assert not plan_changes(config(tmp_path, "metadata_schema: {keys: {}}\n"), live, SANDBOX).has_changes


def test_what_encord_cannot_do_is_unsupported_with_manual_steps(tmp_path: Path) -> None:
    cfg = config(tmp_path, "integrations: []\ndatasets: [{title: keep, description: new}]\n")
    live = LiveState(
        datasets={
            "keep": LiveDataset(uuid="k", title="keep", description="old"),
            "other": LiveDataset(uuid="o", title="other", description=""),
        },
        integrations={"legacy": LiveIntegration(uuid="i", title="legacy")},
    )
    plan = plan_changes(cfg, live, ENCORD)
    changes = by_address(plan)
    for address in ("dataset.keep", "dataset.other", "integration.legacy"):
        assert changes[address].risk == Risk.UNSUPPORTED, address
        assert changes[address].manual_steps and "Encord web app" in changes[address].manual_steps
    assert changes["dataset.keep"].action == Action.UPDATE
    assert changes["dataset.other"].action == Action.DELETE
    assert plan.summary_line() == "Plan: 0 to create, 0 to update, 0 to delete, 3 unsupported."
    assert not any(c.executable for c in plan.changes)
    assert "`prune: {datasets: false}`" in (changes["dataset.other"].manual_steps or "")


def test_the_sandbox_deletes_an_undeclared_dataset_and_says_what_goes(tmp_path: Path) -> None:
    cfg = config(tmp_path, "datasets: [{title: keep}]\n")
    live = LiveState(
        datasets={
            "keep": LiveDataset(uuid="k", title="keep", description=""),
            "other": LiveDataset(
                uuid="o", title="other", description="", linked_items={"i1": "h1", "i2": "h2"}
            ),
        }
    )
    change = by_address(plan_changes(cfg, live, SANDBOX))["dataset.other"]
    assert (change.action, change.risk, change.executable) == (Action.DELETE, Risk.DESTRUCTIVE, True)
    assert change.payload == {"title": "other", "uuid": "o", "rows": 2}
    assert change.reason and "2 data row(s)" in change.reason and "storage items stay" in change.reason


def test_missing_integration_against_encord_is_a_plan_error_saying_how_to_create_it(tmp_path: Path) -> None:
    cfg = config(tmp_path, "integrations: [{title: gcs, provider: gcp}]\n")
    plan = plan_changes(cfg, LiveState(), ENCORD)
    assert not plan.changes
    (error,) = plan.errors
    assert error.startswith(f"{tmp_path / 'r.yaml'}:1:16: integration 'gcs' does not exist in Encord")
    assert "Integrations > + New integration > GCP" in error


def test_dataset_items_link_new_and_unlink_foreign(tmp_path: Path) -> None:
    cfg = config(
        tmp_path, "folders: [{name: raw, children: [{name: sub}]}]\ndatasets: [{title: d, folders: [raw]}]\n"
    )
    live = LiveState(
        folders={"raw": folder("raw", "r"), "raw/sub": folder("raw/sub", "s", parent="r")},
        folder_items={"raw": ["i1", "i2"], "raw/sub": ["i3"]},
        datasets={
            "d": LiveDataset(uuid="d", title="d", description="", linked_items={"i1": "h1", "x9": "h9"})
        },
    )
    change = by_address(plan_changes(cfg, live, SANDBOX))["dataset_items.d"]
    assert change.kind == Kind.DATASET_ITEMS and change.risk == Risk.DESTRUCTIVE
    assert change.payload["link"] == ["i2", "i3"] and change.payload["unlink"] == ["h9"]
    assert (change.before, change.after) == ({"linked_items": 2}, {"linked_items": 3})


def test_dataset_items_of_a_new_dataset_depend_on_its_creation(tmp_path: Path) -> None:
    cfg = config(
        tmp_path, "folders: [{name: raw}]\ndatasets: [{title: d, folders: [{path: raw, recursive: false}]}]\n"
    )
    live = LiveState(folders={"raw": folder("raw", "r")}, folder_items={"raw": ["i1"]})
    plan = plan_changes(cfg, live, SANDBOX)
    assert [c.address for c in plan.actionable] == ["dataset.d", "dataset_items.d"]
    assert plan.actionable[1].depends_on == ["dataset.d"]


def test_live_ambiguities_become_plan_errors(tmp_path: Path) -> None:
    plan = plan_changes(
        config(tmp_path, "folders: []\n"), LiveState(ambiguities=["two live folders"]), SANDBOX
    )
    assert plan.errors == ["two live folders"]


def test_prune_policy_limits_what_is_deleted(tmp_path: Path) -> None:
    live = LiveState(
        folders={
            "ours": folder("ours", "o"),
            "ours/old": folder("ours/old", "oo", parent="o"),
            "ours/old/deep": folder("ours/old/deep", "ood", parent="oo"),
            "theirs": folder("theirs", "t"),
        },
        datasets={"their-ds": LiveDataset(uuid="d", title="their-ds", description="")},
        integrations={"their-int": LiveIntegration(uuid="i", title="their-int")},
    )
    sections = "integrations: []\nfolders: [{name: ours}]\ndatasets: []\n"

    def deleted(prune: str) -> list[str]:
        plan = plan_changes(config(tmp_path, prune + sections), live, SANDBOX)
        return [c.address for c in plan.actionable if c.action == Action.DELETE]

    assert deleted("") == [  # the default: nested; other teams' root folders are theirs
        "dataset.their-ds",
        "folder.ours/old/deep",
        "folder.ours/old",
        "integration.their-int",
    ]
    assert deleted("prune: {folders: all}\n") == [
        "dataset.their-ds",
        "folder.ours/old/deep",
        "folder.ours/old",
        "folder.theirs",
        "integration.their-int",
    ]
    assert deleted("prune: {folders: nested, datasets: false, integrations: false}\n") == [
        "folder.ours/old/deep",
        "folder.ours/old",
    ]
    assert deleted("prune: {folders: none, datasets: false, integrations: false}\n") == []


def test_every_address_names_one_resource_whatever_the_titles(tmp_path: Path) -> None:
    cfg = config(
        tmp_path, "folders: [{name: raw}]\ndatasets: [{title: t, folders: [raw]}, {title: t.items}]\n"
    )
    live = LiveState(folders={"raw": folder("raw", "r")}, folder_items={"raw": ["i1"]})
    plan = plan_changes(cfg, live, SANDBOX)
    addresses = [c.address for c in plan.changes]
    assert len(addresses) == len(set(addresses))
    assert set(addresses) == {"folder.raw", "dataset.t", "dataset.t.items", "dataset_items.t"}


def test_an_item_encord_stores_itself_is_never_unlinked_and_is_named(tmp_path: Path) -> None:
    """Removing a data unit Encord hosts deletes its file (Encord's docs): the plan keeps it linked."""
    cfg = config(tmp_path, "folders: [{name: raw}]\ndatasets: [{title: d, folders: [raw]}]\n")
    live = LiveState(
        folders={"raw": folder("raw", "r")},
        folder_items={"raw": ["i1"]},
        datasets={
            "d": LiveDataset(
                uuid="d",
                title="d",
                description="",
                linked_items={"i1": "h1", "x8": "h8", "x9": "h9"},
                hosted_items=["x9"],
            )
        },
    )
    plan = plan_changes(cfg, live, SANDBOX)
    change = by_address(plan)["dataset_items.d"]
    assert change.payload["unlink"] == ["h8"]
    assert any("dataset 'd': 1 item(s)" in w and "CORD_STORAGE" in w and "x9" in w for w in plan.warnings)


def test_metadata_patch_counts_a_null_as_no_value_whatever_the_path() -> None:
    from reconciler.plan.metadata_patch import metadata_patch

    assert metadata_patch({"a": 1, "b": None}, {"a": 1, "b": None}) is None  # equal, nulls and all
    assert metadata_patch({"a": 1, "b": None}, {"a": 1}) is None  # a declared null is no key
    assert metadata_patch({"a": 1}, {"a": 1, "b": None}) is None  # nor is a live one
    assert metadata_patch({}, None) is None
    assert metadata_patch({"a": 1}, {"a": 2, "b": 3}) == {"a": 1, "b": None}
