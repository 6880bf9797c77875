"""Fakes of the GitLab and GitHub REST endpoints the CI examples' scripts call (stdlib http.server).

Each fake keeps its state in plain dicts the tests fill in, answers only the routes the scripts use (any
other request is a 404 the test sees in `requests`), checks the token, pages lists `page_size` at a time
so the scripts' paging is exercised, and records every request.
"""

from __future__ import annotations

import io
import json
import re
import threading
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()


class FakeApi:
    """A threaded HTTP server on 127.0.0.1; subclasses implement `route`."""

    page_size = 100

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.faults: dict[tuple[str, str], int] = {}  # (method, path regex) -> HTTP status to answer
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                seen = Seen(
                    self.command,
                    parsed.path,
                    dict(urllib.parse.parse_qsl(parsed.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
                fake.requests.append(seen)
                status, headers, body = fake.answer(seen)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, seen: Seen) -> Answer:
        for (method, pattern), status in self.faults.items():
            if method == seen.method and re.fullmatch(pattern, seen.path):
                return _json(status, {"message": f"injected {status}"})
        if not self.authorised(seen):
            return _json(401, {"message": "401 Unauthorized"})
        return self.route(seen)

    def authorised(self, seen: Seen) -> bool:
        raise NotImplementedError

    def route(self, seen: Seen) -> Answer:
        raise NotImplementedError

    def page(self, items: list[Any], seen: Seen) -> tuple[list[Any], int, bool]:
        size = min(int(seen.query.get("per_page", 20)), self.page_size)
        number = int(seen.query.get("page", 1))
        chunk = items[(number - 1) * size : number * size]
        return chunk, number, number * size < len(items)

    def calls(self, method: str, pattern: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    def writes(self) -> list[Seen]:
        return [r for r in self.requests if r.method != "GET"]


class FakeGitLab(FakeApi):
    """`/api/v4/projects/42/...`: merge requests, their notes and pipelines, pipeline jobs, job artifacts."""

    token = "glpat-fake-token"
    project = "42"

    def __init__(self) -> None:
        super().__init__()
        self.api = f"{self.url}/api/v4"
        self.mrs: dict[int, dict[str, Any]] = {}
        self.commit_mrs: dict[str, list[int]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.pipelines: dict[int, list[dict[str, Any]]] = {}  # MR iid -> pipelines (any order)
        self.jobs: dict[int, list[dict[str, Any]]] = {}  # pipeline id -> jobs
        self.artifacts: dict[int, dict[str, bytes]] = {}  # job id -> path -> content
        self._ids = 1000

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    def env(self) -> dict[str, str]:
        """The variables GitLab sets (and the project's GITLAB_TOKEN) that the scripts read."""
        return {"CI_API_V4_URL": self.api, "CI_PROJECT_ID": self.project, "GITLAB_TOKEN": self.token}

    def authorised(self, seen: Seen) -> bool:
        return seen.headers.get("private-token") == self.token

    def listing(self, items: list[Any], seen: Seen) -> Answer:
        chunk, number, more = self.page(items, seen)
        return _json(200, chunk, {"X-Next-Page": str(number + 1) if more else ""})

    def route(self, seen: Seen) -> Answer:
        prefix = f"/api/v4/projects/{self.project}/"
        if not seen.path.startswith(prefix):
            return _json(404, {"message": "404 Project Not Found"})
        path, m, verb = seen.path[len(prefix) :], None, seen.method
        if verb == "GET" and (m := re.fullmatch(r"merge_requests/(\d+)", path)):
            mr = self.mrs.get(int(m[1]))
            return _json(200, mr) if mr else _json(404, {"message": "404 Not found"})
        if m := re.fullmatch(r"merge_requests/(\d+)/notes", path):
            notes = self.notes.setdefault(int(m[1]), [])
            if verb == "GET":
                return self.listing(notes, seen)
            if verb == "POST":
                note = {"id": self.next_id(), "body": seen.body["body"], "system": False}
                notes.append(note)
                return _json(201, note)
        if verb == "PUT" and (m := re.fullmatch(r"merge_requests/(\d+)/notes/(\d+)", path)):
            for note in self.notes.get(int(m[1]), []):
                if note["id"] == int(m[2]):
                    note["body"] = seen.body["body"]
                    return _json(200, note)
            return _json(404, {"message": "404 Note Not Found"})
        if verb == "GET" and (m := re.fullmatch(r"repository/commits/([0-9a-f]+)/merge_requests", path)):
            return _json(200, [self.mrs[iid] for iid in self.commit_mrs.get(m[1], [])])
        if verb == "GET" and (m := re.fullmatch(r"merge_requests/(\d+)/pipelines", path)):
            newest_first = sorted(self.pipelines.get(int(m[1]), []), key=lambda p: -p["id"])
            return self.listing(newest_first, seen)
        if verb == "GET" and (m := re.fullmatch(r"pipelines/(\d+)/jobs", path)):
            return self.listing(self.jobs.get(int(m[1]), []), seen)
        if verb == "GET" and (m := re.fullmatch(r"jobs/(\d+)/artifacts/(.+)", path)):
            content = self.artifacts.get(int(m[1]), {}).get(urllib.parse.unquote(m[2]))
            if content is None:
                return _json(404, {"message": "404 Not Found"})
            return 200, {"Content-Type": "application/octet-stream"}, content
        return _json(404, {"message": f"404 no route {verb} {path}"})

    def add_plan_pipeline(self, iid: int, plan: bytes | None, status: str = "success") -> dict[str, int]:
        """A merge-request pipeline of `iid` with a reconciler-plan job (`status`) holding `plan`."""
        pipeline, job = self.next_id(), self.next_id()
        self.pipelines.setdefault(iid, []).append(
            {"id": pipeline, "ref": f"refs/merge-requests/{iid}/head", "sha": self.mrs[iid]["sha"]}
        )
        self.jobs[pipeline] = [
            {"id": self.next_id(), "name": "reconciler-validate", "status": "success"},
            {"id": job, "name": "reconciler-plan", "status": status},
        ]
        if plan is not None:
            self.artifacts[job] = {"plan.json": plan}
        return {"pipeline": pipeline, "job": job}


@dataclass
class Artifact:
    name: str
    head_sha: str
    content: bytes  # the zip GitHub serves
    run_id: int
    head_repository_id: int = 1
    expired: bool = False
    id: int = 0
    created_at: str = "2026-01-01T00:00:00Z"
    downloads: list[dict[str, str]] = field(default_factory=list)  # headers of each blob download


def plan_zip(plan: bytes, name: str = "plan.json") -> bytes:
    """An artifact as actions/upload-artifact stores it: a zip of the uploaded file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, plan)
    return buffer.getvalue()


class FakeGitHub(FakeApi):
    """`/repos/acme/infra/...`: pulls, issue comments, artifacts (download redirects to a fake blob store)."""

    token = "ghs_fake-token"
    repository = "acme/infra"
    repository_id = 1

    def __init__(self) -> None:
        super().__init__()
        self.pulls: dict[int, dict[str, Any]] = {}
        self.commit_pulls: dict[str, list[int]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.artifacts: list[Artifact] = []
        self._ids = 5000

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    def env(self) -> dict[str, str]:
        return {"GITHUB_API_URL": self.url, "GITHUB_REPOSITORY": self.repository, "GITHUB_TOKEN": self.token}

    def authorised(self, seen: Seen) -> bool:
        if seen.path.startswith("/blob/"):
            return True  # a signed URL: no token (and none must be sent)
        return seen.headers.get("authorization") == f"Bearer {self.token}"

    def listing(self, items: list[Any], seen: Seen, key: str | None = None) -> Answer:
        chunk, number, more = self.page(items, seen)
        headers = {}
        if more:
            query = urllib.parse.urlencode({**seen.query, "page": number + 1})
            headers["Link"] = f'<{self.url}{seen.path}?{query}>; rel="next"'
        data = {"total_count": len(items), key: chunk} if key else chunk
        return _json(200, data, headers)

    def add_artifact(self, name: str, head_sha: str, plan: bytes, **kwargs: Any) -> Artifact:
        artifact = Artifact(
            name, head_sha, plan_zip(plan), run_id=self.next_id(), id=self.next_id(), **kwargs
        )
        self.artifacts.append(artifact)
        return artifact

    def route(self, seen: Seen) -> Answer:
        if m := re.fullmatch(r"/blob/(\d+)", seen.path):
            for artifact in self.artifacts:
                if artifact.id == int(m[1]) and seen.query.get("sig") == "signed":
                    artifact.downloads.append(seen.headers)
                    return 200, {"Content-Type": "application/zip"}, artifact.content
            return _json(403, {"message": "bad signature"})
        prefix = f"/repos/{self.repository}/"
        if not seen.path.startswith(prefix):
            return _json(404, {"message": "Not Found"})
        path, m, verb = seen.path[len(prefix) :], None, seen.method
        if verb == "GET" and (m := re.fullmatch(r"pulls/(\d+)", path)):
            pull = self.pulls.get(int(m[1]))
            return _json(200, pull) if pull else _json(404, {"message": "Not Found"})
        if m := re.fullmatch(r"issues/(\d+)/comments", path):
            comments = self.comments.setdefault(int(m[1]), [])
            if verb == "GET":
                return self.listing(comments, seen)
            if verb == "POST":
                comment = {
                    "id": self.next_id(),
                    "body": seen.body["body"],
                    "user": {"login": "github-actions[bot]"},
                }
                comments.append(comment)
                return _json(201, comment)
        if verb == "PATCH" and (m := re.fullmatch(r"issues/comments/(\d+)", path)):
            for comments in self.comments.values():
                for comment in comments:
                    if comment["id"] == int(m[1]):
                        comment["body"] = seen.body["body"]
                        return _json(200, comment)
            return _json(404, {"message": "Not Found"})
        if verb == "GET" and (m := re.fullmatch(r"commits/([0-9a-f]+)/pulls", path)):
            return _json(200, [self.pulls[n] for n in self.commit_pulls.get(m[1], [])])
        if verb == "GET" and path == "actions/artifacts":
            named = [a for a in self.artifacts if a.name == seen.query.get("name", a.name)]
            return self.listing([self._artifact_json(a) for a in reversed(named)], seen, key="artifacts")
        if verb == "GET" and (m := re.fullmatch(r"actions/artifacts/(\d+)/zip", path)):
            if any(a.id == int(m[1]) for a in self.artifacts):
                return 302, {"Location": f"{self.url}/blob/{m[1]}?sig=signed"}, b""
            return _json(404, {"message": "Not Found"})
        return _json(404, {"message": f"no route {verb} {path}"})

    def _artifact_json(self, a: Artifact) -> dict[str, Any]:
        return {
            "id": a.id,
            "name": a.name,
            "expired": a.expired,
            "created_at": a.created_at,
            "archive_download_url": f"{self.url}/repos/{self.repository}/actions/artifacts/{a.id}/zip",
            "workflow_run": {
                "id": a.run_id,
                "repository_id": self.repository_id,
                "head_repository_id": a.head_repository_id,
                "head_sha": a.head_sha,
            },
        }
