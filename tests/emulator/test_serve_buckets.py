"""`reconciler emulator serve --bucket NAME=DIR`: parsing, and a served emulator that checks its buckets."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from reconciler.cli.emulator_cmd import add_serve_options, parse_buckets
from reconciler.cli.main import build_parser
from reconciler.errors import ReconcilerError
from tests.fidelity.conftest import EncordUserClient, running_emulator  # the SDK, imported warning-free
from tests.fidelity.signing import create_integration


def test_bucket_options_parse_into_a_mapping(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_serve_options(parser)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    args = parser.parse_args(["--bucket", f"alpha={tmp_path / 'a'}", "--bucket", f"beta={tmp_path / 'b'}"])
    assert parse_buckets(args.bucket) == {"alpha": tmp_path / "a", "beta": tmp_path / "b"}
    assert parse_buckets(parser.parse_args([]).bucket) == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [("nodir", "expected NAME=DIR"), ("=x", "expected NAME=DIR"), ("b=/no/such/dir", "not a directory")],
)
def test_bad_bucket_options_are_refused(value: str, message: str) -> None:
    with pytest.raises(ReconcilerError, match=message):
        parse_buckets([value])


def test_a_bucket_given_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReconcilerError, match="given twice"):
        parse_buckets([f"b={tmp_path}", f"b={tmp_path}"])


def test_serve_takes_the_bucket_option() -> None:
    argv = ["emulator", "serve", "--state", "s", "--authorized-key", "k", "--bucket", "b=d"]
    assert build_parser().parse_args(argv).bucket == ["b=d"]


@pytest.mark.fidelity
def test_a_served_emulator_reports_missing_objects_of_its_buckets(tmp_path: Path) -> None:
    bucket = tmp_path / "files"
    bucket.mkdir()
    (bucket / "here.jpg").write_bytes(b"jpg")
    with running_emulator(tmp_path / "server", "--bucket", f"data={bucket}") as server:
        with server.http() as http:
            integration = create_integration(http, server.private_key, "gcs", "gcp")
        client = EncordUserClient.create_with_ssh_private_key(server.private_key_pem, domain=server.url)
        folder = client.create_storage_folder("f")
        spec = {"images": [{"objectUrl": "gs://data/here.jpg"}, {"objectUrl": "gs://data/gone.jpg"}]}
        job = folder.add_private_data_to_folder_start(integration, spec, ignore_errors=True)
        result = folder.add_private_data_to_folder_get_result(job, timeout_seconds=30)
    assert (result.units_done_count, result.units_error_count) == (1, 1)
    assert result.unit_errors[0].object_urls == ["gs://data/gone.jpg"]
    assert "404 No such object: data/gone.jpg" in result.unit_errors[0].error
