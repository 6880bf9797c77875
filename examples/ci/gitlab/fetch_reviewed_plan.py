"""Fetch the plan that was reviewed for the merge request this commit merged (stdlib only).

Usage on the default branch: eval "$(python3 examples/ci/gitlab/fetch_reviewed_plan.py plan.json)"
It finds the merged MR of CI_COMMIT_SHA, downloads `plan.json` from the artifacts of the
`reconciler-plan` job of that MR's latest pipeline, and prints `ALLOW_DESTROY=1` / `FORCE=1` for the MR's
labels `allow-destroy` / `force`, for the shell to eval. Needs GITLAB_TOKEN (api scope).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
import urllib.request

PLAN_JOB = "reconciler-plan"


def get(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"PRIVATE-TOKEN": os.environ["GITLAB_TOKEN"]})
    with urllib.request.urlopen(request) as response:
        data: bytes = response.read()
        return data


def main(out: str) -> None:
    api = f"{os.environ['CI_API_V4_URL']}/projects/{os.environ['CI_PROJECT_ID']}"
    mrs = json.loads(get(f"{api}/repository/commits/{os.environ['CI_COMMIT_SHA']}/merge_requests"))
    merged = [mr for mr in mrs if mr.get("state") == "merged"]
    if not merged:
        sys.exit("no merged merge request for this commit: nothing reviewed to apply")
    mr = merged[0]
    pipelines = json.loads(get(f"{api}/merge_requests/{mr['iid']}/pipelines"))
    if not pipelines:
        sys.exit(f"merge request !{mr['iid']} has no pipeline with a plan")
    jobs = json.loads(get(f"{api}/pipelines/{pipelines[0]['id']}/jobs?per_page=100"))
    job = next((j for j in jobs if j["name"] == PLAN_JOB and j["status"] == "success"), None)
    if job is None:
        sys.exit(f"the latest pipeline of !{mr['iid']} has no successful {PLAN_JOB} job")
    artifact = urllib.parse.quote("plan.json")
    with open(out, "wb") as fh:
        fh.write(get(f"{api}/jobs/{job['id']}/artifacts/{artifact}"))
    labels = set(mr.get("labels") or [])
    print(f"ALLOW_DESTROY={'1' if 'allow-destroy' in labels else ''}")
    print(f"FORCE={'1' if 'force' in labels else ''}")


if __name__ == "__main__":
    main(sys.argv[1])
