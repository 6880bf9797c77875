"""Bucket labels: where reconciler records which IAM binding it granted, so it can take it back.

A bucket's IAM policy belongs to its owners; reconciler removes only the one binding whose digest it
wrote in the label `reconciler-iam` when it granted it.
"""

from __future__ import annotations

from google.cloud import storage

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
