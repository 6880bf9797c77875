"""How registration scales on the sandbox: prints seconds and peak memory, asserts nothing.

    .venv/bin/python benchmarks/registration.py --sizes 100000 --apply-size 20000

1. Plans SIZES declared image URLs (`gs://bench-bucket/img/<i>.jpg`) into an empty folder, in two forms:
   Encord's JSON registration format (split into files of at most 500,000 items, Encord's per-file
   limit), and a bucket listing (`bucket: gs://bench-bucket/img/`). The listing is generated on the fly
   and handed to the planner through the engine's `GcsAccess` protocol, 1,000 names a page as GCS pages
   them, so what is timed is reconciler's planning, not creating files for the sandbox's GCS emulator.
2. Applies APPLY_SIZE images from a JSON file into an empty folder: upload jobs, jobs in flight, items
   per second. The integration declares no `bucket` (no bucket settings are read from GCS) and the
   sandbox has no `backend.buckets`, so the emulator registers the URLs without looking for files.

Every measurement runs in a fresh Python process, after the folder was created by an earlier apply, so
its peak resident memory (`ru_maxrss`) is its own; `base` is that process's peak just before the config
is loaded (interpreter and imports). `ru_maxrss` rather than tracemalloc: it counts what the process
really holds (SQLite's pages and C buffers included) and does not slow the code it measures.
`--profile plan-json|plan-listing|apply` also prints the top of a cProfile of that measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # the driving process imports no reconciler (see run_child)
    from reconciler.engine import GcsAccess
    from reconciler.live import LiveBucket

BUCKET = "bench-bucket"
PREFIX = "img/"
INTEGRATION = "bench-gcs"
FOLDER = "bench/img"
PAGE = 1000  # names per listing page, as GCS returns them
PROFILE_LINES = 25


def url(i: int) -> str:
    return f"gs://{BUCKET}/{PREFIX}{i}.jpg"


def config_text(sources: list[str]) -> str:
    """The benchmark's config; without `sources` the folder declares no data (the setup apply)."""
    lines = [
        "backend: {kind: sandbox, state: sandbox.db}",
        "integrations:",
        f"  - {{title: {INTEGRATION}, provider: gcp}}",  # no `bucket`: neither GCS nor object checks
        "folders:",
        "  - name: bench",
        "    children:",
        "      - name: img",
    ]
    if sources:
        lines.append("        data:")
        lines += [f"          - {{integration: {INTEGRATION}, {source}}}" for source in sources]
    return "\n".join(lines) + "\n"


def write_json_sources(directory: Path, n: int) -> list[str]:
    from reconciler.registration.entry import MAX_ITEMS_PER_FILE

    sources = []
    for part, start in enumerate(range(0, n, MAX_ITEMS_PER_FILE)):
        name = f"images-{part}.json"
        images = [{"objectUrl": url(i)} for i in range(start, min(n, start + MAX_ITEMS_PER_FILE))]
        (directory / name).write_text(json.dumps({"images": images}), encoding="utf-8")
        sources.append(f"json: {name}")
    return sources


async def create_folder(directory: Path) -> None:
    """Apply the config without data: the integration and the (empty) folder exist before measuring."""
    from reconciler.apply.run import apply_plan
    from reconciler.backend import open_workspace
    from reconciler.cli.common import compute_in, load

    config, ref, token = load(str(directory), None)
    async with open_workspace(ref, bearer_token=token) as ws:
        plan = (await compute_in(ws, config, ref)).plan
        report = await apply_plan(plan, ws.client, config=config)
        if not report.ok:
            raise SystemExit(f"setup apply failed in {directory}")


def prepare(directory: Path, sources: list[str], json_items: int) -> None:
    """The folder exists, empty; then the config declares its data (JSON files written here, or `sources`)."""
    (directory / "reconciler.yaml").write_text(config_text([]), encoding="utf-8")
    asyncio.run(create_folder(directory))
    if json_items:
        sources = write_json_sources(directory, json_items)
    (directory / "reconciler.yaml").write_text(config_text(sources), encoding="utf-8")


# -- what runs in the measuring processes --------------------------------------------------------------


class GeneratedBucket:
    """The reading half of `GcsAccess` over a generated listing: `count` objects `img/<i>.jpg`, a page of
    1,000 at a time. Planning only reads; the writers (CORS, IAM) are left out, so a write would fail."""

    def __init__(self, count: int) -> None:
        self.count = count

    def list_objects(self, bucket: str, prefix: str) -> Iterator[list[str]]:
        if bucket != BUCKET or not PREFIX.startswith(prefix):
            return
        for start in range(0, self.count, PAGE):
            yield [f"{PREFIX}{i}.jpg" for i in range(start, min(self.count, start + PAGE))]

    def read_bucket(self, bucket: str) -> LiveBucket:
        from reconciler.live import LiveBucket

        return LiveBucket(name=bucket)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def measure_plan(directory: Path, form: str, n: int) -> dict[str, Any]:
    from reconciler.backend import open_workspace
    from reconciler.cli.common import compute_in, concurrency, load
    from reconciler.engine import compute
    from reconciler.plan.render import render_text

    base = peak_mib()
    start = time.perf_counter()
    config, ref, token = load(str(directory), None)
    loaded = time.perf_counter()
    async with open_workspace(ref, bearer_token=token) as ws:
        opened = time.perf_counter()
        if form == "listing":
            gcs = cast("GcsAccess", GeneratedBucket(n))
            computed = await compute(config, ws.client, ref, concurrency=concurrency(ref), gcs=gcs)
        else:
            computed = await compute_in(ws, config, ref)
        planned = time.perf_counter()
        text = render_text(computed.plan)
        rendered = time.perf_counter()
    change = next(c for c in computed.plan.changes if c.address == f"folder_items.{FOLDER}")
    return {
        "phases": {
            "load": loaded - start,
            "open": opened - loaded,
            "plan": planned - opened,
            "render": rendered - planned,
        },
        "base_mib": base,
        "peak_mib": peak_mib(),
        "register": change.payload.get("register"),
        "plan_lines": len(text.splitlines()),
    }


async def measure_apply(directory: Path, n: int) -> dict[str, Any]:
    from reconciler.apply.run import apply_plan
    from reconciler.backend import journal_for, open_workspace
    from reconciler.cli.common import compute_in, concurrency, config_dir, load
    from reconciler.encord.provider_items import RegistrationTally
    from reconciler.encord.registrar import DEFAULT_JOBS_IN_FLIGHT
    from reconciler.journal import JobJournal

    class CountingJournal(JobJournal):
        """The engine's journal, counting the jobs started and not yet finished."""

        in_flight = 0
        most = 0

        def started(
            self, job: str, folder_uuid: str, folder_path: str, units: int, intent: str | None = None
        ) -> None:
            super().started(job, folder_uuid, folder_path, units, intent)
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)

        def finished(self, job: str) -> None:
            super().finished(job)
            self.in_flight -= 1

    ticks: list[float] = []
    base = peak_mib()
    start = time.perf_counter()
    config, ref, token = load(str(directory), None)
    loaded = time.perf_counter()
    async with open_workspace(ref, bearer_token=token) as ws:
        opened = time.perf_counter()
        computed = await compute_in(ws, config, ref)
        planned = time.perf_counter()
        journal = CountingJournal(journal_for(ref, config_dir(config)).store)
        tally = RegistrationTally()
        report = await apply_plan(
            computed.plan,
            ws.client,
            config=config,
            concurrency=concurrency(ref),
            computed=computed,
            journal=journal,
            gcs=ws,
            tick=lambda _: ticks.append(time.perf_counter()),
            tally=tally,
        )
        applied = time.perf_counter()
    registered = (ticks[-1] if ticks else applied) - planned
    return {
        "phases": {
            "load": loaded - start,
            "open": opened - loaded,
            "plan": planned - opened,
            "apply": applied - planned,
            "registration": registered,
            "after": applied - planned - registered,
        },
        "base_mib": base,
        "peak_mib": peak_mib(),
        "jobs": len(tally.jobs),
        "jobs_in_flight": min(DEFAULT_JOBS_IN_FLIGHT, concurrency(ref)),
        "most_in_flight": journal.most,
        "registered": tally.done,
        "failed": tally.failed,
        "items_per_s": tally.done / registered if registered > 0 else 0.0,
        "ok": report.ok,
        "converged": report.recheck is not None and not report.recheck.has_changes,
    }


def child(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    directory = Path(spec["dir"])
    result: dict[str, Any] = {}
    if spec["kind"] == "prepare":
        prepare(directory, spec["sources"], spec["json_items"])
    elif spec["kind"] == "apply":
        result = asyncio.run(measure_apply(directory, spec["n"]))
    else:
        result = asyncio.run(measure_plan(directory, spec["form"], spec["n"]))
    Path(spec["result"]).write_text(json.dumps(result), encoding="utf-8")


# -- the driving process --------------------------------------------------------------------------------
# It imports no reconciler and builds no big data, so it stays smaller than the processes it starts: on
# Linux a child's ru_maxrss starts from its parent's peak (exec carries the high-water mark over).


def run_child(directory: Path, spec: dict[str, Any], profile: bool = False) -> dict[str, Any]:
    spec = {**spec, "dir": str(directory), "result": str(directory / "result.json")}
    spec_path = directory / "spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    command = [sys.executable]
    if profile:
        command += ["-m", "cProfile", "-s", "cumtime"]
    command += [str(Path(__file__).resolve()), "--child", str(spec_path)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"the measuring process failed ({done.returncode}): {spec}")
    if profile:
        lines = done.stdout.splitlines()
        head = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        print("\n".join(lines[max(0, head - 4) : head + 1 + PROFILE_LINES]) + "\n")
    result: dict[str, Any] = json.loads(Path(spec["result"]).read_text(encoding="utf-8"))
    result["process"] = wall
    return result


def time_empty_files(root: Path, count: int) -> float:
    directory = root / "empty-files"
    directory.mkdir()
    start = time.perf_counter()
    for i in range(count):
        (directory / f"{i}.jpg").touch()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="declared URLs to plan, comma-separated")
    parser.add_argument("--apply-size", type=int, default=100000, help="images to register (0: skip)")
    parser.add_argument(
        "--probe-files", type=int, default=100000, help="time creating this many empty files (0: skip)"
    )
    parser.add_argument(
        "--profile",
        choices=["plan-json", "plan-listing", "apply"],
        help="also print the top of `python -m cProfile -s cumtime` of that measurement (slows it down)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]

    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
        root = Path(tmp)
        if args.probe_files:
            files = time_empty_files(root, args.probe_files)
            print(
                f"Creating {args.probe_files:,} empty files took {files:.1f} s here (1,000,000: "
                f"~{files * 1_000_000 / args.probe_files:.0f} s, and the sandbox's GCS emulator then reads "
                "and hashes each one)."
            )
        print(
            "Bucket listings are generated and handed to the planner through GcsAccess (1,000 names a "
            "page):\nthe 'listing' rows time reconciler's planning, not file creation or the emulator.\n"
            "One fresh process per row; base: its peak before the config is loaded; process: its wall time.\n"
        )
        print(
            f"{'measurement':<24} {'N':>9} {'load s':>7} {'open s':>7} {'plan s':>7} {'render s':>8} "
            f"{'process s':>9} {'base MiB':>8} {'peak MiB':>8}"
        )
        for n in sizes:
            for form in ("json", "listing"):
                directory = root / f"plan-{form}-{n}"
                directory.mkdir()
                listing = [f"bucket: gs://{BUCKET}/{PREFIX}"]
                setup = {
                    "sources": [] if form == "json" else listing,
                    "json_items": n if form == "json" else 0,
                }
                run_child(directory, {"kind": "prepare", **setup})
                spec = {"kind": "plan", "form": form, "n": n}
                r = run_child(directory, spec, args.profile == f"plan-{form}")
                p = r["phases"]
                label = "plan: JSON files" if form == "json" else "plan: bucket listing"
                print(
                    f"{label:<24} {n:>9,} {p['load']:>7.2f} {p['open']:>7.2f} {p['plan']:>7.2f} "
                    f"{p['render']:>8.2f} {r['process']:>9.2f} {r['base_mib']:>8.1f} {r['peak_mib']:>8.1f}"
                )
                if r["register"] != {"image": n}:
                    print(f"  (the plan registers {r['register']}, not {n} images)")

        if args.apply_size:
            n = args.apply_size
            directory = root / f"apply-{n}"
            directory.mkdir()
            run_child(directory, {"kind": "prepare", "sources": [], "json_items": n})
            r = run_child(directory, {"kind": "apply", "n": n}, args.profile == "apply")
            p = r["phases"]
            print(
                f"\napply: {n:,} images from JSON into an empty folder (the integration names no bucket and "
                "the sandbox has no\nbackend.buckets: the emulator registers the URLs without looking for "
                "the objects)"
            )
            rows = [
                ("load config", f"{p['load']:.2f} s"),
                ("open sandbox", f"{p['open']:.2f} s"),
                ("plan", f"{p['plan']:.2f} s"),
                ("apply, total", f"{p['apply']:.2f} s"),
                ("  registration (to the last job's end)", f"{p['registration']:.2f} s"),
                ("  after it (re-plan, dataset check)", f"{p['after']:.2f} s"),
                ("upload jobs", f"{r['jobs']}"),
                ("jobs in flight (bound; most seen)", f"{r['jobs_in_flight']}; {r['most_in_flight']}"),
                ("items registered; failed", f"{r['registered']:,}; {r['failed']:,}"),
                ("items per second (registration)", f"{r['items_per_s']:,.0f}"),
                ("items per second (apply, total)", f"{r['registered'] / p['apply']:,.0f}"),
                ("apply ok; converged", f"{r['ok']}; {r['converged']}"),
                ("process wall time", f"{r['process']:.2f} s"),
                ("memory: base; peak", f"{r['base_mib']:.1f} MiB; {r['peak_mib']:.1f} MiB"),
            ]
            for label, value in rows:
                print(f"  {label:<40} {value}")


if __name__ == "__main__":
    main()
