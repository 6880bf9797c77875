"""Issue 16, point 5: the plan's item listings, chosen by cost (`reconciler/encord/listings.py`), read the
same items through a proxy that answers 10% of requests 503 or 429 and resets 3% of connections.

The workspace is laid out so that the choice takes both branches (page size 1,000, 100 items guessed a
folder): `raw` is named by no dataset, but three folders below it are needed (`raw/cams`, its child
`raw/cams/night`, `raw/lidar`), so one recursive listing of `raw` serves them all and the items of its
unneeded child `raw/radar` arrive with it and are dropped; `curated/picks` is the only needed folder of
`curated`, a tie that goes to its own single listing (and `curated/rejects` is never read). Datasets share
folders: `train` draws from `raw/cams` (with `night`) and `raw/lidar`, `night-only` and `lidar` from one
of those each.

The emulator is served over HTTP (`reconciler emulator serve`) behind benchmarks/latency_proxy.py; the CLI
runs in-process with `concurrency: 1`, so a seed meets the same faults every run (test_faults.py). Items
are registered straight into the emulator (the folders declare no `data`), so the plan reads them only
through the listings under test. What is checked:

* the fault-free plan made exactly one recursive listing (of `raw`) and one single listing (of
  `curated/picks`), read from the emulator's request log: the test fails if the choice stops being
  exercised;
* through faults (seeds 68, 80 and 119 hit the item listings with resets before and after upstream
  answered, 503s and 429s, up to three retries of the recursive listing), the plan of a converged
  workspace is empty and the plan with pending links is the fault-free plan (`--format json`, less when
  and through which address it was made): a retried page neither drops nor duplicates items, and the
  dropped sibling stays dropped; each listing fault costs exactly one more listing request;
* an apply through faults (seed 35: a listing reset, link calls answered 503/429) links the new items of
  the leaves served by the recursive listing, with exactly the expected data rows and none twice, and the
  fault-free plan after it is empty.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

import pytest

from benchmarks.latency_proxy import ProxyOptions, ProxyStats, ProxyThread
from reconciler.cli.main import main
from reconciler.encord.auth import SshKeyAuth
from reconciler.encord.client import EncordClient
from reconciler.encord.retry import RetryPolicy
from tests.fidelity.conftest import EmulatorServer, running_emulator
from tests.fidelity.signing import create_integration

PLAN_SEEDS = [68, 80, 119]  # each hits the item listings, the recursive one included (checked)
APPLY_SEED = 35
ERROR_RATE = 0.10
RESET_RATE = 0.03
INTEGRATION = "listing-faults-gcs"
BUCKET = "listing-faults-bucket"
ITEMS_ROUTE = "GET /v2/public/storage/folders/{id}/items"

# folder -> images registered before the first link apply, and after it (the pending change)
FIRST = {
    "raw/cams": 3,
    "raw/cams/night": 2,
    "raw/lidar": 4,
    "raw/radar": 5,
    "curated/picks": 2,
    "curated/rejects": 3,
}
LATER = {"raw/cams/night": 2, "raw/lidar": 1, "raw/radar": 2, "curated/rejects": 1}
DATASETS = {  # title -> the folders whose items it holds
    "train": ("raw/cams", "raw/cams/night", "raw/lidar"),
    "night-only": ("raw/cams/night",),
    "lidar": ("raw/lidar",),
    "picks": ("curated/picks",),
}
LISTINGS = {("raw", True): 1, ("curated/picks", False): 1}  # what the plan's item reads must be

CONFIG = """\
backend:
  kind: encord
  domain: http://127.0.0.1:1          # every command passes --domain (the emulator or the proxy)
  ssh_key_file: {key}
  concurrency: 1                      # one request at a time: the seeded faults hit the same requests
folders:
  - name: raw
    children:
      - name: cams
        children: [{{name: night}}]
      - name: lidar
      - name: radar
  - name: curated
    children: [{{name: picks}}, {{name: rejects}}]
datasets:
  - {{title: train, folders: [raw/cams, raw/lidar]}}
  - {{title: night-only, folders: [{{path: raw/cams/night, recursive: false}}]}}
  - {{title: lidar, folders: [raw/lidar]}}
  - {{title: picks, folders: [curated/picks]}}
"""


@pytest.fixture(autouse=True)
def no_credentials_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENCORD_SSH_KEY_FILE", "ENCORD_SSH_KEY", "ENCORD_BEARER_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries after a reset back off a hundredth of the usual (jittered) delay: which requests are
    retried is under test here, not how long the client waits, and the test should take seconds."""
    delay = RetryPolicy.delay
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, n, after=None: delay(self, n, after) / 100)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path / "emulator") as srv:
        srv.private_key_path.chmod(0o600)  # reconciler warns about a key others can read
        yield srv


def proxy(server: EmulatorServer, seed: int) -> ProxyThread:
    port = int(server.url.rsplit(":", 1)[1])
    options = ProxyOptions(
        upstream_host="127.0.0.1",
        upstream_port=port,
        latency_ms=0,
        connect_round_trips=0,
        error_rate=ERROR_RATE,
        reset_rate=RESET_RATE,
        seed=seed,
        trace=True,  # which routes the faults hit
    )
    return ProxyThread(options)


def folder_paths(server: EmulatorServer) -> dict[str, str]:
    """uuid -> path of every folder, from the emulator's state."""
    rows = {r["uuid"]: r for r in server.query("SELECT uuid, parent, name FROM folders")}

    def path(uuid: str) -> str:
        row = rows[uuid]
        return f"{path(row['parent'])}/{row['name']}" if row["parent"] else str(row["name"])

    return {uuid: path(uuid) for uuid in rows}


def register(server: EmulatorServer, integration: str, counts: dict[str, int], tag: str) -> None:
    """Register `counts[path]` images into each folder straight at the emulator (no proxy, no plan)."""
    uuids = {p: u for u, p in folder_paths(server).items()}

    async def run() -> None:
        async with EncordClient(server.url, SshKeyAuth(server.private_key)) as client:
            for path, n in counts.items():
                spec = {"images": [{"objectUrl": f"gs://{BUCKET}/{path}/{tag}-{i}.jpg"} for i in range(n)]}
                job = await client.start_upload_job(
                    UUID(uuids[path]), external_files=spec, integration_uuid=UUID(integration)
                )
                state = await client.get_upload_job(UUID(uuids[path]), job, timeout_seconds=10)
                assert state.status == "DONE", state

    asyncio.run(run())


def item_listings(server: EmulatorServer, since: int) -> Counter[tuple[str, bool]]:
    """(folder path, recursive) -> item listing requests in the emulator's log after entry `since`."""
    paths = folder_paths(server)
    found: Counter[tuple[str, bool]] = Counter()
    for entry in server.read_log()[since:]:
        parts = entry["path"].split("/")  # /v2/public/storage/folders/{uuid}/items
        if entry["method"] == "GET" and len(parts) == 7 and parts[4] == "folders" and parts[6] == "items":
            recursive = parse_qs(entry["query"]).get("isRecursive", ["false"])[0].lower() == "true"
            found[(paths[parts[5]], recursive)] += 1
    return found


def links(server: EmulatorServer) -> dict[str, Counter[str]]:
    """dataset title -> folder path -> data rows linking an item of that folder."""
    paths = folder_paths(server)
    rows = server.query(
        "SELECT d.title, i.parent FROM data_rows r JOIN datasets d ON d.uuid = r.dataset "
        "JOIN items i ON i.uuid = r.item"
    )
    found: dict[str, Counter[str]] = {}
    for row in rows:
        found.setdefault(row["title"], Counter())[paths[row["parent"]]] += 1
    return found


def expected_links(*registered: dict[str, int]) -> dict[str, Counter[str]]:
    return {
        title: Counter({p: sum(r.get(p, 0) for r in registered) for p in folders})
        for title, folders in DATASETS.items()
    }


def plan_json(config: Path, domain: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["plan", str(config), "--format", "json", "--detailed-exitcode", "--domain", domain])
    return code, json.loads(capsys.readouterr().out)


def comparable(plan: dict[str, Any]) -> dict[str, Any]:
    """What a plan says about the workspace: not when it was made, nor through which address. Nor each
    change's `origin` (config or drift): that compares with the state the last apply recorded, which is
    kept per endpoint, and each proxy is an endpoint no apply went through."""
    changes = [{k: v for k, v in c.items() if k != "origin"} for c in plan["changes"]]
    return {k: v for k, v in plan.items() if k not in ("created_at", "backend")} | {"changes": changes}


def listing_faults(stats: ProxyStats) -> Counter[str]:
    """action -> item listing requests the proxy answered or broke itself."""
    return Counter(action for _, route, action in stats.events if route == ITEMS_ROUTE and action != "pass")


def faulty_plans(
    server: EmulatorServer,
    config: Path,
    capsys: pytest.CaptureFixture[str],
    code: int,
    fault_free: dict[str, Any],
    what: str,
) -> list[str]:
    """The plan through each seed's faults is the fault-free plan; it read the same listings, each item
    listing fault cost exactly one more request of it, and some seed retried the recursive listing
    after upstream had answered it. One line of report per seed."""
    report, retried_recursive = [], False
    for seed in PLAN_SEEDS:
        since = len(server.read_log())
        with proxy(server, seed) as faulty:
            got = plan_json(config, faulty.url, capsys)
        stats, listings = faulty.stats, item_listings(server, since)
        assert got[0] == code, f"{what}, seed {seed}: {stats.summary()}"
        assert comparable(got[1]) == comparable(fault_free), f"{what}, seed {seed}: {stats.summary()}"
        assert set(listings) == set(LISTINGS), f"{what}, seed {seed}: {listings}"
        faults = listing_faults(stats)
        assert faults, f"{what}: seed {seed} never hit an item listing: {stats.summary()}"
        assert stats.routes[ITEMS_ROUTE] == sum(LISTINGS.values()) + faults.total(), stats.routes
        retried_recursive |= listings[("raw", True)] > 1
        report.append(f"{what}, seed {seed}: upstream served {dict(listings)}; listing faults {dict(faults)}")
    assert retried_recursive, report
    return report


def item_uuids(server: EmulatorServer, tag: str, folders: Iterable[str]) -> set[str]:
    """The items registered with `tag` into `folders`."""
    urls = {f"gs://{BUCKET}/{p}/{tag}-" for p in folders}
    rows = server.query("SELECT uuid, url FROM items")
    return {r["uuid"] for r in rows if any(r["url"].startswith(u) for u in urls)}


def test_chosen_listings_read_the_same_items_through_errors_and_resets(
    server: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with server.http() as http:  # Encord's API cannot create integrations: made beforehand, directly
        integration = create_integration(http, server.private_key, INTEGRATION, "gcp")
    config = tmp_path / "reconciler.yaml"
    config.write_text(CONFIG.format(key=server.private_key_path), encoding="utf-8")
    direct = server.url

    # The folders and datasets, then items straight into the folders, then their links: all fault-free.
    assert main(["apply", str(config), "--auto-approve", "--domain", direct]) == 0
    register(server, integration, FIRST, "first")
    assert main(["apply", str(config), "--auto-approve", "--domain", direct]) == 0
    assert links(server) == expected_links(FIRST)

    # Converged: the fault-free plan is empty, and its item reads were exactly the two chosen listings.
    since = len(server.read_log())
    code, converged = plan_json(config, direct, capsys)
    assert code == 0, converged
    assert item_listings(server, since) == LISTINGS

    report = faulty_plans(server, config, capsys, 0, converged, "converged")

    # Pending: new items in both leaves below `raw` that datasets draw from, and in the unneeded siblings.
    register(server, integration, LATER, "later")
    since = len(server.read_log())
    code, pending = plan_json(config, direct, capsys)
    assert code == 2, pending
    assert item_listings(server, since) == LISTINGS
    night, lidar = item_uuids(server, "later", ["raw/cams/night"]), item_uuids(server, "later", ["raw/lidar"])
    assert (len(night), len(lidar)) == (LATER["raw/cams/night"], LATER["raw/lidar"])
    changes = {c["address"]: c for c in pending["changes"]}
    assert set(changes) == {"dataset_items.train", "dataset_items.night-only", "dataset_items.lidar"}
    assert {a: set(c["payload"]["link"]) for a, c in changes.items()} == {
        "dataset_items.train": night | lidar,
        "dataset_items.night-only": night,
        "dataset_items.lidar": lidar,
    }
    assert all(c["payload"]["unlink"] == [] for c in changes.values())
    after = {a: c["after"]["linked_items"] for a, c in changes.items()}
    want = expected_links(FIRST, LATER)
    assert after == {f"dataset_items.{t}": sum(want[t].values()) for t in ("train", "night-only", "lidar")}

    report += faulty_plans(server, config, capsys, 2, pending, "pending")

    # The apply through faults links the new items of both leaves, each once; the plan after it is empty.
    since = len(server.read_log())
    with proxy(server, APPLY_SEED) as faulty:
        assert main(["apply", str(config), "--auto-approve", "--domain", faulty.url]) == 0
        stats = faulty.stats
    assert set(item_listings(server, since)) == set(LISTINGS)
    assert listing_faults(stats), stats.summary()
    faulted = Counter(route for _, route, action in stats.events if action != "pass")
    report.append(f"apply, seed {APPLY_SEED}: faults by route {dict(faulted)}; {stats.summary()}")
    assert links(server) == want
    assert (
        server.query("SELECT dataset, item FROM data_rows GROUP BY dataset, item HAVING COUNT(*) > 1") == []
    )
    assert main(["plan", str(config), "--detailed-exitcode", "--domain", direct]) == 0
    capsys.readouterr()
    print("\n".join(report))
