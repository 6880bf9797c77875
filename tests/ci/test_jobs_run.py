"""The CI examples' jobs, their shell as shipped, run end to end: reconciler on the sandbox, the fake APIs.

A pull request / merge request is planned (plan.json + plan.md, exit codes 0/2/1 handled, one comment or
note kept up to date), its reviewed plan is fetched on merge and applied (labels becoming flags), and a
failed plan or a failed download stops the job. `reconciler` on PATH is a shim that records each call's
arguments and the credentials it could see, then runs this repository's reconciler: so the tests also
see which step got which secret. What the harness skips (and why) is in tests/ci/harness.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ci.fakes import FakeGitHub, FakeGitLab
from tests.ci.harness import ROOT, VENV_BIN, JobRun, ScriptRun, base_env, run_github_job, run_gitlab_job

QUICKSTART = (ROOT / "examples" / "quickstart" / "reconciler.yaml").read_text(encoding="utf-8")
NIGHT = "          - name: night\n            description: Night captures\n"
WATCHED = (
    "ENCORD_SSH_KEY",
    "ENCORD_SSH_KEY_FILE",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GITHUB_TOKEN",
    "GITLAB_TOKEN",
)
SHIM = """#!{python}
import json, os, sys
with open(os.environ["SHIM_LOG"], "a", encoding="utf-8") as log:
    seen = {{name: os.environ[name] for name in {watched!r} if name in os.environ}}
    log.write(json.dumps({{"args": sys.argv[1:], "env": seen}}) + "\\n")
os.execv({real!r}, [{real!r}, *sys.argv[1:]])
"""


def edited(*, day: str = "Daylight captures", night: bool = True) -> str:
    text = QUICKSTART.replace("description: Daylight captures", f"description: {day}")
    if not night:  # the night folder and the dataset drawn from it go: two destructive deletes
        text = text.replace(NIGHT, "")
        text = text[: text.index("  - title: night-eval")]
    return text


class World:
    """One workspace (a sandbox shared by every job, like Encord), checkouts, and the reconciler shim."""

    def __init__(self, tmp: Path, scripts: str) -> None:
        self.tmp, self.scripts = tmp, scripts
        shim_dir = tmp / "shim"
        shim_dir.mkdir()
        shim = shim_dir / "reconciler"
        shim.write_text(
            SHIM.format(python=sys.executable, watched=WATCHED, real=str(VENV_BIN / "reconciler")),
            encoding="utf-8",
        )
        shim.chmod(0o755)
        self.log = tmp / "reconciler-calls.jsonl"
        self.env = base_env(tmp / "home", tmp / "workspace" / "sandbox.db")
        self.env["PATH"] = f"{shim_dir}:{self.env['PATH']}"
        self.env["SHIM_LOG"] = str(self.log)
        (tmp / "home").mkdir()
        self.keys = tmp / "keys"
        self.keys.mkdir()
        self._n = 0

    def checkout(self, config: str) -> Path:
        """A fresh CI checkout: the config in encord/, the scripts where RECONCILER_CI says."""
        self._n += 1
        work = self.tmp / f"job{self._n}" / "repo"
        (work / "encord").mkdir(parents=True)
        (work / "encord" / "reconciler.yaml").write_text(config, encoding="utf-8")
        shutil.copytree(ROOT / "examples" / "ci" / self.scripts, work / "examples" / "ci" / self.scripts)
        return work

    def key_file(self, name: str, content: str) -> str:
        path = self.keys / name
        path.write_text(content, encoding="utf-8")
        return str(path)

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        calls = [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]
        self.log.unlink()
        return calls

    def plan_exit(self, config: str) -> int:
        """What a fresh plan of `config` says of the workspace now (0: it matches)."""
        work = self.checkout(config)
        done = subprocess.run(
            [str(VENV_BIN / "reconciler"), "plan", "encord", "--detailed-exitcode"],
            cwd=work,
            env=self.env,
            capture_output=True,
        )
        return done.returncode


# --- GitHub Actions --------------------------------------------------------------------------------------

SECRETS = {
    "ENCORD_SSH_KEY_READONLY": "read-only-key",
    "GCP_CREDENTIALS_READONLY": "{}",
    "ENCORD_SSH_KEY": "write-key",
    "GCP_CREDENTIALS": "{}",
}


def github_pr(
    world: World, github: FakeGitHub, number: int, head: str, job: str, config: str
) -> tuple[JobRun, Path]:
    github.pulls[number] = {
        "number": number,
        "head": {"sha": head},
        "base": {"ref": "main"},
        "merged_at": None,
        "labels": [],
    }
    work = world.checkout(config)
    event = {"pull_request": {"number": number, "head": {"sha": head}}}
    event_path = work.parent / "event.json"
    event_path.write_text(json.dumps(event), encoding="utf-8")
    env = {
        **world.env,
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": github.repository,
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_SHA": "f0" * 20,  # the test merge commit
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": str(github.next_id()),
    }
    context = {
        "github": {"token": github.token, "sha": env["GITHUB_SHA"], "event": event},
        "secrets": SECRETS,
    }
    result = run_github_job(job, work, env, context)
    if result.ok and job == "plan":  # stand in for actions/upload-artifact
        [upload] = result.uses("actions/upload-artifact")
        assert upload.with_["path"] == "plan.json" and upload.with_["if-no-files-found"] == "error"
        github.add_artifact(upload.with_["name"], head, (work / "plan.json").read_bytes())
    return result, work


def github_merge(
    world: World, github: FakeGitHub, number: int, merge_sha: str, config: str, labels: tuple[str, ...] = ()
) -> tuple[JobRun, Path]:
    pull = github.pulls[number]
    pull.update(
        merged_at="2026-01-02T00:00:00Z", merge_commit_sha=merge_sha, labels=[{"name": n} for n in labels]
    )
    github.commit_pulls[merge_sha] = [number]
    work = world.checkout(config)
    env = {
        **world.env,
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": github.repository,
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_SHA": merge_sha,
        "GITHUB_REF_NAME": "main",
    }
    context = {"github": {"token": github.token, "sha": merge_sha}, "secrets": SECRETS}
    return run_github_job("apply", work, env, context), work


def plan_comments(github: FakeGitHub, number: int) -> list[str]:
    return [
        c["body"] for c in github.comments.get(number, []) if c["body"].startswith("<!-- reconciler-plan -->")
    ]


def test_github_pull_request_plan_comment_merge_apply(github: FakeGitHub, tmp_path: Path) -> None:
    world = World(tmp_path, "github")
    h1, h2, h3, h4 = ("a1" * 20, "a2" * 20, "a3" * 20, "a4" * 20)

    # A pull request: validate (no secret in sight), then plan with the read-only key: changes, exit 2.
    validate, _ = github_pr(world, github, 7, h1, "validate", QUICKSTART)
    assert validate.ok, validate.log
    plan, work = github_pr(world, github, 7, h1, "plan", QUICKSTART)
    assert plan.ok, plan.log
    assert plan.step("plan").outputs == {"exitcode": "2"}
    assert json.loads((work / "plan.json").read_text())["summary"]["create"] == 19
    assert "**Plan: 19 to create, 0 to update, 0 to delete" in (work / "plan.md").read_text()
    [comment] = plan_comments(github, 7)
    assert f"`{h1[:12]}`" in comment and "19 to create" in comment
    validate_call, plan_call = world.calls()
    assert validate_call == {"args": ["validate", "encord"], "env": {}}
    assert plan_call["args"] == [
        "plan",
        "encord",
        "--out",
        "plan.json",
        "--format",
        "markdown",
        "--detailed-exitcode",
    ]
    assert plan_call["env"] == {"ENCORD_SSH_KEY": "read-only-key"}  # not the write key, not the GitHub token

    # Another push: the same comment is updated with the new head's plan.
    plan, _ = github_pr(world, github, 7, h2, "plan", edited(day="Daylight, 6am-6pm"))
    assert plan.ok, plan.log
    [comment] = plan_comments(github, 7)
    assert f"`{h2[:12]}`" in comment and "Daylight, 6am-6pm" in comment
    assert [w.method for w in github.writes()] == ["POST", "PATCH"]
    world.calls()

    # Merge: the plan reviewed on the last head (h2, not h1) is applied, with the write key.
    apply, work = github_merge(world, github, 7, "e1" * 20, edited(day="Daylight, 6am-6pm"))
    assert apply.ok, apply.log
    assert apply.step("reviewed").outputs == {"flags": ""}
    assert "Apply complete: 19 applied, 0 failed" in apply.step("apply").stdout
    assert (work / "report.json").exists()
    [report_upload] = apply.uses("actions/upload-artifact")
    assert report_upload.with_ == {
        "name": f"reconciler-apply-report-{'e1' * 20}",
        "path": "report.json",
        "if-no-files-found": "ignore",
    }
    [apply_call] = world.calls()
    assert apply_call == {
        "args": ["apply", "plan.json", "--auto-approve", "--report", "report.json"],
        "env": {"ENCORD_SSH_KEY": "write-key"},
    }
    assert world.plan_exit(edited(day="Daylight, 6am-6pm")) == 0

    # A destructive pull request: without the label apply refuses and deletes nothing; with it, it deletes.
    plan, _ = github_pr(world, github, 8, h3, "plan", edited(day="Daylight, 6am-6pm", night=False))
    assert plan.ok and plan.step("plan").outputs == {"exitcode": "2"}
    [comment] = plan_comments(github, 8)
    assert "apply needs --allow-destroy" in comment
    refused, _ = github_merge(world, github, 8, "e2" * 20, edited(day="Daylight, 6am-6pm", night=False))
    assert not refused.ok and refused.step("apply").returncode == 1
    assert "need --allow-destroy" in refused.step("apply").stderr
    assert refused.uses("actions/upload-artifact")  # the report is kept whatever happened (if: always())
    rerun, _ = github_merge(
        world, github, 8, "e2" * 20, edited(day="Daylight, 6am-6pm", night=False), ("allow-destroy",)
    )
    assert rerun.ok, rerun.log
    assert rerun.step("reviewed").outputs == {"flags": "--allow-destroy"}
    assert "Apply complete: 2 applied" in rerun.step("apply").stdout
    world.calls()

    # Nothing left to do: exit 0, the comment says so, and that plan is kept (merging it applies nothing).
    plan, _ = github_pr(world, github, 9, h4, "plan", edited(day="Daylight, 6am-6pm", night=False))
    assert plan.ok and plan.step("plan").outputs == {"exitcode": "0"}
    [comment] = plan_comments(github, 9)
    assert "No changes" in comment
    assert plan.uses("actions/upload-artifact")


def test_github_failed_plan_fails_the_job_and_keeps_nothing(github: FakeGitHub, tmp_path: Path) -> None:
    world = World(tmp_path, "github")
    plan, work = github_pr(
        world, github, 7, "a1" * 20, "plan", QUICKSTART.replace("  - name: driving", "  - nam: driving")
    )
    assert not plan.ok
    assert plan.step("plan").outputs == {"exitcode": "1"}
    assert (
        plan.step("comment").returncode == 1
        and "reconciler plan failed (exit 1)" in plan.step("comment").stdout
    )
    assert plan.uses("actions/upload-artifact") == []  # skipped: a failed plan is never an artifact
    assert github.artifacts == [] and not (work / "plan.json").exists()
    [comment] = plan_comments(github, 7)
    assert "The plan failed (exit 1)" in comment


def test_github_apply_stops_before_any_credential_when_the_plan_cannot_be_fetched(
    github: FakeGitHub, tmp_path: Path
) -> None:
    world = World(tmp_path, "github")
    github.pulls[7] = {"number": 7, "head": {"sha": "a1" * 20}, "base": {"ref": "main"}}
    artifact = github.add_artifact(f"reconciler-plan-{'a1' * 20}", "a1" * 20, b'{"format_version": 2}')
    github.faults[("GET", rf"/repos/acme/infra/actions/artifacts/{artifact.id}/zip")] = 502
    apply, work = github_merge(world, github, 7, "e1" * 20, QUICKSTART)
    assert not apply.ok
    assert apply.step("reviewed").returncode == 1
    assert f"could not download artifact reconciler-plan-{'a1' * 20}" in apply.step("reviewed").stderr
    assert "HTTP 502" in apply.step("reviewed").stderr
    assert [s.kind for s in apply.steps if s.name in ("gcp", "apply")] == ["skipped", "skipped"]
    assert world.calls() == [] and not (work / "plan.json").exists()


# --- GitLab CI ----------------------------------------------------------------------------------------------


def gitlab_mr(
    world: World, gitlab: FakeGitLab, iid: int, head: str, job: str, config: str
) -> tuple[ScriptRun, Path]:
    gitlab.mrs[iid] = {"iid": iid, "sha": head, "state": "opened", "target_branch": "main", "labels": []}
    work = world.checkout(config)
    env = {
        **world.env,
        **gitlab.env(),
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_IID": str(iid),
        "CI_COMMIT_SHA": head,
        "CI_JOB_URL": f"https://gitlab.example.com/acme/infra/-/jobs/{gitlab.next_id()}",
        "READONLY_ENCORD_SSH_KEY_FILE": world.key_file("readonly", "read-only-key"),
    }
    result = run_gitlab_job(job, work, env)
    if job == "reconciler-plan":  # stand in for GitLab's artifact store: the pipeline and its plan job
        assert result.artifacts in ([], ["plan.json", "plan.md"])
        plan = (work / "plan.json").read_bytes() if result.artifacts else None
        gitlab.add_plan_pipeline(iid, plan, status="success" if result.ok else "failed")
    return result, work


def gitlab_merge(
    world: World, gitlab: FakeGitLab, iid: int, merge_sha: str, config: str, labels: tuple[str, ...] = ()
) -> tuple[ScriptRun, Path]:
    gitlab.mrs[iid].update(state="merged", merge_commit_sha=merge_sha, labels=list(labels))
    gitlab.commit_mrs[merge_sha] = [iid]
    work = world.checkout(config)
    env = {
        **world.env,
        **gitlab.env(),
        "CI_PIPELINE_SOURCE": "push",
        "CI_COMMIT_SHA": merge_sha,
        "CI_COMMIT_BRANCH": "main",
        "CI_DEFAULT_BRANCH": "main",
        "ENCORD_SSH_KEY_FILE": world.key_file("write", "write-key"),  # the protected, environment-scoped one
    }
    return run_gitlab_job("reconciler-apply", work, env), work


def plan_notes(gitlab: FakeGitLab, iid: int) -> list[str]:
    return [n["body"] for n in gitlab.notes.get(iid, []) if n["body"].startswith("<!-- reconciler-plan -->")]


def test_gitlab_merge_request_plan_note_merge_apply(gitlab: FakeGitLab, tmp_path: Path) -> None:
    world = World(tmp_path, "gitlab")
    h1, h2, h3, h4 = ("a1" * 20, "a2" * 20, "a3" * 20, "a4" * 20)
    readonly = str(world.keys / "readonly")

    validate, _ = gitlab_mr(world, gitlab, 7, h1, "reconciler-validate", QUICKSTART)
    assert validate.ok, validate.stderr
    plan, work = gitlab_mr(world, gitlab, 7, h1, "reconciler-plan", QUICKSTART)
    assert plan.ok, plan.stderr
    assert plan.artifacts == ["plan.json", "plan.md"]
    assert json.loads((work / "plan.json").read_text())["summary"]["create"] == 19
    [note] = plan_notes(gitlab, 7)
    assert f"`{h1[:12]}`" in note and "19 to create" in note
    validate_call, plan_call = world.calls()
    assert (
        validate_call["args"] == ["validate", "encord"] and "ENCORD_SSH_KEY_FILE" not in validate_call["env"]
    )
    assert plan_call["args"] == [
        "plan",
        "encord",
        "--out",
        "plan.json",
        "--format",
        "markdown",
        "--detailed-exitcode",
    ]
    assert plan_call["env"]["ENCORD_SSH_KEY_FILE"] == readonly

    plan, _ = gitlab_mr(world, gitlab, 7, h2, "reconciler-plan", edited(day="Daylight, 6am-6pm"))
    assert plan.ok, plan.stderr
    [note] = plan_notes(gitlab, 7)
    assert f"`{h2[:12]}`" in note and "Daylight, 6am-6pm" in note
    assert [w.method for w in gitlab.writes()] == ["POST", "PUT"]
    world.calls()

    apply, work = gitlab_merge(world, gitlab, 7, "e1" * 20, edited(day="Daylight, 6am-6pm"))
    assert apply.ok, apply.stderr
    assert "Apply complete: 19 applied, 0 failed" in apply.stdout
    assert apply.artifacts == ["report.json"]
    [apply_call] = world.calls()
    assert apply_call["args"] == ["apply", "plan.json", "--auto-approve", "--report", "report.json"]
    assert apply_call["env"]["ENCORD_SSH_KEY_FILE"] == str(world.keys / "write")
    assert world.plan_exit(edited(day="Daylight, 6am-6pm")) == 0

    plan, _ = gitlab_mr(world, gitlab, 8, h3, "reconciler-plan", edited(day="Daylight, 6am-6pm", night=False))
    assert plan.ok and "apply needs --allow-destroy" in plan_notes(gitlab, 8)[0]
    refused, _ = gitlab_merge(world, gitlab, 8, "e2" * 20, edited(day="Daylight, 6am-6pm", night=False))
    assert refused.returncode == 1 and "need --allow-destroy" in refused.stderr
    rerun, _ = gitlab_merge(
        world, gitlab, 8, "e2" * 20, edited(day="Daylight, 6am-6pm", night=False), ("allow-destroy",)
    )
    assert rerun.ok, rerun.stderr
    assert "Apply complete: 2 applied" in rerun.stdout
    assert world.calls()[-1]["args"] == [
        "apply",
        "plan.json",
        "--auto-approve",
        "--allow-destroy",
        "--report",
        "report.json",
    ]

    plan, _ = gitlab_mr(world, gitlab, 9, h4, "reconciler-plan", edited(day="Daylight, 6am-6pm", night=False))
    assert plan.ok and plan.artifacts == ["plan.json", "plan.md"]
    assert "No changes" in plan_notes(gitlab, 9)[0]


def test_gitlab_failed_plan_fails_the_job_and_keeps_nothing(gitlab: FakeGitLab, tmp_path: Path) -> None:
    world = World(tmp_path, "gitlab")
    plan, _ = gitlab_mr(
        world,
        gitlab,
        7,
        "a1" * 20,
        "reconciler-plan",
        QUICKSTART.replace("  - name: driving", "  - nam: driving"),
    )
    assert plan.returncode == 1 and "reconciler plan failed (exit 1)" in plan.stdout
    assert plan.artifacts == []
    [note] = plan_notes(gitlab, 7)
    assert "The plan failed (exit 1)" in note

    # ...and merging anyway applies nothing: the latest pipeline has no successful plan job.
    apply, _ = gitlab_merge(world, gitlab, 7, "e1" * 20, QUICKSTART)
    assert apply.returncode == 1 and "ended failed for reconciler-plan" in apply.stderr
    assert [c["args"][0] for c in world.calls()] == ["plan"]


@pytest.mark.parametrize("status", [404, 500])
def test_gitlab_apply_fails_loudly_when_the_plan_cannot_be_fetched(
    gitlab: FakeGitLab, tmp_path: Path, status: int
) -> None:
    world = World(tmp_path, "gitlab")
    gitlab.mrs[7] = {"iid": 7, "sha": "a1" * 20, "state": "opened", "target_branch": "main", "labels": []}
    job = gitlab.add_plan_pipeline(7, b'{"format_version": 2}')["job"]
    gitlab.faults[("GET", rf".*/jobs/{job}/artifacts/plan\.json")] = status
    apply, work = gitlab_merge(world, gitlab, 7, "e1" * 20, QUICKSTART)
    assert apply.returncode == 1
    assert (
        f"error: could not download plan.json of job #{job}" in apply.stderr
        and f"HTTP {status}" in apply.stderr
    )
    assert world.calls() == [] and not (work / "plan.json").exists()  # reconciler apply never ran
