"""Post the Markdown plan as ONE merge-request note, updated in place by every pipeline (stdlib only).

In a merge-request pipeline, after `reconciler plan ... --format markdown --detailed-exitcode > plan.md`:

    python3 examples/ci/gitlab/post_plan_note.py plan.md --exit-code "$code"

Exit code 0 (no changes) and 2 (changes) post the plan; any other code posts that the plan failed (with
what plan.md holds, if anything), so the note never shows an older plan as if it were current. A pipeline
whose commit is no longer the merge request's head leaves the note alone: the newer pipeline writes it.
This script exits 0 once the note is written; failing the job on a failed plan is the caller's part.

Environment: GITLAB_TOKEN (a project access token, role Reporter, scope api) and, set by GitLab,
CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID, CI_COMMIT_SHA (CI_MERGE_REQUEST_SOURCE_BRANCH_SHA in
merged-results pipelines), CI_JOB_URL.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gitlab_api import Failed, GitLab, require_env, run

MARKER = "<!-- reconciler-plan -->"
MAX_CHARS = 1_000_000  # GitLab's limit for a note


def compose(plan_md: str, exit_code: int, head: str, job_url: str) -> str:
    job = f" ([job]({job_url}))" if job_url else ""
    lines = [MARKER, f"**reconciler plan** for `{head[:12]}`{job}", ""]
    if exit_code not in (0, 2):
        lines += [
            f"**The plan failed (exit {exit_code}).** Nothing from this commit can be applied: "
            "see the job log.",
            "",
        ]
    body = "\n".join(lines) + plan_md
    if len(body) > MAX_CHARS:
        body = body[: MAX_CHARS - 200] + "\n\n*(cut: the whole plan is the job's plan.md artifact)*\n"
    return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Post the Markdown plan as one merge-request note, updated in place on every pipeline.",
        epilog="Needs GITLAB_TOKEN; GitLab sets CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID, "
        "CI_COMMIT_SHA.",
    )
    parser.add_argument(
        "plan_md", metavar="PLAN_MD", help="the plan written by `reconciler plan --format markdown`"
    )
    parser.add_argument(
        "--exit-code",
        type=int,
        default=2,
        metavar="N",
        help="the exit code of `reconciler plan --detailed-exitcode`: 0 no changes, 2 changes, else failed",
    )
    args = parser.parse_args(argv)

    env = require_env("CI_MERGE_REQUEST_IID", "CI_COMMIT_SHA")
    gitlab = GitLab.from_env()
    failed = args.exit_code not in (0, 2)
    try:
        with open(args.plan_md, encoding="utf-8") as fh:
            plan_md = fh.read()
    except OSError as err:
        if not failed:
            raise Failed(f"cannot read the plan {args.plan_md}: {err.strerror}") from None
        plan_md = ""
    iid = env["CI_MERGE_REQUEST_IID"]
    head = os.environ.get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA") or env["CI_COMMIT_SHA"]

    mr = gitlab.json("GET", f"merge_requests/{iid}")
    if mr.get("sha") and mr["sha"] != head:
        print(
            f"!{iid} has a newer head ({mr['sha'][:12]}) than this pipeline's {head[:12]}: "
            "its pipeline posts the plan"
        )
        return 0

    body = {"body": compose(plan_md, args.exit_code, head, os.environ.get("CI_JOB_URL", ""))}
    notes = gitlab.get_all(f"merge_requests/{iid}/notes?sort=asc&order_by=created_at")
    mine = [n for n in notes if not n.get("system") and str(n.get("body", "")).startswith(MARKER)]
    if mine:
        gitlab.json("PUT", f"merge_requests/{iid}/notes/{mine[0]['id']}", body)
        print(f"updated the plan note {mine[0]['id']} on !{iid}")
    else:
        note = gitlab.json("POST", f"merge_requests/{iid}/notes", body)
        print(f"posted the plan note {note.get('id')} on !{iid}")
    return 0


if __name__ == "__main__":
    run(main)
