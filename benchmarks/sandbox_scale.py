"""How plan and apply scale on the sandbox: prints seconds and peak memory, asserts nothing.

    .venv/bin/python benchmarks/sandbox_scale.py --folders 100 --items 20000

Builds a workspace with FOLDERS folders (two levels) holding ITEMS registered images, one dataset over
all of them, then times: the first apply (creates), registering the items, the plan that finds them,
the apply that links them, and a no-change plan.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar
from uuid import UUID

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # as a script or with -m

from benchmarks.plan_scale import script_parser
from reconciler.apply.run import apply_plan
from reconciler.backend import SANDBOX_DOMAIN, sandbox_key
from reconciler.config.loader import load_config
from reconciler.emulator.app import create_app
from reconciler.encord.auth import SshKeyAuth
from reconciler.encord.client import EncordClient
from reconciler.engine import make_plan
from reconciler.plan.model import BackendRef

T = TypeVar("T")


def config_text(folders: int) -> str:
    groups = max(1, folders // 10)
    lines = ["integrations: [{title: gcs}]", "folders:"]
    for g in range(groups):
        lines += [f"  - name: group-{g:03d}", "    children:"]
        lines += [f"      - name: f-{i:04d}" for i in range(g * 10, min(folders, (g + 1) * 10))]
    lines += [
        "datasets:",
        "  - title: everything",
        "    folders: [" + ", ".join(f"group-{g:03d}" for g in range(groups)) + "]",
    ]
    return "\n".join(lines) + "\n"


async def run(folders: int, items: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "sandbox.db"
        (Path(tmp) / "r.yaml").write_text(config_text(folders))
        config = load_config(Path(tmp) / "r.yaml", env={})
        key, public = sandbox_key(state)
        app = create_app(state, [public])
        backend = BackendRef(kind="sandbox", location=str(state))
        async with EncordClient(
            SANDBOX_DOMAIN,
            SshKeyAuth(private_key=key),
            transport=httpx.ASGITransport(app=app),
            max_connections=concurrency,
        ) as client:

            async def timed(label: str, coro: Awaitable[T]) -> T:
                start = time.perf_counter()
                result = await coro
                print(f"{label:<40} {time.perf_counter() - start:8.2f} s")
                return result

            plan = await timed(
                "plan (empty workspace)", make_plan(config, client, backend, concurrency=concurrency)
            )
            await timed(
                f"apply: create {len(plan.actionable)} resources",
                apply_plan(plan, client, config=config, concurrency=concurrency),
            )
            integration = (await client.list_cloud_integrations())[0].integration_uuid
            leaves = [f for root in await client.list_folders() for f in await client.list_folders(root.uuid)]
            per_folder = max(1, items // len(leaves))

            async def register() -> None:
                for n, leaf in enumerate(leaves):
                    spec = {"images": [{"objectUrl": f"gs://bench/{n}/{i}.jpg"} for i in range(per_folder)]}
                    job = await client.start_upload_job(
                        leaf.uuid, external_files=spec, integration_uuid=UUID(str(integration))
                    )
                    state_ = await client.get_upload_job(leaf.uuid, job, timeout_seconds=60)
                    assert state_.status == "DONE", state_.status

            await timed(f"register {per_folder * len(leaves)} items (upload jobs)", register())
            plan = await timed(
                "plan (finds items to link)", make_plan(config, client, backend, concurrency=concurrency)
            )
            await timed("apply: link items", apply_plan(plan, client, config=config, concurrency=concurrency))
            plan = await timed(
                "plan (no changes)", make_plan(config, client, backend, concurrency=concurrency)
            )
            assert not plan.has_changes
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'peak resident memory':<40} {peak_mib:8.1f} MiB")


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("--folders", type=int, default=100)
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(run(args.folders, args.items, args.concurrency))


if __name__ == "__main__":
    main()
