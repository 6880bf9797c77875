"""Desired-state models for data: the bucket side of an integration, and a folder's `data` sources.

A folder's items are declared by sources: Encord JSON registration files, CSV registration files, or a
listing of a GCS bucket prefix with rules. Paths are relative to the config file that names them.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from reconciler.config.models_base import StrictModel

# Encord's advice: at most 1,000 images or 100 videos per upload job.
DEFAULT_BATCH_IMAGES = 1000
DEFAULT_BATCH_VIDEOS = 100
MAX_BATCH = 10_000

DataType = Literal[
    "image", "video", "audio", "text", "pdf", "nifti", "image_group", "image_sequence", "dicom_series"
]
GroupType = Literal["image_group", "image_sequence", "dicom_series"]

DEFAULT_CORS_ORIGINS = ("https://app.encord.com", "https://app.us.encord.com")
DEFAULT_IAM_ROLE = "roles/storage.objectViewer"


# -- the bucket side of an integration ------------------------------------------------------------


class CorsRule(StrictModel):
    """One CORS rule of a bucket, as Encord's docs ask for it by default."""

    origins: list[str] = Field(default_factory=lambda: list(DEFAULT_CORS_ORIGINS), min_length=1)
    methods: list[str] = Field(default_factory=lambda: ["GET"], min_length=1)
    response_headers: list[str] = Field(default_factory=lambda: ["Content-Type"])
    max_age_seconds: int = Field(default=3600, ge=0)


class IamBindingSpec(StrictModel):
    """The principal the integration reads with, and the role it gets on the bucket."""

    member: str = Field(
        min_length=1,
        description="e.g. serviceAccount:encord-reader@my-project.iam.gserviceaccount.com",
    )
    role: str = Field(default=DEFAULT_IAM_ROLE, min_length=1)

    @field_validator("member")
    @classmethod
    def _member_shape(cls, value: str) -> str:
        kinds = ("serviceAccount:", "user:", "group:", "domain:", "principal:", "principalSet:")
        if not value.startswith(kinds):
            raise ValueError(f"an IAM member starts with one of {', '.join(kinds)}")
        return value


def binding_digest(role: str, member: str) -> str:
    """What reconciler records in the bucket label `reconciler-iam` when it grants a binding: a value
    within GCS's label rules (lower-case hex, at most 63 characters) naming one role-member pair."""
    return hashlib.sha256(f"{role} {member}".encode()).hexdigest()[:32]


# -- a folder's data sources ----------------------------------------------------------------------


class BatchSpec(StrictModel):
    """How many units one upload job carries (Encord advises at most 1,000 images or 100 videos)."""

    images: int = Field(default=DEFAULT_BATCH_IMAGES, ge=1, le=MAX_BATCH)
    videos: int = Field(default=DEFAULT_BATCH_VIDEOS, ge=1, le=MAX_BATCH)


class GroupRule(StrictModel):
    """Turn every directory matching `directories` into one image group, image sequence or DICOM series.

    Frames are the directory's own files that match `files` (default: the type's extensions), ordered by
    the natural sort of their names (frame2 before frame10).
    """

    directories: str = Field(
        min_length=1,
        description="Glob of directories relative to the listing's prefix, e.g. `frames/*`.",
    )
    type: GroupType = "image_sequence"
    files: list[str] | None = Field(
        default=None, description="Globs of frame file names; default: by the group type's extensions."
    )
    title: str = Field(
        default="{dir}",
        description="Title template: {dir} (relative directory), {name} (directory name), {path}.",
    )


class DataSourceSpec(StrictModel):
    """One source of a folder's items: exactly one of `json`, `csv` or `bucket`."""

    integration: str = Field(min_length=1, description="Title of the integration that reads the objects.")
    json_file: str | None = Field(
        default=None,
        alias="json",
        description="An Encord JSON registration file (videos, images, image_groups, dicom_series, ...).",
    )
    csv: str | None = Field(default=None, description="A CSV registration file; the header names the types.")
    bucket: str | None = Field(
        default=None, description="`gs://bucket/prefix`: register the objects listed under it."
    )
    include: list[str] = Field(
        default_factory=lambda: ["**"], description="Bucket: globs of object paths (relative) to take."
    )
    exclude: list[str] = Field(default_factory=list, description="Bucket: globs of object paths to skip.")
    types: dict[str, DataType | Literal["skip"]] = Field(
        default_factory=dict,
        description="Bucket: file extension (`.jpg`) to data type, added to the defaults; `skip` ignores it.",
    )
    title: str | None = Field(
        default=None,
        description="Bucket: title template, {path} (object path), {relative} (below the prefix), {name}, "
        "{stem}. Absent: Encord's default title, which reconciler does not compare.",
    )
    metadata: str | None = Field(
        default=None,
        description="Bucket: a sidecar JSON object (URL -> clientMetadata) or JSONL file "
        '({"objectUrl": ..., "clientMetadata": {...}} per line).',
    )
    groups: list[GroupRule] = Field(
        default_factory=list, description="Bucket: grouping rules, first match wins."
    )
    batch: BatchSpec = Field(default_factory=BatchSpec)
    ignore_errors: bool = Field(
        default=True,
        description="Encord's 'ignore individual file errors': a failed file does not fail its whole job.",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_kind(self) -> DataSourceSpec:
        given = [k for k, v in (("json", self.json_file), ("csv", self.csv), ("bucket", self.bucket)) if v]
        if len(given) != 1:
            raise ValueError("a data source names exactly one of `json`, `csv` or `bucket`")
        if self.bucket is None:
            bucket_only = [
                name
                for name in ("include", "exclude", "types", "title", "metadata", "groups")
                if name in self.model_fields_set
            ]
            if bucket_only:
                raise ValueError(f"{', '.join(bucket_only)}: only a `bucket` source takes these")
        elif not self.bucket.startswith("gs://") or not self.bucket[5:].split("/")[0]:
            raise ValueError("`bucket` is written gs://bucket-name/optional/prefix")
        return self

    @property
    def kind(self) -> Literal["json", "csv", "bucket"]:
        return "json" if self.json_file else "csv" if self.csv else "bucket"

    @property
    def path(self) -> str:
        return self.json_file or self.csv or self.bucket or ""
