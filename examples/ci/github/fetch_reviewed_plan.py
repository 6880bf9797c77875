"""Fetch the plan that was reviewed for the pull request this push merged (stdlib only).

In a `push` workflow on the default branch, before applying:

    flags=$(python3 examples/ci/github/fetch_reviewed_plan.py --out plan.json)

It finds the merged pull request of GITHUB_SHA and downloads the artifact `reconciler-plan-<head sha>`
that the plan job uploaded for the pull request's last commit: the plan whose comment was reviewed. Only
artifacts of runs in this repository count (a fork's run could upload one under that name), and the
newest of them is used. It prints, on stdout and nothing else, the apply flags the pull request's labels
ask for: `--allow-destroy` for the label `allow-destroy`, `--force` for `force`. Any failure is a message
on stderr and exit code 1, and no plan file is left behind.

Environment: GITHUB_TOKEN (the job's token: `contents: read`, `pull-requests: read`, `actions: read`) and,
set by GitHub, GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_SHA, GITHUB_REF_NAME.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import urllib.parse
import zipfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from github_api import Failed, GitHub, require_env, run

ARTIFACT_PREFIX = "reconciler-plan-"
LABEL_FLAGS = {"allow-destroy": "--allow-destroy", "force": "--force"}


def merged_pull(github: GitHub, sha: str, branch: str | None) -> dict[str, Any]:
    pulls = github.json("GET", f"commits/{sha}/pulls")
    merged = [
        p for p in pulls if p.get("merged_at") and (not branch or p.get("base", {}).get("ref") == branch)
    ]
    exact = [p for p in merged if p.get("merge_commit_sha") == sha]
    if len(exact) == 1:
        return exact[0]
    if len(merged) == 1:
        return merged[0]
    if not merged:
        raise Failed(f"no merged pull request for commit {sha[:12]}: nothing reviewed to apply")
    listed = ", ".join(f"#{p['number']}" for p in merged)
    raise Failed(f"commit {sha[:12]} belongs to several merged pull requests ({listed}): apply by hand")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Download the plan reviewed on the merged pull request; print its label flags.",
        epilog="Needs GITHUB_TOKEN; GitHub sets GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_SHA, "
        "GITHUB_REF_NAME.",
    )
    parser.add_argument(
        "--out", default="plan.json", metavar="FILE", help="where to write the plan (plan.json)"
    )
    parser.add_argument(
        "--artifact-prefix",
        default=ARTIFACT_PREFIX,
        metavar="PREFIX",
        help=f"the plan artifact's name before the head commit's SHA ({ARTIFACT_PREFIX})",
    )
    args = parser.parse_args(argv)

    github = GitHub.from_env()
    sha = require_env("GITHUB_SHA")["GITHUB_SHA"]
    pull = merged_pull(github, sha, os.environ.get("GITHUB_REF_NAME"))
    number, head = pull["number"], pull["head"]["sha"]
    name = f"{args.artifact_prefix}{head}"
    artifacts = github.get_all(f"actions/artifacts?name={urllib.parse.quote(name)}", key="artifacts")
    ours = [
        a
        for a in artifacts
        if a.get("name") == name
        and not a.get("expired")
        and (a.get("workflow_run") or {}).get("head_sha") == head
        and (a.get("workflow_run") or {}).get("head_repository_id")
        == (a.get("workflow_run") or {}).get("repository_id")
    ]
    if not ours:
        raise Failed(
            f"no artifact {name} for #{number}'s last commit (the plan job did not succeed on it, or it "
            "expired): nothing reviewed to apply; re-run the pull request's plan, review it, merge again"
        )
    artifact = max(ours, key=lambda a: (str(a.get("created_at") or ""), int(a["id"])))
    where = f"artifact {name} (#{number}, run {artifact['workflow_run'].get('id')})"
    try:
        raw, _ = github.request("GET", str(artifact["archive_download_url"]))
    except Failed as err:
        raise Failed(f"could not download {where}: {err}") from None
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            data = archive.read("plan.json")
        plan = json.loads(data)
    except (zipfile.BadZipFile, KeyError, ValueError):
        plan = None
    if not isinstance(plan, dict) or "format_version" not in plan:
        raise Failed(f"{where} holds no plan.json saved by `reconciler plan --out`")
    with open(args.out, "wb") as fh:
        fh.write(data)

    labels = {str(label.get("name")) for label in pull.get("labels") or []}
    flags = [flag for label, flag in LABEL_FLAGS.items() if label in labels]
    print(f"the reviewed plan: {where} -> {args.out}; flags: {' '.join(flags) or 'none'}", file=sys.stderr)
    print(" ".join(flags))
    return 0


if __name__ == "__main__":
    run(main)
