"""Bucket labels: where reconciler records which IAM binding it granted, so it can take it back.

A bucket's IAM policy belongs to its owners; reconciler removes only the one binding whose digest it
wrote in the label `reconciler-iam` when it granted it.
"""

from __future__ import annotations

from google.cloud import storage

from reconciler.config.sources import binding_digest
from reconciler.gcs.buckets import add_iam_member, read_iam_bindings, remove_iam_member
from reconciler.gcs.client import translate_errors

IAM_LABEL = "reconciler-iam"


def read_labels(client: storage.Client, bucket: str) -> dict[str, str]:
    with translate_errors(bucket, "read the labels of"):
        return dict(client.get_bucket(bucket).labels or {})


def set_label(client: storage.Client, bucket: str, key: str, value: str | None) -> None:
    """Set (or, with None, remove) one label, leaving the others as they are."""
    with translate_errors(bucket, "label"):
        target = client.get_bucket(bucket)
        labels = dict(target.labels or {})
        if value is None:
            if key not in labels:
                return
            labels.pop(key)
        elif labels.get(key) == value:
            return
        else:
            labels[key] = value
        target.labels = labels
        target.patch()


def edit_reader_binding(
    client: storage.Client, bucket: str, add: tuple[str, str] | None, remove: tuple[str, str] | None
) -> None:
    """Grant `add` (role, member) and record it in the label; revoke `remove`, a binding we granted.

    The label names only a binding reconciler granted itself: one the bucket's owners granted before is
    left unlabelled, so it is never taken back."""
    ours = add is not None and read_labels(client, bucket).get(IAM_LABEL) == binding_digest(*add)
    if add is not None and add[1] not in read_iam_bindings(client, bucket).get(add[0], []):
        add_iam_member(client, bucket, *add)
        ours = True
    if remove is not None and remove != add:
        remove_iam_member(client, bucket, *remove)
    set_label(client, bucket, IAM_LABEL, binding_digest(*add) if add is not None and ours else None)
