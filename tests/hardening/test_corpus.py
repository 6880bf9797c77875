"""Every bad input of the corpus (corpus.py) is refused cleanly, fast and small (issue 9, point 8).

Each case runs the real CLI in a subprocess with an address-space cap (harness.py) and must:
- exit 1, with no traceback;
- name where the problem is (`file:line`, or the file when the problem has no line) and say what is
  wrong in words a user can act on;
- never print a secret (the value of an environment variable, a password);
- take at most 1 s more than the CLI's own start-up, measured once per session on a trivial config;
- peak at no more than 100 MB of RSS.

The cases run in parallel, one per core, the first time a case of this module needs its result; a case
over the time bound is run again alone once before it fails (a busy machine is not a slow input).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.hardening.corpus import SECRET, Case, build, classes
from tests.hardening.harness import (
    RSS_LIMIT_BYTES,
    Baseline,
    Run,
    clean_env,
    cleanup,
    materialize,
    measure_baseline,
    run_cli,
)

CASES = build()
BY_ID = {case.id: case for case in CASES}
CLASSES = ("yaml", "files", "backend", "types", "limits", "names", "interpolation", "registration")


def _params() -> Iterator[object]:
    for case in CASES:
        marks = [pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else []
        yield pytest.param(case, id=case.id, marks=marks)


class Runner:
    """Runs cases on demand, all the selected ones at once in parallel the first time."""

    def __init__(self, work: Path, selected: list[str]) -> None:
        self.work = work
        self.selected = selected
        self.results: dict[str, Run] = {}
        self.baseline: Baseline = measure_baseline(work)

    def run(self, case: Case, *, alone: bool = False) -> Run:
        root = self.work / (case.id + ("-again" if alone else ""))
        root.mkdir()
        try:
            materialize(root, case.files)
            return run_cli(list(case.argv), root, clean_env(root, case.env))
        finally:
            cleanup(root)

    def result(self, case: Case) -> Run:
        if case.id not in self.results:
            batch = [BY_ID[i] for i in self.selected if i not in self.results and _runnable(BY_ID[i])]
            if case not in batch:
                batch.append(case)
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
                for done, run in zip(batch, pool.map(self.run, batch), strict=True):
                    self.results[done.id] = run
        return self.results[case.id]


def _runnable(case: Case) -> bool:
    return not (case.nonroot and os.geteuid() == 0)


@pytest.fixture(scope="module")
def runner(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Runner:
    selected = [
        item.callspec.params["case"].id
        for item in request.session.items
        if hasattr(item, "callspec") and isinstance(item.callspec.params.get("case"), Case)
    ]
    return Runner(tmp_path_factory.mktemp("corpus"), selected)


def test_the_corpus_covers_every_class_with_at_least_100_cases() -> None:
    counts = dict(classes(CASES))
    assert set(counts) == set(CLASSES), counts
    assert len(CASES) >= 100, counts
    assert len({case.id for case in CASES}) == len(CASES)


def test_the_baseline_is_what_the_bounds_assume(runner: Runner) -> None:
    """The trivial config's own cost, for the record (pytest -rA shows it): start-up well under the
    allowance, and RSS well under the 100 MB every bad input must stay below."""
    base = runner.baseline
    for command, seconds in base.seconds.items():
        print(f"baseline {command}: {seconds:.2f} s, peak RSS {base.peak_rss[command] / 2**20:.1f} MiB")
    assert max(base.peak_rss.values()) < RSS_LIMIT_BYTES


@pytest.mark.parametrize("case", list(_params()))
def test_bad_input_is_refused(case: Case, runner: Runner) -> None:
    if not _runnable(case):
        pytest.skip("a mode-000 file is readable by root")
    run = runner.result(case)
    text = run.output
    shown = run.describe()
    assert not run.killed, f"still running after the kill deadline\n{shown}"
    assert "Traceback" not in text, shown
    assert run.code == 1, shown
    assert "error:" in text, shown
    assert _names_place(text, case.where), f"expected the place {case.where!r}\n{shown}"
    for words in case.expect:
        assert words in text, f"expected {words!r}\n{shown}"
    for secret in (*case.absent, SECRET):
        assert secret not in text, f"printed a secret {secret!r}\n{shown}"
    assert run.peak_rss <= RSS_LIMIT_BYTES, f"peak RSS over 100 MB\n{shown}"
    bound = runner.baseline.time_bound(case.command)
    if run.seconds > bound:  # measured again alone: a busy machine is not a slow input
        run = runner.run(case, alone=True)
        assert run.seconds <= bound, f"slower than {bound:.2f} s\n{run.describe()}"


def _names_place(text: str, where: str) -> bool:
    """`where` appears as the place of a message: followed by `:` (a column or the message) or a space."""
    return re.search(re.escape(where) + r"(?=[:\s,)])", text) is not None
