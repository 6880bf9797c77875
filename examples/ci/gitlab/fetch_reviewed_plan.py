"""Fetch the plan that was reviewed for the merge request this commit merged (stdlib only).

On the default branch, before applying:

    flags=$(python3 examples/ci/gitlab/fetch_reviewed_plan.py --out plan.json)
    reconciler apply plan.json --auto-approve $flags --report report.json

It finds the merged merge request of CI_COMMIT_SHA, takes that request's latest merge-request pipeline,
and downloads `plan.json` from the artifacts of its successful `reconciler-plan` job: the plan whose note
was reviewed. If that pipeline's plan job did not succeed, nothing older is used in its place. It prints,
on stdout and nothing else, the apply flags the merge request's labels ask for: `--allow-destroy` for the
label `allow-destroy`, `--force` for `force`. Any failure is a message on stderr and exit code 1, and no
plan file is left behind.

Environment: GITLAB_TOKEN (read_api is enough here) and, set by GitLab, CI_API_V4_URL, CI_PROJECT_ID,
CI_COMMIT_SHA, CI_COMMIT_BRANCH.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gitlab_api import Failed, GitLab, require_env, run

PLAN_JOB = "reconciler-plan"
LABEL_FLAGS = {"allow-destroy": "--allow-destroy", "force": "--force"}


def merged_request(gitlab: GitLab, sha: str, branch: str | None) -> dict[str, Any]:
    mrs = gitlab.json("GET", f"repository/commits/{sha}/merge_requests")
    merged = [
        mr for mr in mrs if mr.get("state") == "merged" and (not branch or mr.get("target_branch") == branch)
    ]
    exact = [
        mr for mr in merged if sha in (mr.get("merge_commit_sha"), mr.get("squash_commit_sha"), mr.get("sha"))
    ]
    if len(exact) == 1:
        return exact[0]
    if len(merged) == 1:
        return merged[0]
    if not merged:
        raise Failed(f"no merged merge request for commit {sha[:12]}: nothing reviewed to apply")
    listed = ", ".join(f"!{mr['iid']}" for mr in merged)
    raise Failed(f"commit {sha[:12]} belongs to several merged merge requests ({listed}): apply by hand")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Download plan.json of the merged merge request's latest pipeline; print its flags.",
        epilog="Needs GITLAB_TOKEN; GitLab sets CI_API_V4_URL, CI_PROJECT_ID, CI_COMMIT_SHA, "
        "CI_COMMIT_BRANCH.",
    )
    parser.add_argument(
        "--out", default="plan.json", metavar="FILE", help="where to write the plan (plan.json)"
    )
    parser.add_argument(
        "--plan-job", default=PLAN_JOB, metavar="NAME", help=f"the plan job's name ({PLAN_JOB})"
    )
    args = parser.parse_args(argv)

    sha = require_env("CI_COMMIT_SHA")["CI_COMMIT_SHA"]
    gitlab = GitLab.from_env()
    mr = merged_request(gitlab, sha, os.environ.get("CI_COMMIT_BRANCH"))
    iid = mr["iid"]
    # Merge-request pipelines only (refs/merge-requests/<iid>/head or /merge): branch pipelines have no plan.
    pipelines = [
        p
        for p in gitlab.get_all(f"merge_requests/{iid}/pipelines")
        if str(p.get("ref", "")).startswith("refs/merge-requests/")
    ]
    if not pipelines:
        raise Failed(f"!{iid} has no merge-request pipeline, so no reviewed plan: plan it in a merge request")
    pipeline = max(pipelines, key=lambda p: int(p["id"]))
    jobs = [j for j in gitlab.get_all(f"pipelines/{pipeline['id']}/jobs") if j.get("name") == args.plan_job]
    job = max(jobs, key=lambda j: int(j["id"]), default=None)
    if job is None or job.get("status") != "success":
        state = "has none" if job is None else f"ended {job.get('status')}"
        raise Failed(
            f"the latest pipeline of !{iid} (#{pipeline['id']}) {state} for {args.plan_job}: "
            "no reviewed plan to apply; run the merge request's pipeline again, review the note, merge again"
        )
    where = f"plan.json of job #{job['id']} (!{iid}, pipeline #{pipeline['id']})"
    try:
        raw, _ = gitlab.request("GET", f"jobs/{job['id']}/artifacts/{urllib.parse.quote('plan.json')}")
    except Failed as err:
        gone = " (expired? run the merge request's pipeline again)" if "HTTP 404" in str(err) else ""
        raise Failed(f"could not download {where}: {err}{gone}") from None
    try:
        plan = json.loads(raw)
    except ValueError:
        plan = None
    if not isinstance(plan, dict) or "format_version" not in plan:
        raise Failed(f"{where} is not a plan saved by `reconciler plan --out`")
    with open(args.out, "wb") as fh:
        fh.write(raw)

    labels = {str(label) for label in mr.get("labels") or []}
    flags = [flag for label, flag in LABEL_FLAGS.items() if label in labels]
    print(f"the reviewed plan: {where} -> {args.out}; flags: {' '.join(flags) or 'none'}", file=sys.stderr)
    print(" ".join(flags))
    return 0


if __name__ == "__main__":
    run(main)
