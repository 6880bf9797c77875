"""Ready to publish (issue 15, point 7): the distribution's name, LICENSE and py.typed in the wheel, the
Docker image's properties (checked statically: no image can be built offline), and the Makefile's rule
that makes a .venv anew when it was made by a Python older than 3.11."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from reconciler import __version__

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
DIST = "reconciler-encord"


# --- the distribution ---------------------------------------------------------------------------------


def test_the_distribution_is_not_called_reconciler_but_installs_it() -> None:
    """`reconciler` on PyPI is another project (a Pandas utility): ours is reconciler-encord, whose import
    package and command are `reconciler`."""
    project = PYPROJECT["project"]
    assert project["name"] == DIST
    assert project["scripts"] == {"reconciler": "reconciler.cli.main:entrypoint"}
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["reconciler"]
    assert (ROOT / "reconciler" / "py.typed").is_file()


def test_the_license_is_apache_2_0_of_the_reconciler_authors() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert re.search(r"Copyright \d{4} the reconciler authors", text)
    assert "[yyyy]" not in text


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel pip builds from a copy of what the Dockerfile copies (the checkout stays clean)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "reconciler", source / "reconciler", ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--wheel-dir",
            str(tmp / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (built,) = (tmp / "dist").glob("*.whl")
    assert built.name == f"reconciler_encord-{__version__}-py3-none-any.whl"
    return zipfile.ZipFile(built)


def test_the_wheel_ships_py_typed_the_license_and_the_command(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    info = f"reconciler_encord-{__version__}.dist-info"
    assert "reconciler/py.typed" in names
    assert "reconciler/cli/main.py" in names
    assert f"{info}/licenses/LICENSE" in names
    assert not [name for name in names if name.startswith("tests/") or "__pycache__" in name]
    metadata = wheel.read(f"{info}/METADATA").decode()
    assert f"Name: {DIST}\n" in metadata
    assert "License-Expression: Apache-2.0\n" in metadata
    assert "reconciler = reconciler.cli.main:entrypoint" in wheel.read(f"{info}/entry_points.txt").decode()


# --- the Docker image, statically ----------------------------------------------------------------------

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
INSTRUCTIONS = [
    line.strip()
    for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]
DOCKERIGNORE = [
    line.strip()
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


def _args(instruction: str) -> dict[str, str]:
    """ARG NAME=value lines, as a mapping."""
    found = {}
    for line in INSTRUCTIONS:
        if line.startswith(f"{instruction} ") and "=" in line:
            name, _, value = line.split(" ", 1)[1].partition("=")
            found[name] = value
    return found


def test_the_base_image_is_an_exact_python_release() -> None:
    images = [line.split()[1] for line in INSTRUCTIONS if line.startswith("FROM ")]
    assert len(images) == 2  # a build stage and the final one
    args = _args("ARG")
    resolved = [args.get(image.strip("${}"), image) if image.startswith("$") else image for image in images]
    for image in resolved:
        assert re.fullmatch(r"python:3\.1[1-9]\.\d+-slim(-[a-z]+)?", image), image
    assert ":latest" not in DOCKERFILE


def test_the_image_runs_as_a_non_root_user_whose_ids_are_build_args() -> None:
    args = _args("ARG")
    assert args["UID"] == "1000" and args["GID"] == "1000"
    users = [line.split()[1] for line in INSTRUCTIONS if line.startswith("USER ")]
    assert users == ["${UID}:${GID}"]
    assert INSTRUCTIONS.index(next(line for line in INSTRUCTIONS if line.startswith("USER "))) > max(
        i for i, line in enumerate(INSTRUCTIONS) if line.startswith("RUN ")
    )  # nothing runs as root after it
    assert re.search(r"useradd .*--uid \"\$\{UID\}\" --gid \"\$\{GID\}\"", " ".join(INSTRUCTIONS))
    assert any(re.fullmatch(r"ENV .*\bHOME=/tmp\b.*", line) for line in INSTRUCTIONS)  # writable by any UID
    assert 'docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/work"' in DOCKERFILE
    assert "WORKDIR /work" in INSTRUCTIONS
    assert INSTRUCTIONS[-2:] == ['ENTRYPOINT ["reconciler"]', 'CMD ["--help"]']


def test_the_image_installs_the_built_wheel_offline() -> None:
    text = " ".join(INSTRUCTIONS)
    assert "pip wheel --wheel-dir /wheels ." in text
    assert f"pip install --no-index --find-links /wheels {DIST}" in text


def _ignored(path: str) -> bool:
    return any(fnmatch.fnmatch(path, pattern.removeprefix("**/")) for pattern in DOCKERIGNORE)


def test_the_build_context_leaves_out_what_the_image_does_not_need() -> None:
    for entry in (".venv", ".git", "**/__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                  "**/.reconciler", "*.egg-info", "build", "dist", "tests"):  # fmt: skip
        assert entry in DOCKERIGNORE, entry
    copied = [word for line in INSTRUCTIONS if line.startswith("COPY ") for word in line.split()[1:-1]]
    assert copied == ["pyproject.toml", "README.md", "LICENSE", "reconciler"]
    for path in copied:
        assert (ROOT / path).exists() and not _ignored(path), path


# --- the Makefile's .venv ------------------------------------------------------------------------------

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="no make")


def _make(directory: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(
        ["make", "--no-print-directory", *argv, f"PYTHON={sys.executable}"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A directory with the Makefile (and the pyproject.toml its install rule depends on)."""
    shutil.copy2(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _old_python(tmp_path: Path) -> tuple[Path, str]:
    """A Python older than 3.11 and its version: a real one when the machine has one (pyenv's shims may
    name one that does not run), else one that says it is 3.9 (to `python -c CODE`, as the Makefile asks)."""
    candidates = [shutil.which(name) for name in ("python3.9", "python3.10")]
    candidates += [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.[91]*/bin/python3"))]
    for candidate in filter(None, candidates):
        try:
            version = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
        except OSError:
            continue
        if version in ("3.9", "3.10"):
            return Path(candidate), version
    fake = tmp_path / "python3.9"
    fake.write_text(
        "#!/bin/sh\n"
        '[ "$1" = -c ] || exit 99\n'
        f'exec {sys.executable} -c \'import sys; sys.version_info = (3, 9, 18, "final", 0); '
        'exec(sys.argv[1])\' "$2"\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    return fake, "3.9"


def _venv_python_version(checkout: Path) -> str:
    return subprocess.run(
        [
            str(checkout / ".venv" / "bin" / "python"),
            "-c",
            "import sys; print(sys.version_info[:2] >= (3, 11))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@needs_make
def test_a_venv_made_by_an_old_python_is_made_anew_saying_why(checkout: Path, tmp_path: Path) -> None:
    bin_dir = checkout / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    old, version = _old_python(tmp_path)
    (bin_dir / "python").symlink_to(old)
    (checkout / ".venv" / "stale").write_text("x")
    why = f"rebuilding .venv: it was made with Python {version}; reconciler needs 3.11+"
    for target in ("test", "demo"):  # both go through the check
        dry = _make(checkout, "-n", target)
        assert why in dry.stdout, dry
    result = _make(checkout, ".venv/bin/python")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == why
    assert not (checkout / ".venv" / "stale").exists()
    assert _venv_python_version(checkout) == "True"
    again = _make(checkout, ".venv/bin/python")  # a good .venv is left alone
    assert "rebuilding" not in again.stdout and "is up to date" in again.stdout, again


@needs_make
def test_a_venv_whose_python_is_gone_is_made_anew(checkout: Path, tmp_path: Path) -> None:
    bin_dir = checkout / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(tmp_path / "uninstalled" / "python3.10")
    result = _make(checkout, ".venv/bin/python")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        "rebuilding .venv: its Python is missing or does not run; reconciler needs 3.11+"
    )
    assert _venv_python_version(checkout) == "True"


@needs_make
def test_an_old_python_to_make_it_with_is_refused(checkout: Path, tmp_path: Path) -> None:
    old, _ = _old_python(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(
        ["make", "--no-print-directory", ".venv/bin/python", f"PYTHON={old}"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"{old} is not Python 3.11+" in result.stderr
    assert not (checkout / ".venv").exists()
