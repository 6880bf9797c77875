"""Datasets by rule at scale (issue 17): prints numbers, asserts nothing.

    .venv/bin/python benchmarks/rules_scale.py --items 200000 --latency-ms 25

One workspace of ITEMS images with metadata in 2,000 folders (plan_scale.py's builder), planned two ways,
each a no-change plan over the same items and folders:

* folders only: 20 datasets naming their second-level folders (plan_scale.py's `parents` shape);
* by rule: the same 20 datasets by rule (their folders, a metadata condition on two keys, a path
  exclude), and one three-way 80/10/10 split of every item over three more datasets.

The by-rule workspace's data rows are written from what the rules select (the selection code itself:
this measures speed, the scenario tests check what is selected). Both plans run REPEAT times through the
latency proxy against `reconciler emulator serve`, alternating; the medians count. The issue's target:
the by-rule plan within 1.5 times the folders-only plan.

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


def rules_config(lay: ps.Layout, key_file: Path) -> str:
    """plan_scale's config with its datasets declared by rule, and a split over everything."""
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
    lines += [f"  - title: {title}" for title in SPLIT]
    lines += [
        "splits:",
        "  - name: everything",
        "    seed: bench-1",
        f"    select: [{{folders: [{', '.join(lay.roots)}]}}]",
        "    datasets: {" + ", ".join(f"{t}: {w}" for t, w in SPLIT.items()) + "}",
    ]
    return head + "\n".join(lines) + "\n"


def relink_by_rules(state: Path, config: Path) -> dict[str, int]:
    """Replace the state's datasets by those the rules describe, with the data rows the rules select."""
    from reconciler.config.loader import load_config
    from reconciler.emulator.store import Store
    from reconciler.selection.membership import split_items
    from reconciler.selection.rules import Candidate, select

    selection = load_config(config, env={}).selection
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


def plan_runs(args: argparse.Namespace, work: Path, state: Path, config: Path, public: Path) -> list[ps.Run]:
    emulator = ps.Emulator(state, public, work)
    runs = []
    try:
        command = [str(ps.BIN / "reconciler"), "plan", str(config), "--detailed-exitcode"]
        ps.timed([str(ps.BIN / "reconciler"), "validate", str(config)], work)  # warm the file cache
        for attempt in range(args.repeat):
            proxy = ps.proxy_for(emulator.port, args.latency_ms)
            try:
                label = f"{config.stem}-{attempt + 1}"
                pid = emulator.process.pid
                run = ps.run_child(label, [*command, "--domain", proxy.url], proxy, work, pid)
            finally:
                proxy.stop()
            print(f"{label}: {run.wall:.2f} s, exit {run.exit_code}, {run.requests} requests", flush=True)
            if run.exit_code != 0:
                print(run.stdout[-3000:], run.stderr[-3000:], sep="\n", file=sys.stderr)
                raise SystemExit(1)
            runs.append(run)
    finally:
        emulator.stop()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--folders", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=25.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    lay = ps.layout(args.folders, 20, args.items, 100, "parents")
    with tempfile.TemporaryDirectory(prefix="rules-scale-") as tmp:
        work = Path(tmp)
        private, public = ps.write_key(work)
        folders_state, rules_state = work / "folders.db", work / "rules.db"
        start = time.perf_counter()
        ps.build_state(folders_state, lay)
        shutil.copyfile(folders_state, rules_state)
        folders_config, rules_config_path = work / "folders.yaml", work / "rules.yaml"
        folders_config.write_text(ps.config_text(lay, private))
        rules_config_path.write_text(rules_config(lay, private))
        linked = relink_by_rules(rules_state, rules_config_path)
        print(
            f"built {lay.counts['items']:,} items in {lay.counts['folders']:,} folders, two dataset setups, "
            f"in {time.perf_counter() - start:.0f} s; by rule: {sum(linked.values()):,} data rows "
            f"({', '.join(f'{t} {n:,}' for t, n in list(linked.items())[-3:])})",
            flush=True,
        )
        by_folders = ps.median_run(plan_runs(args, work, folders_state, folders_config, public))
        by_rules = ps.median_run(plan_runs(args, work, rules_state, rules_config_path, public))
    rows = [
        ("workspace", f"{lay.counts['items']:,} images with metadata, {lay.counts['folders']:,} folders"),
        ("latency", f"{args.latency_ms:g} ms per request; median of {args.repeat} each"),
    ]
    for name, run in (("folders only (20 datasets)", by_folders), ("by rule (20 + a 3-way split)", by_rules)):
        rows.append(
            (
                name,
                f"{run.wall:.2f} s, {run.peak_mb:.0f} MB, {run.requests:,} requests, "
                f"CPU {run.cpu:.1f} s plan + {run.server_cpu:.1f} s emulator",
            )
        )
    rows.append(("by rule / folders only", f"{by_rules.wall / by_folders.wall:.2f}x (goal <= 1.5x)"))
    print("\nNo-change plans, wall times include process start-up:")
    print(ps.table(rows))


if __name__ == "__main__":
    main()
