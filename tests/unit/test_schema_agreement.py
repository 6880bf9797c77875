"""schema.json and the CLI accept the same configurations (issue 15, point 8).

Each case of CORPUS is a configuration (one file, or a directory of files), the environment it is loaded
with, and whether the CLI accepts it. Two sides judge it:

- the CLI: `load_config(path, env=case.env)` succeeds. Its YAML loader interpolates `${VAR}` from `env`
  (an unquoted value that expands to a number, boolean or null becomes one), then the models validate.
- an editor: schema.json validates each file as the editor sees it, the raw text: the document is
  `yaml.safe_load` of the file with no interpolation, so `${VAR:-30}` is that string. The schema accepts
  a reference wherever a scalar may stand and leaves its value to the CLI, which knows the environment;
  a file with no document (empty, or only comments) gives an editor nothing to validate. Each case is
  validated twice: with jsonschema's own regexes (Python's `re`) and with ECMA-262 ones (regress, which
  check-jsonschema runs; editors run JavaScript's), since a pattern must mean the same to both.

Both must agree, except for the cases of DISAGREE, each with its reason. Some rules are beyond a JSON
Schema: what depends on the environment's values, on other entries or files (uniqueness, references),
on limits counted while loading YAML, or on telling Unicode letters apart. And where the CLI accepts what
it should not, the schema states the intended rule and the case names the CLI bug. A DISAGREE case must
still disagree (the test fails when one is fixed, so the list stays true), and the CLI's verdict on every
case is pinned, so that a change on either side shows up here.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import regress
import yaml

from reconciler.config import jsonschema as generator
from reconciler.config.loader import load_config
from reconciler.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA: dict[str, Any] = json.loads((ROOT / "schema.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Case:
    id: str
    valid: bool  # the CLI's verdict
    files: str | dict[str, str]  # one file's text, or a directory: file name -> text
    env: dict[str, str] = field(default_factory=dict)


OK, BAD = True, False
INTEGRATION = "integrations:\n  - {title: cams, bucket: cams-bucket}\n"


def folder(body: str, name: str = "raw") -> str:
    """A config of one folder `name` with `body` (flow-mapping entries, or indented block lines)."""
    if body.startswith("\n"):
        return f"folders:\n  - name: {name}{body}\n"
    return f"folders:\n  - {{name: {name}, {body}}}\n"


def source(entry: str) -> str:
    return folder(f"\n    data:\n      - {{integration: cams, {entry}}}")


def keys(entries: str) -> str:
    return f"metadata_schema:\n  keys:\n{entries}\n"


def nested(depth: int) -> str:
    """Folders nested `depth` levels deep."""
    return "folders: " + "[{name: a, children: " * (depth - 1) + "[{name: a}]" + "}]" * (depth - 1) + "\n"


CORPUS: list[Case] = [
    # -- `${VAR}` in every kind of scalar field ---------------------------------------------------
    Case("interp-int-default", OK, "backend:\n  kind: sandbox\n  lock_ttl_seconds: ${LOCK_TTL:-30}\n"),
    Case(
        "interp-int-from-env",
        OK,
        "backend:\n  kind: sandbox\n  lock_ttl_seconds: ${LOCK_TTL}\n",
        {"LOCK_TTL": "600"},
    ),
    Case("interp-int-quoted", OK, 'backend:\n  kind: sandbox\n  lock_ttl_seconds: "${LOCK_TTL:-120}"\n'),
    Case(
        "interp-int-in-flow",
        OK,
        "backend: {kind: encord, max_retries: '${RETRIES:-5}', concurrency: \"${CONC:-8}\"}\n",
    ),
    Case("interp-int-concatenated", OK, "backend:\n  kind: encord\n  concurrency: 1${DIGIT:-6}\n"),
    Case("interp-float", OK, "backend:\n  kind: encord\n  timeout_seconds: ${TIMEOUT:-12.5}\n"),
    Case("interp-bool", OK, "metadata_schema:\n  prune: ${PRUNE_KEYS:-false}\n"),
    Case("interp-bool-quoted", OK, folder('\n    protect: "${PROTECT:-yes}"')),
    Case(
        "interp-enum",
        OK,
        "integrations:\n  - title: cams\n    provider: ${PROVIDER:-aws}\n    cors: ${CORS:-unmanaged}\n",
    ),
    Case(
        "interp-enum-in-mapping", OK, source("bucket: 'gs://cams-bucket/raw', types: {.mov: '${MOV:-video}'}")
    ),
    Case(
        "interp-enum-prune",
        OK,
        "prune:\n  folders: ${PRUNE_FOLDERS:-none}\n  datasets: ${PRUNE_DATASETS:-true}\n",
    ),
    Case(
        "interp-kind", OK, "backend:\n  kind: ${BACKEND_KIND}\n  state: ci.db\n", {"BACKEND_KIND": "sandbox"}
    ),
    Case(
        "interp-kind-encord",
        OK,
        "backend:\n  kind: ${BACKEND_KIND:-encord}\n  domain: ${DOMAIN:-https://api.us.encord.com}\n",
    ),
    Case("interp-key-shorthand", OK, keys("    caption: ${CAPTION_TYPE:-text}")),
    Case(
        "interp-key-type-and-size",
        OK,
        keys("    emb: {type: '${EMB_TYPE:-embedding}', size: \"${EMB_SIZE:-512}\"}"),
    ),
    Case(
        "interp-strings", OK, folder("\n    description: data of ${TEAM:-vision}", name="${TEAM:-vision}-raw")
    ),
    Case(
        "interp-list-items", OK, source("bucket: 'gs://cams-bucket', include: ['${GLOB:-**/*.jpg}', '*.png']")
    ),
    Case(
        "interp-addresses",
        OK,
        "forget: ['${OLD_FOLDER:-folder.raw/old}']\nacknowledge: ['dataset.${OLD_DATASET:-legacy}']\n",
    ),
    Case(
        "interp-paths",
        OK,
        "backend:\n  kind: sandbox\n  state: ${STATE_DIR:-.reconciler}/sandbox.db\n"
        "  lock: gs://${LOCK_BUCKET:-locks}/apply.json\n",
    ),
    Case("interp-section-as-null", OK, "folders: ${FOLDERS:-null}\n"),  # a variable makes a scalar: here null
    Case("interp-cannot-make-a-list", BAD, keys("    label:\n      type: enum\n      values: ${LABELS:-a}")),
    Case(
        "interp-client-metadata",
        OK,
        folder("\n    client_metadata:\n      owner: ${OWNER:-vision}\n      count: ${COUNT:-3}"),
    ),
    Case("interp-keys-are-literal", OK, folder("client_metadata: {'${KEY}': 1}")),
    Case(
        "interp-default-out-of-range", BAD, "backend:\n  kind: sandbox\n  lock_ttl_seconds: ${LOCK_TTL:-5}\n"
    ),
    Case("interp-unset-without-default", BAD, "backend:\n  kind: sandbox\n  lock_ttl_seconds: ${LOCK_TTL}\n"),
    Case("interp-unquoted-number-as-name", BAD, "folders:\n  - name: ${YEAR:-2024}\n"),
    # -- `$$` and malformed references --------------------------------------------------------------
    Case(
        "dollar-escapes",
        OK,
        folder("description: 'costs $$5; $${HOME} stays; a lone $ too; $${'", name="$$team"),
    ),
    Case("malformed-unclosed", BAD, folder("description: 'for ${TEAM'")),
    Case("malformed-without-dash", BAD, folder("description: '${TEAM:raw}'")),
    Case("malformed-name", BAD, folder("description: '${1TEAM}'")),
    Case("malformed-in-client-metadata", BAD, folder("client_metadata: {notes: [ok, '${BROKEN']}")),
    Case("malformed-in-number-field", BAD, "backend: {kind: sandbox, lock_ttl_seconds: '${TTL:-60'}\n"),
    Case("malformed-in-kind", BAD, "backend: {kind: '${KIND'}\n"),
    # -- anchors, aliases, merge keys ---------------------------------------------------------------
    Case(
        "anchors-and-merge-keys",
        OK,
        "safety:\n  folders: &limits {max_delete_percent: 10, max_update_percent: 20}\n  items: *limits\n"
        "  dataset_links:\n    <<: *limits\n    max_delete_percent: 50\n",
    ),
    Case(
        "merge-list-of-mappings",
        OK,
        "folders:\n  - &raw {name: raw, protect: true}\n  - &doc {name: doc, description: from an anchor}\n"
        "  - <<: [*raw, *doc]\n    name: curated\n",
    ),
    Case("merge-brings-unknown-key", BAD, "folders:\n  - <<: {colour: red}\n    name: raw\n"),
    Case("alias-declares-a-folder-twice", BAD, "folders:\n  - &raw {name: raw}\n  - *raw\n"),
    Case("duplicate-yaml-key", BAD, "backend: {kind: sandbox}\nbackend: {kind: encord}\n"),
    # -- numbers and their bounds -------------------------------------------------------------------
    Case("lock-ttl-min", OK, "backend: {kind: sandbox, lock_ttl_seconds: 30}\n"),
    Case("lock-ttl-max", OK, "backend: {kind: encord, lock_ttl_seconds: 3600}\n"),
    Case("lock-ttl-below-min", BAD, "backend: {kind: sandbox, lock_ttl_seconds: 29}\n"),
    Case("lock-ttl-above-max", BAD, "backend: {kind: encord, lock_ttl_seconds: 3601}\n"),
    Case("lock-ttl-whole-float", OK, "backend: {kind: sandbox, lock_ttl_seconds: 60.0}\n"),
    Case("lock-ttl-fraction", BAD, "backend: {kind: sandbox, lock_ttl_seconds: 60.5}\n"),
    Case("timeout-zero", BAD, "backend: {kind: encord, timeout_seconds: 0}\n"),
    Case("timeout-infinite", BAD, "backend: {kind: encord, timeout_seconds: .inf}\n"),
    Case("max-retries-above-max", BAD, "backend: {kind: encord, max_retries: 11}\n"),
    Case("concurrency-zero", BAD, "backend: {kind: encord, concurrency: 0}\n"),
    Case("quoted-number", OK, "backend: {kind: encord, max_retries: '3'}\n"),
    Case(
        "safety-thresholds",
        OK,
        "safety:\n  min_existing: 0\n  folders: {max_delete_percent: 0, max_update_percent: 100}\n"
        "  items: {max_delete_percent: 5}\n",
    ),
    Case("safety-threshold-above-100", BAD, "safety:\n  dataset_links: {max_update_percent: 101}\n"),
    Case("safety-min-existing-negative", BAD, "safety: {min_existing: -1}\n"),
    Case("safety-unknown-key", BAD, "safety:\n  folders: {max_delete: 10}\n"),
    Case("embedding-size-max", OK, keys("    emb: {type: embedding, size: 4096}")),  # above 2000: a warning
    Case("embedding-size-above-max", BAD, keys("    emb: {type: embedding, size: 4097}")),
    Case("embedding-size-zero", BAD, keys("    emb: {type: embedding, size: 0}")),
    Case("batch-zero", BAD, source("bucket: 'gs://cams-bucket', batch: {images: 0}")),
    # -- names from a list --------------------------------------------------------------------------
    Case("provider-unknown", BAD, "integrations:\n  - {title: cams, provider: gcs}\n"),
    Case("prune-folders-unknown", BAD, "prune: {folders: some}\n"),
    Case("types-and-skip", OK, source("bucket: 'gs://cams-bucket', types: {.mov: video, .tmp: skip}")),
    Case("types-unknown", BAD, source("bucket: 'gs://cams-bucket', types: {.mov: movie}")),
    Case(
        "key-shorthands",
        OK,
        keys("    caption: text\n    title: string\n    notes: long_string\n    when: datetime"),
    ),
    Case("key-shorthand-enum-needs-values", BAD, keys("    label: enum")),
    Case("key-type-unknown", BAD, keys("    label: {type: wat}")),
    Case("key-enum", OK, keys("    split: {type: enum, values: [train, val, test]}")),
    Case("key-enum-values-repeated", BAD, keys("    split: {type: enum, values: [train, train]}")),
    Case("key-enum-value-empty", BAD, keys("    split: {type: enum, values: ['']}")),
    Case("key-enum-without-values", BAD, keys("    split: {type: enum, values: []}")),
    Case("key-scalar-with-values", BAD, keys("    split: {type: text, values: [a]}")),
    Case("key-embedding-without-size", BAD, keys("    emb: {type: embedding}")),
    # -- metadata key names -------------------------------------------------------------------------
    Case("key-names", OK, keys("    'Key frames': text\n    café: text\n    a.b-c_d 2: number\n    2: text")),
    Case("key-name-dollar", BAD, keys("    $price: number")),
    Case("key-name-keyframes", BAD, keys("    key_frames: text")),
    Case("key-name-slash", BAD, keys("    a/b: text")),
    Case("key-name-only-separators", BAD, keys("    '- .': text")),
    Case("key-name-non-ascii-symbol", BAD, keys("    'price€': number")),
    # -- unknown and required keys; the backend's `kind` ------------------------------------------
    Case("unknown-top-level-key", BAD, "folder: []\n"),
    Case("unknown-folder-key", BAD, folder("colour: red")),
    Case("unknown-source-key", BAD, source("json: a.json, jsonl: b.jsonl")),
    Case("folder-without-name", BAD, "folders:\n  - {description: x}\n"),
    Case("dataset-without-title", BAD, "datasets:\n  - {description: x}\n"),
    Case("source-without-integration", BAD, folder("\n    data:\n      - {json: a.json}")),
    Case("backend-without-kind", BAD, "backend: {state: x.db}\n"),
    Case("backend-encord-minimal", OK, "backend: {kind: encord}\n"),
    Case("backend-sandbox-with-domain", BAD, "backend: {kind: sandbox, domain: 'https://api.encord.com'}\n"),
    Case("backend-encord-with-state", BAD, "backend: {kind: encord, state: x.db}\n"),
    Case("backend-kind-unknown", BAD, "backend: {kind: local}\n"),
    # -- data sources: exactly one of json, csv, bucket -------------------------------------------
    Case("source-json", OK, source("json: data/images.json")),
    Case(
        "source-csv-with-null-bucket", OK, source("csv: data/images.csv, bucket: null, ignore_errors: false")
    ),
    Case("source-json-and-csv", BAD, source("json: a.json, csv: a.csv")),
    Case("source-none", BAD, source("ignore_errors: true")),
    Case("source-empty-json-and-csv", OK, source("json: '', csv: a.csv")),
    Case(
        "source-bucket-with-rules",
        OK,
        source(
            "bucket: 'gs://cams-bucket/raw/', include: ['**/*.jpg'], exclude: [tmp/**], title: '{stem}', "
            "metadata: meta.jsonl, groups: [{directories: 'frames/*', type: image_group}], "
            "batch: {images: 500, videos: 10}"
        ),
    ),
    Case("source-csv-with-bucket-rule", BAD, source("csv: a.csv, include: ['*.jpg']")),
    Case("source-csv-with-null-title", BAD, source("csv: a.csv, title: null")),
    Case("source-bucket-not-gcs", BAD, source("bucket: 's3://cams-bucket/raw'")),
    Case("source-bucket-without-name", BAD, source("bucket: 'gs:///raw'")),
    # -- folders ----------------------------------------------------------------------------------
    Case(
        "folder-nesting",
        OK,
        "folders:\n  - name: raw\n    children:\n      - name: cams\n        children:\n"
        "          - {name: front, protect: true, renamed_from: raw/front}\n",
    ),
    Case("folder-too-deep", BAD, nested(201)),
    Case("folder-name-with-slash", BAD, "folders:\n  - {name: raw/cams}\n"),
    Case("folder-name-trailing-space", BAD, "folders:\n  - {name: 'raw '}\n"),
    Case("folder-name-newline", BAD, 'folders:\n  - {name: "raw\\n"}\n'),
    Case("folder-name-next-line", BAD, 'folders:\n  - {name: "raw\\N"}\n'),  # U+0085, white space to Python
    Case("folder-name-inner-space", OK, "folders:\n  - {name: 'raw cams'}\n"),
    Case("folder-name-300", OK, "folders:\n  - {name: " + "n" * 300 + "}\n"),
    Case("folder-name-301", BAD, "folders:\n  - {name: " + "n" * 301 + "}\n"),
    Case("folder-name-timestamp", BAD, "folders:\n  - {name: 2024-01-01}\n"),  # YAML reads a date
    Case("folder-name-yes", BAD, "folders:\n  - {name: yes}\n"),  # YAML 1.1 reads a boolean
    Case("folder-name-tagged", OK, "folders:\n  - {name: !!str 2024}\n"),
    Case("folder-name-python-tag", BAD, "folders:\n  - {name: !!python/name:os.system ''}\n"),
    Case("folder-prune-without-data", BAD, folder("prune: true")),
    Case("folder-prune-with-null-data", BAD, folder("prune: true, data: null")),
    Case("folder-prune-empties", OK, folder("prune: true, data: []")),
    Case("folder-prune-interpolated", OK, folder("prune: '${PRUNE_RAW:-false}'")),
    Case(
        "client-metadata-json",
        OK,
        folder("client_metadata: {a: {b: [1, 2.5, true, null, x]}, c: '2024-01-01'}"),
    ),
    Case("client-metadata-date", BAD, folder("client_metadata: {day: 2024-01-02}")),
    Case("client-metadata-binary", BAD, folder("client_metadata: {blob: !!binary aGk=}")),
    Case("client-metadata-nan", BAD, folder("client_metadata: {x: .nan}")),
    # -- datasets and their folder references -----------------------------------------------------
    Case(
        "dataset-folder-refs",
        OK,
        "folders:\n  - {name: raw, children: [{name: cams}]}\n"
        "datasets:\n  - {title: d, folders: [raw, /raw/cams/, {path: raw/cams, recursive: false}]}\n"
        "  - {title: unmanaged}\n  - {title: empty, folders: []}\n",
    ),
    Case("dataset-empty-path", BAD, "folders: []\ndatasets:\n  - {title: d, folders: ['']}\n"),
    Case("dataset-ref-empty-path", BAD, "folders: []\ndatasets:\n  - {title: d, folders: [{path: ''}]}\n"),
    Case(
        "dataset-ref-unknown-key",
        BAD,
        "folders: [{name: raw}]\ndatasets:\n  - {title: d, folders: [{path: raw, deep: true}]}\n",
    ),
    Case(
        "dataset-undeclared-folder",
        BAD,
        "folders: [{name: raw}]\ndatasets:\n  - {title: d, folders: [cams]}\n",
    ),
    # -- prune, acknowledge, forget -----------------------------------------------------------------
    Case("prune-forms", OK, "prune: {folders: all, datasets: false, integrations: false}\n"),
    Case("prune-empty-and-null", OK, "prune: {}\nsafety:\n"),
    Case("prune-as-boolean", BAD, "prune: true\n"),
    Case(
        "acknowledge-addresses",
        OK,
        "acknowledge: [dataset.old-title, integration.old cams, schema_key.x.y]\n",
    ),
    Case("acknowledge-without-dot", BAD, "acknowledge: [dataset]\n"),
    Case("acknowledge-empty-kind", BAD, "acknowledge: [_.x]\n"),
    Case("acknowledge-digit-in-kind", BAD, "acknowledge: [dataset2.x]\n"),
    Case("acknowledge-empty-name", BAD, "acknowledge: [dataset.]\n"),
    Case("forget-folder", OK, "forget: [folder.raw/old, folder./raw/]\n"),
    Case("forget-not-a-folder", BAD, "forget: [dataset.old]\n"),
    Case("forget-only-slashes", BAD, "forget: [folder./]\n"),
    # -- integrations -------------------------------------------------------------------------------
    Case(
        "integration-bucket-cors-iam",
        OK,
        "integrations:\n  - title: cams\n    bucket: cams.bucket-1\n"
        "    cors: [{origins: ['*'], max_age_seconds: 60}]\n"
        "    iam: {member: 'serviceAccount:reader@p.iam.gserviceaccount.com'}\n",
    ),
    Case("integration-bucket-name", BAD, "integrations:\n  - {title: cams, bucket: Cams_Bucket}\n"),
    Case("integration-bucket-newline", BAD, 'integrations:\n  - {title: cams, bucket: "cams-bucket\\n"}\n'),
    Case(
        "integration-bucket-not-gcp",
        BAD,
        "integrations:\n  - {title: cams, provider: aws, bucket: cams-bucket}\n",
    ),
    Case("integration-cors-without-bucket", BAD, "integrations:\n  - {title: cams, cors: []}\n"),
    Case(
        "integration-iam-without-bucket",
        BAD,
        "integrations:\n  - {title: cams, iam: {member: 'user:a@b.c'}}\n",
    ),
    Case(
        "integration-unmanaged-cors",
        OK,
        "integrations:\n  - {title: cams, provider: azure, bucket: null, cors: unmanaged}\n",
    ),
    Case("integration-iam-member", BAD, INTEGRATION.replace("}", ", iam: {member: 'reader@p.iam'}}")),
    # -- the backend's domain and lock ------------------------------------------------------------
    Case("domain-us", OK, "backend: {kind: encord, domain: 'https://api.us.encord.com'}\n"),
    Case("domain-local-emulator", OK, "backend: {kind: encord, domain: 'http://localhost:8080/'}\n"),
    Case("domain-ipv6", OK, "backend: {kind: encord, domain: 'https://[::1]:8080'}\n"),
    Case("domain-credentials", BAD, "backend: {kind: encord, domain: 'https://me:secret@api.encord.com'}\n"),
    Case("domain-path", BAD, "backend: {kind: encord, domain: 'https://api.encord.com/v1'}\n"),
    Case("domain-scheme", BAD, "backend: {kind: encord, domain: 'ftp://api.encord.com'}\n"),
    Case(
        "domain-port-out-of-range", BAD, "backend: {kind: encord, domain: 'https://api.encord.com:65536'}\n"
    ),
    Case("domain-space-in-host", BAD, "backend: {kind: encord, domain: 'https://exa mple.com'}\n"),
    Case("domain-tab-in-host", BAD, 'backend: {kind: encord, domain: "https://exa\\tmple.com"}\n'),
    Case("domain-empty-query", BAD, "backend: {kind: encord, domain: 'https://api.encord.com/?'}\n"),
    Case("domain-not-ipv6", BAD, "backend: {kind: encord, domain: 'https://[1:2]:8080'}\n"),
    Case("domain-text-around-brackets", BAD, "backend: {kind: encord, domain: 'https://api[::1]x:8080'}\n"),
    Case("lock-gcs", OK, "backend: {kind: sandbox, lock: 'gs://locks/team/apply.json'}\n"),
    Case("lock-gcs-without-object", BAD, "backend: {kind: sandbox, lock: 'gs://locks'}\n"),
    Case("lock-gcs-directory", BAD, "backend: {kind: encord, lock: 'gs://locks/team/'}\n"),
    Case("lock-other-scheme", BAD, "backend: {kind: encord, lock: 's3://locks/apply.json'}\n"),
    Case("lock-local", OK, "backend: {kind: encord, lock: .reconciler/apply.lock, ssh_key_file: ~}\n"),
    # -- path-like fields (not read while loading) --------------------------------------------------
    Case(
        "paths-sandbox",
        OK,
        "backend:\n  kind: sandbox\n  state: /var/lib/sandbox.db\n  buckets: {cams-bucket: ../data}\n",
    ),
    Case(
        "paths-encord",
        OK,
        "backend: {kind: encord, ssh_key_file: ~/.ssh/id_ed25519, bearer_token: '${TOKEN:-}'}\n",
    ),
    Case("paths-sources", OK, source("json: ../../shared/images.json")),
    # -- the document itself ------------------------------------------------------------------------
    Case("empty-file", OK, ""),
    Case("comments-only", OK, "# yaml-language-server: $schema=schema.json\n"),
    Case("null-document", BAD, "~\n"),
    Case("list-document", BAD, "- folders\n"),
    Case("scalar-document", BAD, "folders\n"),
    # -- directories: each file on its own for the schema, merged by the CLI ----------------------
    Case(
        "files-refer-across",
        OK,
        {"a.yaml": "folders: [{name: raw}]\n", "b.yaml": "datasets:\n  - {title: d, folders: [raw]}\n"},
    ),
    Case(
        "files-declare-backend-twice",
        BAD,
        {"a.yaml": "backend: {kind: sandbox}\n", "b.yaml": "backend: {kind: sandbox}\n"},
    ),
]

# The cases where schema.json and the CLI disagree, and why. Keep it short: a case belongs here only when
# a JSON Schema cannot say the rule, or when the CLI is wrong (then the case names the bug).
DISAGREE: dict[str, str] = {
    # The environment: the schema sees `${VAR}`, whose value only the CLI knows.
    "interp-default-out-of-range": "the value comes from the environment (here the default 5 < 30)",
    "interp-unset-without-default": "whether a variable is set is known only where the CLI runs",
    "interp-unquoted-number-as-name": "unquoted, ${YEAR:-2024} expands to 2024 and is read as a number",
    # What a JSON Schema cannot say.
    "alias-declares-a-folder-twice": "uniqueness by a field (folder paths, titles, buckets) is no JSON "
    "Schema keyword; uniqueItems compares whole entries",
    "dataset-undeclared-folder": "a reference to another part of the configuration (or another file)",
    "files-declare-backend-twice": "sections declared in two files: the schema checks one file at a time",
    "folder-too-deep": "the loader's limits (200 folder levels, 1000 YAML levels, 50,000 nodes, 10 MB) are "
    "counted while loading; a JSON Schema has no depth",
    "timeout-infinite": ".inf and .nan are YAML numbers, not JSON ones; JSON Schema cannot ask for a finite "
    "number (a JSON document never holds another)",
    "client-metadata-nan": "as timeout-infinite",
    "key-name-non-ascii-symbol": "Unicode letters and digits (str.isalnum) cannot be told from other "
    "characters by a portable regex (\\p{L} needs ECMA's u flag; Python's re lacks it): the schema lets "
    "non-ASCII through and the CLI judges",
    "domain-not-ipv6": "an IPv6 address's grammar (ipaddress, in urlsplit) as a regex would dwarf the rest "
    "of the schema: the schema takes hex digits, ':' and '.' in brackets",
    "duplicate-yaml-key": "the schema validates the parsed mapping, which keeps one of the values; editors' "
    "YAML parsers report the duplicate themselves",
    # The CLI accepts what it should not; the schema states the rule.
    "quoted-number": "CLI leniency, pydantic's lax mode: the models take '3' (and true) for an integer, "
    "'yes' and 1 for a boolean; the schema asks for the type itself (a quoted ${VAR} is accepted)",
}


# -- the two verdicts ---------------------------------------------------------------------------------


def _write(case: Case, tmp_path: Path) -> Path:
    if isinstance(case.files, str):
        path = tmp_path / "reconciler.yaml"
        path.write_text(case.files, encoding="utf-8")
        return path
    for name, text in case.files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def cli_accepts(case: Case, tmp_path: Path) -> bool:
    try:
        load_config(_write(case, tmp_path), env=case.env)
    except ConfigError:
        return False
    return True


@functools.cache
def _ecma(pattern: str) -> regress.Regex:
    return regress.Regex(pattern, "u")


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: Any
) -> Iterator[jsonschema.ValidationError]:
    if validator.is_type(instance, "string") and not _ecma(pattern).find(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


VALIDATORS = {
    "python-re": jsonschema.Draft202012Validator(SCHEMA),
    "ecma-262": jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _ecma_pattern})(
        SCHEMA
    ),
}


def editor_accepts(text: str, validator: Any) -> bool:
    """schema.json's verdict on a file as written (no interpolation)."""
    try:
        if yaml.compose(text, Loader=yaml.SafeLoader) is None:
            return True  # no document: nothing to validate
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return False  # the editor shows a YAML error
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # jsonschema recurses through nested folders
    try:
        return bool(validator.is_valid(document))
    finally:
        sys.setrecursionlimit(limit)


def schema_accepts(case: Case, validator: Any) -> bool:
    files = [case.files] if isinstance(case.files, str) else list(case.files.values())
    return all(editor_accepts(text, validator) for text in files)


# -- the tests -------------------------------------------------------------------------------------------


def test_the_corpus_is_broad_and_the_exceptions_name_its_cases() -> None:
    ids = [case.id for case in CORPUS]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(ids) >= 40
    assert set(DISAGREE) <= set(ids), set(DISAGREE) - set(ids)
    assert len(DISAGREE) <= 20, "DISAGREE is for what a JSON Schema cannot say: keep it short"


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.id)
def test_the_schema_accepts_what_the_cli_accepts(case: Case, tmp_path: Path) -> None:
    cli = cli_accepts(case, tmp_path)
    assert cli == case.valid, f"the CLI now {'accepts' if cli else 'refuses'} {case.id}: update the corpus"
    for engine, validator in VALIDATORS.items():
        schema = schema_accepts(case, validator)
        if case.id in DISAGREE:
            assert schema != cli, f"{case.id} agrees now ({engine}): take it off DISAGREE"
        else:
            verdict = "accepts" if cli else "refuses"
            assert schema == cli, f"the CLI {verdict} {case.id}, schema.json ({engine}) does not"


def test_the_examples_and_the_readme_tour_validate_against_the_schema() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    texts = [path.read_text(encoding="utf-8") for path in sorted((ROOT / "examples").rglob("*.yaml"))]
    texts.append(
        "# yaml-language-server" + readme.split("```yaml\n# yaml-language-server")[1].split("```")[0]
    )
    for validator in VALIDATORS.values():
        for text in texts:
            assert editor_accepts(text, validator), text[:200]


def test_schema_json_is_a_2020_12_schema_whose_patterns_ecma_262_and_python_both_read() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)

    def patterns(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                yield node["pattern"]
            for value in node.values():
                yield from patterns(value)
        elif isinstance(node, list):
            for value in node:
                yield from patterns(value)

    found = set(patterns(SCHEMA))
    assert len(found) >= 10
    for pattern in found:
        _ecma(pattern)
        regress.Regex(pattern)  # JavaScript without the u flag
        re.compile(pattern)


def test_folder_names_end_in_what_python_strips_as_white_space() -> None:
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    pattern = generator.NOT_FOLDER_NAME  # a '/', or white space at either end
    for refused in (lambda name: _ecma(pattern).find(name), lambda name: re.search(pattern, name)):
        assert all(refused(f"raw{ch}") and refused(f"{ch}raw") for ch in spaces)
        assert not refused("raw\ufeffcams\ufeff")  # white space to JavaScript's \s, not to Python
