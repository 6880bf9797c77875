"""A no-change plan of a large workspace over a slow network (issue 10): prints numbers, asserts nothing.

    .venv/bin/python benchmarks/plan_scale.py --items 200000 --latency-ms 25

1. Builds the workspace by writing the emulator's SQLite state directly (Store's helpers, the columns of
   its tables): FOLDERS folders in three levels (ROOTS roots x 10 children x G grandchildren, G chosen to
   come closest to FOLDERS; the count is printed), ITEMS images spread evenly over the leaf folders,
   DATASETS datasets each drawing from a contiguous block of leaves, named as `--shape` says (the
   second-level folders over it, the leaves themselves, a mix, or overlapping blocks: see `layout`),
   KEYS metadata keys of every type in the organisation schema, one integration.
2. Writes the config that declares exactly that (integrations, metadata_schema, every folder, every
   dataset with `folders:` naming its second-level folders), so the plan must be a no-change plan.
3. Serves the state with `reconciler emulator serve` (a subprocess), puts benchmarks/latency_proxy.py in
   front (in a thread; LATENCY_MS per request, one more round trip per new connection) and runs
   `reconciler plan CONFIG --detailed-exitcode` as a user would, in a subprocess: wall time, its peak
   resident memory (os.wait4: that child only), requests (counted by the proxy). The same plan through
   the proxy at 0 ms estimates the round trips on the critical path: (wall at L - wall at 0) / L. Each
   plan runs REPEAT times at each latency, alternating; the median runs count. CPU seconds of the plan
   and of the emulator, and the time each route took to answer, say where the time goes.
4. Runs two scripts written with the official `encord` SDK (subprocesses of this file), through the same
   proxy, and prints the plan's ratio to each, named: the sequential script Encord's guide leads a user to
   write (`--sdk-read`: the folder tree root by root, each leaf folder's items in 100-item pages, the
   dataset list, each dataset's data rows, one call after another), and the best peer (`--sdk-same-reads`:
   the plan's own reads, the recursive folder search and the same item listings in 1,000-item pages, on
   16 threads).

Exit status 1 only if something broke: the plan was not a no-change plan, or a run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # latency_proxy beside this file, run as a script

from latency_proxy import ProxyOptions, ProxyThread

BIN = Path(sys.executable).parent
INTEGRATION = "bench-gcs"
BUCKET = "bench-data"
OWNER = "sandbox@reconciler.local"
CHILDREN = 10  # second-level folders per root
# Metadata key types, in turn; the first three also get values on every item.
KEY_TYPES: list[dict[str, Any]] = [
    {"type": "number"},
    {"type": "varchar"},
    {"type": "boolean"},
    {"type": "datetime"},
    {"type": "text"},
    {"type": "uuid"},
    {"type": "enum", "values": ["clear", "fog", "rain", "snow"]},
    {"type": "embedding", "size": 512},
    {"type": "geospatial"},
]


# -- the workspace ---------------------------------------------------------------------------------


@dataclass
class Layout:
    roots: list[str]
    tree: dict[str, list[str]]  # folder path -> child paths (every folder, leaves map to [])
    leaves: list[str]
    datasets: dict[str, list[str]]  # title -> the second-level folders it draws from (recursively)
    keys: dict[str, dict[str, Any]]  # key -> {"type", "values"?, "size"?}
    items: int
    counts: dict[str, int] = field(default_factory=dict)


SHAPES = ("parents", "leaves", "mix", "overlap")


def layout(folders: int, datasets: int, items: int, keys: int, shape: str = "parents") -> Layout:
    """ROOTS roots x CHILDREN children x G grandchildren (the leaves, which hold the items). How datasets
    name their folders (`--shape`), each dataset owning a contiguous block of leaves:

    * parents: the second-level folders over its block, recursively ("everything below these");
    * leaves: the leaves of its block, shifted half a block so a block often spans two parents;
    * mix: either of the two, chosen at random per dataset (seeded);
    * overlap: the leaves of its own block and of the next dataset's, so every leaf is in two datasets."""
    roots = max(1, round(folders / 100))
    grand = max(1, round((folders - roots - roots * CHILDREN) / (roots * CHILDREN)))
    tree: dict[str, list[str]] = {}
    leaves: list[str] = []
    children: list[str] = []
    root_paths = [f"r{r:02d}" for r in range(roots)]
    for root in root_paths:
        tree[root] = [f"{root}/c{c}" for c in range(CHILDREN)]
        children += tree[root]
        for child in tree[root]:
            tree[child] = [f"{child}/g{g}" for g in range(grand)]
            for leaf in tree[child]:
                tree[leaf] = []
                leaves.append(leaf)
    parent_blocks = [
        children[d * len(children) // datasets : (d + 1) * len(children) // datasets] for d in range(datasets)
    ]
    shift = len(leaves) // datasets // 2
    rotated = leaves[shift:] + leaves[:shift]
    leaf_blocks = [
        rotated[d * len(leaves) // datasets : (d + 1) * len(leaves) // datasets] for d in range(datasets)
    ]
    rng = random.Random(16)
    named: list[list[str]] = []
    for d in range(datasets):
        if shape == "parents" or (shape == "mix" and rng.random() < 0.5):
            named.append(parent_blocks[d])
        elif shape == "overlap":
            named.append(leaf_blocks[d] + leaf_blocks[(d + 1) % datasets])
        else:
            named.append(leaf_blocks[d])
    blocks = {f"ds-{d:03d}": sorted(set(paths)) for d, paths in enumerate(named)}
    key_shapes = {f"bench.key{k:03d}": KEY_TYPES[k % len(KEY_TYPES)] for k in range(keys)}
    return Layout(root_paths, tree, leaves, blocks, key_shapes, items)


def wire_option(shape: dict[str, Any]) -> dict[str, Any]:
    """A key's option in the schema document, as the SDK writes it."""
    ty = shape["type"]
    if ty == "enum":
        return {"ty": "enum", "values": sorted(shape["values"])}
    if ty == "embedding":
        return {"ty": "embedding", "size": shape["size"], "api": None}
    if ty == "geospatial":
        return {"ty": "geospatial"}
    return {"ty": "variant", "hint": ty}


def item_metadata(n: int, keys: list[str]) -> dict[str, Any]:
    values: list[Any] = [n % 1000, f"camera-{n % 7}", n % 2 == 0]
    return dict(zip(keys[:3], values, strict=False))


def build_state(state: Path, lay: Layout) -> None:
    """Write the workspace into the emulator's SQLite file, through the Store's own insert helpers."""
    from reconciler.emulator.routes_v2 import SCHEMA_V2
    from reconciler.emulator.store import Store

    store = Store(state)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    folder_uuid: dict[str, str] = {}
    with store.tx() as tx:
        integration = tx.add_integration(INTEGRATION, "gcp")["uuid"]
        tx.put_setting(SCHEMA_V2, {key: wire_option(shape) for key, shape in lay.keys.items()})
        for path in lay.tree:  # parents come before their children
            parent = path.rpartition("/")[0] or None
            folder_uuid[path] = str(uuid.uuid4())
            tx.add_folder(
                {
                    "uuid": folder_uuid[path],
                    "parent": folder_uuid[parent] if parent else None,
                    "name": path.rpartition("/")[2],
                    "description": "",
                    "client_metadata": {},
                    "owner": OWNER,
                    "created_at": stamp,
                    "last_edited_at": stamp,
                    "synced_dataset_hash": None,
                }
            )
        datasets_of: dict[str, list[str]] = {}  # leaf -> the datasets that draw from it
        for title, subtrees in lay.datasets.items():
            dataset_uuid = str(uuid.uuid4())
            tx.add_dataset(
                {
                    "uuid": dataset_uuid,
                    "title": title,
                    "description": "",
                    "created_at": stamp,
                    "last_edited_at": stamp,
                    "backing_folder": None,
                }
            )
            for named in subtrees:
                for leaf in lay.tree[named] or [named]:
                    datasets_of.setdefault(leaf, []).append(dataset_uuid)
    key_names = list(lay.keys)
    per_leaf, extra = divmod(lay.items, len(lay.leaves))
    n = 0
    for i, leaf in enumerate(lay.leaves):
        rows = []
        for _ in range(per_leaf + (1 if i < extra else 0)):
            name = f"{leaf}/img-{n:07d}.jpg"
            rows.append(
                {
                    "uuid": str(uuid.uuid4()),
                    "parent": folder_uuid[leaf],
                    "item_type": "image",
                    "name": name,
                    "url": f"gs://{BUCKET}/{name}",
                    "client_metadata": item_metadata(n, key_names),
                    "owner": OWNER,
                    "created_at": stamp,
                    "last_edited_at": stamp,
                    "storage_location": "gcp",
                    "integration_hash": integration,
                    "media": {"mimeType": "image/jpeg"},
                }
            )
            n += 1
        with store.tx() as tx:
            tx.add_items(rows)
            for dataset in datasets_of.get(leaf, ()):
                for row in rows:
                    tx.add_data_row(dataset, row["uuid"])
    lay.counts = {
        "folders": len(lay.tree),
        "leaf folders": len(lay.leaves),
        "datasets": len(lay.datasets),
        "items": n,
        "metadata keys": len(lay.keys),
    }


def config_text(lay: Layout, key_file: Path) -> str:
    def key_yaml(shape: dict[str, Any]) -> str:
        if shape["type"] == "enum":
            return "{type: enum, values: [" + ", ".join(shape["values"]) + "]}"
        if shape["type"] == "embedding":
            return f"{{type: embedding, size: {shape['size']}}}"
        return str(shape["type"])

    def folder_yaml(path: str, indent: str) -> list[str]:
        out = [f"{indent}- name: {path.rpartition('/')[2]}"]
        children = lay.tree[path]
        if children and not lay.tree[children[0]]:
            out.append(
                f"{indent}  children: ["
                + ", ".join(f"{{name: {c.rpartition('/')[2]}}}" for c in children)
                + "]"
            )
        elif children:
            out.append(f"{indent}  children:")
            for child in children:
                out += folder_yaml(child, indent + "    ")
        return out

    lines = [
        "# Generated by benchmarks/plan_scale.py: the workspace it built, declared exactly.",
        f"backend: {{kind: encord, domain: http://127.0.0.1:1, ssh_key_file: {key_file}}}",
        f"integrations: [{{title: {INTEGRATION}, provider: gcp}}]",
        "metadata_schema:",
        "  keys:",
        *(f"    {key}: {key_yaml(shape)}" for key, shape in lay.keys.items()),
        "folders:",
    ]
    for root in lay.roots:
        lines += folder_yaml(root, "  ")
    lines.append("datasets:")
    for title, subtrees in lay.datasets.items():
        lines += [f"  - title: {title}", "    folders: [" + ", ".join(subtrees) + "]"]
    return "\n".join(lines) + "\n"


# -- running things --------------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    wall: float
    peak_mb: float
    exit_code: int
    requests: int
    stdout: str
    stderr: str
    routes: Counter[str]
    upstream_seconds: dict[str, float]  # route -> summed time from forwarding a request to its whole answer
    cpu: float  # user + system seconds of the child
    server_cpu: float  # ... of the emulator meanwhile
    proxy_cpu: float = 0.0  # ... of this process meanwhile: the latency proxy's thread, relaying every byte


def timed(command: list[str], workdir: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=workdir, capture_output=True, check=True)
    return time.perf_counter() - start


def loop_rate(seconds: float = 0.5) -> float:
    """Millions of pure-Python loop steps a second, now: this machine's speed drifts (a VM's neighbours),
    so runs are comparable by CPU seconds and by this rate, not by wall time alone."""
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        steps += 1
    return steps / (time.perf_counter() - start) / 1e6


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc; 0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_child(label: str, command: list[str], proxy: ProxyThread, workdir: Path, server_pid: int) -> Run:
    """A subprocess timed from spawn to exit; peak RSS from its own rusage (os.wait4), not ours."""
    out_path, err_path = workdir / f"{label}.out", workdir / f"{label}.err"
    proxy.reset_stats()
    server_before, own_before = cpu_seconds(server_pid), time.process_time()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=workdir)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped above; keep Popen consistent
    return Run(
        label,
        wall,
        usage.ru_maxrss / 1024,  # KiB on Linux
        process.returncode,
        proxy.stats.requests,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
        Counter(proxy.stats.routes),
        dict(proxy.stats.upstream_seconds),
        usage.ru_utime + usage.ru_stime,
        cpu_seconds(server_pid) - server_before,
        time.process_time() - own_before,
    )


def write_key(directory: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    key = Ed25519PrivateKey.generate()
    private, public = directory / "id_ed25519", directory / "id_ed25519.pub"
    private.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()))
    private.chmod(0o600)  # reconciler warns about a key readable by others
    public_line = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    public.write_text(f"{public_line} plan-scale\n")
    return private, public


class Emulator:
    """`reconciler emulator serve --port 0` in a subprocess; the port from its ready line."""

    def __init__(self, state: Path, public_key: Path, workdir: Path) -> None:
        self._stderr = (workdir / "emulator.err").open("wb")
        command = [str(BIN / "reconciler"), "emulator", "serve", "--port", "0", "--state", str(state)]
        self.process = subprocess.Popen(
            [*command, "--authorized-key", str(public_key)], stdout=subprocess.PIPE, stderr=self._stderr
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"the emulator did not start: {(workdir / 'emulator.err').read_text()}")
        self.port = int(line.strip().rsplit(":", 1)[1])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


def proxy_for(port: int, latency_ms: float) -> ProxyThread:
    proxy = ProxyThread(ProxyOptions(upstream_host="127.0.0.1", upstream_port=port, latency_ms=latency_ms))
    proxy.start()
    return proxy


# -- the SDK script (run in a child process: `plan_scale.py --sdk-read DOMAIN KEY_FILE`) -------------


def sdk_read(domain: str, key_file: str) -> None:
    """What a user writes with the official SDK to read the same things, one call after another."""
    from pydantic.warnings import PydanticDeprecatedSince212

    with warnings.catch_warnings():  # encord 0.1.211 trips a pydantic >= 2.12 deprecation at import
        warnings.simplefilter("ignore", PydanticDeprecatedSince212)
        from encord import EncordUserClient

    client = EncordUserClient.create_with_ssh_private_key(Path(key_file).read_text(), domain=domain)
    counts = {
        "integrations": len(client.get_cloud_integrations()),
        "schema keys": len(client.metadata_schema().keys()),
    }
    folders = items = 0
    pending = list(client.list_storage_folders())
    while pending:
        folder = pending.pop()
        folders += 1
        children = list(folder.list_subfolders())
        if children:
            pending += children
        else:
            items += sum(1 for _ in folder.list_items())
    datasets = client.get_datasets()
    rows = sum(len(client.get_dataset(d["dataset"].dataset_hash).data_rows) for d in datasets)
    counts.update(folders=folders, items=items, datasets=len(datasets), data_rows=rows)
    print(json.dumps(counts))


def sdk_same_reads(domain: str, key_file: str) -> None:
    """The best peer a user could write with the SDK: the plan's own reads (the recursive folder search,
    the same item listings, chosen by reconciler's rule, 1,000-item pages, every dataset's rows) on 16
    threads."""
    from concurrent.futures import ThreadPoolExecutor

    from pydantic.warnings import PydanticDeprecatedSince212

    from reconciler.encord.listings import choose_listings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PydanticDeprecatedSince212)
        from encord import EncordUserClient
        from encord.orm.storage import StorageItemType

    client = EncordUserClient.create_with_ssh_private_key(Path(key_file).read_text(), domain=domain)
    with ThreadPoolExecutor(16) as pool:
        integrations = pool.submit(client.get_cloud_integrations)
        schema = pool.submit(lambda: client.metadata_schema().keys())
        datasets = pool.submit(client.get_datasets)
        folders = list(client.find_storage_folders(page_size=1000))
        by_uuid = {f.uuid: f for f in folders}
        path: dict[Any, str] = {}

        def path_of(folder: Any) -> str:
            if folder.uuid not in path:
                parent = by_uuid.get(folder.parent_uuid)  # not `.parent`: that fetches the folder again
                path[folder.uuid] = f"{path_of(parent)}/{folder.name}" if parent else folder.name
            return path[folder.uuid]

        at = {path_of(f): f for f in folders}
        parents = {p.rpartition("/")[0] for p in at}
        leaves = [p for p in at if p not in parents]  # every leaf is drawn from, in every shape
        listings = choose_listings(at.keys(), leaves, (), page_size=1000)

        def items(folder_path: str, recursive: bool) -> int:
            folder = at[folder_path]
            found = (
                folder.find_items(item_types=list(StorageItemType), page_size=1000)  # as the plan names them
                if recursive
                else folder.list_items(page_size=1000, include_client_metadata=False)
            )
            return sum(1 for _ in found)

        counted = [pool.submit(items, p, rec) for p, rec in listings]
        rows = [
            pool.submit(lambda h: len(client.get_dataset(h).data_rows), d["dataset"].dataset_hash)
            for d in datasets.result()
        ]
        counts = {
            "integrations": len(integrations.result()),
            "schema keys": len(schema.result()),
            "folders": len(folders),
            "items": sum(c.result() for c in counted),
            "datasets": len(rows),
            "data_rows": sum(r.result() for r in rows),
        }
    print(json.dumps(counts))


# -- the benchmark ---------------------------------------------------------------------------------


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:<{width}}  {value}" for label, value in rows)


def benchmark(args: argparse.Namespace, summary: list[tuple[str, str]]) -> int:
    lay = layout(args.folders, args.datasets, args.items, args.keys, args.shape)
    with tempfile.TemporaryDirectory(prefix="plan-scale-") as tmp:
        work = Path(tmp)
        state = work / "encord.db"
        private, public = write_key(work)
        start = time.perf_counter()
        build_state(state, lay)
        build_seconds = time.perf_counter() - start
        config = work / "reconciler.yaml"
        config.write_text(config_text(lay, private))
        print(
            "built "
            + ", ".join(f"{n} {what}" for what, n in lay.counts.items())
            + f" in {build_seconds:.1f} s",
            flush=True,
        )
        emulator = Emulator(state, public, work)
        try:
            return measure(args, lay, work, config, private, emulator, build_seconds, summary)
        finally:
            emulator.stop()


def median_run(runs: list[Run]) -> Run:
    """The run with the median wall time (the lower middle one of an even count)."""
    return sorted(runs, key=lambda r: r.wall)[(len(runs) - 1) // 2]


def spread(runs: list[Run]) -> str:
    if len(runs) == 1:
        return "one run"
    walls = sorted(r.wall for r in runs)
    return f"median of {len(runs)}, {walls[0]:.2f}-{walls[-1]:.2f} s"


def measure(
    args: argparse.Namespace,
    lay: Layout,
    work: Path,
    config: Path,
    key: Path,
    emulator: Emulator,
    build_seconds: float,
    summary: list[tuple[str, str]],
) -> int:
    latency = args.latency_ms
    plan = [str(BIN / "reconciler"), "plan", str(config), "--detailed-exitcode"]
    # What the plan costs before its first request: start-up and loading the config (validate: no network).
    # The first run also warms the file cache, so the timed plans do not pay for that.
    validate = [str(BIN / "reconciler"), "validate", str(config)]
    offline = min(timed(validate, work) for _ in range(2))
    runs: dict[float, list[Run]] = {0.0: [], latency: []}
    for attempt in range(args.repeat):  # alternate 0 ms and L ms runs, so drift affects both alike
        for ms in (0.0, latency):
            label = f"plan-{ms:g}ms-{attempt + 1}"
            proxy = proxy_for(emulator.port, ms)
            try:
                run = run_child(label, [*plan, "--domain", proxy.url], proxy, work, emulator.process.pid)
            finally:
                proxy.stop()
            print(f"{label}: {run.wall:.2f} s, exit {run.exit_code}, {run.requests} requests", flush=True)
            if run.exit_code != 0:
                print(
                    f"error: `reconciler plan` exited {run.exit_code}, not 0 (no changes):", file=sys.stderr
                )
                print(run.stdout[-4000:], run.stderr[-4000:], sep="\n", file=sys.stderr)
                return 1
            runs[ms].append(run)
    peers: dict[str, Run] = {}
    if not args.skip_sdk:
        for name, flag in (("sequential", "--sdk-read"), ("same reads", "--sdk-same-reads")):
            if name == "sequential" and args.skip_sequential:
                continue
            proxy = proxy_for(emulator.port, latency)
            try:
                peer = run_child(
                    name,
                    [sys.executable, __file__, flag, proxy.url, str(key)],
                    proxy,
                    work,
                    emulator.process.pid,
                )
            finally:
                proxy.stop()
            if peer.exit_code != 0:
                print(
                    f"error: the {name} SDK script exited {peer.exit_code}:\n{peer.stderr[-4000:]}",
                    file=sys.stderr,
                )
                return 1
            read = json.loads(peer.stdout.strip().splitlines()[-1])
            print(f"SDK {name}: {peer.wall:.2f} s, {peer.requests} requests, read {read}", flush=True)
            peers[name] = peer

    slow, fast = median_run(runs[latency]), median_run(runs[0.0])
    speed = loop_rate()
    round_trips = (slow.wall - fast.wall) / (latency / 1000) if latency else float("nan")
    rows = [
        ("workspace", ", ".join(f"{n:,} {what}" for what, n in lay.counts.items()) + f"; shape {args.shape}"),
        ("built in", f"{build_seconds:.1f} s (SQLite, written directly)"),
        (f"plan at {latency:g} ms: wall", f"{slow.wall:.2f} s ({spread(runs[latency])}; goal <= 5 s)"),
        (f"plan at {latency:g} ms: peak RSS", f"{slow.peak_mb:.0f} MB (goal <= 250 MB)"),
        (f"plan at {latency:g} ms: requests", f"{slow.requests:,}"),
        (
            f"plan at {latency:g} ms: CPU seconds",
            f"{slow.cpu:.2f} s in reconciler, {slow.server_cpu:.2f} s in the emulator, "
            f"{slow.proxy_cpu:.2f} s in the latency proxy",
        ),
        ("start-up + config load", f"{offline:.2f} s (`reconciler validate`, no network; in every wall)"),
        (
            "plan at 0 ms: wall",
            f"{fast.wall:.2f} s ({spread(runs[0.0])}; peak {fast.peak_mb:.0f} MB)",
        ),
        (
            "round trips on the critical path",
            f"{round_trips:.0f}  = (wall at {latency:g} ms - wall at 0 ms) / {latency:g} ms",
        ),
    ]
    goals = {"sequential": "goal >= 30x", "same reads": "goal >= 2x"}
    for name, peer in peers.items():
        rows += [
            (f"SDK {name} at {latency:g} ms: wall", f"{peer.wall:.2f} s (one run)"),
            (f"SDK {name}: requests, peak RSS", f"{peer.requests:,}, {peer.peak_mb:.0f} MB"),
            (f"SDK {name} / plan", f"{peer.wall / slow.wall:.1f}x ({goals[name]})"),
        ]
    rows += [
        ("machine", f"{os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} {platform.release()}"),
        ("machine speed", f"{speed:.1f} M loop steps/s after the runs (compare runs by this)"),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
    ]
    for name, measured in (("plan", slow), *((f"SDK {n}", p) for n, p in peers.items())):
        if measured is not None:
            top = ", ".join(f"{route} x{n:,}" for route, n in measured.routes.most_common(6))
            rows.append((f"{name} requests by route", top))
    timed_routes = sorted(fast.upstream_seconds.items(), key=lambda kv: -kv[1])[:4]
    rows.append(
        (
            "plan at 0 ms: answer time by route",
            ", ".join(f"{route} {t:.2f} s" for route, t in timed_routes)
            + " (summed over requests in flight)",
        )
    )
    print(
        f"\nNo-change plan, {latency:g} ms added per request and once more per new connection "
        "(the handshake); wall times include process start-up:"
    )
    print(table(rows))
    # the bound: every item in full 1,000-item pages, the folder pages, the datasets read, and 10
    bound = (
        -(-lay.items // 1000)
        + slow.routes["GET /v2/public/storage/search/folders"]
        + len(lay.datasets)
        + 1
        + 10
    )
    ratios = ", ".join(f"{n} {p.wall / slow.wall:.1f}x" for n, p in peers.items()) or "peers skipped"
    summary.append(
        (
            args.shape,
            f"{slow.wall:5.2f} s  {slow.peak_mb:4.0f} MB  {slow.requests:,} requests (bound {bound:,})  "
            f"CPU {slow.cpu:.1f} s plan + {slow.server_cpu:.1f} s emulator + {slow.proxy_cpu:.1f} s proxy  "
            f"SDK: {ratios}  (machine {speed:.1f} M steps/s)",
        )
    )
    return 0


def script_parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line, with its module docstring as the help."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_workspace_options(parser: argparse.ArgumentParser) -> None:
    """The size of the built workspace and how its plans run: shared with rules_scale.py."""
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--folders", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=25.0)
    parser.add_argument("--repeat", type=int, default=3, help="plan runs of each setup; the median counts")


def main() -> None:
    parser = script_parser(__doc__)
    add_workspace_options(parser)
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument(
        "--shape", choices=(*SHAPES, "all"), default="parents", help="how datasets name their folders"
    )
    parser.add_argument("--skip-sdk", action="store_true", help="do not run the SDK scripts")
    parser.add_argument(
        "--skip-sequential", action="store_true", help="run only the same-reads SDK script (minutes fewer)"
    )
    parser.add_argument("--sdk-read", nargs=2, metavar=("DOMAIN", "KEY_FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--sdk-same-reads", nargs=2, metavar=("DOMAIN", "KEY_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sdk_read:
        sdk_read(*args.sdk_read)
        return
    if args.sdk_same_reads:
        sdk_same_reads(*args.sdk_same_reads)
        return
    summary: list[tuple[str, str]] = []
    for shape in SHAPES if args.shape == "all" else (args.shape,):
        args.shape = shape
        if code := benchmark(args, summary):
            sys.exit(code)
    print(f"\nShapes, {args.items:,} items, {args.latency_ms:g} ms a request (SDK: peer wall / plan wall):")
    print(table(summary))


if __name__ == "__main__":
    main()
