"""Pure diff of cloud integrations: matched by title; only the sandbox can create or delete them."""

from __future__ import annotations

from reconciler.config.loader import Config
from reconciler.live import LiveState
from reconciler.plan.model import (
    Action,
    Change,
    Kind,
    Risk,
    address_of,
)
from reconciler.plan.snapshots import ENCORD_UI, make_change


def integration_changes(config: Config, live: LiveState, sandbox: bool, errors: list[str]) -> list[Change]:
    out: list[Change] = []
    declared = {i.title: i for i in config.integrations or []}
    for title, spec in declared.items():
        address = address_of(Kind.INTEGRATION, title)
        existing = live.integrations.get(title)
        if existing is not None:
            out.append(
                make_change(
                    live,
                    address=address,
                    kind=Kind.INTEGRATION,
                    action=Action.NOOP,
                    before={"title": title, "uuid": existing.uuid},
                    after={"title": title},
                )
            )
        elif sandbox:
            out.append(
                make_change(
                    live,
                    address=address,
                    kind=Kind.INTEGRATION,
                    action=Action.CREATE,
                    after={"title": title, "provider": spec.provider},
                    sandbox_only=True,
                    reason="Encord's API cannot create cloud integrations; the sandbox provisions this one "
                    "so the rest of the plan can run. Against Encord it must exist already.",
                    payload={"title": title, "provider": spec.provider},
                )
            )
        else:
            errors.append(
                f"{config.where(address)}: integration {title!r} does not exist in Encord, and Encord's API "
                f"cannot create integrations. Create it in {ENCORD_UI}: Integrations > + New integration > "
                f"{spec.provider.upper()}, with the title {title!r}; then run plan again."
            )
    for title, integ in sorted(live.integrations.items()):
        if title in declared or not config.prune.integrations:
            continue
        address = address_of(Kind.INTEGRATION, title)
        delete = {
            "address": address,
            "kind": Kind.INTEGRATION,
            "action": Action.DELETE,
            "before": {"title": title, "uuid": integ.uuid},
        }
        if sandbox:
            out.append(
                make_change(
                    live,
                    **delete,
                    risk=Risk.DESTRUCTIVE,
                    sandbox_only=True,
                    reason="not in the configuration",
                    payload={"uuid": integ.uuid},
                )
            )
        else:
            out.append(
                make_change(
                    live,
                    **delete,
                    risk=Risk.UNSUPPORTED,
                    reason="not in the configuration; Encord's API cannot delete integrations",
                    manual_steps=f"Delete it in {ENCORD_UI}: Integrations > {title} > Delete, "
                    f"or declare it under `integrations` to keep it.",
                )
            )
    return out
