"""Issue 10, point 6: plan and apply through a proxy that answers 10% of requests 503 or 429 and resets 3%
of connections (half of them after the server has done the work): apply converges, nothing is created
twice, and the next plan is empty.

The emulator is served over HTTP (`reconciler emulator serve`) behind benchmarks/latency_proxy.py; the CLI
runs in-process. The proxy draws each fault from (seed, route, how many requests of that route came
before), and `concurrency: 1` keeps the requests in one order, so a seed meets the same faults every run.

What happens: a 429 is retried (the server did not process it); a folder or dataset create whose outcome
is unknown (503, or a reset after the server created it) is looked up and repeated only if it did not
happen. An upload job cannot be looked up, so an ambiguous job start fails that folder's registration
(and the links of the datasets drawing from it) with an error saying re-running apply is safe; the next
apply registers only what is still missing (`skipDuplicateUrls`). Seed 6: two ambiguous creates looked up,
one ambiguous job, two applies. Seed 17: three ambiguous jobs (one in the second apply too), three applies.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.latency_proxy import ProxyOptions, ProxyStats, ProxyThread
from reconciler.cli.main import main
from tests.fidelity.conftest import EmulatorServer, running_emulator
from tests.fidelity.signing import create_integration

SEEDS = [6, 17]
MAX_APPLIES = 3
ERROR_RATE = 0.10
RESET_RATE = 0.03
INTEGRATION = "faults-gcs"
BUCKET = "faults-bucket"
IMAGES = {"cams": 24, "night": 12, "lidar": 8}  # folder -> images declared in its JSON file

CONFIG = """\
backend:
  kind: encord
  domain: http://127.0.0.1:1          # every command passes --domain (the proxy)
  ssh_key_file: {key}
  concurrency: 1                      # one request at a time: the seeded faults hit the same requests
integrations:
  - {{title: {integration}, provider: gcp}}
metadata_schema:
  keys:
    camera: {{type: enum, values: [front, rear]}}
    capture.day: string
    clip.duration_s: number
folders:
  - name: raw
    description: Captures
    client_metadata: {{team: perception}}
    children:
      - name: cams
        data: [{{integration: {integration}, json: cams.json, batch: {{images: 4}}}}]
        children:
          - name: night
            data: [{{integration: {integration}, json: night.json, batch: {{images: 4}}}}]
      - name: lidar
        data: [{{integration: {integration}, json: lidar.json, batch: {{images: 4}}}}]
      - name: clips
  - name: curated
    children: [{{name: picks}}, {{name: rejects}}]
  - name: archive
datasets:
  - {{title: train, folders: [raw/cams]}}
  - {{title: night-only, folders: [{{path: raw/cams/night, recursive: false}}]}}
  - {{title: lidar, folders: [raw/lidar]}}
  - {{title: curated}}
"""


@pytest.fixture(autouse=True)
def no_credentials_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENCORD_SSH_KEY_FILE", "ENCORD_SSH_KEY", "ENCORD_BEARER_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path / "emulator") as srv:
        srv.private_key_path.chmod(0o600)  # reconciler warns about a key others can read
        with srv.http() as http:  # Encord's API cannot create integrations: made beforehand, directly
            create_integration(http, srv.private_key, INTEGRATION, "gcp")
        yield srv


@pytest.fixture(params=SEEDS, ids=lambda seed: f"seed-{seed}")
def faulty(server: EmulatorServer, request: pytest.FixtureRequest) -> Iterator[ProxyThread]:
    port = int(server.url.rsplit(":", 1)[1])
    options = ProxyOptions(
        upstream_host="127.0.0.1",
        upstream_port=port,
        latency_ms=0,
        connect_round_trips=0,
        error_rate=ERROR_RATE,
        reset_rate=RESET_RATE,
        seed=request.param,
    )
    with ProxyThread(options) as proxy:
        yield proxy


def write_config(directory: Path, server: EmulatorServer) -> Path:
    for folder, count in IMAGES.items():
        images = [
            {"objectUrl": f"gs://{BUCKET}/{folder}/{i:03d}.jpg", "clientMetadata": {"camera": "front"}}
            for i in range(count)
        ]
        (directory / f"{folder}.json").write_text(json.dumps({"images": images}), encoding="utf-8")
    config = directory / "reconciler.yaml"
    text = CONFIG.format(key=server.private_key_path, integration=INTEGRATION)
    config.write_text(text, encoding="utf-8")
    return config


def duplicates(server: EmulatorServer, sql: str) -> list[dict[str, Any]]:
    return server.query(f"{sql} HAVING COUNT(*) > 1")


def test_apply_converges_through_errors_and_resets_without_creating_anything_twice(
    server: EmulatorServer, faulty: ProxyThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, server)
    via_proxy = ["--domain", faulty.url]

    applies: list[int] = []
    while not applies or (applies[-1] != 0 and len(applies) < MAX_APPLIES):
        applies.append(main(["apply", str(config), "--auto-approve", *via_proxy]))
        output = capsys.readouterr()
        failed = [line.strip() for line in output.out.splitlines() if "✗" in line]
        # Only a registration whose upload job start went unanswered may fail an apply; anything else is a bug.
        assert all(line.startswith("✗ folder_items.") for line in failed), output
        assert (applies[-1] == 0) == (not failed), output
    assert applies[-1] == 0, f"apply did not converge in {MAX_APPLIES} runs: {applies}"

    # Nothing twice: folders by (parent, name), datasets by title, items by (folder, URL), data rows.
    assert duplicates(server, "SELECT parent, name FROM folders GROUP BY parent, name") == []
    assert duplicates(server, "SELECT title FROM datasets GROUP BY title") == []
    assert duplicates(server, "SELECT parent, url FROM items GROUP BY parent, url") == []
    assert duplicates(server, "SELECT dataset, item FROM data_rows GROUP BY dataset, item") == []
    assert len(server.query("SELECT uuid FROM folders")) == 9
    assert [r["title"] for r in server.query("SELECT title FROM datasets ORDER BY title")] == [
        "curated",
        "lidar",
        "night-only",
        "train",
    ]
    assert len(server.query("SELECT uuid FROM items")) == sum(IMAGES.values())
    linked = server.query(
        "SELECT d.title, COUNT(*) AS n FROM data_rows r JOIN datasets d ON d.uuid = r.dataset GROUP BY d.title"
    )
    assert {r["title"]: r["n"] for r in linked} == {"train": 36, "night-only": 12, "lidar": 8}

    # The plan after it, through the same faults, is empty.
    assert main(["plan", str(config), "--detailed-exitcode", *via_proxy]) == 0

    # The proxy really did get in the way, of both kinds.
    stats: ProxyStats = faulty.stats
    assert stats.errors[503] > 0 and stats.errors[429] > 0, stats.summary()
    assert stats.resets_before > 0 and stats.resets_after > 0, stats.summary()
    print(f"{len(applies)} apply run(s) {applies}; proxy: {stats.summary()}")


# -- the proxy itself: framing on keep-alive connections --------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with what it received (method, path, body), keep-alive, HTTP/1.1."""

    protocol_version = "HTTP/1.1"

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            parts = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b""):  # trailers
                pass
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def _answer(self) -> None:
        body = self._body()
        if self.path == "/empty":
            self.send_response(204)
            self.end_headers()
            return
        out = json.dumps({"method": self.command, "path": self.path, "body": body.decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_proxy_keeps_requests_and_answers_in_step_on_one_connection(echo_port: int) -> None:
    options = ProxyOptions(upstream_host="127.0.0.1", upstream_port=echo_port, latency_ms=0)
    with ProxyThread(options) as proxy, httpx.Client(base_url=proxy.url) as client:
        assert client.get("/a?x=1").json() == {"method": "GET", "path": "/a?x=1", "body": ""}
        assert client.post("/b", content=b"x" * 70_000).json()["body"] == "x" * 70_000
        chunked = client.post("/c", content=iter([b"hello ", b"chunked ", b"world"]))  # no length: chunked
        assert chunked.json()["body"] == "hello chunked world"
        assert client.head("/d").status_code == 200
        assert client.get("/empty").status_code == 204
        assert client.get("/f").json()["path"] == "/f"
        stats = proxy.stats
        assert (stats.requests, stats.forwarded, stats.connections) == (6, 6, 1)
        assert stats.routes["POST /b"] == 1


def test_injected_errors_keep_the_connection_usable(echo_port: int) -> None:
    options = ProxyOptions(
        upstream_host="127.0.0.1", upstream_port=echo_port, latency_ms=0, error_rate=0.5, seed=1
    )
    with ProxyThread(options) as proxy, httpx.Client(base_url=proxy.url) as client:
        answers = [client.post("/x", content=b"body") for _ in range(40)]
        assert {a.status_code for a in answers} == {200, 429, 503}
        faulted = next(a for a in answers if a.status_code != 200)
        assert faulted.headers["Retry-After"] == "0" and "message" in faulted.json()
        # The proxy read each faulted request's body, so the one connection stayed in step.
        assert proxy.stats.connections == 1
        assert proxy.stats.forwarded == sum(a.status_code == 200 for a in answers)
