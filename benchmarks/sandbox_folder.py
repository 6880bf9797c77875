"""A large registered folder on the sandbox (issue 16, point 4): prints numbers, asserts nothing but that
the last plans found no change.

    .venv/bin/python benchmarks/sandbox_folder.py --images 100000 --repeat 3

One folder of IMAGES images declared in one JSON file, each with a title and two metadata keys (an enum
and a number, both in `metadata_schema`), registered through an integration that manages the sandbox's
bucket `sbx`: a local directory of IMAGES empty files below the config (`backend.buckets`). As a user
runs them, each in a fresh process timed from spawn to exit with its own peak resident memory:
`reconciler apply --auto-approve` once (the first apply: bucket CORS, integration, schema, folder and
every image), then `reconciler plan --detailed-exitcode` REPEAT times (the no-change plan). The issue's
targets at 100,000 images: apply at most 15 s; the no-change plan at most 3 s and 300 MB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # as a script or with -m

from benchmarks.bucket_listing import measured
from benchmarks.plan_scale import loop_rate

CONFIG = """\
backend: {kind: sandbox, state: .reconciler/sandbox.db, buckets: {sbx: bucket}}
integrations: [{title: sb, provider: gcp, bucket: sbx}]
metadata_schema: {keys: {camera: {type: enum, values: [front, rear]}, seq: number}}
folders:
  - name: big
    data: [{integration: sb, json: images.json}]
"""


def write_project(root: Path, images: int) -> None:
    (root / "reconciler.yaml").write_text(CONFIG, encoding="utf-8")
    entries = [
        {
            "objectUrl": f"gs://sbx/img/{i:06d}.jpg",
            "title": f"image {i}",
            "clientMetadata": {"camera": "front" if i % 2 else "rear", "seq": i},
        }
        for i in range(images)
    ]
    (root / "images.json").write_text(json.dumps({"images": entries}), encoding="utf-8")
    folder = root / "bucket" / "img"
    folder.mkdir(parents=True)
    for i in range(images):
        (folder / f"{i:06d}.jpg").touch()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="no-change plans to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reconciler-sandbox-folder-") as scratch:
        root = Path(scratch)
        write_project(root, args.images)
        command = [sys.executable, "-m", "reconciler"]
        apply = measured([*command, "apply", "--auto-approve", str(root)], cwd=root)
        if apply["code"] != 0:
            raise SystemExit(f"apply failed ({apply['code']}):\n{str(apply['err'])[-3000:]}")
        plans = []
        for _ in range(args.repeat):
            plan = measured([*command, "plan", "--detailed-exitcode", str(root)], cwd=root)
            if plan["code"] != 0:
                raise SystemExit(f"not a no-change plan ({plan['code']}):\n{str(plan['out'])[-3000:]}")
            plans.append(plan)
    walls = [float(str(p["wall"])) for p in plans]
    peak = max(float(str(p["rss_mb"])) for p in plans)
    print(
        f"{args.images:,} images with a title and two metadata keys, one JSON file, a managed sandbox bucket"
    )
    print(f"  first apply        {apply['wall']:.2f} s, peak {apply['rss_mb']:.0f} MB (target <= 15 s)")
    print(
        f"  no-change plan     {statistics.median(walls):.2f} s median of {len(walls)} "
        f"({', '.join(f'{w:.2f}' for w in walls)} s), peak {peak:.0f} MB "
        "(targets <= 3 s, <= 300 MB)"
    )
    print(f"  machine speed      {loop_rate():.1f} M loop steps/s (compare runs by this)")


if __name__ == "__main__":
    main()
