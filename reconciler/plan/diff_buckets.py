"""Pure diff of the bucket side of integrations: CORS rules and the reader's IAM binding."""

from __future__ import annotations

from typing import Any

from reconciler.config.models import IntegrationSpec
from reconciler.config.sources import CorsRule, binding_digest
from reconciler.live import LiveState
from reconciler.plan.model import Action, Change, FieldDiff, Kind, Risk, address_of, fingerprint


def cors_rules(spec: IntegrationSpec) -> list[dict[str, Any]] | None:
    """The declared rules in the GCS domain shape; None when they are left unmanaged."""
    if spec.cors == "unmanaged" or spec.bucket is None:
        return None
    rules = spec.cors if isinstance(spec.cors, list) else [CorsRule()]
    return [rule.model_dump() for rule in rules]


def managed_buckets(integrations: list[IntegrationSpec] | None) -> list[IntegrationSpec]:
    """Integrations whose bucket is read: its CORS, its IAM, and the binding reconciler once granted."""
    return [i for i in integrations or [] if i.bucket is not None]


def _granted(live_iam: dict[str, list[str]], digest: str | None) -> tuple[str, str] | None:
    """The (role, member) whose digest reconciler recorded when it granted it, if it is still there."""
    if digest is None:
        return None
    for role, members in live_iam.items():
        for member in members:
            if binding_digest(role, member) == digest:
                return role, member
    return None


def _iam_change(spec: IntegrationSpec, bucket: str, live: LiveState) -> Change | None:
    current = live.buckets.get(bucket)
    live_iam = current.iam if current else {}
    previous = _granted(live_iam, current.granted if current else None)
    wanted = (spec.iam.role, spec.iam.member) if spec.iam else None
    if wanted is None and previous is None:
        return None
    present = wanted is not None and wanted[1] in live_iam.get(wanted[0], [])
    remove = previous if previous is not None and previous != wanted else None
    diff = []
    if wanted is not None and not present:
        diff.append(FieldDiff(field=f"bindings[{wanted[0]}]", before=None, after=wanted[1]))
    if remove is not None:
        diff.append(FieldDiff(field=f"bindings[{remove[0]}]", before=remove[1], after=None))
    snapshot = {"role": wanted[0], "member": wanted[1]} if wanted else None
    before = {"role": previous[0], "member": previous[1]} if previous else None
    fp = fingerprint(bucket_snapshot(live, Kind.BUCKET_IAM, bucket))
    address = address_of(Kind.BUCKET_IAM, bucket)
    if not diff:  # declared and present (granted by us, or by the bucket's owners: then never revoked)
        return Change(
            address=address,
            kind=Kind.BUCKET_IAM,
            action=Action.NOOP,
            before=before,
            after=snapshot,
            fingerprint=fp,
        )
    reasons = []
    if wanted is not None and not present:
        reasons.append(
            f"grants {wanted[0]} on gs://{bucket} to the principal integration {spec.title!r} reads with"
        )
    if remove is not None:
        reasons.append(
            f"revokes {remove[0]} from {remove[1]}, which reconciler granted and the config no longer "
            "declares: Encord can no longer read the bucket with it"
        )
    reasons.append("other members are left as they are")
    return Change(
        address=address,
        kind=Kind.BUCKET_IAM,
        action=Action.DELETE if wanted is None else Action.UPDATE,
        risk=Risk.DESTRUCTIVE if remove is not None else Risk.SAFE,
        before=before,
        after=snapshot,
        diff=diff,
        reason="; ".join(reasons),
        fingerprint=fp,
        payload={
            "bucket": bucket,
            "add": list(wanted) if wanted else None,
            "remove": list(remove) if remove else None,
        },
    )


def bucket_snapshot(live: LiveState, kind: Kind, bucket: str) -> dict[str, Any] | None:
    current = live.buckets.get(bucket)
    if current is None:
        return None
    if kind == Kind.BUCKET_CORS:
        return {"cors": current.cors}
    return {"iam": current.iam, "granted": current.granted}


def bucket_changes(integrations: list[IntegrationSpec] | None, live: LiveState) -> list[Change]:
    out: list[Change] = []
    for spec in managed_buckets(integrations):
        bucket = spec.bucket
        assert bucket is not None
        current = live.buckets.get(bucket)
        rules = cors_rules(spec)
        if rules is not None:
            before = current.cors if current else []
            address = address_of(Kind.BUCKET_CORS, bucket)
            same = before == rules
            out.append(
                Change(
                    address=address,
                    kind=Kind.BUCKET_CORS,
                    action=Action.NOOP if same else Action.UPDATE,
                    before={"cors": before},
                    after={"cors": rules},
                    diff=[] if same else [FieldDiff(field="cors", before=before, after=rules)],
                    reason=""
                    if same
                    else f"so the Encord web app can read gs://{bucket} from the browser "
                    f"(integration {spec.title!r}); the bucket's rules are replaced as a whole",
                    fingerprint=fingerprint(bucket_snapshot(live, Kind.BUCKET_CORS, bucket)),
                    payload={"bucket": bucket, "cors": rules},
                )
            )
        iam = _iam_change(spec, bucket, live)
        if iam is not None:
            out.append(iam)
    return out
