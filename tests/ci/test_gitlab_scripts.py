"""examples/ci/gitlab/*.py against a fake GitLab API: the calls they make and what comes of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ci.conftest import run_script
from tests.ci.fakes import FakeGitLab

POST = "gitlab/post_plan_note.py"
FETCH = "gitlab/fetch_reviewed_plan.py"
HEAD = "a1" * 20
MERGE = "b2" * 20
PLAN = json.dumps({"format_version": 2, "changes": []}).encode()
NOTES = r"/api/v4/projects/42/merge_requests/7/notes"


def mr_env(gitlab: FakeGitLab, sha: str = HEAD) -> dict[str, str]:
    return {
        **gitlab.env(),
        "CI_MERGE_REQUEST_IID": "7",
        "CI_COMMIT_SHA": sha,
        "CI_JOB_URL": "https://gitlab.example.com/acme/infra/-/jobs/99",
    }


def open_mr(gitlab: FakeGitLab, sha: str = HEAD) -> None:
    gitlab.mrs[7] = {"iid": 7, "sha": sha, "state": "opened", "target_branch": "main", "labels": []}


def test_one_note_per_merge_request_updated_on_every_push(gitlab: FakeGitLab, tmp_path: Path) -> None:
    open_mr(gitlab)
    gitlab.notes[7] = [
        {"id": 1, "body": "LGTM", "system": False},
        {"id": 2, "body": "added a label", "system": True},
    ]
    gitlab.page_size = 2  # the plan note lands on the second page: paging must find it
    (tmp_path / "plan.md").write_text("**Plan: 3 to create**\n", encoding="utf-8")

    first = run_script(POST, ["plan.md", "--exit-code", "2"], mr_env(gitlab), tmp_path)
    assert first.returncode == 0, first.stderr
    [note] = [n for n in gitlab.notes[7] if n["body"].startswith("<!-- reconciler-plan -->")]
    assert f"`{HEAD[:12]}`" in note["body"] and "**Plan: 3 to create**" in note["body"]
    assert "jobs/99" in note["body"]

    second_head = "c3" * 20  # a push: a new pipeline plans the new head
    open_mr(gitlab, second_head)
    (tmp_path / "plan.md").write_text("**No changes.**\n", encoding="utf-8")
    second = run_script(POST, ["plan.md", "--exit-code", "0"], mr_env(gitlab, second_head), tmp_path)
    assert second.returncode == 0, second.stderr
    mine = [n for n in gitlab.notes[7] if n["body"].startswith("<!-- reconciler-plan -->")]
    assert [n["id"] for n in mine] == [note["id"]] and "**No changes.**" in mine[0]["body"]
    assert len(gitlab.notes[7]) == 3
    assert [(w.method, w.path) for w in gitlab.writes()] == [
        ("POST", NOTES),
        ("PUT", f"{NOTES}/{note['id']}"),
    ]
    assert all(r.headers["private-token"] == FakeGitLab.token for r in gitlab.requests)
    assert FakeGitLab.token not in first.stdout + first.stderr + second.stdout + second.stderr


def test_a_failed_plan_says_so_in_the_note(gitlab: FakeGitLab, tmp_path: Path) -> None:
    open_mr(gitlab)
    gitlab.notes[7] = [{"id": 5, "body": "<!-- reconciler-plan -->\nold plan: 9 to create", "system": False}]
    done = run_script(POST, ["plan.md", "--exit-code", "1"], mr_env(gitlab), tmp_path)  # no plan.md at all
    assert done.returncode == 0, done.stderr
    [note] = gitlab.notes[7]
    assert "The plan failed (exit 1)" in note["body"] and "old plan" not in note["body"]


def test_a_superseded_pipeline_leaves_the_note_alone(gitlab: FakeGitLab, tmp_path: Path) -> None:
    open_mr(gitlab, "d4" * 20)  # the merge request moved on since this pipeline started
    (tmp_path / "plan.md").write_text("stale\n", encoding="utf-8")
    done = run_script(POST, ["plan.md"], mr_env(gitlab), tmp_path)
    assert done.returncode == 0 and "newer head" in done.stdout
    assert gitlab.writes() == []


def test_post_fails_loudly(gitlab: FakeGitLab, tmp_path: Path) -> None:
    open_mr(gitlab)
    (tmp_path / "plan.md").write_text("plan\n", encoding="utf-8")
    no_token = {k: v for k, v in mr_env(gitlab).items() if k != "GITLAB_TOKEN"}
    done = run_script(POST, ["plan.md"], no_token, tmp_path)
    assert done.returncode == 1 and "GITLAB_TOKEN not set" in done.stderr and "Traceback" not in done.stderr

    gitlab.faults[("POST", NOTES)] = 403
    done = run_script(POST, ["plan.md"], mr_env(gitlab), tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"error: POST {gitlab.api}/projects/42/merge_requests/7/notes failed: HTTP 403" in done.stderr

    done = run_script(POST, ["missing.md", "--exit-code", "2"], mr_env(gitlab), tmp_path)
    assert done.returncode == 1 and "cannot read the plan missing.md" in done.stderr


def merged(gitlab: FakeGitLab, labels: list[str]) -> dict[str, str]:
    gitlab.mrs[7] = {
        "iid": 7,
        "sha": HEAD,
        "state": "merged",
        "target_branch": "main",
        "merge_commit_sha": MERGE,
        "labels": labels,
    }
    gitlab.commit_mrs[MERGE] = [7]
    return {**gitlab.env(), "CI_COMMIT_SHA": MERGE, "CI_COMMIT_BRANCH": "main"}


@pytest.mark.parametrize(
    ("labels", "flags"),
    [
        ([], ""),
        (["allow-destroy"], "--allow-destroy"),
        (["force", "allow-destroy", "x"], "--allow-destroy --force"),
    ],
)
def test_fetch_downloads_the_plan_of_the_merged_requests_latest_pipeline(
    gitlab: FakeGitLab, tmp_path: Path, labels: list[str], flags: str
) -> None:
    env = merged(gitlab, labels)
    gitlab.add_plan_pipeline(7, b'{"format_version": 2, "old": true}')
    latest = gitlab.add_plan_pipeline(7, PLAN)
    gitlab.pipelines[7].append(
        {"id": latest["pipeline"] + 50, "ref": "main", "sha": HEAD}
    )  # a branch pipeline
    gitlab.page_size = 1  # the plan job is on the second page of the pipeline's jobs

    done = run_script(FETCH, ["--out", "plan.json"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{flags}\n"  # stdout is the flags and nothing else
    assert (tmp_path / "plan.json").read_bytes() == PLAN
    assert f"job #{latest['job']}" in done.stderr
    assert gitlab.calls("GET", rf".*/jobs/{latest['job']}/artifacts/plan\.json")
    assert gitlab.writes() == []


def test_fetch_fails_loudly_when_the_download_fails(gitlab: FakeGitLab, tmp_path: Path) -> None:
    env = merged(gitlab, [])
    latest = gitlab.add_plan_pipeline(7, PLAN)
    gitlab.faults[("GET", rf".*/jobs/{latest['job']}/artifacts/.*")] = 500
    done = run_script(FETCH, ["--out", "plan.json"], env, tmp_path)
    assert done.returncode == 1 and done.stdout == "" and "Traceback" not in done.stderr
    assert (
        f"could not download plan.json of job #{latest['job']}" in done.stderr and "HTTP 500" in done.stderr
    )
    assert not (tmp_path / "plan.json").exists()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no merged request", "no merged merge request for commit"),
        ("latest plan failed", "ended failed for reconciler-plan"),
        ("no pipeline", "has no merge-request pipeline"),
        ("artifact gone", 'HTTP 404 Not Found: {"message": "404 Not Found"} (expired? run the merge'),
        ("not a plan", "is not a plan saved by `reconciler plan --out`"),
    ],
)
def test_fetch_refuses_without_a_reviewed_plan(
    gitlab: FakeGitLab, tmp_path: Path, case: str, message: str
) -> None:
    env = merged(gitlab, ["allow-destroy"])
    if case == "no merged request":
        gitlab.mrs[7]["state"] = "opened"
    elif case == "latest plan failed":  # an older pipeline's plan is not used in its place
        gitlab.add_plan_pipeline(7, PLAN)
        gitlab.add_plan_pipeline(7, None, status="failed")
    elif case == "artifact gone":
        gitlab.add_plan_pipeline(7, None)
    elif case == "not a plan":
        gitlab.add_plan_pipeline(7, b"<html>login</html>")
    done = run_script(FETCH, [], env, tmp_path)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert done.stdout == "" and not (tmp_path / "plan.json").exists() and "Traceback" not in done.stderr
