"""Run the fidelity suites against other releases of the official `encord` SDK, each in its own venv.

    python3 tests/fidelity/sweep.py                                # every release from 0.1.190 to the pin
    python3 tests/fidelity/sweep.py --versions 0.1.200,0.1.205
    python3 tests/fidelity/sweep.py --from 0.1.200 --to 0.1.205 --junit-dir /tmp/fidelity
    python3 tests/fidelity/sweep.py --run 0.1.200 [-- -k upload]     # one release, pytest's own output
                                                                   # (what `make fidelity ENCORD_VERSION=X` runs)

Each release gets `.venv/fidelity/<version>/` (ignored by git; the project's own `.venv` is never
touched). It holds the project installed editable, the `test` extras without their `encord` pin, and
`encord==<version>`, resolved together. A venv whose stamp still matches is reused; pip's cache is shared.

The sweep prints one row per release (installed?, passed/failed/errors/skipped, duration, the first
failing tests) and then the first line of each failure. Exit status: 0 when every release could be tried
(tests failing, or a release that does not install, are results); 1 on a tooling error (a venv or the
project's own dependencies could not be installed, pytest crashed or timed out, no report was written).
Without --keep-going the sweep stops at the first tooling error. `--run` exits with pytest's status.

Standard library only: run it with any Python >= 3.11.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SUITES = ("tests/fidelity", "tests/client/test_sdk_parity.py")
DEFAULT_FROM = "0.1.190"
DEFAULT_VENV_ROOT = REPO_ROOT / ".venv" / "fidelity"
STAMP_NAME = ".fidelity-stamp.json"
# Keep the pytest runs from rewriting the shared .pytest_cache (another release's --lf list is no use).
PYTEST_FLAGS = ("-q", "-p", "no:cacheprovider")
PIP_ENV = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PIP_NO_WARN_SCRIPT_LOCATION": "1"}


class ToolingError(Exception):
    """Something other than the SDK release under test went wrong: the sweep cannot vouch for a result."""


@dataclass
class Outcome:
    version: str
    installed: bool = False
    status: str = "pending"  # ok | failed | no-install | tool-error
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (test, first line of its message)
    note: str = ""
    log: Path | None = None
    exit_code: int | None = None  # pytest's


# -- versions --------------------------------------------------------------------------------------------


def release_key(version: str) -> tuple[int, ...] | None:
    """(0, 1, 190) for "0.1.190"; None for anything that is not a plain final release."""
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        return None
    return tuple(int(part) for part in version.split("."))


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise ToolingError(f"cannot read the requirement {requirement!r} in pyproject.toml")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


@dataclass(frozen=True)
class Project:
    dependencies: tuple[str, ...]
    test_extras: tuple[str, ...]  # without encord
    pinned_encord: str


def read_project(pyproject: Path = REPO_ROOT / "pyproject.toml") -> Project:
    try:
        data = tomllib.loads(pyproject.read_text())
        dependencies = tuple(data["project"].get("dependencies", []))
        test = list(data["project"]["optional-dependencies"]["test"])
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise ToolingError(f"cannot read the project's dependencies from {pyproject}: {exc}") from exc
    pins = [req for req in test if requirement_name(req) == "encord"]
    match = re.fullmatch(r"\s*encord\s*==\s*([0-9][0-9A-Za-z.]*)\s*", pins[0]) if len(pins) == 1 else None
    if not match:
        raise ToolingError(f"expected one `encord==X` pin in the test extras of {pyproject}, found {pins}")
    others = tuple(req for req in test if requirement_name(req) != "encord")
    return Project(dependencies, others, match.group(1))


def available_versions(python: str) -> list[str]:
    """The releases of `encord` that pip can see, newest first."""
    env = {**os.environ, **PIP_ENV}
    listing = subprocess.run(
        [python, "-m", "pip", "index", "versions", "encord"], capture_output=True, text=True, env=env
    )
    match = re.search(r"^Available versions:\s*(.+)$", listing.stdout, re.MULTILINE)
    if not match:
        # `pip index` is marked experimental; a failing `pip download` lists the versions too.
        probe = subprocess.run(
            [python, "-m", "pip", "download", "--no-deps", "-d", os.devnull, "encord==0.0.0.dev0"],
            capture_output=True,
            text=True,
            env=env,
        )
        match = re.search(r"\(from versions:\s*([^)]*)\)", probe.stdout + probe.stderr)
        if not match:
            raise ToolingError(
                "pip lists no encord releases:\n" + tail(listing.stdout + listing.stderr + probe.stderr)
            )
    versions = [v.strip() for v in match.group(1).split(",") if v.strip()]
    return sorted((v for v in versions if release_key(v)), key=lambda v: release_key(v) or (), reverse=True)


def pick_versions(args: argparse.Namespace, project: Project) -> list[str]:
    low = release_key(args.from_version) if args.from_version else None
    high = release_key(args.to_version) if args.to_version else None
    for flag, value, key in (("--from", args.from_version, low), ("--to", args.to_version, high)):
        if value and key is None:
            raise SystemExit(f"sweep: {flag} {value!r} is not a release number like 0.1.200")
    if args.versions:
        chosen = [v.strip() for v in args.versions.split(",") if v.strip()]
    else:
        low = low or release_key(DEFAULT_FROM)
        high = high or release_key(project.pinned_encord)
        chosen = list(reversed(available_versions(args.python)))
    in_range = []
    for version in chosen:
        key = release_key(version)
        if key is not None and ((low and key < low) or (high and key > high)):
            continue
        in_range.append(version)
    return in_range


# -- one release -----------------------------------------------------------------------------------------


def tail(text: str, lines: int = 15, width: int = 300) -> str:
    """The last `lines` lines, each cut to `width` characters (pip's "from versions: ..." line is long)."""
    kept = text.strip().splitlines()[-lines:]
    return "\n".join(line if len(line) <= width else line[: width - 3] + "..." for line in kept)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pip(python: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *arguments],
        capture_output=True,
        text=True,
        env={**os.environ, **PIP_ENV},
        cwd=REPO_ROOT,
    )


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def prepare(version: str, project: Project, args: argparse.Namespace) -> tuple[Path, str]:
    """Build (or reuse) the venv for `version`; returns its python and "" or why encord did not install.

    Raises ToolingError when the failure is not the release's own.
    """
    root = Path(args.venv_root).resolve()
    venv = root / version
    if not re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version) or root == (REPO_ROOT / ".venv").resolve():
        raise ToolingError(f"refusing to build a venv at {venv}")
    python = venv_python(venv)
    stamp = {
        "encord": version,
        "python": sys.version.split()[0],
        "python_executable": args.python,
        "requirements": hashlib.sha256(
            json.dumps([project.dependencies, project.test_extras]).encode()
        ).hexdigest(),
    }
    stamp_path = venv / STAMP_NAME
    if not args.rebuild and python.exists() and stamp_path.exists():
        try:
            if json.loads(stamp_path.read_text()) == stamp:
                return python, ""
        except ValueError:
            pass
    if venv.exists():
        if any(venv.iterdir()) and not (venv / "pyvenv.cfg").exists():
            raise ToolingError(f"{venv} exists and is not a venv: not removing it")
        shutil.rmtree(venv)
    say(f"fidelity: building {venv.relative_to(REPO_ROOT) if venv.is_relative_to(REPO_ROOT) else venv}")
    made = subprocess.run([args.python, "-m", "venv", str(venv)], capture_output=True, text=True)
    if made.returncode != 0:
        raise ToolingError(f"`{args.python} -m venv {venv}` failed:\n{tail(made.stderr + made.stdout)}")
    # The project itself first: if this fails, no release of encord is to blame.
    own = pip(python, "-e", str(REPO_ROOT), *project.test_extras)
    if own.returncode != 0:
        raise ToolingError(f"installing the project into {venv} failed:\n{tail(own.stderr + own.stdout)}")
    # Then the release, resolved together with everything the project asks for (the pin left out).
    sdk = pip(python, f"encord=={version}", *project.dependencies, *project.test_extras)
    if sdk.returncode != 0:
        shutil.rmtree(venv)  # no stamp: it would be rebuilt anyway
        return python, tail(sdk.stderr + sdk.stdout, 6)
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('encord'))"],
        capture_output=True,
        text=True,
    )
    if probe.stdout.strip() != version:
        return python, f"asked for encord=={version}, got {probe.stdout.strip() or probe.stderr.strip()!r}"
    stamp_path.write_text(json.dumps(stamp, indent=2) + "\n")
    return python, ""


def run_pytest(
    python: Path, junit: Path, extra: list[str], timeout: float, log: Path | None
) -> tuple[int | None, float]:
    """pytest over the fidelity suites; output to `log` (or the terminal). (exit status or None on timeout, s)."""
    command = [str(python), "-m", "pytest", *PYTEST_FLAGS, *SUITES, f"--junitxml={junit}", *extra]
    started = time.monotonic()
    out = log.open("w") if log else None
    try:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )
        try:
            code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        except KeyboardInterrupt:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait()
            raise
        if code is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    finally:
        if out:
            out.close()
    return code, time.monotonic() - started


def read_junit(junit: Path, outcome: Outcome) -> None:
    try:
        tree = ET.parse(junit)
    except (OSError, ET.ParseError) as exc:
        raise ToolingError(f"pytest wrote no readable report at {junit}: {exc}") from exc
    for case in tree.iter("testcase"):
        classname = case.get("classname", "")
        name = case.get("name", "")
        test = f"{classname.removeprefix('tests.')}::{name}" if classname else name
        children = [child for child in case if child.tag in ("failure", "error", "skipped")]
        if not children:
            outcome.passed += 1
        for child in children:
            if child.tag == "skipped":
                outcome.skipped += 1
                continue
            if child.tag == "failure":
                outcome.failed += 1
            else:
                outcome.errors += 1
            message = (child.get("message") or child.text or "").strip().splitlines()
            outcome.failures.append((test, message[0] if message else child.tag))


def try_version(version: str, project: Project, args: argparse.Namespace) -> Outcome:
    outcome = Outcome(version)
    started = time.monotonic()
    try:
        python, not_installed = prepare(version, project, args)
        if not_installed:
            outcome.status, outcome.note = "no-install", not_installed.splitlines()[-1]
            say(f"fidelity: encord=={version} did not install:\n{not_installed}")
            return outcome
        outcome.installed = True
        logs = Path(args.junit_dir).resolve() if args.junit_dir else python.parent.parent
        logs.mkdir(parents=True, exist_ok=True)
        junit = logs / f"encord-{version}.xml"
        junit.unlink(missing_ok=True)
        outcome.log = None if args.run else logs / f"encord-{version}.log"
        code, _ = run_pytest(python, junit, args.pytest_args, args.timeout * 60, outcome.log)
        if code is None:
            raise ToolingError(f"pytest ran longer than {args.timeout} min and was stopped")
        if code in (3, 4):  # internal error, usage error
            raise ToolingError(f"pytest exited {code}" + (f"; see {outcome.log}" if outcome.log else ""))
        read_junit(junit, outcome)
        outcome.status = "ok" if code == 0 and not (outcome.failed or outcome.errors) else "failed"
        if code == 2 and not outcome.failures:
            outcome.note = "pytest was interrupted (exit 2)"
        outcome.exit_code = code
    except (ToolingError, OSError) as exc:
        outcome.status, outcome.note = "tool-error", str(exc).splitlines()[0]
        say(f"fidelity: {version}: tooling error: {exc}")
    finally:
        outcome.seconds = time.monotonic() - started
    return outcome


# -- report ----------------------------------------------------------------------------------------------


def table(outcomes: list[Outcome], shown: int) -> str:
    header = (
        "encord",
        "installed",
        "status",
        "passed",
        "failed",
        "errors",
        "skipped",
        "time",
        "failing tests",
    )
    rows = []
    for o in outcomes:
        names = list(dict.fromkeys(test for test, _ in o.failures))
        failing = ", ".join(names[:shown]) + (f" (+{len(names) - shown} more)" if len(names) > shown else "")
        rows.append(
            (
                o.version,
                "yes" if o.installed else "NO",
                o.status,
                *(str(n) if o.installed else "-" for n in (o.passed, o.failed, o.errors, o.skipped)),
                f"{o.seconds:.0f}s",
                failing or o.note,
            )
        )
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    lines = []
    for row in (header, (*("-" * w for w in widths), "-" * 13), *rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return "\n".join(line.rstrip() for line in lines)


def details(outcomes: list[Outcome], shown: int) -> str:
    lines = []
    for o in outcomes:
        if not o.failures:
            continue
        lines.append(f"encord {o.version}" + (f" (log: {o.log})" if o.log else "") + ":")
        for test, message in o.failures[:shown]:
            lines.append(f"  {test}: {message[:200]}")
        if len(o.failures) > shown:
            lines.append(f"  ... {len(o.failures) - shown} more")
    return "\n".join(lines)


# -- entry point -----------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    split = argv.index("--") if "--" in argv else len(argv)
    own, passthrough = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(
        description="Run tests/fidelity and tests/client/test_sdk_parity.py against releases of the encord SDK, "
        "one venv per release. Arguments after `--` go to pytest.",
    )
    parser.add_argument(
        "--versions", help="comma-separated releases to try (default: every release in range)"
    )
    parser.add_argument("--from", dest="from_version", help=f"lowest release (default {DEFAULT_FROM})")
    parser.add_argument(
        "--to", dest="to_version", help="highest release (default: the pin in pyproject.toml)"
    )
    parser.add_argument("--run", metavar="VERSION", help="one release, pytest's output on the terminal")
    parser.add_argument(
        "--keep-going", action="store_true", help="go on past a tooling error (exit 1 at the end)"
    )
    parser.add_argument(
        "--junit-dir", help="write encord-<version>.xml and .log here (default: in each venv)"
    )
    parser.add_argument(
        "--venv-root", default=str(DEFAULT_VENV_ROOT), help="where the venvs go (default %(default)s)"
    )
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter the venvs are made from (default: this one)"
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild venvs even when their stamp matches")
    parser.add_argument(
        "--timeout", type=float, default=30, help="minutes one pytest run may take (default 30)"
    )
    parser.add_argument("--show", type=int, default=3, help="failing tests shown per release (default 3)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the releases that would be tried, and stop"
    )
    args = parser.parse_args(own)
    args.pytest_args = passthrough
    if args.run and (args.versions or args.from_version or args.to_version):
        parser.error("--run takes one release; leave out --versions/--from/--to")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        project = read_project()
        versions = [args.run] if args.run else pick_versions(args, project)
    except (ToolingError, OSError) as exc:
        say(f"sweep: {exc}")
        return 1
    if not versions:
        say("sweep: no encord release in the range")
        return 1
    if args.dry_run:
        print("\n".join(versions))
        return 0

    if args.run:
        outcome = try_version(args.run, project, args)
        if outcome.status in ("no-install", "tool-error"):
            return 1
        return 1 if outcome.exit_code is None else outcome.exit_code

    say(f"sweep: {len(versions)} release(s) of encord (pin {project.pinned_encord}): {', '.join(versions)}")
    outcomes: list[Outcome] = []
    try:
        for index, version in enumerate(versions, 1):
            say(f"sweep: [{index}/{len(versions)}] encord {version}")
            outcome = try_version(version, project, args)
            outcomes.append(outcome)
            counts = f"{outcome.passed} passed, {outcome.failed} failed, {outcome.errors} errors, {outcome.skipped} skipped"
            say(
                f"sweep: [{index}/{len(versions)}] encord {version}: {outcome.status} ({counts}, {outcome.seconds:.0f}s)"
            )
            if outcome.status == "tool-error" and not args.keep_going:
                say("sweep: stopping at a tooling error (use --keep-going to go on)")
                break
    except KeyboardInterrupt:
        say("sweep: interrupted")
        print(table(outcomes, args.show))
        return 130
    print(table(outcomes, args.show))
    more = details(outcomes, args.show)
    if more:
        print("\nFirst failures:\n" + more)
    return 1 if any(o.status == "tool-error" for o in outcomes) or len(outcomes) < len(versions) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
