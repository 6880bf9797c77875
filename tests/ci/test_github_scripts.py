"""examples/ci/github/*.py against a fake GitHub API: the calls they make and what comes of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ci.conftest import run_script
from tests.ci.fakes import FakeGitHub, plan_zip

POST = "github/post_plan_comment.py"
FETCH = "github/fetch_reviewed_plan.py"
HEAD = "a1" * 20
MERGE = "b2" * 20
PLAN = json.dumps({"format_version": 2, "changes": []}).encode()
COMMENTS = "/repos/acme/infra/issues/7/comments"


def pr_env(github: FakeGitHub, tmp_path: Path, sha: str = HEAD) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": sha}}}), encoding="utf-8")
    return {
        **github.env(),
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "314",
    }


def open_pr(github: FakeGitHub, sha: str = HEAD) -> None:
    github.pulls[7] = {
        "number": 7,
        "head": {"sha": sha},
        "base": {"ref": "main"},
        "merged_at": None,
        "labels": [],
    }


def test_one_comment_per_pull_request_updated_on_every_push(github: FakeGitHub, tmp_path: Path) -> None:
    open_pr(github)
    github.comments[7] = [{"id": 1, "body": "LGTM"}, {"id": 2, "body": "> <!-- reconciler-plan -->\nquoted"}]
    github.page_size = 2  # the plan comment lands on the second page: the Link header must be followed
    (tmp_path / "plan.md").write_text("**Plan: 3 to create**\n", encoding="utf-8")

    first = run_script(POST, ["plan.md", "--exit-code", "2"], pr_env(github, tmp_path), tmp_path)
    assert first.returncode == 0, first.stderr
    [comment] = [c for c in github.comments[7] if c["body"].startswith("<!-- reconciler-plan -->")]
    assert f"`{HEAD[:12]}`" in comment["body"] and "**Plan: 3 to create**" in comment["body"]
    assert "https://github.com/acme/infra/actions/runs/314" in comment["body"]

    second_head = "c3" * 20
    open_pr(github, second_head)
    (tmp_path / "plan.md").write_text("**No changes.**\n", encoding="utf-8")
    second = run_script(
        POST, ["plan.md", "--exit-code", "0"], pr_env(github, tmp_path, second_head), tmp_path
    )
    assert second.returncode == 0, second.stderr
    mine = [c for c in github.comments[7] if c["body"].startswith("<!-- reconciler-plan -->")]
    assert [c["id"] for c in mine] == [comment["id"]] and "**No changes.**" in mine[0]["body"]
    assert len(github.comments[7]) == 3
    assert [(w.method, w.path) for w in github.writes()] == [
        ("POST", COMMENTS),
        ("PATCH", f"/repos/acme/infra/issues/comments/{comment['id']}"),
    ]
    assert {r.headers["authorization"] for r in github.requests} == {f"Bearer {FakeGitHub.token}"}
    assert FakeGitHub.token not in first.stdout + first.stderr + second.stdout + second.stderr


def test_a_failed_plan_says_so_in_the_comment(github: FakeGitHub, tmp_path: Path) -> None:
    open_pr(github)
    github.comments[7] = [{"id": 9, "body": "<!-- reconciler-plan -->\nold plan: 9 to create"}]
    (tmp_path / "plan.md").write_text("> **Error:** bucket gs://x: 403\n", encoding="utf-8")
    done = run_script(POST, ["plan.md", "--exit-code", "1"], pr_env(github, tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    [comment] = github.comments[7]
    assert "The plan failed (exit 1)" in comment["body"] and "bucket gs://x: 403" in comment["body"]
    assert "old plan" not in comment["body"]


def test_a_superseded_run_leaves_the_comment_alone(github: FakeGitHub, tmp_path: Path) -> None:
    open_pr(github, "d4" * 20)
    (tmp_path / "plan.md").write_text("stale\n", encoding="utf-8")
    done = run_script(POST, ["plan.md"], pr_env(github, tmp_path), tmp_path)
    assert done.returncode == 0 and "newer head" in done.stdout
    assert github.writes() == []


def test_post_fails_loudly(github: FakeGitHub, tmp_path: Path) -> None:
    open_pr(github)
    (tmp_path / "plan.md").write_text("plan\n", encoding="utf-8")
    env = pr_env(github, tmp_path)
    done = run_script(POST, ["plan.md"], {k: v for k, v in env.items() if k != "GITHUB_TOKEN"}, tmp_path)
    assert done.returncode == 1 and "GITHUB_TOKEN not set" in done.stderr and "Traceback" not in done.stderr

    github.faults[("POST", COMMENTS)] = 403
    done = run_script(POST, ["plan.md"], env, tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"error: POST {github.url}{COMMENTS} failed: HTTP 403" in done.stderr

    (tmp_path / "event.json").write_text(json.dumps({"push": {}}), encoding="utf-8")
    done = run_script(POST, ["plan.md"], env, tmp_path)
    assert done.returncode == 1 and "is not a pull_request event" in done.stderr


def merged(github: FakeGitHub, labels: list[str]) -> dict[str, str]:
    github.pulls[7] = {
        "number": 7,
        "head": {"sha": HEAD},
        "base": {"ref": "main"},
        "merged_at": "2026-01-02T00:00:00Z",
        "merge_commit_sha": MERGE,
        "labels": [{"name": name} for name in labels],
    }
    github.commit_pulls[MERGE] = [7]
    return {**github.env(), "GITHUB_SHA": MERGE, "GITHUB_REF_NAME": "main"}


@pytest.mark.parametrize(
    ("labels", "flags"),
    [
        ([], ""),
        (["allow-destroy"], "--allow-destroy"),
        (["force", "allow-destroy", "x"], "--allow-destroy --force"),
    ],
)
def test_fetch_downloads_the_plan_reviewed_on_the_merged_pull_request(
    github: FakeGitHub, tmp_path: Path, labels: list[str], flags: str
) -> None:
    env = merged(github, labels)
    name = f"reconciler-plan-{HEAD}"
    github.add_artifact(name, HEAD, b'{"format_version": 2, "old": true}', created_at="2026-01-01T10:00:00Z")
    reviewed = github.add_artifact(name, HEAD, PLAN, created_at="2026-01-01T11:00:00Z")
    # Under the same name, and newer: a fork's run, and an expired one. Neither may be used.
    github.add_artifact(
        name,
        HEAD,
        b'{"format_version": 2, "fork": 1}',
        head_repository_id=666,
        created_at="2026-01-01T12:00:00Z",
    )
    github.add_artifact(
        name, HEAD, b'{"format_version": 2, "gone": 1}', expired=True, created_at="2026-01-01T13:00:00Z"
    )
    github.page_size = 1

    done = run_script(FETCH, ["--out", "plan.json"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{flags}\n"
    assert (tmp_path / "plan.json").read_bytes() == PLAN
    assert f"run {reviewed.run_id}" in done.stderr
    # The download redirected to the blob store, which got the signed URL and no token.
    [download] = reviewed.downloads
    assert "authorization" not in download
    assert github.writes() == []


def test_fetch_fails_loudly_when_the_download_fails(github: FakeGitHub, tmp_path: Path) -> None:
    env = merged(github, [])
    artifact = github.add_artifact(f"reconciler-plan-{HEAD}", HEAD, PLAN)
    github.faults[("GET", rf"/repos/acme/infra/actions/artifacts/{artifact.id}/zip")] = 500
    done = run_script(FETCH, ["--out", "plan.json"], env, tmp_path)
    assert done.returncode == 1 and done.stdout == "" and "Traceback" not in done.stderr
    assert f"could not download artifact reconciler-plan-{HEAD}" in done.stderr and "HTTP 500" in done.stderr
    assert not (tmp_path / "plan.json").exists()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no merged pull request", "no merged pull request for commit"),
        ("only a fork's artifact", f"no artifact reconciler-plan-{HEAD}"),
        ("plan of an older commit", f"no artifact reconciler-plan-{HEAD}"),
        ("no plan.json inside", "holds no plan.json saved by `reconciler plan --out`"),
    ],
)
def test_fetch_refuses_without_a_reviewed_plan(
    github: FakeGitHub, tmp_path: Path, case: str, message: str
) -> None:
    env = merged(github, ["allow-destroy"])
    name = f"reconciler-plan-{HEAD}"
    if case == "no merged pull request":
        github.pulls[7]["merged_at"] = None
    elif case == "only a fork's artifact":
        github.add_artifact(name, HEAD, PLAN, head_repository_id=666)
    elif case == "plan of an older commit":
        github.add_artifact(f"reconciler-plan-{'e5' * 20}", "e5" * 20, PLAN)
    elif case == "no plan.json inside":
        artifact = github.add_artifact(name, HEAD, PLAN)
        artifact.content = plan_zip(b"{}", name="report.json")
    done = run_script(FETCH, [], env, tmp_path)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert done.stdout == "" and not (tmp_path / "plan.json").exists() and "Traceback" not in done.stderr
