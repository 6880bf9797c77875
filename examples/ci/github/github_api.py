"""The few GitHub REST calls the reconciler CI scripts make (stdlib only; imported by the scripts beside it).

Every failure is a `Failed` with one line that says which request failed and why; the token is never part
of a message and is sent to GITHUB_API_URL only, never along a redirect (an artifact download redirects
to blob storage, which gets a signed URL instead).
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.error
import urllib.request
from typing import Any

TIMEOUT = 60  # seconds per request
API_VERSION = "2022-11-28"


class Failed(Exception):
    """A request or a check failed: the message is meant for the job log."""


def require_env(*names: str) -> dict[str, str]:
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        raise Failed(
            f"{', '.join(missing)} not set: run this in a GitHub Actions step (GITHUB_TOKEN in its env)"
        )
    return {n: os.environ[n] for n in names}


class GitHub:
    """`/repos/{owner}/{repo}/...` of the GitHub REST API, authenticated with the job's GITHUB_TOKEN."""

    def __init__(self, api_url: str, repository: str, token: str) -> None:
        self.api = api_url.rstrip("/")
        self.base = f"{self.api}/repos/{repository}"
        self.repository = repository
        self._token = token

    @classmethod
    def from_env(cls) -> GitHub:
        token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
        if not token:
            raise Failed("GITHUB_TOKEN not set: pass it to the step (env: GITHUB_TOKEN: ${{ github.token }})")
        env = require_env("GITHUB_API_URL", "GITHUB_REPOSITORY")
        return cls(env["GITHUB_API_URL"], env["GITHUB_REPOSITORY"], token)

    def request(self, method: str, url: str, body: dict[str, Any] | None = None) -> tuple[bytes, Any]:
        """`url`: a path under the repository, or a full URL under GITHUB_API_URL."""
        if not url.startswith(("http://", "https://")):
            url = f"{self.base}/{url}"
        where = f"{method} {url.split('?', 1)[0]}"
        if not url.startswith(f"{self.api}/"):
            raise Failed(f"{where}: not under {self.api}; the token goes nowhere else")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data, method=method)
        request.add_unredirected_header("Authorization", f"Bearer {self._token}")
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", API_VERSION)
        request.add_header("User-Agent", "reconciler-ci")
        if data is not None:
            request.add_header("Content-Type", "application/json")
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

    def json(self, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        raw, _ = self.request(method, url, body)
        try:
            return json.loads(raw)
        except ValueError:
            raise Failed(f"{method} {url}: the answer is not JSON") from None

    def get_all(self, url: str, key: str | None = None) -> list[Any]:
        """Every page of a list, following the Link header; `key` names the list in an object answer."""
        sep = "&" if "?" in url else "?"
        next_url: str | None = f"{url}{sep}per_page=100"
        items: list[Any] = []
        while next_url:
            raw, headers = self.request("GET", next_url)
            chunk = json.loads(raw)
            chunk = chunk.get(key) if key and isinstance(chunk, dict) else chunk
            if not isinstance(chunk, list):
                raise Failed(f"GET {url}: expected a list")
            items += chunk
            found = re.search(r'<([^>]+)>;\s*rel="next"', headers.get("Link") or "")
            next_url = found.group(1) if found else None
        return items


def run(main: Any) -> None:
    """Run `main() -> int`; a `Failed` becomes `error: ...` on stderr and exit code 1, never a traceback."""
    try:
        code = main()
    except Failed as err:
        print(f"error: {err}", file=sys.stderr)
        code = 1
    sys.exit(code)
