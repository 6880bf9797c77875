"""The emulator's upload-job route accepts what the official SDK sends and refuses what Encord would.

* Every body the pinned SDK's models produce (`DataUploadItems(...).to_dict()`, the corpus below covers
  each item model with and without its optional fields) is accepted, registered, and every stored item
  reads back through the SDK's own `StorageItem` model.
* Every body the SDK's models refuse (a missing field, a mistyped one, a wrong `externalFileType`,
  incomplete media metadata) is refused with a 400 that names the field; so is every body the SDK could
  never send (an unknown field, a snake_case spelling, a field the models no longer have, a registration
  file's keys inside a structured entry). The job store is unchanged after each.
* A registration file (`externalFiles`) gets the same treatment for the keys Encord documents.

Known limit, listed in the emulator's README: `timeSeries`, `scenes` and `imageGroupsFromItems` are
refused with a 400 saying the emulator does not support them.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic.warnings import PydanticDeprecatedSince212

with warnings.catch_warnings():  # the SDK's own model warns once at import (see tests/fidelity/conftest.py)
    warnings.filterwarnings("ignore", category=PydanticDeprecatedSince212)
    from encord.orm import storage as s

from tests.emulator.sandbox import Sandbox

IMAGE_MEDIA = s.CustomerProvidedImageMetadata(mime_type="image/jpeg", file_size=10, height=4, width=6)
VIDEO_MEDIA = s.CustomerProvidedVideoMetadata(
    fps=25.0, duration=2.0, width=640, height=480, file_size=99, mime_type="video/mp4"
)
AUDIO_MEDIA = s.CustomerProvidedAudioMetadata(
    duration=1.0,
    file_size=5,
    mime_type="audio/mpeg",
    sample_rate=8000,
    bit_depth=16,
    codec="mp3",
    num_channels=1,
)
TAGS = {"00080018": {"vr": "UI", "Value": ["1.2.3"]}, "00100020": None}


def _sdk_bodies() -> dict[str, dict[str, Any]]:
    """name -> `dataItems` as the SDK's to_dict() makes it."""
    url = "gs://b/strict/{}".format
    items = {
        "empty": s.DataUploadItems(),
        "images": s.DataUploadItems(
            images=[
                s.DataUploadImage(object_url=url("a.jpg")),
                s.DataUploadImage(
                    object_url=url("b.jpg"),
                    title="b",
                    client_metadata={"k": [1, None]},
                    image_metadata=IMAGE_MEDIA,
                ),
            ],
            skip_duplicate_urls=True,
            upsert_metadata=True,
        ),
        "videos": s.DataUploadItems(
            videos=[s.DataUploadVideo(object_url=url("v.mp4"), video_metadata=VIDEO_MEDIA)]
        ),
        "audio": s.DataUploadItems(
            audio=[s.DataUploadAudio(object_url=url("a.mp3"), audio_metadata=AUDIO_MEDIA)]
        ),
        "text": s.DataUploadItems(
            text=[
                s.DataUploadText(
                    object_url=url("t.txt"),
                    text_metadata=s.CustomerProvidedTextMetadata(file_size=1, mime_type="text/plain"),
                )
            ]
        ),
        "pdf": s.DataUploadItems(
            pdf=[
                s.DataUploadPDF(
                    object_url=url("p.pdf"),
                    pdf_metadata=s.CustomerProvidedPdfMetadata(file_size=1, num_pages=2),
                )
            ]
        ),
        "nifti": s.DataUploadItems(nifti=[s.DataUploadNifti(object_url=url("n.nii.gz"), title="n")]),
        "groups": s.DataUploadItems(
            image_groups=[
                s.DataUploadImageGroup(
                    images=[
                        s.DataUploadImageGroupImage(
                            url=url("g/0.jpg"), title="first", image_metadata=IMAGE_MEDIA
                        ),
                        s.DataUploadImageGroupImage(url=url("g/1.jpg")),
                    ],
                    title="group",
                ),
                s.DataUploadImageGroup(
                    images=[s.DataUploadImageGroupImage(url=url("q/0.jpg"))],
                    title="sequence",
                    create_video=True,
                ),
            ]
        ),
        "dicom": s.DataUploadItems(
            dicom_series=[
                s.DataUploadDicomSeries(
                    dicom_files=[
                        s.DataUploadDicomSeriesDicomFile(url=url("d/0"), title=None),
                        s.DataUploadDicomSeriesDicomFile(
                            url=url("d/1.dcm"),
                            title="slice",
                            dicom_metadata=s.CustomerProvidedDicomSeriesDicomFileMetadata(tags=TAGS),
                        ),
                    ],
                    title="series",
                    client_metadata={"modality": "CT"},
                )
            ]
        ),
    }
    return {name: body.to_dict() for name, body in items.items()}


SDK_BODIES = _sdk_bodies()


async def _start(sandbox: Sandbox, folder: str, integration: str, body: dict[str, Any]) -> Any:
    return await sandbox(
        "POST",
        f"/v2/public/storage/folders/{folder}/data-upload-jobs",
        body={**body, "integrationHash": integration, "ignoreErrors": True},
    )


@pytest.mark.parametrize("name", list(SDK_BODIES))
async def test_every_body_the_sdk_produces_is_accepted_and_reads_back_through_the_sdk(
    make_sandbox: Callable[..., Sandbox], name: str
) -> None:
    sandbox = make_sandbox()
    integration, folder = await sandbox.integration(), await sandbox.folder()
    started = await _start(sandbox, folder, integration, {"dataItems": SDK_BODIES[name]})
    assert started.status_code == 200, started.text
    job = started.json()
    state = (
        await sandbox("GET", f"/v2/public/storage/folders/{folder}/data-upload-jobs/{job}", timeoutSeconds=30)
    ).json()
    units = sum(len(v) for v in SDK_BODIES[name].values() if isinstance(v, list))
    assert (state["status"], state["unitsDoneCount"], state["unitErrors"]) == ("DONE", units, [])
    listed = (await sandbox("GET", f"/v2/public/storage/folders/{folder}/items", pageSize=100)).json()
    read_back = [s.StorageItem.from_dict(item) for item in listed["results"]]
    assert len(read_back) == units
    if name == "videos":
        (video,) = read_back
        assert (video.fps, video.duration, video.width, video.height, video.file_size, video.mime_type) == (
            25.0,
            2.0,
            640,
            480,
            99,
            "video/mp4",
        )


def _changed(name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    body = copy.deepcopy(SDK_BODIES[name])
    change(body)
    return body


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change at `a.0.b` (list indices as numbers); `value` DELETE removes the key."""

    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value == "DELETE":
            del target[last]
        else:
            target[last] = value

    return change


# (case, dataItems, words the 400 must contain). The SDK's models refuse each of these.
REFUSED_BY_THE_SDK = [
    (
        "no objectUrl",
        _changed("images", _set("images.0.objectUrl", "DELETE")),
        "images[0].objectUrl: Field required",
    ),
    (
        "wrong file type",
        _changed("images", _set("images.0.externalFileType", "VIDEO")),
        "images[0].externalFileType",
    ),
    (
        "media without width",
        _changed("images", _set("images.1.imageMetadata.width", "DELETE")),
        "imageMetadata.width",
    ),
    ("fps not a number", _changed("videos", _set("videos.0.videoMetadata.fps", "fast")), "videoMetadata.fps"),
    ("title not a string", _changed("images", _set("images.0.title", 5)), "images[0].title"),
    (
        "metadata not an object",
        _changed("images", _set("images.0.clientMetadata", "x")),
        "images[0].clientMetadata",
    ),
    (
        "group without images",
        _changed("groups", _set("imageGroups.0.images", "DELETE")),
        "imageGroups[0].images",
    ),
    (
        "dicom file without url",
        _changed("dicom", _set("dicomSeries.0.dicomFiles.0.url", "DELETE")),
        "dicomFiles[0].url",
    ),
    ("flag not a boolean", _changed("images", _set("skipDuplicateUrls", "maybe")), "skipDuplicateUrls"),
    ("images not a list", _changed("empty", _set("images", {})), "images"),
]
# The SDK's models would take these (they ignore extra keys, and read snake_case too), but the SDK never
# sends them: its to_dict() writes only its own fields, in camelCase.
NEVER_SENT_BY_THE_SDK = [
    (
        "an unknown field",
        _changed("images", _set("images.0.foo", 1)),
        "images[0].foo: Extra inputs are not permitted",
    ),
    (
        "snake_case media",
        _changed("images", _set("images.1.imageMetadata", {**IMAGE_MEDIA.model_dump()})),
        "imageMetadata",
    ),
    ("snake_case list", _changed("empty", _set("image_groups", [])), "image_groups: Extra inputs"),
    (
        "a field the DTO dropped",
        _changed("groups", _set("imageGroups.0.clusterByResolution", False)),
        "clusterByResolution",
    ),
    (
        "registration-file keys",
        _changed("groups", _set("imageGroups.0.objectUrl_0", "gs://b/x.jpg")),
        "objectUrl_0",
    ),
]


@pytest.mark.parametrize(
    ("shape", "body", "words"), REFUSED_BY_THE_SDK, ids=[c[0] for c in REFUSED_BY_THE_SDK]
)
def test_the_sdk_models_refuse_these(shape: str, body: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError):
        s.DataUploadItems.model_validate(body)


@pytest.mark.parametrize(
    ("shape", "body", "words"),
    REFUSED_BY_THE_SDK + NEVER_SENT_BY_THE_SDK,
    ids=[c[0] for c in REFUSED_BY_THE_SDK + NEVER_SENT_BY_THE_SDK],
)
async def test_bodies_the_sdk_refuses_or_never_sends_are_a_400_naming_the_field(
    make_sandbox: Callable[..., Sandbox], shape: str, body: dict[str, Any], words: str
) -> None:
    sandbox = make_sandbox()
    integration, folder = await sandbox.integration(), await sandbox.folder()
    refused = await _start(sandbox, folder, integration, {"dataItems": body})
    assert refused.status_code == 400, refused.text
    assert words in refused.json()["message"]
    listed = (await sandbox("GET", f"/v2/public/storage/folders/{folder}/items")).json()
    assert listed["results"] == []


REGISTRATION_FILES = [
    (
        "an unknown entry key",
        {"images": [{"objectUrl": "gs://b/a.jpg", "foo": 1}]},
        "images[0]: unknown key 'foo'",
    ),
    ("camelCase list key", {"imageGroups": []}, "Unknown key 'imageGroups'"),
    (
        "incomplete media",
        {"images": [{"objectUrl": "gs://b/a.jpg", "imageMetadata": {"width": 1}}]},
        "imageMetadata.height",
    ),
    (
        "mistyped media",
        {"videos": [{"objectUrl": "gs://b/v.mp4", "videoMetadata": {"fps": "fast"}}]},
        "videoMetadata.fps",
    ),
    (
        "structured frames",
        {"image_groups": [{"title": "g", "images": [{"url": "gs://b/a.jpg"}]}]},
        "unknown key 'images'",
    ),
    (
        "bad key-frame mode",
        {"videos": [{"objectUrl": "gs://b/v.mp4", "config": {"keyframe_mode": "x"}}]},
        "keyframe_mode",
    ),
]


@pytest.mark.parametrize(
    ("shape", "spec", "words"), REGISTRATION_FILES, ids=[c[0] for c in REGISTRATION_FILES]
)
async def test_a_registration_file_with_undocumented_keys_is_a_400(
    make_sandbox: Callable[..., Sandbox], shape: str, spec: dict[str, Any], words: str
) -> None:
    sandbox = make_sandbox()
    integration, folder = await sandbox.integration(), await sandbox.folder()
    refused = await _start(sandbox, folder, integration, {"externalFiles": spec})
    assert refused.status_code == 400, refused.text
    assert words in refused.json()["message"]


async def test_a_documented_registration_file_with_media_and_key_frames_is_accepted(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    sandbox = make_sandbox()
    integration, folder = await sandbox.integration(), await sandbox.folder()
    spec = {
        "videos": [
            {
                "objectUrl": "gs://b/v.mp4",
                "clientMetadata": {"keyframes": [13, 17]},
                "config": {"sampling_rate": 0, "keyframe_mode": "frame"},
                "videoMetadata": {
                    "fps": 30,
                    "duration": 2,
                    "width": 4,
                    "height": 3,
                    "file_size": 1,
                    "mime_type": "video/mp4",
                },
            }
        ],
        "skip_duplicate_urls": True,
        "upsert_metadata": False,
    }
    state = await sandbox.run_job(folder, integration, spec)
    assert (state["status"], state["unitsDoneCount"]) == ("DONE", 1)
    (item,) = (await sandbox("GET", f"/v2/public/storage/folders/{folder}/items")).json()["results"]
    assert (item["fps"], item["fileSize"]) == (30.0, 1)
