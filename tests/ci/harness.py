"""Run the shell of the CI examples' jobs, as shipped, on this machine: bash, the sandbox, the fake APIs.

GitHub: a job's `run:` steps, in order, with GitHub's shell (`defaults.run.shell: bash` is
`bash --noprofile --norc -eo pipefail`), each with the workflow's, the job's and the step's `env` (the
`${{ ... }}` in them looked up in a context the test gives), GITHUB_OUTPUT read back into
`steps.<id>.outputs`, and a step after a failed one skipped unless its `if:` is `always()`.
GitLab: a job's `script:` lines (after `extends:`), one bash with `set -eo pipefail` as the runner's, the
top-level and job `variables` plus the CI variables the test gives.

What cannot run offline is skipped, and only that: the `uses:` steps (actions/checkout, setup-python,
google-github-actions/auth, upload-artifact: GitHub's runner and Google's STS; the tests check their
pins and inputs and stand in for the artifact store), the install step (`id: install`; GitLab's
`before_script`: apt-get and `pip install "$RECONCILER_PACKAGE"` from git), for which `reconciler` from
this repository's venv is on PATH.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
GITHUB_WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
GITLAB_CI = ROOT / "examples" / "ci" / "gitlab-ci.yml"
VENV_BIN = Path(sys.executable).parent
EXPRESSION = re.compile(r"\$\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


def base_env(home: Path, sandbox_state: Path) -> dict[str, str]:
    """A clean environment: no developer's ENCORD_* or GOOGLE_* leaks in; the venv's reconciler first."""
    return {
        "PATH": f"{VENV_BIN}{os.pathsep}/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "RECONCILER_SANDBOX_STATE": str(sandbox_state),
    }


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@dataclass
class StepRun:
    name: str
    kind: str  # "run", "uses" (stood in for) or "skipped" (after a failure)
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    with_: dict[str, str] = field(default_factory=dict)  # a `uses:` step's inputs, expressions resolved


@dataclass
class JobRun:
    ok: bool
    steps: list[StepRun]

    def step(self, name: str) -> StepRun:
        [found] = [s for s in self.steps if s.name == name]
        return found

    def uses(self, action: str) -> list[StepRun]:
        """The `uses:` steps of `action` (owner/name) that a runner would have run."""
        return [s for s in self.steps if s.kind == "uses" and s.name.startswith(f"{action}@")]

    @property
    def log(self) -> str:
        return "\n".join(f"--- {s.name} ({s.kind}, {s.returncode})\n{s.stdout}{s.stderr}" for s in self.steps)


def resolve(value: Any, context: dict[str, Any]) -> str:
    """`${{ a.b.c }}` looked up in `context` (a missing secret is "" as on GitHub; anything else must exist)."""

    def lookup(match: re.Match[str]) -> str:
        node: Any = context
        for part in match[1].split("."):
            if match[1].startswith("secrets.") and part not in node:
                return ""
            node = node[part]
        return str(node)

    return EXPRESSION.sub(lookup, str(value))


def run_github_job(
    job_id: str,
    workdir: Path,
    env: dict[str, str],
    context: dict[str, Any],
    workflow: dict[str, Any] | None = None,
) -> JobRun:
    workflow = workflow or load(GITHUB_WORKFLOW)
    assert workflow["defaults"]["run"]["shell"] == "bash"
    job = workflow["jobs"][job_id]
    context = {**context, "steps": {}}
    steps: list[StepRun] = []
    failed = False
    for index, step in enumerate(job["steps"]):
        name = step.get("id") or step.get("uses") or f"step {index}"
        condition = step.get("if")
        assert condition in (None, "always()"), (
            f"{name}: the harness runs only unconditional or always() steps"
        )
        if failed and condition != "always()":
            steps.append(StepRun(name, "skipped"))
            continue
        if "uses" in step:
            inputs = {k: resolve(v, context) for k, v in (step.get("with") or {}).items()}
            steps.append(StepRun(step["uses"].split()[0], "uses", with_=inputs))
            continue
        if step.get("id") == "install":  # pip install from git: the venv's reconciler is on PATH instead
            assert (
                step["run"].strip() == 'pip install --quiet --disable-pip-version-check "$RECONCILER_PACKAGE"'
            )
            steps.append(StepRun(name, "skipped"))
            continue
        output = workdir.parent / f".github_output_{job_id}_{index}"
        output.write_text("", encoding="utf-8")
        step_env = {**env, "GITHUB_OUTPUT": str(output)}
        for scope in (workflow.get("env"), job.get("env"), step.get("env")):
            step_env.update({k: resolve(v, context) for k, v in (scope or {}).items()})
        script = workdir.parent / f".github_step_{job_id}_{index}.sh"
        script.write_text(step["run"], encoding="utf-8")
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workdir,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        outputs = dict(
            line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines() if "=" in line
        )
        context["steps"][name] = {"outputs": outputs}
        steps.append(StepRun(name, "run", done.returncode, done.stdout, done.stderr, outputs))
        failed = failed or done.returncode != 0
    return JobRun(not failed, steps)


@dataclass
class ScriptRun:
    returncode: int
    stdout: str
    stderr: str
    artifacts: list[str]  # the artifact paths GitLab would keep from this run

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def gitlab_job(name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    config = config or load(GITLAB_CI)
    job = dict(config[name])
    template = config[job.pop("extends")] if "extends" in job else {}
    return {**template, **job}


GITLAB_INSTALL = [
    "apt-get update -qq && apt-get install -y -qq --no-install-recommends git > /dev/null",
    'pip install --quiet --disable-pip-version-check "$RECONCILER_PACKAGE"',
]


def run_gitlab_job(name: str, workdir: Path, env: dict[str, str]) -> ScriptRun:
    config = load(GITLAB_CI)
    job = gitlab_job(name, config)
    assert (
        job["before_script"] == GITLAB_INSTALL
    )  # skipped: apt-get and pip install from git need the network
    variables = {**(config.get("variables") or {}), **(job.get("variables") or {})}
    script = "set -eo pipefail\n" + "\n".join(job["script"]) + "\n"
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", script],
        cwd=workdir,
        env={**{k: str(v) for k, v in variables.items()}, **env},  # project variables win, as on GitLab
        capture_output=True,
        text=True,
        timeout=120,
    )
    artifacts = job.get("artifacts") or {}
    kept = done.returncode == 0 or artifacts.get("when") == "always"
    paths = [p for p in artifacts.get("paths", []) if kept and (workdir / p).exists()]
    return ScriptRun(done.returncode, done.stdout, done.stderr, paths)
