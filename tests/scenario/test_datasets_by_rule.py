"""Datasets by rule on the sandbox, through the CLI (issue 17): each selector kind, a split that stays stable
as items arrive, a grouped split with no group on two sides, an unlink refused without --allow-destroy,
and a selector on a key outside the schema refused at its line."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.main import main

SCHEMA = """\
metadata_schema:
  keys:
    camera: {type: enum, values: [front, rear]}
    weather: varchar
    drive: varchar
    duration_s: number
    reviewed: boolean
"""


def _image(name: str, **metadata: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"objectUrl": f"gs://lake/{name}", "title": name.rsplit("/", 1)[-1]}
    if metadata:
        entry["clientMetadata"] = metadata
    return entry


class Lake:
    """A sandbox workspace: a bucket directory, JSON registration files and the configuration."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "bucket").mkdir(parents=True)

    def objects(self, folder: str, entries: dict[str, list[dict[str, Any]]]) -> None:
        for kind in entries.values():
            for entry in kind:
                path = self.root / "bucket" / entry["objectUrl"].removeprefix("gs://lake/")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"x")
        (self.root / f"{folder}.json").write_text(json.dumps({**entries, "skip_duplicate_urls": True}))

    def config(self, datasets: str, splits: str = "", folders: tuple[str, ...] = ("cams", "clips")) -> Path:
        children = "".join(
            f"      - name: {f}\n        data: [{{integration: lake, json: {f}.json}}]\n" for f in folders
        )
        text = (
            "backend: {kind: sandbox, state: .reconciler/sandbox.db, buckets: {lake: bucket}}\n"
            "integrations: [{title: lake, provider: gcp, bucket: lake}]\n"
            f"{SCHEMA}"
            f"folders:\n  - name: raw\n    children:\n{children}"
            f"datasets:\n{datasets}"
            f"{splits}"
        )
        path = self.root / "reconciler.yaml"
        path.write_text(text)
        return path

    def members(self) -> dict[str, set[str]]:
        """Dataset title -> the object URLs of the items it links, from the sandbox's database."""
        with sqlite3.connect(self.root / ".reconciler" / "sandbox.db") as db:
            rows = db.execute(
                "SELECT d.title, i.url FROM data_rows r JOIN datasets d ON d.uuid = r.dataset "
                "JOIN items i ON i.uuid = r.item"
            ).fetchall()
            titles = [t for (t,) in db.execute("SELECT title FROM datasets")]
        out: dict[str, set[str]] = {t: set() for t in titles}
        for title, url in rows:
            out[title].add(url.removeprefix("gs://lake/"))
        return out


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lake:
    monkeypatch.delenv("RECONCILER_SANDBOX_STATE", raising=False)
    lake = Lake(tmp_path / "lake")
    lake.objects(
        "cams",
        {
            "images": [
                _image("cams/front/a1.jpg", camera="front", weather="rain", drive="d1", reviewed=True),
                _image("cams/front/a2.jpg", camera="front", weather="clear", drive="d1"),
                _image("cams/rear/b1.jpg", camera="rear", weather="rain", drive="d2"),
                _image("cams/rear/b2.tmp.jpg", camera="rear", weather="fog", drive="d2"),
                _image("cams/front/c1.jpg", camera="front", drive="d3"),
            ]
        },
    )
    lake.objects(
        "clips",
        {
            "videos": [
                {**_image("clips/long.mp4", duration_s=42.5), "title": "long"},
                {**_image("clips/short.mp4", duration_s=3), "title": "short"},
            ],
        },
    )
    return lake


def _weather(lake: Lake, name: str, weather: str, *new: dict[str, Any]) -> None:
    """Declare `weather` for the cams image `name` (and add `new` images) in the source file."""
    images = json.loads((lake.root / "cams.json").read_text())["images"]
    for entry in images:
        if entry["objectUrl"].endswith(name):
            entry["clientMetadata"]["weather"] = weather
    lake.objects("cams", {"images": [*images, *new]})


def _apply(config: Path, *extra: str) -> int:
    return main(["apply", str(config), "--auto-approve", *extra])


def test_each_selector_kind_links_what_it_selects_and_a_second_apply_changes_nothing(lake: Lake) -> None:
    config = lake.config(
        """\
  - title: everything
    select: [{folders: [raw]}]
  - title: not-recursive
    select: [{folders: [{path: raw, recursive: false}]}]
  - title: by-path
    select: [{folders: [raw], paths: {include: ["raw/cams/a*"]}}]
  - title: by-url
    select: [{folders: [raw], urls: {include: ["gs://lake/cams/**"], exclude: ["**/*.tmp.jpg"]}}]
  - title: by-type
    select: [{folders: [raw], types: [video]}]
  - title: equal-and-in
    select: [{folders: [raw], where: {camera: front, weather: {in: [rain, fog]}}}]
  - title: negation
    select: [{folders: [raw/cams], where: {weather: {not: rain}}}]
  - title: range
    select: [{folders: [raw], where: {duration_s: {gt: 10}}}]
  - title: presence
    select: [{folders: [raw/cams], where: {weather: {exists: false}}}]
  - title: union
    select:
      - {folders: [raw], where: {reviewed: true}}
      - {folders: [raw], types: [video], where: {duration_s: {lte: 5}}}
      - {folders: [raw/cams], where: {camera: front, weather: rain}}
"""
    )
    assert _apply(config) == 0
    members = lake.members()
    assert members["everything"] == {
        "cams/front/a1.jpg",
        "cams/front/a2.jpg",
        "cams/rear/b1.jpg",
        "cams/rear/b2.tmp.jpg",
        "cams/front/c1.jpg",
        "clips/long.mp4",
        "clips/short.mp4",
    }
    assert members["not-recursive"] == set()  # raw itself holds nothing
    assert members["by-path"] == {"cams/front/a1.jpg", "cams/front/a2.jpg"}  # titles a1.jpg, a2.jpg
    assert members["by-url"] == {
        "cams/front/a1.jpg",
        "cams/front/a2.jpg",
        "cams/rear/b1.jpg",
        "cams/front/c1.jpg",
    }
    assert members["by-type"] == {"clips/long.mp4", "clips/short.mp4"}
    assert members["equal-and-in"] == {"cams/front/a1.jpg"}
    assert members["negation"] == {"cams/front/a2.jpg", "cams/rear/b2.tmp.jpg", "cams/front/c1.jpg"}
    assert members["range"] == {"clips/long.mp4"}
    assert members["presence"] == {"cams/front/c1.jpg"}
    assert members["union"] == {"cams/front/a1.jpg", "clips/short.mp4"}  # a1 selected twice, linked once
    assert main(["plan", str(config), "--detailed-exitcode"]) == 0


SPLIT = """\
splits:
  - name: stills
    seed: {seed}
    {group}select: [{{folders: [raw/cams]}}]
    datasets: {{train: 60, val: 20, test: 20}}
"""
PARTS = "  - title: train\n  - title: val\n  - title: test\n"


def _many(count: int, start: int = 0, drives: int = 0) -> list[dict[str, Any]]:
    return [
        _image(f"cams/f{i:03d}.jpg", camera="front", **({"drive": f"d{i % drives}"} if drives else {}))
        for i in range(start, start + count)
    ]


def test_a_split_is_disjoint_and_stays_stable_as_items_arrive_and_a_new_seed_shows_its_moves(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    lake.objects("cams", {"images": _many(60)})
    config = lake.config(PARTS, SPLIT.format(seed="s1", group=""), folders=("cams",))
    assert _apply(config) == 0
    first = lake.members()
    assert set().union(*first.values()) == {f"cams/f{i:03d}.jpg" for i in range(60)}
    assert sum(len(m) for m in first.values()) == 60  # disjoint: each item in one part
    assert all(first[part] for part in ("train", "val", "test"))

    lake.objects("cams", {"images": _many(90)})  # 30 new items
    assert main(["plan", str(config), "--detailed-exitcode"]) == 2  # new matches are changes
    capsys.readouterr()
    assert _apply(config) == 0  # new items are linked without unlinking any: no --allow-destroy needed
    linked = re.findall(r"dataset_items\.\w+  update: (\d+) item\(s\) linked", capsys.readouterr().out)
    assert len(linked) == 3 and sum(map(int, linked)) == 30  # the new items only, not the parts again
    second = lake.members()
    for part in ("train", "val", "test"):
        assert first[part] <= second[part], f"an item left {part}"
    assert sum(len(m) for m in second.values()) == 90
    assert main(["plan", str(config), "--detailed-exitcode"]) == 0

    capsys.readouterr()
    config = lake.config(PARTS, SPLIT.format(seed="s2", group=""), folders=("cams",))
    assert main(["plan", str(config)]) == 0
    out = capsys.readouterr().out
    assert "move here from 'train'" in out and "Destructive changes (apply needs --allow-destroy)" in out
    assert "item(s) that leave this part of its split" in out and "(moves to '" in out
    assert "no longer select" not in out  # every unlink is a move
    assert main(["plan", str(config), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["managed_links"] == 90  # what the thresholds count against: every part's links
    changes = {c["address"]: c for c in document["changes"]}
    moved_in = sum(sum(c["payload"].get("moves_in", {}).values()) for c in changes.values())
    moved_out = sum(len(c["payload"]["unlink"]) for a, c in changes.items() if a.startswith("dataset_items."))
    assert moved_in == moved_out > 0  # tooling reads the moves, not only the prose
    examples = [e for c in changes.values() for e in c["payload"].get("membership_examples", [])]
    assert examples and all(set(e) == {"change", "path", "why"} for e in examples)
    assert {e["change"] for e in examples} == {"link", "unlink"}
    assert all(e["path"].startswith("raw/cams/f") for e in examples), examples
    assert any(e["why"].startswith("moves to '") for e in examples if e["change"] == "unlink")

    # Targeting one part applies its whole split: its links without the others' unlinks would overlap.
    assert _apply(config, "--target", "dataset.val") != 0  # the other parts' unlinks need --allow-destroy
    assert _apply(config, "--target", "dataset.val", "--allow-destroy", "--force") == 0  # a reseed moves half
    third = lake.members()
    assert sum(len(m) for m in third.values()) == 90 == len(set().union(*third.values()))
    assert main(["plan", str(config), "--detailed-exitcode"]) == 0


def test_a_grouped_split_keeps_each_group_on_one_side_and_names_items_without_the_key(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    images = [*_many(80, drives=7), _image("cams/nodrive.jpg", camera="rear")]
    lake.objects("cams", {"images": images})
    config = lake.config(PARTS, SPLIT.format(seed="g", group="group_by: drive\n    "), folders=("cams",))
    capsys.readouterr()
    assert main(["plan", str(config)]) == 0
    out = capsys.readouterr().out
    assert "1 item(s) the split selects have no `drive` value" in out and "raw/cams/nodrive.jpg" in out
    assert _apply(config) == 0
    drive_of = {f"cams/f{i:03d}.jpg": f"d{i % 7}" for i in range(80)}
    sides: dict[str, set[str]] = {}
    for part, urls in lake.members().items():
        assert "cams/nodrive.jpg" not in urls
        for url in urls:
            sides.setdefault(drive_of[url], set()).add(part)
    assert len(sides) == 7 and all(len(parts) == 1 for parts in sides.values()), sides


def test_an_unlink_is_refused_without_allow_destroy_and_done_with_it(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = "  - title: front\n    select: [{{folders: [raw/cams], where: {{camera: {{in: [{cams}]}}}}}}]\n"
    config = lake.config(rule.format(cams="front, rear"))
    assert _apply(config) == 0
    assert len(lake.members()["front"]) == 5

    config = lake.config(rule.format(cams="front"))
    capsys.readouterr()
    assert _apply(config) != 0
    err = capsys.readouterr()
    assert "--allow-destroy" in err.out + err.err
    assert len(lake.members()["front"]) == 5  # nothing unlinked

    assert main(["plan", str(config)]) == 0
    out = capsys.readouterr().out
    assert "unlinks 2 item(s) that no rule selects" in out
    assert "- raw/cams/b1.jpg (datasets.front.select[0] no longer selects it)" in out
    assert _apply(config, "--allow-destroy") == 0
    assert "dataset_items.front  update: 2 item(s) unlinked" in capsys.readouterr().out
    assert lake.members()["front"] == {"cams/front/a1.jpg", "cams/front/a2.jpg", "cams/front/c1.jpg"}


def test_a_selector_on_a_key_outside_the_schema_is_refused_at_its_line_before_any_request(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    config = lake.config("  - title: x\n    select:\n      - folders: [raw]\n        where: {colour: red}\n")
    capsys.readouterr()
    assert main(["validate", str(config)]) != 0
    err = capsys.readouterr().err
    line = config.read_text().splitlines().index("        where: {colour: red}") + 1
    assert f"reconciler.yaml:{line}:" in err and "datasets.x.select[0].where.colour: not a key" in err
    assert main(["plan", str(config)]) != 0
    assert not (lake.root / ".reconciler" / "sandbox.db").exists()


def test_a_rule_follows_a_renamed_folder_without_unlinking_its_items(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = (
        '  - title: front\n    select: [{{folders: [raw/{name}], paths: {{include: ["raw/{name}/a*"]}}}}]\n'
    )
    config = lake.config(rule.format(name="cams"), folders=("cams",))
    assert _apply(config) == 0
    assert lake.members()["front"] == {"cams/front/a1.jpg", "cams/front/a2.jpg"}

    text = lake.config(rule.format(name="stills"), folders=("cams",)).read_text()
    text = text.replace("      - name: cams\n", "      - name: stills\n        renamed_from: raw/cams\n")
    config.write_text(text)
    capsys.readouterr()
    assert main(["plan", str(config)]) == 0
    out = capsys.readouterr().out
    assert "dataset_items.front" not in out, out  # the same items, at the folder's new path
    assert _apply(config) == 0
    assert lake.members()["front"] == {"cams/front/a1.jpg", "cams/front/a2.jpg"}
    assert main(["plan", str(config), "--detailed-exitcode"]) == 0


def test_a_rule_that_selects_nothing_among_existing_items_is_a_warning(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    config = lake.config("  - title: all\n    select: [{folders: [raw/cams]}]\n")
    assert _apply(config) == 0
    config = lake.config(
        "  - title: all\n    select:\n      - {folders: [raw/cams]}\n      - {folders: [raw/cams], types: [video]}\n"
        "  - title: typo\n    select: [{folders: [raw/cams], paths: {include: ['raw/cam/*']}}]\n"
    )
    capsys.readouterr()
    assert main(["plan", str(config)]) == 0
    out = capsys.readouterr().out
    assert "datasets.typo.select[0] selects no item among the 5 in its folders" in out
    assert "datasets.all.select[1] selects no item that an earlier rule does not among the 5" in out


def test_validate_counts_the_rules_and_splits_it_checked(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    config = lake.config(
        PARTS + "  - title: front\n    select: [{folders: [raw]}, {folders: [raw/cams]}]\n",
        SPLIT.format(seed="s", group=""),
    )
    capsys.readouterr()
    assert main(["validate", str(config)]) == 0
    assert "3 membership rule(s), 1 split(s)" in capsys.readouterr().out


def test_datasets_by_rule_over_http_against_the_encord_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same client on the real wire: `reconciler emulator serve` on loopback, the `encord` backend, the
    integration made as an admin would; rules with metadata conditions and a split, applied and converged."""
    from tests.fidelity.conftest import running_emulator
    from tests.fidelity.signing import create_integration

    for name in ("ENCORD_SSH_KEY_FILE", "ENCORD_SSH_KEY", "ENCORD_BEARER_TOKEN", "RECONCILER_DOMAIN"):
        monkeypatch.delenv(name, raising=False)
    images = [
        _image(f"cams/{c}/{i}.jpg", camera=c, weather=w)
        for c in ("front", "rear")
        for i, w in enumerate(["rain", "clear", "rain", "fog"])
    ]
    (tmp_path / "cams.json").write_text(json.dumps({"images": images, "skip_duplicate_urls": True}))
    with running_emulator(tmp_path / "emulator") as server:
        with server.http() as http:
            create_integration(http, server.private_key, "lake", "gcp")
        config = tmp_path / "reconciler.yaml"
        config.write_text(
            f"backend: {{kind: encord, domain: {server.url}, ssh_key_file: {server.private_key_path}}}\n"
            "integrations: [{title: lake}]\n"
            f"{SCHEMA}"
            "folders:\n  - name: raw\n    children:\n"
            "      - name: cams\n        data: [{integration: lake, json: cams.json}]\n"
            "datasets:\n"
            "  - title: front-rain\n"
            "    select: [{folders: [raw], where: {camera: front, weather: rain}}]\n"
            f"{PARTS}"
            f"{SPLIT.format(seed='http', group='')}"
        )
        assert main(["apply", str(config), "--auto-approve"]) == 0
        assert main(["plan", str(config), "--detailed-exitcode"]) == 0
        with sqlite3.connect(server.state_path) as db:
            rows = db.execute(
                "SELECT d.title, i.url FROM data_rows r JOIN datasets d ON d.uuid = r.dataset "
                "JOIN items i ON i.uuid = r.item"
            ).fetchall()
        log = server.read_log()
    members: dict[str, set[str]] = {}
    for title, url in rows:
        members.setdefault(title, set()).add(url.removeprefix("gs://lake/"))
    assert members["front-rain"] == {"cams/front/0.jpg", "cams/front/2.jpg"}
    parts = [members.get(t, set()) for t in ("train", "val", "test")]
    assert sum(len(p) for p in parts) == 8 and set().union(*parts) == {
        u.removeprefix("gs://lake/") for u in (i["objectUrl"] for i in images)
    }
    # the rules' folder was listed with its metadata, over HTTP, signed
    listings = [e for e in log if e["path"].endswith("/items") and e["method"] == "GET"]
    assert listings and all(e["signature_valid"] for e in log)


def test_an_item_an_apply_updates_into_a_rule_is_linked_with_the_new_ones(lake: Lake) -> None:
    """The plan decides on live metadata; apply matches the folder again once its items are registered
    and updated, so an item this apply's metadata update makes match is linked in the same apply."""
    rule = "  - title: rainy\n    select: [{folders: [raw/cams], where: {weather: rain}}]\n"
    config = lake.config(rule)
    assert _apply(config) == 0
    assert lake.members()["rainy"] == {"cams/front/a1.jpg", "cams/rear/b1.jpg"}
    # an update, and a new image
    _weather(lake, "a2.jpg", "rain", _image("cams/front/a9.jpg", camera="front", weather="rain", drive="d9"))
    assert _apply(config) == 0
    assert lake.members()["rainy"] == {
        "cams/front/a1.jpg", "cams/rear/b1.jpg", "cams/front/a2.jpg", "cams/front/a9.jpg"
    }  # fmt: skip
    assert main(["plan", str(config), "--detailed-exitcode"]) == 0


def test_a_metadata_update_that_makes_an_item_match_is_planned_as_its_link(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rules see the metadata the apply writes: the link is in the reviewed plan, and a saved plan's
    apply converges on it."""
    rule = "  - title: rainy\n    select: [{folders: [raw/cams], where: {weather: rain}}]\n"
    config = lake.config(rule)
    assert _apply(config) == 0
    _weather(lake, "a2.jpg", "rain")
    saved = lake.root / "plan.json"
    capsys.readouterr()
    assert main(["plan", str(config), "--out", str(saved)]) == 0
    assert "+ raw/cams/a2.jpg (datasets.rainy.select[0])" in capsys.readouterr().out
    assert main(["apply", str(saved), "--auto-approve"]) == 0
    assert "cams/front/a2.jpg" in lake.members()["rainy"]
    assert main(["plan", str(config), "--detailed-exitcode"]) == 0


def test_a_link_an_item_update_causes_waits_for_that_update(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--target` on the dataset takes the folder's item updates along: no unlink of an item whose new
    metadata was never written."""
    config = lake.config("  - title: rainy\n    select: [{folders: [raw/cams], where: {weather: rain}}]\n")
    assert _apply(config) == 0
    _weather(lake, "a1.jpg", "sun")
    capsys.readouterr()
    assert main(["plan", str(config), "--format", "json"]) == 0
    changes = {c["address"]: c for c in json.loads(capsys.readouterr().out)["changes"]}
    assert "folder_items.raw/cams" in changes["dataset_items.rainy"]["depends_on"]
    assert _apply(config, "--target", "dataset.rainy", "--allow-destroy") == 0
    assert lake.members()["rainy"] == {"cams/rear/b1.jpg"}
    with sqlite3.connect(lake.root / ".reconciler" / "sandbox.db") as db:
        (metadata,) = db.execute("SELECT client_metadata FROM items WHERE url LIKE '%a1.jpg'").fetchone()
    assert json.loads(metadata)["weather"] == "sun"
    assert main(["plan", str(config), "--detailed-exitcode"]) == 0


def test_a_saved_plan_that_changed_a_ruled_dataset_applies_when_its_folder_gets_new_data(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reviewed plan adds a rule to `rainy` and leaves the folder alone; a new rainy image lands in the
    source before the merge job. The plan's links are made and the apply exits 0; what the new image
    brings (its registration, then its link) is named as changed since, for the next plan."""
    rain = "{folders: [raw/cams], where: {weather: rain}}"
    assert _apply(lake.config(f"  - title: rainy\n    select: [{rain}]\n")) == 0
    config = lake.config(
        f"  - title: rainy\n    select: [{rain}, {{folders: [raw/cams], where: {{weather: fog}}}}]\n"
    )
    saved = lake.root / "plan.json"
    assert main(["plan", str(config), "--out", str(saved)]) == 0
    changed = {c["address"] for c in json.loads(saved.read_text())["changes"] if c["action"] != "noop"}
    assert changed == {"dataset_items.rainy"}
    _weather(lake, "a1.jpg", "rain", _image("cams/front/z9.jpg", camera="front", weather="rain", drive="d9"))
    capsys.readouterr()
    assert main(["apply", str(saved), "--auto-approve"]) == 0
    out = capsys.readouterr().out
    assert "dataset_items.rainy  update: 1 item(s) linked" in out  # b2.tmp.jpg, the fog image
    assert "~ folder_items.raw/cams: changed since this plan was made" in out
    assert "~ dataset_items.rainy: changed since this plan was made" in out
    assert "did not converge" not in out and "still differs" not in out
    assert "cams/rear/b2.tmp.jpg" in lake.members()["rainy"]
    assert _apply(config) == 0  # the next apply registers z9 and links it
    assert "cams/front/z9.jpg" in lake.members()["rainy"]
    assert main(["plan", str(config), "--detailed-exitcode"]) == 0
