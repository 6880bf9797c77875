"""A held-out registration corpus, through `reconciler apply` against `reconciler emulator serve`: the
upload-job bodies in the emulator's request log are the ones the pinned SDK sends for the same entries.

The corpus is written the way Encord's registration guide writes its examples (videos with key frames
and video-level metadata, images with embeddings, audio, text, PDF, image groups and sequences, DICOM
series, mixed files, media metadata in both spellings); none of it is shaped for reconciler. The SDK's side
is built here, independently of reconciler's builders, as an SDK user would: each file's entries as the
SDK's DTOs (`DataUploadItems`, `to_dict()`), except videos with a key-frame `config`, which those DTOs
cannot carry and which the SDK's spec-file path sends verbatim (`externalFiles`).

Compared: every entry of every job, by list; each job's top-level keys and flags; the registration
file's entries. Jobs are batched differently on the two sides (reconciler by source, kind and size), so
entries are compared as multisets, not job by job.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic.warnings import PydanticDeprecatedSince212

from reconciler.cli.main import main
from tests.fidelity.conftest import running_emulator
from tests.fidelity.signing import create_integration

with warnings.catch_warnings():  # see conftest.py
    warnings.filterwarnings("ignore", category=PydanticDeprecatedSince212)
    from encord.orm import storage as s

pytestmark = pytest.mark.fidelity

B = "s3://corpus-bucket"
EMBEDDING = [0.125, -0.5, 0.75, 1.0]
FILES: dict[str, dict[str, Any]] = {
    "videos.json": {
        "videos": [
            {
                "objectUrl": f"{B}/videos/drive_01.mp4",
                "title": "Drive 01",
                "clientMetadata": {"keyframes": [13, 17, 19, 23, 127], "scene": "highway"},
                "config": {"sampling_rate": 0, "keyframe_mode": "frame"},
            },
            {
                "objectUrl": f"{B}/videos/drive_02.mp4",
                "videoMetadata": {
                    "fps": 29.97,
                    "duration": 61.5,
                    "width": 1920,
                    "height": 1080,
                    "file_size": 104857600,
                    "mime_type": "video/mp4",
                },
                "clientMetadata": {"scene": "urban", "frames": {"12": {"label_hint": "stop sign"}}},
            },
            {"objectUrl": f"{B}/videos/drive_03.mp4"},
        ],
        "skip_duplicate_urls": True,
    },
    "images.json": {
        "images": [
            {"objectUrl": f"{B}/images/0001.jpg", "clientMetadata": {"clip": EMBEDDING, "scene": "urban"}},
            {
                "objectUrl": f"{B}/images/0002.png",
                "title": "Ünïcode / title",
                "imageMetadata": {"mimeType": "image/png", "fileSize": 2048, "height": 600, "width": 800},
            },
        ],
        "image_groups": [
            {"title": "group-a", "objectUrl_0": f"{B}/g/a0.jpg", "objectUrl_1": f"{B}/g/a1.jpg"},
            {
                "title": "sequence-b",
                "createVideo": True,
                "clientMetadata": {"scene": "rural"},
                "objectUrl_1": f"{B}/s/b1.jpg",
                "objectUrl_0": f"{B}/s/b0.jpg",
            },
        ],
        "upsert_metadata": False,
    },
    "mixed.json": {
        "audio": [
            {
                "objectUrl": f"{B}/audio/cabin.mp3",
                "audioMetadata": {
                    "duration": 30.0,
                    "file_size": 480000,
                    "mime_type": "audio/mpeg",
                    "sample_rate": 44100,
                    "bit_depth": 16,
                    "codec": "mp3",
                    "num_channels": 2,
                },
            }
        ],
        "text": [
            {"objectUrl": f"{B}/text/notes.txt", "textMetadata": {"fileSize": 120, "mimeType": "text/plain"}}
        ],
        "pdf": [
            {
                "objectUrl": f"{B}/docs/manual.pdf",
                "title": "Manual",
                "pdfMetadata": {"fileSize": 9, "numPages": 3},
            }
        ],
        "nifti": [{"objectUrl": f"{B}/scans/brain.nii.gz"}],
        "dicom_series": [
            {
                "title": "CT-1",
                "clientMetadata": {"scene": "clinic"},
                "objectUrl_0": f"{B}/dicom/1",
                "objectUrl_1": f"{B}/dicom/2",
            }
        ],
        "skipDuplicateUrls": True,
    },
}
CONFIG = """\
backend: {{kind: encord, domain: {domain}, ssh_key_file: {key}}}
integrations: [{{title: s3, provider: aws}}]
metadata_schema:
  keys: {{scene: varchar, clip: {{type: embedding, size: 4}}}}
folders:
  - name: corpus
    data:
      - {{integration: s3, json: videos.json}}
      - {{integration: s3, json: images.json}}
      - {{integration: s3, json: mixed.json}}
"""


def _snake_name(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _snake(media: dict[str, Any]) -> dict[str, Any]:
    return {_snake_name(k): v for k, v in media.items()}


def _frames(entry: dict[str, Any]) -> list[str]:
    return [
        entry[k] for k in sorted((k for k in entry if k.startswith("objectUrl_")), key=lambda k: int(k[10:]))
    ]


def sdk_side() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the SDK's `dataItems` for every entry, the videos it would send as a registration file)."""
    items = s.DataUploadItems(skip_duplicate_urls=True)
    as_file: list[dict[str, Any]] = []
    single = {
        "images": (items.images, s.DataUploadImage, "imageMetadata", s.CustomerProvidedImageMetadata),
        "videos": (items.videos, s.DataUploadVideo, "videoMetadata", s.CustomerProvidedVideoMetadata),
        "audio": (items.audio, s.DataUploadAudio, "audioMetadata", s.CustomerProvidedAudioMetadata),
        "text": (items.text, s.DataUploadText, "textMetadata", s.CustomerProvidedTextMetadata),
        "pdf": (items.pdf, s.DataUploadPDF, "pdfMetadata", s.CustomerProvidedPdfMetadata),
        "nifti": (items.nifti, s.DataUploadNifti, None, None),
    }
    for document in FILES.values():
        for key, entries in document.items():
            if not isinstance(entries, list):
                continue
            for e in entries:
                if "config" in e:
                    as_file.append(e)
                elif key in single:
                    target, dto, media_key, media_dto = single[key]
                    media = {}
                    if media_key and media_key in e:
                        media = {_snake_name(media_key): media_dto(**_snake(e[media_key]))}
                    target.append(
                        dto(
                            object_url=e["objectUrl"],
                            title=e.get("title"),
                            client_metadata=e.get("clientMetadata", {}),
                            **media,
                        )
                    )
                elif key == "image_groups":
                    items.image_groups.append(
                        s.DataUploadImageGroup(
                            images=[s.DataUploadImageGroupImage(url=u) for u in _frames(e)],
                            title=e.get("title"),
                            client_metadata=e.get("clientMetadata", {}),
                            create_video=e.get("createVideo", False),
                        )
                    )
                else:
                    items.dicom_series.append(
                        s.DataUploadDicomSeries(
                            dicom_files=[
                                s.DataUploadDicomSeriesDicomFile(url=u, title=None) for u in _frames(e)
                            ],
                            title=e.get("title"),
                            client_metadata=e.get("clientMetadata", {}),
                        )
                    )
    return items.to_dict(), as_file


def _multiset(entries: list[dict[str, Any]]) -> Counter[str]:
    return Counter(json.dumps(e, sort_keys=True) for e in entries)


def test_apply_sends_the_bodies_the_sdk_sends_for_the_same_entries(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "emulator") as server:
        with server.http() as http:
            create_integration(http, server.private_key, "s3", "aws")
        for name, document in FILES.items():
            (tmp_path / name).write_text(json.dumps(document, ensure_ascii=False))
        config = tmp_path / "reconciler.yaml"
        config.write_text(CONFIG.format(domain=server.url, key=server.private_key_path))
        assert main(["apply", str(config), "--auto-approve"]) == 0
        assert main(["plan", str(config), "--detailed-exitcode"]) == 0
        jobs = [
            e["body"]
            for e in server.read_log()
            if e["method"] == "POST" and e["path"].endswith("/data-upload-jobs") and e["status"] == 200
        ]

    theirs, their_file = sdk_side()
    structured = [job["dataItems"] for job in jobs if "dataItems" in job]
    files = [job["externalFiles"] for job in jobs if "externalFiles" in job]
    assert structured and files
    for body in structured:
        assert sorted(body) == sorted(theirs)  # every list and flag (the log keeps bodies key-sorted; the
        # order of the bytes is held by test_upload_parity.py through Content-Digest)
        assert (body["skipDuplicateUrls"], body["upsertMetadata"]) == (True, False)
    for key, sdk_entries in theirs.items():
        if isinstance(sdk_entries, list):
            ours = [entry for body in structured for entry in body[key]]
            assert _multiset(ours) == _multiset(sdk_entries), key
    assert files == [{"videos": their_file, "skip_duplicate_urls": True}]
    assert all(job["ignoreErrors"] is True and "integrationHash" in job for job in jobs)
