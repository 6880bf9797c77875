"""Post the Markdown plan as ONE pull-request comment, updated in place by every run (stdlib only).

In a `pull_request` workflow, after `reconciler plan ... --format markdown --detailed-exitcode > plan.md`:

    python3 examples/ci/github/post_plan_comment.py plan.md --exit-code "$code"

Exit code 0 (no changes) and 2 (changes) post the plan; any other code posts that the plan failed (with
what plan.md holds, if anything), so the comment never shows an older plan as if it were current. A run
whose commit is no longer the pull request's head leaves the comment alone: the newer run writes it.
This script exits 0 once the comment is written; failing the job on a failed plan is the caller's part.

Environment: GITHUB_TOKEN (the job's token, `pull-requests: write`) and, set by GitHub, GITHUB_API_URL,
GITHUB_REPOSITORY, GITHUB_EVENT_PATH (the pull_request event), GITHUB_SERVER_URL and GITHUB_RUN_ID.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from github_api import Failed, GitHub, require_env, run

MARKER = "<!-- reconciler-plan -->"
MAX_CHARS = 65_536  # GitHub's limit for a comment; reconciler's Markdown stays under 60,000


def compose(plan_md: str, exit_code: int, head: str, run_url: str) -> str:
    link = f" ([run]({run_url}))" if run_url else ""
    lines = [MARKER, f"**reconciler plan** for `{head[:12]}`{link}", ""]
    if exit_code not in (0, 2):
        lines += [
            f"**The plan failed (exit {exit_code}).** Nothing from this commit can be applied: "
            "see the job log.",
            "",
        ]
    body = "\n".join(lines) + plan_md
    if len(body) > MAX_CHARS:
        body = body[: MAX_CHARS - 200] + "\n\n*(cut: the whole plan is the run's plan artifact)*\n"
    return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Post the Markdown plan as one pull-request comment, updated in place on every run.",
        epilog="Needs GITHUB_TOKEN; GitHub sets GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_EVENT_PATH.",
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

    github = GitHub.from_env()
    event_path = require_env("GITHUB_EVENT_PATH")["GITHUB_EVENT_PATH"]
    try:
        with open(event_path, encoding="utf-8") as fh:
            pull = json.load(fh)["pull_request"]
        number, head = int(pull["number"]), str(pull["head"]["sha"])
    except (OSError, ValueError, KeyError, TypeError):
        raise Failed(f"{event_path} is not a pull_request event: run this on pull_request") from None
    failed = args.exit_code not in (0, 2)
    try:
        with open(args.plan_md, encoding="utf-8") as fh:
            plan_md = fh.read()
    except OSError as err:
        if not failed:
            raise Failed(f"cannot read the plan {args.plan_md}: {err.strerror}") from None
        plan_md = ""

    current = github.json("GET", f"pulls/{number}")["head"]["sha"]
    if current != head:
        print(
            f"#{number} has a newer head ({current[:12]}) than this run's {head[:12]}: its run posts the plan"
        )
        return 0

    server, run_id = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_RUN_ID")
    run_url = f"{server}/{github.repository}/actions/runs/{run_id}" if server and run_id else ""
    body = {"body": compose(plan_md, args.exit_code, head, run_url)}
    comments = github.get_all(f"issues/{number}/comments")
    mine = [c for c in comments if str(c.get("body") or "").startswith(MARKER)]
    if mine:
        github.json("PATCH", f"issues/comments/{mine[0]['id']}", body)
        print(f"updated the plan comment {mine[0]['id']} on #{number}")
    else:
        comment = github.json("POST", f"issues/{number}/comments", body)
        print(f"posted the plan comment {comment.get('id')} on #{number}")
    return 0


if __name__ == "__main__":
    run(main)
