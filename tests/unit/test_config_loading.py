"""Loading YAML into the desired state: positions, interpolation, merging, strictness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.config.jsonschema import config_json_schema
from reconciler.config.loader import load_config
from reconciler.config.models import EmbeddingKeySpec, EnumKeySpec, ScalarKeySpec
from reconciler.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems(target: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(target, env=env or {})
    return info.value.problems


def test_every_error_is_reported_at_once_with_file_line_column_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        """\
metadata_schema:
  keys:
    $price: number
    split: {type: enum, values: [a, a]}
    kind: {type: wat}
folders:
  - name: raw
    descripton: typo
datasets:
  - title: t
    folders: [raw, missing]
""",
    )
    found = problems(path)
    assert f"{path}:3:5: metadata_schema.keys.$price: a key must not start with '$'" in found
    assert f"{path}:4:25: metadata_schema.keys.split.values: enum values must be unique; repeated: a" in found
    assert any(p.startswith(f"{path}:5:5: metadata_schema.keys.kind: unknown type 'wat'") for p in found)
    assert any(p.startswith(f"{path}:8:5: folders[0].descripton: unknown key") for p in found)
    assert len(found) == 4


def test_cross_references_are_checked_when_every_file_parses(tmp_path: Path) -> None:
    path = write(
        tmp_path, "r.yaml", "folders:\n  - name: raw\ndatasets:\n  - title: t\n    folders: [raw, missing]\n"
    )
    assert problems(path) == [f"{path}:5:20: datasets.t.folders: folder 'missing' is not declared"]


def test_interpolation_with_defaults_and_typed_results(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        """\
backend: {kind: sandbox, state: "${STATE:-db/x.db}"}
metadata_schema:
  keys:
    emb:
      type: embedding
      size: ${SIZE}
folders:
  - name: ${PREFIX}-raw
    description: "cost $$5"
""",
    )
    config = load_config(path, env={"SIZE": "512", "PREFIX": "team"})
    assert config.backend.kind == "sandbox" and config.backend.state == "db/x.db"
    assert config.schema_keys == {"emb": EmbeddingKeySpec(type="embedding", size=512)}
    assert config.folders is not None and config.folders[0].name == "team-raw"
    assert config.folders[0].description == "cost $5"


def test_undefined_variable_names_the_place(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "folders:\n  - name: ${NOPE}\n")
    found = problems(path)
    assert (
        f"{path}:2:11: folders[0].name: environment variable NOPE is not set (write ${{NOPE:-default}} to give a default)"
    ) in found


def test_directory_is_merged_and_a_name_declared_twice_names_both_places(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "folders:\n  - name: raw\ndatasets:\n  - title: t\n")
    write(tmp_path, "sub/b.yaml", "folders:\n  - name: other\ndatasets:\n  - title: t\n")
    found = problems(tmp_path)
    assert found == [
        f"{tmp_path / 'sub/b.yaml'}:4:5: dataset 't' is declared twice: here and at {tmp_path / 'a.yaml'}:4:5"
    ]


def test_directory_merge_combines_sections(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "metadata_schema:\n  keys: {a: text}\nfolders:\n  - name: raw\n")
    write(
        tmp_path,
        "b.yaml",
        "metadata_schema:\n  keys: {b: {type: enum, values: [x]}}\nfolders:\n  - name: cooked\n",
    )
    config = load_config(tmp_path, env={})
    assert config.schema_keys == {
        "a": ScalarKeySpec(type="text"),
        "b": EnumKeySpec(type="enum", values=["x"]),
    }
    assert [f.name for f in config.folders or []] == ["raw", "cooked"]
    assert config.datasets is None  # absent everywhere: not managed


def test_duplicate_folder_paths_in_one_tree(tmp_path: Path) -> None:
    path = write(
        tmp_path, "r.yaml", "folders:\n  - name: a\n    children:\n      - name: b\n      - name: b\n"
    )
    assert problems(path) == [f"{path}:5:9: folder 'a/b' is declared twice: here and at {path}:4:9"]


def test_duplicate_yaml_keys_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "metadata_schema:\n  keys:\n    a: text\n    a: number\n")
    assert problems(path) == [f"{path}:4:5: metadata_schema.keys.a: duplicate key (first at {path}:3:5)"]


def test_invalid_yaml_is_reported_with_position(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "folders:\n  - name: [unclosed\n")
    found = problems(path)
    assert len(found) == 1 and found[0].startswith(f"{path}:3:1: invalid YAML")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("keyframes", "reserved"),
        ("key-frames", "reserved"),
        ("a/b", "only letters, digits"),
        ("--", "only letters, digits"),
    ],
)
def test_metadata_key_rules(tmp_path: Path, key: str, message: str) -> None:
    path = write(tmp_path, "r.yaml", f"metadata_schema:\n  keys:\n    '{key}': text\n")
    found = problems(path)
    assert len(found) == 1 and message in found[0] and found[0].startswith(f"{path}:3:5:")


def test_valid_keys_with_unicode_dots_spaces(tmp_path: Path) -> None:
    path = write(
        tmp_path, "r.yaml", "metadata_schema:\n  keys:\n    'Größe des Bildes': number\n    a.b_c-d: text\n"
    )
    assert set(load_config(path, env={}).schema_keys or {}) == {"Größe des Bildes", "a.b_c-d"}


def test_large_embedding_warns_about_active(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "metadata_schema:\n  keys:\n    e: {type: embedding, size: 3000}\n")
    config = load_config(path, env={})
    assert config.warnings == [
        f"{path}:3:5: metadata_schema.keys.e: embedding size 3000 is above 2000, which Encord Active does not "
        "accept (Index accepts up to 4096)"
    ]
    too_big = write(tmp_path, "big.yaml", "metadata_schema:\n  keys:\n    e: {type: embedding, size: 4097}\n")
    assert "less than or equal to 4096" in problems(too_big)[0]


def test_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    found = problems(tmp_path / "reconciler.yaml")
    assert found == [
        f"{tmp_path / 'reconciler.yaml'}: no such file or directory (pass a config file or directory, "
        "or create reconciler.yaml)"
    ]


def test_schema_json_is_current() -> None:
    committed = json.loads((ROOT / "schema.json").read_text(encoding="utf-8"))
    assert committed == config_json_schema(), "schema.json is stale: run `make schema`"


def test_examples_start_with_the_schema_comment_and_validate() -> None:
    examples = sorted((ROOT / "examples").rglob("*.yaml"))
    assert examples
    for path in examples:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        load_config(path, env={})


def test_client_metadata_must_be_json(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        "folders:\n  - name: a\n    client_metadata:\n      shot: {day: 2024-01-02}\n      x: .nan\n",
    )
    assert problems(path) == [
        f"{path}:3:5: folders[0].client_metadata: shot.day: YAML reads this as a date, which is not JSON; "
        "quote it ('2024-01-02') to send it as text; x: nan is not a JSON number"
    ]


def test_the_readme_configuration_tour_is_valid(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tour = readme.split("```yaml\n# yaml-language-server")[1].split("```")[0]
    config = load_config(write(tmp_path, "r.yaml", "# yaml-language-server" + tour), env={})
    assert config.schema_keys is not None and len(config.schema_keys) == 9


def test_single_valued_sections_may_appear_in_one_file_only(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "backend: {kind: sandbox}\nprune: {folders: none}\n")
    write(tmp_path, "b.yaml", "backend: {kind: sandbox}\nprune: {folders: all}\n")
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert problems(tmp_path) == [  # in file and line order
        f"{b}:1:1: backend is declared twice: here and at {a}:1:1",
        f"{b}:2:1: prune is declared twice: here and at {a}:2:1",
    ]


def test_structural_and_cross_reference_problems_come_together_in_file_and_line_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        "datasets:\n  - {title: d, folders: [nope]}\nfolders:\n  - {name: raw, colour: red}\n",
    )
    write(tmp_path, "b.yaml", "datasets:\n  - {title: d}\n  - {title: d}\n")
    found = problems(tmp_path)
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert [p.split(": ", 1)[0] for p in found] == [f"{a}:4:17", f"{b}:3:5"]  # one pass, in order
    assert "colour: unknown key" in found[0] and "declared twice" in found[1]


def test_a_config_directory_skips_hidden_directories_and_never_stats_data_files(tmp_path: Path) -> None:
    """A data directory of many files below the config costs one pass over its names (issue 16, point 4),
    and hidden directories (.git, .reconciler, .venv) are not configuration."""
    from reconciler.config.loader import config_files

    (tmp_path / "reconciler.yaml").write_text("folders: [{name: raw}]\n")
    (tmp_path / "bucket").mkdir()
    for n in range(200):
        (tmp_path / "bucket" / f"img_{n:03d}.jpg").write_bytes(b"")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "stray.yaml").write_text("not: [configuration\n")
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "more.yml").write_text("datasets: []\n")
    assert config_files(tmp_path) == [tmp_path / "reconciler.yaml", tmp_path / "team" / "more.yml"]


def test_a_sandbox_bucket_directory_is_data_and_the_walk_does_not_enter_it(tmp_path: Path) -> None:
    """A YAML object in a sandbox bucket is an object, not configuration (issue 16, point 4: the loader
    does not descend into data directories)."""
    from reconciler.config.loader import config_files

    (tmp_path / "reconciler.yaml").write_text(
        "backend: {kind: sandbox, buckets: {pics: data/pics}}\nfolders: [{name: raw}]\n"
    )
    (tmp_path / "data" / "pics" / "labels").mkdir(parents=True)
    (tmp_path / "data" / "pics" / "labels" / "frame-1.yaml").write_text("boxes: [1, 2, 3]\n")
    (tmp_path / "data" / "notes.yml").write_text("datasets: []\n")  # beside the bucket: still config
    assert config_files(tmp_path) == [tmp_path / "data" / "notes.yml", tmp_path / "reconciler.yaml"]
    load_config(tmp_path / "reconciler.yaml")  # the root file alone loads as before
