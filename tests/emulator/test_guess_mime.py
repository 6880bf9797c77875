"""The emulator's MIME guess, made once per suffix pair, says what its rule says of the whole path: NIfTI
for an exact `.nii.gz`, else what `mimetypes` says."""

from __future__ import annotations

import itertools
import random
from urllib.parse import urlsplit

from reconciler.emulator.specs import _MIME, guess_mime

STEMS = ["a", "img_0001", ".hidden", "", "dir.d/file", "a.b", ".tar"]
SUFFIXES = [
    *("", ".jpg", ".JPG", ".tar", ".gz", ".tgz", ".bz2", ".txt", ".dcm", ".mp4", ".json", ".x-unknown"),
    *(".nii", ".NII", ".GZ"),  # with ".gz" these make every case of .nii.gz, which only the exact one is
]


def expected(url: str) -> str | None:
    """What the emulator answers without any cache: NIfTI for an exact `.nii.gz`, else `mimetypes`."""
    path = urlsplit(url).path
    return "application/nifti" if path.endswith(".nii.gz") else _MIME.guess_type(path, strict=False)[0]


def test_the_guess_is_the_whole_paths() -> None:
    names = {stem + one + two for stem, one, two in itertools.product(STEMS, SUFFIXES, SUFFIXES)} - {""}
    for name in sorted(names):
        url = f"gs://bucket/some/dir/{name}"
        assert guess_mime(url) == expected(url), name


def test_random_names_are_guessed_as_mimetypes_does() -> None:
    rng = random.Random(3)
    alphabet = "ab.:_-%?#,;jpgtarz"
    for _ in range(50_000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9))) + rng.choice(SUFFIXES)
        url = f"gs://bucket/d/{name}"
        assert guess_mime(url) == expected(url), name
    for name in ("..jpg", "..tar.gz", "data:x,y", "a.x:.jpg", "x.y.z.gz"):
        url = f"gs://bucket/d/{name}"
        assert guess_mime(url) == expected(url), name


def test_nifti_is_known_by_its_double_suffix() -> None:
    assert guess_mime("gs://bucket/scan.nii.gz") == "application/nifti"
    assert guess_mime("gs://bucket/scan.NII.GZ") == _MIME.guess_type("/scan.NII.GZ", strict=False)[0]
