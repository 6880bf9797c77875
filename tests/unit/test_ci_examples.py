"""The CI examples: linted (actionlint, the vendored GitHub/GitLab schemas), calling reconciler only with
commands and flags it has, and holding to what a platform team expects of them: pinned actions, scoped
secrets, least privilege, no credential for forks or merge requests beyond a read-only one, queued
applies. tests/ci/ runs their jobs and scripts against fake CI APIs."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / "examples" / "ci" / "github-actions.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"
EXAMPLES = [GITHUB, GITLAB]
BIN = Path(sys.executable).parent  # actionlint and check-jsonschema: test extras, installed in the venv
INSTALL = re.compile(r'^"?reconciler-encord @ git\+https://\S+@v\d+\.\d+\.\d+"?$')


def reconciler_calls(text: str) -> list[list[str]]:
    calls = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip().removeprefix("- ").removeprefix("run: ")
        for part in re.split(r";|&&|\|\|", line):
            part = part.strip().removeprefix("set +e").strip()
            if part.startswith("reconciler "):
                words = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "", part).split(">")[0])
                # Shell variables stand for values; flags built from them are checked separately
                calls.append([w for w in words[1:] if not w.startswith("$") or w == "$CONFIG"])
    return calls


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_ci_examples_use_only_real_commands_and_flags(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    yaml.safe_load(text)
    calls = reconciler_calls(text)
    assert [c[0] for c in calls] == ["validate", "plan", "apply"]
    parser = build_parser()
    for call in calls:
        parser.parse_args([w.replace("$CONFIG", "encord") for w in call])
    plan, apply = calls[1], calls[2]
    assert plan == ["plan", "$CONFIG", "--out", "plan.json", "--format", "markdown", "--detailed-exitcode"]
    assert apply == ["apply", "plan.json", "--auto-approve", "--report", "report.json"]
    assert "--allow-destroy" in text  # applied only when a label says so


def test_the_pre_commit_hook_runs_validate() -> None:
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["entry"] == "reconciler validate" and hook["language"] == "python"


# --- linters ----------------------------------------------------------------------------------------------


def lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_actionlint_finds_nothing_in_the_github_workflow() -> None:
    done = lint(str(BIN / "actionlint"), "-no-color", str(GITHUB.relative_to(ROOT)))
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_actionlint_would_catch_a_mistake() -> None:
    """The linter really reads the file: a broken copy of it fails."""
    broken = GITHUB.read_text(encoding="utf-8").replace("queue: max", "queue: forever")
    done = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", "-"], input=broken, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and 'invalid value "forever" for "queue"' in done.stdout


@pytest.mark.parametrize(
    ("path", "schema"),
    [(GITHUB, "vendor.github-workflows"), (GITLAB, "vendor.gitlab-ci")],
    ids=["github", "gitlab"],
)
def test_the_examples_match_their_ci_schema(path: Path, schema: str) -> None:
    done = lint(str(BIN / "check-jsonschema"), "--builtin-schema", schema, str(path.relative_to(ROOT)))
    assert done.returncode == 0, done.stdout + done.stderr


# --- GitHub: what the workflow promises -----------------------------------------------------------------


def github() -> dict[str, Any]:
    data = yaml.safe_load(GITHUB.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_every_action_is_pinned_by_a_full_commit_sha_naming_its_release() -> None:
    lines = [
        line for line in GITHUB.read_text(encoding="utf-8").splitlines() if re.match(r"\s*(- )?uses:", line)
    ]
    assert len(lines) == 10
    for line in lines:
        assert re.fullmatch(r"\s*(- )?uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), line
    pins = {re.search(r"uses: (\S+)@(\w+) # (\S+)", line).groups() for line in lines}  # type: ignore[union-attr]
    # One release per action, whichever job uses it.
    assert len({action for action, _, _ in pins}) == len(pins) == 4


def test_secrets_are_scoped_to_the_steps_that_need_them() -> None:
    workflow = github()
    assert "secrets." not in yaml.safe_dump(workflow.get("env"))
    assert workflow["permissions"] == {}
    used: dict[str, set[str]] = {}
    for job_id, job in workflow["jobs"].items():
        assert "secrets." not in yaml.safe_dump(job.get("env")), job_id
        assert job["permissions"], job_id  # every job says what it needs
        for step in job["steps"]:
            for name in re.findall(r"secrets\.(\w+)", yaml.safe_dump(step)):
                used.setdefault(job_id, set()).add(f"{step.get('id')}:{name}")
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    assert used == {
        "plan": {"gcp:GCP_CREDENTIALS_READONLY", "plan:ENCORD_SSH_KEY_READONLY"},
        "apply": {"gcp:GCP_CREDENTIALS", "apply:ENCORD_SSH_KEY"},
    }
    # The write credentials: the apply job only, which is on main and in the protected environment.
    assert workflow["jobs"]["apply"]["environment"] == "encord-production"
    assert workflow["jobs"]["apply"]["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"


def test_forks_get_validate_only_and_first() -> None:
    jobs = github()["jobs"]
    assert jobs["validate"]["permissions"] == {"contents": "read"}
    assert "secrets." not in yaml.safe_dump(jobs["validate"])
    assert jobs["plan"]["needs"] == "validate"
    assert jobs["plan"]["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert jobs["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert jobs["apply"]["permissions"] == {"contents": "read", "pull-requests": "read", "actions": "read"}


def test_plans_supersede_each_other_and_applies_queue() -> None:
    jobs = github()["jobs"]
    assert "concurrency" not in github()
    assert jobs["plan"]["concurrency"] == {
        "group": "reconciler-plan-${{ github.event.pull_request.number }}",
        "cancel-in-progress": True,
    }
    # `queue: max`: GitHub keeps up to 100 waiting runs in order instead of cancelling all but the newest.
    assert jobs["apply"]["concurrency"] == {
        "group": "reconciler-apply",
        "cancel-in-progress": False,
        "queue": "max",
    }


def test_one_place_says_what_to_install() -> None:
    for path, variables in (
        (GITHUB, github()["env"]),
        (GITLAB, yaml.safe_load(GITLAB.read_text())["variables"]),
    ):
        assert INSTALL.match(variables["RECONCILER_PACKAGE"]), path
        text = path.read_text(encoding="utf-8")
        assert text.count("git+https://github.com/YOUR-ORG") == 1, path
        assert all("$RECONCILER_PACKAGE" in line for line in text.splitlines() if "pip install" in line), path


# --- GitLab: what the pipeline promises -----------------------------------------------------------------


def test_gitlab_credentials() -> None:
    ci = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    template = ci[".reconciler"]
    assert template["image"].startswith("python:") and "apt-get install" in template["before_script"][0]
    assert " git" in template["before_script"][0]  # the slim image has no git; pip needs it for git+https
    validate, plan, apply = ci["reconciler-validate"], ci["reconciler-plan"], ci["reconciler-apply"]
    # Merge requests: validate with nothing, plan with the read-only credential only (when there is one).
    assert not re.search(r"ENCORD|GOOGLE|TOKEN", " ".join(validate["script"]))
    assert (
        plan["rules"][0]["if"]
        == '$CI_PIPELINE_SOURCE == "merge_request_event" && $READONLY_ENCORD_SSH_KEY_FILE'
    )
    assert plan["script"][:2] == [
        "unset ENCORD_SSH_KEY ENCORD_BEARER_TOKEN GOOGLE_APPLICATION_CREDENTIALS",
        'export ENCORD_SSH_KEY_FILE="$READONLY_ENCORD_SSH_KEY_FILE"',
    ]
    assert plan["needs"] == ["reconciler-validate"] and plan["interruptible"] is True
    # The write credentials are the environment's; applies queue in the resource group.
    assert [job.get("environment") for job in (validate, plan)] == [None, None]
    assert (
        apply["environment"] == {"name": "encord-production"}
        and apply["resource_group"] == "encord-workspace"
    )
    assert "interruptible" not in apply
    scripts = [line for job in (validate, plan, apply) for line in template["before_script"] + job["script"]]
    assert not [
        line for line in scripts if re.search(r"\beval\b", line)
    ]  # a failed download must fail the job
