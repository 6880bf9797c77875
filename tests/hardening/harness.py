"""Run the `reconciler` CLI in a subprocess with a hard memory cap, measuring its wall time and peak RSS.

A case's files are written into a fresh directory, the CLI runs there (so messages name files as the
case wrote them, relative), with a clean environment (no ENCORD_* variables, NO_COLOR, a HOME of its
own) and `RLIMIT_AS` set in the child as a safety net. The child is reaped with `os.wait4`, whose
rusage gives the child's own peak RSS (`ru_maxrss`), by the small spawn.py process that forks it.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECONCILER = str(Path(sys.executable).with_name("reconciler"))

ADDRESS_SPACE_CAP = 1 << 30  # 1 GiB of address space: the safety net, far above the asserted bound
RSS_LIMIT_BYTES = 100_000_000  # the bound on a bad input: 100 MB of RSS in all
TIME_ALLOWANCE = 1.0  # seconds a bad input may take beyond the CLI's own start-up
KILL_AFTER = 30.0  # a child still running then is killed (and the case fails on time)


# -- what a case writes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Symlink:
    target: str


@dataclass(frozen=True)
class Fifo:
    pass


@dataclass(frozen=True)
class Directory:
    pass


@dataclass(frozen=True)
class Mode:
    content: str | bytes
    mode: int


@dataclass(frozen=True)
class Sized:
    """A file of `size` bytes: `head`, then `fill` repeated (written in chunks, never held whole)."""

    head: bytes
    size: int
    fill: bytes = b"#"


FileSpec = str | bytes | Symlink | Fifo | Directory | Mode | Sized


def materialize(root: Path, files: Mapping[str, FileSpec]) -> None:
    """Write `files` (relative path -> what it is) under `root`, in order."""
    for name, spec in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(spec, str):
            path.write_text(spec, encoding="utf-8")
        elif isinstance(spec, bytes):
            path.write_bytes(spec)
        elif isinstance(spec, Symlink):
            path.symlink_to(spec.target)
        elif isinstance(spec, Fifo):
            os.mkfifo(path)
        elif isinstance(spec, Directory):
            path.mkdir(parents=True, exist_ok=True)
        elif isinstance(spec, Mode):
            if isinstance(spec.content, bytes):
                path.write_bytes(spec.content)
            else:
                path.write_text(spec.content, encoding="utf-8")
            path.chmod(spec.mode)
        else:
            with path.open("wb") as handle:
                handle.write(spec.head)
                left = spec.size - len(spec.head)
                chunk = spec.fill * (1024 * 1024 // len(spec.fill))
                while left > 0:
                    part = chunk[:left]
                    handle.write(part)
                    left -= len(part)


def cleanup(root: Path) -> None:
    """Remove a case directory, whatever modes its files were left with."""
    for dirpath, dirnames, _ in os.walk(root):
        for name in dirnames:
            path = Path(dirpath, name)
            if not path.is_symlink():
                path.chmod(stat.S_IRWXU)
    shutil.rmtree(root, ignore_errors=True)


# -- running ----------------------------------------------------------------------------------------


@dataclass
class Run:
    argv: list[str]
    code: int
    output: str  # stdout then stderr
    seconds: float
    peak_rss: int  # bytes
    killed: bool = False
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"$ reconciler {' '.join(self.argv)}\n"
            f"exit {self.code}, {self.seconds:.2f} s, peak RSS {self.peak_rss / 2**20:.1f} MiB"
            f"{', killed' if self.killed else ''}\n{self.output}"
        )


def clean_env(home: Path, extra: Mapping[str, str]) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ENCORD_", "RECONCILER_", "GOOGLE_", "STORAGE_EMULATOR", "PYTHON"))
        and key not in {"HOME", "NO_COLOR", "COLUMNS", "TERM"}
    }
    env.update({"HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb"})
    env.update(extra)
    return env


SPAWN = str(Path(__file__).with_name("spawn.py"))


def run_cli(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> Run:
    """Run `reconciler ARGV` in `cwd` under the address-space cap; its own wall time and peak RSS are
    measured by spawn.py, which forks it (see there why pytest does not fork it directly)."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as tmp,
    ):
        result = Path(tmp, "result")
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", SPAWN, str(result), str(ADDRESS_SPACE_CAP), RECONCILER, *argv],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # a process group: a kill reaches the command too
        )
        try:
            proc.wait(timeout=KILL_AFTER)
            killed = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            killed = True
        out.seek(0)
        err.seek(0)
        text = out.read().decode("utf-8", "replace") + err.read().decode("utf-8", "replace")
        measured = result.read_text(encoding="ascii").split() if result.exists() else ["inf", "0"]
    seconds, peak = float(measured[0]), int(measured[1])
    return Run(list(argv), proc.returncode, text, seconds, peak, killed)


@dataclass(frozen=True)
class Baseline:
    """What the CLI costs on a trivial valid config: start-up time (per command) and peak RSS."""

    seconds: dict[str, float]
    peak_rss: dict[str, int]

    def time_bound(self, command: str) -> float:
        return self.seconds.get(command, max(self.seconds.values())) + TIME_ALLOWANCE


def measure_baseline(work: Path) -> Baseline:
    """The slowest of three runs of `validate` and of `plan` on a one-folder sandbox config."""
    seconds: dict[str, float] = {}
    peak: dict[str, int] = {}
    for command in ("validate", "plan"):
        case_dir = work / f"baseline-{command}"
        case_dir.mkdir()
        (case_dir / "r.yaml").write_text("folders:\n  - name: raw\n", encoding="utf-8")
        env = clean_env(case_dir, {})
        runs = [run_cli([command, "r.yaml"], case_dir, env) for _ in range(3)]
        for run in runs:
            assert run.code == 0, run.describe()
        seconds[command] = max(run.seconds for run in runs)
        peak[command] = max(run.peak_rss for run in runs)
    return Baseline(seconds, peak)
