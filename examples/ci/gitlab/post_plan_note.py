"""Post the Markdown plan as ONE merge-request note, updated in place on every pipeline (stdlib only).

Usage in a merge-request pipeline: python3 examples/ci/gitlab/post_plan_note.py plan.md
Needs GITLAB_TOKEN (api scope) and GitLab's own CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request

MARKER = "<!-- reconciler-plan -->"


def call(url: str, method: str = "GET", body: dict[str, str] | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"PRIVATE-TOKEN": os.environ["GITLAB_TOKEN"], "Content-Type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method)) as response:
        return json.load(response)


def main(path: str) -> None:
    api = f"{os.environ['CI_API_V4_URL']}/projects/{os.environ['CI_PROJECT_ID']}"
    notes = f"{api}/merge_requests/{os.environ['CI_MERGE_REQUEST_IID']}/notes"
    with open(path, encoding="utf-8") as fh:
        body = {"body": f"{MARKER}\n{fh.read()}"}
    listed = call(f"{notes}?per_page=100&sort=asc")
    mine = [n for n in listed if isinstance(n, dict) and str(n.get("body", "")).startswith(MARKER)]  # type: ignore[union-attr]
    if mine:
        call(f"{notes}/{mine[0]['id']}", "PUT", body)
    else:
        call(notes, "POST", body)


if __name__ == "__main__":
    main(sys.argv[1])
