"""Datasets and splits as written: folders, membership rules (`select`) and stable splits.

The models give editors their schema and catch shapes; what a rule means (globs that compile, metadata
keys and values typed by the schema, folders that are declared) is checked in `config/selection_check.py`
against the whole configuration, each problem at its line.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, WithJsonSchema, field_validator, model_validator

from reconciler.config.models_base import StrictModel

# The data types a rule may name, as sources name them (registration/entry.py ITEM_TYPES).
DataTypeName = Literal[
    "image", "video", "audio", "text", "pdf", "nifti", "image_group", "image_sequence", "dicom_series"
]


# Checked with a did-you-mean by `selection.rules.parse_rule` (at the rule's line); the schema still lists
# the names for editors.
DataTypeText = Annotated[str, WithJsonSchema({"type": "string", "enum": list(get_args(DataTypeName))})]


def _one_or_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class DatasetFolderRef(StrictModel):
    path: str = Field(min_length=1, description="Folder path, e.g. `raw/cameras/front`.")
    recursive: bool = Field(default=True, description="Also link items of the folder's subfolders.")


class GlobFilter(StrictModel):
    include: list[str] | None = Field(default=None, description="Globs an item must match (any of them).")
    exclude: list[str] | None = Field(default=None, description="Globs that take an item out again.")


class SelectRule(StrictModel):
    """Items of some folders, narrowed by path and URL globs, data types and metadata conditions."""

    folders: list[str | DatasetFolderRef] = Field(
        min_length=1, description="Folders the rule takes items from (their subfolders too, by default)."
    )
    paths: GlobFilter | None = Field(
        default=None, description="Globs over the item's path in Files: `folder/path/title`."
    )
    urls: GlobFilter | None = Field(default=None, description="Globs over the item's object URL.")
    types: list[DataTypeText] | None = Field(
        default=None, min_length=1, description="Data types to keep (one, or a list)."
    )
    where: dict[str, Any] | None = Field(
        default=None,
        description="Conditions on clientMetadata, by schema key: a value (equal), or operators in, not, "
        "not_in, gt, gte, lt, lte (numbers, datetimes), exists.",
    )

    @field_validator("types", mode="before")
    @classmethod
    def _types_one_or_list(cls, value: Any) -> Any:
        return _one_or_list(value)

    def written(self) -> dict[str, Any]:
        """The rule as `selection.rules.parse_rule` reads it."""
        return self.model_dump(exclude_none=True)


class DatasetSpec(StrictModel):
    """A dataset, matched by title, holding the items of the listed folders or those its rules select."""

    title: str = Field(min_length=1)
    description: str = ""
    folders: list[str | DatasetFolderRef] | None = Field(
        default=None,
        description=(
            "Folders whose items the dataset holds; items added to them later are linked on every apply, "
            "and linked items from elsewhere are unlinked. Absent (and no `select`): the dataset's items are "
            "not managed."
        ),
    )
    select: list[SelectRule] | None = Field(
        default=None,
        min_length=1,
        description="Membership rules, a union: the dataset holds every item some rule selects (beside "
        "`folders`, if given); items no rule selects any more are unlinked (destructive: --allow-destroy).",
    )

    @field_validator("folders")
    @classmethod
    def _no_empty_path(
        cls, value: list[str | DatasetFolderRef] | None
    ) -> list[str | DatasetFolderRef] | None:
        if any(isinstance(ref, str) and not ref for ref in value or ()):
            raise ValueError("a folder path must not be empty")
        return value

    def folder_refs(self) -> list[DatasetFolderRef]:
        return [DatasetFolderRef(path=f) if isinstance(f, str) else f for f in self.folders or []]

    @property
    def managed(self) -> bool:
        """Whether the dataset's items are managed (by folders or rules; a split's part is, too)."""
        return self.folders is not None or self.select is not None


Weight = Annotated[float, Field(gt=0, strict=True)]  # "80" is refused, as schema.json does


class SplitSpec(StrictModel):
    """A deterministic split of the items its rules select over several datasets, by weight."""

    name: str = Field(min_length=1, description="How the plan names the split.")
    seed: str | int = Field(description="Written down, so that every run places each item the same way.")
    select: list[SelectRule] = Field(min_length=1, description="The items to split (a union of rules).")
    group_by: str | None = Field(
        default=None,
        description="A metadata key: items sharing its value (the frames of one drive) go to one dataset, "
        "so no group leaks across the split. Items without it are not placed, and the plan names them.",
    )
    datasets: dict[str, Weight] = Field(
        description="Dataset title -> weight, e.g. {train: 80, val: 10, test: 10}. Each is declared under "
        "`datasets` with neither folders nor select of its own."
    )

    @model_validator(mode="after")
    def _two_parts(self) -> SplitSpec:
        if len(self.datasets) < 2:
            raise ValueError("a split needs at least two datasets")
        return self
