"""Pinned values on the committed photos, and the robustness each algorithm promises."""

from __future__ import annotations

import numpy as np
import pdqhash
import pytest
from conftest import PHOTOS, encode, photo, photo_bytes
from PIL import Image, ImageOps

from fingerprint.algorithms import ALGORITHMS, PDQ_VARIANTS, Pdq
from fingerprint.hashes import HashValue
from fingerprint.image import fingerprint_image

CAP = 50_000_000

# Golden values: a change here changes every stored fingerprint, so it must be deliberate.
GOLDEN = {
    "astronaut": (
        "2d6f1af3a856c529e79ca3d2526fa834d4196c81cedd04de0a26b855fc99b724",
        "c2924c5532bddfc8",
        "cd8dd91d897293a7",
    ),
    "coffee": (
        "0c609e779a66365cf98338668827f27c21a679f61e36e1f8c79927f27c0299e0",
        "bb8320376c0f3637",
        "f3e96933160b1b36",
    ),
    "chelsea": (
        "5feb5321f01da156898e2bf629a5d3438412cdbd23f48942464526315db33ffd",
        "b15fe6465121175e",
        "5414589aab6fa785",
    ),
    "rocket": (
        "8792786c8f9370e4af1bc0e03f1fc0e03f1cc2f33da482537ccc821b2cecf376",
        "c0371bec1be51267",
        "e0c0c090909090d1",
    ),
}


@pytest.mark.parametrize("name", PHOTOS)
def test_golden_values(name: str) -> None:
    fp = fingerprint_image(photo_bytes(name), max_pixels=CAP)
    assert (fp.pdq.hex(), fp.phash.hex(), fp.dhash.hex()) == GOLDEN[name]
    assert fp.pdq_quality == 100 and fp.trusted


@pytest.mark.parametrize("name", PHOTOS)
def test_pdq_agrees_with_reference_pdqhash_on_full_resolution(name: str) -> None:
    """Hashing a reduced decode must stay compatible with values other PDQ tools publish."""
    reference = HashValue.from_bits(pdqhash.compute(np.asarray(photo(name)))[0])
    ours = fingerprint_image(photo_bytes(name), max_pixels=CAP).pdq
    assert ours.distance(reference) <= 12


def test_interface_is_uniform() -> None:
    pixels = np.asarray(photo("coffee"))
    for name, algorithm in ALGORITHMS.items():
        value = algorithm.compute(pixels)
        assert algorithm.name == name
        assert value.bits == algorithm.bits
        assert 0 < algorithm.default_threshold < algorithm.bits // 2


@pytest.mark.parametrize(
    ("make", "pdq_max"),
    [
        (lambda im: encode(im, "JPEG", quality=30), 20),
        (lambda im: encode(im.resize((im.width // 2, im.height // 2)), "PNG"), 20),
        (lambda im: encode(ImageOps.grayscale(im), "PNG"), 20),
    ],
    ids=["jpeg-q30", "half-size", "grayscale"],
)
@pytest.mark.parametrize("name", PHOTOS)
def test_global_changes_move_pdq_little(name: str, make, pdq_max: int) -> None:  # type: ignore[no-untyped-def]
    original = fingerprint_image(photo_bytes(name), max_pixels=CAP)
    changed = fingerprint_image(make(photo(name)), max_pixels=CAP)
    assert original.pdq.distance(changed.pdq) <= pdq_max


@pytest.mark.parametrize(
    ("transpose", "variant"),
    [
        (Image.Transpose.ROTATE_270, "rotate_90_cw"),
        (Image.Transpose.ROTATE_90, "rotate_90_ccw"),
        (Image.Transpose.ROTATE_180, "rotate_180"),
        (Image.Transpose.FLIP_LEFT_RIGHT, "flip_horizontal"),
        (Image.Transpose.FLIP_TOP_BOTTOM, "flip_vertical"),
        (Image.Transpose.TRANSPOSE, "transpose"),
        (Image.Transpose.TRANSVERSE, "transverse"),
    ],
)
def test_dihedral_variant_names_say_what_was_done_to_the_original(transpose: Image.Transpose, variant: str) -> None:
    original = fingerprint_image(photo_bytes("rocket"), max_pixels=CAP).pdq
    query = fingerprint_image(encode(photo("rocket").transpose(transpose), "PNG"), max_pixels=CAP, dihedral=True)
    distances = [value.distance(original) for value in query.pdq_dihedral]
    assert PDQ_VARIANTS[int(np.argmin(distances))] == variant
    assert min(distances) <= 20 and query.pdq.distance(original) > 60


def test_flat_image_is_not_trusted() -> None:
    flat = np.full((200, 200, 3), 90, dtype=np.uint8)
    flat[:, 100:] = 91
    _, quality = Pdq().compute_with_quality(flat)
    assert quality < 50
    fp = fingerprint_image(encode(Image.fromarray(flat), "PNG"), max_pixels=CAP)
    assert not fp.trusted
