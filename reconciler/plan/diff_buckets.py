"""Pure diff of the bucket side of integrations: CORS rules and the reader's IAM binding."""

from __future__ import annotations

from typing import Any

from reconciler.config.models import IntegrationSpec
from reconciler.config.sources import CorsRule
from reconciler.live import LiveState
from reconciler.plan.model import Action, Change, FieldDiff, Kind, address_of, fingerprint


def cors_rules(spec: IntegrationSpec) -> list[dict[str, Any]] | None:
    """The declared rules in the GCS domain shape; None when they are left unmanaged."""
    if spec.cors == "unmanaged" or spec.bucket is None:
        return None
    rules = spec.cors if isinstance(spec.cors, list) else [CorsRule()]
    return [rule.model_dump() for rule in rules]


def managed_buckets(integrations: list[IntegrationSpec] | None) -> list[IntegrationSpec]:
    return [i for i in integrations or [] if i.bucket is not None and (cors_rules(i) is not None or i.iam)]


def bucket_snapshot(live: LiveState, kind: Kind, bucket: str) -> dict[str, Any] | None:
    current = live.buckets.get(bucket)
    if current is None:
        return None
    if kind == Kind.BUCKET_CORS:
        return {"cors": current.cors}
    return {"iam": current.iam}


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
        if spec.iam is not None:
            members = (current.iam if current else {}).get(spec.iam.role, [])
            present = spec.iam.member in members
            out.append(
                Change(
                    address=address_of(Kind.BUCKET_IAM, bucket),
                    kind=Kind.BUCKET_IAM,
                    action=Action.NOOP if present else Action.UPDATE,
                    before={"role": spec.iam.role, "members": members},
                    after={"role": spec.iam.role, "members": sorted({*members, spec.iam.member})},
                    diff=[]
                    if present
                    else [FieldDiff(field=f"bindings[{spec.iam.role}]", before=None, after=spec.iam.member)],
                    reason=""
                    if present
                    else f"grants {spec.iam.role} on gs://{bucket} to the principal "
                    f"integration {spec.title!r} reads with; other members are left as they are",
                    fingerprint=fingerprint(bucket_snapshot(live, Kind.BUCKET_IAM, bucket)),
                    payload={"bucket": bucket, "role": spec.iam.role, "member": spec.iam.member},
                )
            )
    return out
