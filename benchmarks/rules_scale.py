"""Datasets by rule at scale (issue 17): prints numbers, asserts nothing.

    .venv/bin/python benchmarks/rules_scale.py --items 200000 --latency-ms 25

One workspace of ITEMS images with metadata in 2,000 folders (plan_scale.py's builder), planned two ways,
each a no-change plan over the same items and folders:

* folders only, 20 datasets naming their second-level folders (plan_scale.py's `parents` shape);
* folders only, the same 20 and three more that each name whole root folders, 16/2/2 of the 20 roots: a
  split done by hand, the folder-only counterpart of the rules' split (each holds as many items);
* by rule, the same 20 datasets (their folders, a metadata condition on two keys, a path exclude);
* by rule, those 20 and one three-way 80/10/10 split of every item over the three more datasets.

The by-rule workspace's data rows are written from what the rules select (the selection code itself:
this measures speed, the scenario tests check what is selected). Both plans run REPEAT times through the
latency proxy against `reconciler emulator serve`, alternating; the medians count. The issue's target:
a by-rule plan within 1.5 times the plan of the same datasets declared by folder (both ratios printed;
the split's is also given against the 20 folder-only datasets, which hold 200,000 fewer data rows).

Exit status 1 only if a plan was not a no-change plan.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import plan_scale as ps

CONDITION_KEYS = ("bench.key000", "bench.key001")  # a number and a varchar every item carries
SPLIT = {"split-train": 80, "split-val": 10, "split-test": 10}


def rules_config(lay: ps.Layout, key_file: Path, split: bool = True) -> str:
    """plan_scale's config with its datasets declared by rule, and (`split`) a split over everything."""
    text = ps.config_text(lay, key_file)
    head = text[: text.index("datasets:\n")]
    lines = ["datasets:"]
    for d, (title, subtrees) in enumerate(lay.datasets.items()):
        cameras = ", ".join(f"camera-{(d + k) % 7}" for k in range(3))
        lines += [
            f"  - title: {title}",
            "    select:",
            f"      - folders: [{', '.join(subtrees)}]",
            f"        where: {{{CONDITION_KEYS[0]}: {{lt: 800}}, {CONDITION_KEYS[1]}: {{in: [{cameras}]}}}}",
            '        paths: {exclude: ["**/img-*5.jpg"]}',
        ]
    if not split:
        return head + "\n".join(lines) + "\n"
    lines += [f"  - title: {title}" for title in SPLIT]
    lines += [
        "splits:",
        "  - name: everything",
        "    seed: bench-1",
        f"    select: [{{folders: [{', '.join(lay.roots)}]}}]",
        "    datasets: {" + ", ".join(f"{t}: {w}" for t, w in SPLIT.items()) + "}",
    ]
    return head + "\n".join(lines) + "\n"


def folder_split_config(lay: ps.Layout, key_file: Path) -> str:
    """The folder-only counterpart of `rules_config`: the same 23 datasets, the 20 naming their folders
    (plan_scale's `parents` shape) and the split's three each naming whole root folders, 80/10/10."""
    text = ps.config_text(lay, key_file)
    total = sum(SPLIT.values())
    lines, start = [], 0
    for title, weight in SPLIT.items():
        count = round(len(lay.roots) * weight / total)
        lines += [f"  - title: {title}", f"    folders: [{', '.join(lay.roots[start : start + count])}]"]
        start += count
    return text + "\n".join(lines) + "\n"


def relink_by_rules(state: Path, config: Path) -> dict[str, int]:
    """Replace the state's datasets by those the config declares, with the data rows its folders and rules
    select."""
    from reconciler.config.loader import load_config
    from reconciler.emulator.store import Store
    from reconciler.selection.membership import split_items
    from reconciler.selection.rules import Candidate, select

    loaded = load_config(config, env={})
    selection = loaded.selection
    with sqlite3.connect(state) as db:
        db.execute("DELETE FROM data_rows")
        db.execute("DELETE FROM datasets")
        paths = dict(db.execute("SELECT uuid, name FROM folders").fetchall())
        parents = dict(db.execute("SELECT uuid, parent FROM folders").fetchall())
        rows = db.execute("SELECT uuid, parent, name, url, client_metadata FROM items").fetchall()

    def path_of(folder: str) -> str:
        parts = []
        at: str | None = folder
        while at is not None:
            parts.append(paths[at])
            at = parents[at]
        return "/".join(reversed(parts))

    folder_path = {f: path_of(f) for f in paths}
    items = [Candidate(u, folder_path[p], n, url, "image", json.loads(m)) for u, p, n, url, m in rows]
    members: dict[str, list[str]] = {}
    for spec in loaded.datasets or []:  # folder-only datasets: every item below their folders
        if spec.folders:
            named = [f for f in spec.folders if isinstance(f, str)]
            members[spec.title] = sorted(
                i.uuid for i in items if any(i.folder == f or i.folder.startswith(f + "/") for f in named)
            )
    for title, rules in selection.datasets.items():
        members[title] = sorted(select(rules, items))
    for split in selection.splits:
        chosen = select(split.rules, items)
        parts, _ = split_items(split.split, (i for i in items if i.uuid in chosen), split.group_by)
        for title, _ in split.split.parts:
            members[title] = sorted(u for u, part in parts.items() if part == title)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    store = Store(state)
    with store.tx() as tx:
        for title, uuids in members.items():
            dataset = str(uuid.uuid4())
            tx.add_dataset(
                {
                    "uuid": dataset,
                    "title": title,
                    "description": "",
                    "created_at": stamp,
                    "last_edited_at": stamp,
                    "backing_folder": None,
                }
            )
            for item in uuids:
                tx.add_data_row(dataset, item)
    return {title: len(uuids) for title, uuids in members.items()}


def plan_runs(
    args: argparse.Namespace, work: Path, states: dict[str, Path], public: Path
) -> dict[str, ps.Run]:
    """REPEAT plans of each setup, alternating (so the machine's drift touches all alike); the medians."""
    emulators = {name: ps.Emulator(state, public, work) for name, state in states.items()}
    runs: dict[str, list[ps.Run]] = {name: [] for name in states}
    try:
        for name in states:  # warm the file cache
            ps.timed([str(ps.BIN / "reconciler"), "validate", str(work / f"{name}.yaml")], work)
        for attempt in range(args.repeat):
            for name, emulator in emulators.items():
                command = [
                    str(ps.BIN / "reconciler"),
                    "plan",
                    str(work / f"{name}.yaml"),
                    "--detailed-exitcode",
                ]
                proxy = ps.proxy_for(emulator.port, args.latency_ms)
                try:
                    label = f"{name}-{attempt + 1}"
                    pid = emulator.process.pid
                    run = ps.run_child(label, [*command, "--domain", proxy.url], proxy, work, pid)
                finally:
                    proxy.stop()
                print(f"{label}: {run.wall:.2f} s, exit {run.exit_code}, {run.requests} requests", flush=True)
                if run.exit_code != 0:
                    print(run.stdout[-3000:], run.stderr[-3000:], sep="\n", file=sys.stderr)
                    raise SystemExit(1)
                runs[name].append(run)
    finally:
        for emulator in emulators.values():
            emulator.stop()
    return {name: ps.median_run(r) for name, r in runs.items()}


def main() -> None:
    parser = ps.script_parser(__doc__)
    ps.add_workspace_options(parser)
    parser.add_argument(
        "--workdir", help="build (and keep) the workspaces here instead of a temporary directory"
    )
    args = parser.parse_args()
    lay = ps.layout(args.folders, 20, args.items, 100, "parents")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rules-scale-") as tmp:
        work = Path(args.workdir or tmp)  # --workdir: kept afterwards, to profile a plan against it
        work.mkdir(parents=True, exist_ok=True)
        private, public = ps.write_key(work)
        linked: dict[str, int] = {}
        setups = {
            "folders": ps.config_text(lay, private),
            "folders+split": folder_split_config(lay, private),
            "rules": rules_config(lay, private, split=False),
            "rules+split": rules_config(lay, private),
        }
        states: dict[str, Path] = {}
        for name, text in setups.items():
            states[name] = work / f"{name}.db"
            states[name].unlink(missing_ok=True)  # a kept --workdir is built afresh
            (work / f"{name}.yaml").write_text(text)
            if name == "folders":
                ps.build_state(states[name], lay)
            else:
                shutil.copyfile(states["folders"], states[name])
                linked = relink_by_rules(states[name], work / f"{name}.yaml")
        print(
            f"built {lay.counts['items']:,} items in {lay.counts['folders']:,} folders, three dataset "
            f"setups, in {time.perf_counter() - start:.0f} s; with the split: {sum(linked.values()):,} data "
            "rows "
            f"({', '.join(f'{t} {n:,}' for t, n in list(linked.items())[-3:])})",
            flush=True,
        )
        medians = plan_runs(args, work, states, public)
    rows = [
        ("workspace", f"{lay.counts['items']:,} images with metadata, {lay.counts['folders']:,} folders"),
        ("latency", f"{args.latency_ms:g} ms per request; median of {args.repeat} each"),
    ]
    labels = {
        "folders": "folders only: 20 datasets",
        "folders+split": "folders only: the same 23 datasets",
        "rules": "by rule: the 20 datasets",
        "rules+split": "by rule: the 23 (20 + a 3-way split)",
    }
    bases = {"rules": "folders", "rules+split": "folders+split"}  # the same datasets, declared by folder
    for name, run in medians.items():
        text = (
            f"{run.wall:.2f} s, {run.peak_mb:.0f} MB, {run.requests:,} requests, "
            f"CPU {run.cpu:.1f} s plan + {run.server_cpu:.1f} s emulator"
        )
        if name in bases:
            base = medians[bases[name]]
            text += f"; {run.wall / base.wall:.2f}x {labels[bases[name]]} (goal <= 1.5x)"
        if name == "rules+split":
            text += f"; {run.wall / medians['folders'].wall:.2f}x the 20 folder-only datasets"
        rows.append((labels[name], text))
    print("\nNo-change plans, wall times include process start-up:")
    print(ps.table(rows))


if __name__ == "__main__":
    main()
