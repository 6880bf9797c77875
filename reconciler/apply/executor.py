"""Walk a plan in dependency order with bounded concurrency.

A failure skips only its dependents (transitively) and is reported once, as the root cause. Changes that
the real API cannot carry out (`unsupported`) and no-ops are never executed and never block the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from reconciler.defaults import DEFAULT_CONCURRENCY
from reconciler.errors import PartialFailure, ReconcilerError
from reconciler.interrupt import StopRequested
from reconciler.lock.base import LeaseLostError
from reconciler.plan.model import Change, Kind, Plan

SCHEMA_UNIT = "schema"


@dataclass
class Unit:
    """What runs as one step: one change, or every schema change together (one document write)."""

    name: str
    changes: list[Change]
    depends_on: set[str] = field(default_factory=set)


@dataclass
class ApplyResult:
    applied: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # address -> error message
    skipped: dict[str, str] = field(default_factory=dict)  # address -> the failed address that caused it

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


# Runs a unit's changes; returns what was done where a count helps (address -> detail), or None.
RunUnit = Callable[[Unit], Awaitable[Mapping[str, str] | None]]
# Called as each change finishes: (address, "applied" | "failed" | "skipped", detail)
Progress = Callable[[str, str, str], None]


def ignore_progress(address: str, status: str, detail: str) -> None:
    pass


def build_units(plan: Plan) -> list[Unit]:
    executable = [c for c in plan.changes if c.executable]
    unit_of: dict[str, str] = {}
    units: dict[str, Unit] = {}
    for change in executable:
        name = SCHEMA_UNIT if change.kind == Kind.SCHEMA_KEY else change.address
        unit_of[change.address] = name
        units.setdefault(name, Unit(name=name, changes=[])).changes.append(change)
    for unit in units.values():
        for change in unit.changes:
            for dep in change.depends_on:
                dep_unit = unit_of.get(dep)
                if dep_unit is not None and dep_unit != unit.name:
                    unit.depends_on.add(dep_unit)
    return list(units.values())


async def execute(
    plan: Plan,
    run_unit: RunUnit,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress = ignore_progress,
) -> ApplyResult:
    units = build_units(plan)
    result = ApplyResult()
    done: dict[str, asyncio.Event] = {u.name: asyncio.Event() for u in units}
    failed_root: dict[str, str] = {}  # unit name -> address of the root failure
    semaphore = asyncio.Semaphore(concurrency)

    async def run(unit: Unit) -> None:
        try:
            for dep in sorted(unit.depends_on):
                await done[dep].wait()
            blocked = sorted(failed_root[d] for d in unit.depends_on if d in failed_root)
            if blocked:
                failed_root[unit.name] = blocked[0]
                for change in unit.changes:
                    result.skipped[change.address] = blocked[0]
                    progress(change.address, "skipped", f"after {blocked[0]} failed")
                return
            async with semaphore:
                try:
                    outcomes = await run_unit(unit) or {}
                except (LeaseLostError, StopRequested):
                    raise  # not this change's failure: the whole apply stops writing
                except PartialFailure as exc:
                    for change in unit.changes:
                        result.failed[change.address] = str(exc)
                        progress(change.address, "failed", str(exc))
                    return
                except ReconcilerError as exc:
                    root = unit.changes[0].address
                    failed_root[unit.name] = root
                    for change in unit.changes:
                        result.failed[change.address] = str(exc)
                        progress(change.address, "failed", str(exc))
                    return
            for change in unit.changes:
                result.applied.append(change.address)
                detail = outcomes.get(change.address)
                progress(
                    change.address,
                    "applied",
                    f"{change.action.value}: {detail}" if detail else change.action.value,
                )
        finally:
            done[unit.name].set()

    await asyncio.gather(*(run(u) for u in units))
    order = {c.address: i for i, c in enumerate(plan.changes)}
    result.applied.sort(key=order.__getitem__)
    return result
