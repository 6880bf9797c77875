"""The few GitLab REST calls the reconciler CI scripts make (stdlib only; imported by the scripts beside it).

Every failure is a `Failed` with one line that says which request failed and why; the token is never part
of a message. The base URL and the project come from the variables GitLab sets in every job.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT = 60  # seconds per request


class Failed(Exception):
    """A request or a check failed: the message is meant for the job log."""


def require_env(*names: str) -> dict[str, str]:
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        raise Failed(
            f"{', '.join(missing)} not set: run this in a GitLab CI job (GITLAB_TOKEN: a CI/CD variable)"
        )
    return {n: os.environ[n] for n in names}


class GitLab:
    """`/projects/:id/...` of the GitLab REST API v4, authenticated with a (project access) token."""

    def __init__(self, api_url: str, project_id: str, token: str) -> None:
        self.base = f"{api_url.rstrip('/')}/projects/{urllib.parse.quote(project_id, safe='')}"
        self._token = token

    @classmethod
    def from_env(cls) -> GitLab:
        env = require_env("GITLAB_TOKEN", "CI_API_V4_URL", "CI_PROJECT_ID")
        return cls(env["CI_API_V4_URL"], env["CI_PROJECT_ID"], env["GITLAB_TOKEN"])

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[bytes, Any]:
        url = f"{self.base}/{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data, method=method)
        request.add_unredirected_header("PRIVATE-TOKEN", self._token)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        where = f"{method} {url.split('?', 1)[0]}"
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return response.read(), response.headers
        except urllib.error.HTTPError as err:
            detail = err.read(300).decode("utf-8", "replace").strip()
            raise Failed(
                f"{where} failed: HTTP {err.code} {err.reason}{': ' + detail if detail else ''}"
            ) from None
        except (urllib.error.URLError, OSError) as err:
            raise Failed(f"{where} failed: {getattr(err, 'reason', err)}") from None

    def json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        raw, _ = self.request(method, path, body)
        try:
            return json.loads(raw)
        except ValueError:
            raise Failed(f"{method} {path}: the answer is not JSON") from None

    def get_all(self, path: str) -> list[Any]:
        """Every page of a list (GitLab's X-Next-Page header), 100 a page."""
        items: list[Any] = []
        page = "1"
        while page:
            sep = "&" if "?" in path else "?"
            raw, headers = self.request("GET", f"{path}{sep}per_page=100&page={page}")
            chunk = json.loads(raw)
            if not isinstance(chunk, list):
                raise Failed(f"GET {path}: expected a list")
            items += chunk
            page = (headers.get("X-Next-Page") or "").strip()
        return items


def run(main: Any) -> None:
    """Run `main() -> int`; a `Failed` becomes `error: ...` on stderr and exit code 1, never a traceback."""
    try:
        code = main()
    except Failed as err:
        print(f"error: {err}", file=sys.stderr)
        code = 1
    sys.exit(code)
