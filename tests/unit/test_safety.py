"""Thresholds count what exists and what goes, per section, from the plan's own numbers."""

from __future__ import annotations

from reconciler.config.models import SafetySpec, ThresholdSpec
from reconciler.plan.model import Action, BackendRef, Change, Kind, Plan, Risk
from reconciler.plan.safety import breaches, refusals

REF = BackendRef(kind="sandbox", location="/tmp/s.db")


def plan(*changes: Change) -> Plan:
    return Plan(backend=REF, changes=list(changes))


def items(live: int, update: int = 0) -> Change:
    return Change(
        address="folder_items.raw",
        kind=Kind.FOLDER_ITEMS,
        action=Action.UPDATE if update else Action.NOOP,
        before={"items": live},
        payload={"folder_path": "raw", "update": update},
    )


def prune(count: int) -> Change:
    return Change(
        address="folder_items_prune.raw",
        kind=Kind.FOLDER_ITEMS_PRUNE,
        action=Action.DELETE,
        risk=Risk.DESTRUCTIVE,
        payload={"folder_path": "raw", "delete": count},
    )


def unlink(linked: int, count: int) -> Change:
    return Change(
        address="dataset_items.d",
        kind=Kind.DATASET_ITEMS,
        action=Action.UPDATE,
        risk=Risk.DESTRUCTIVE,
        before={"linked_items": linked},
        payload={"unlink": [f"h{i}" for i in range(count)]},
    )


def test_item_prunes_updates_and_unlinks_are_measured_against_what_exists() -> None:
    found = breaches(plan(items(100, update=31), prune(31), unlink(50, 16)), SafetySpec())
    assert [str(b) for b in found] == [
        "31 of 100 managed items would be deleted (31%, above the 30% limit)",
        "31 of 100 managed items would be updated (31%, above the 30% limit)",
        "16 of 50 managed dataset links would be deleted (32%, above the 30% limit)",
    ]
    assert not breaches(plan(items(100, update=30), prune(30), unlink(50, 15)), SafetySpec())


def test_unlinks_are_a_share_of_every_managed_link_not_only_the_changed_datasets() -> None:
    """A dataset of 72 losing 46 is 16% of 291 links the config manages, not 64%."""
    changed = plan(unlink(72, 46))
    assert [str(b) for b in breaches(changed, SafetySpec())] == [
        "46 of 72 managed dataset links would be deleted (64%, above the 30% limit)"  # a plan saved before
    ]
    assert not breaches(changed.model_copy(update={"managed_links": 291}), SafetySpec())
    assert breaches(changed.model_copy(update={"managed_links": 150}), SafetySpec())


def test_small_sections_and_overrides() -> None:
    assert not breaches(plan(items(9), prune(9)), SafetySpec())  # fewer than 10 exist
    relaxed = SafetySpec(items=ThresholdSpec(max_delete_percent=100))
    assert not breaches(plan(items(100), prune(100)), relaxed)


def test_refusals_name_the_gate_and_the_limits_and_the_flags_lift_them() -> None:
    risky = plan(items(100), prune(50))
    reasons = refusals(risky, SafetySpec(), allow_destroy=False, force=False)
    assert "1 destructive change(s) need --allow-destroy: folder_items_prune.raw" in reasons[0]
    assert "50 of 100 managed items would be deleted" in reasons[1]
    assert refusals(risky, SafetySpec(), allow_destroy=True, force=True) == []
