"""Pinned values on the committed photos, and the robustness each algorithm promises."""

from __future__ import annotations

import io

import numpy as np
import pdqhash
import pytest
from conftest import PHOTOS, encode, photo, photo_bytes
from PIL import Image, ImageOps

from fingerprint import algorithms
from fingerprint.algorithms import ALGORITHMS, PDQ_VARIANTS, Pdq
from fingerprint.algorithms.pdq import CROP_VARIANTS
from fingerprint.hashes import HashValue
from fingerprint.kinds.image import fingerprint_image

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
    hashes = fingerprint_image(photo_bytes(name), max_pixels=CAP).primary()
    assert (hashes["pdq"].value.hex(), hashes["phash"].value.hex(), hashes["dhash"].value.hex()) == GOLDEN[name]
    assert hashes["pdq"].quality == 100 and hashes["phash"].quality is None


@pytest.mark.parametrize("name", PHOTOS)
def test_pdq_agrees_with_reference_pdqhash_on_full_resolution(name: str) -> None:
    """Hashing a reduced decode must stay compatible with values other PDQ tools publish."""
    reference = HashValue.from_bits(pdqhash.compute(np.asarray(photo(name)))[0])
    ours = pdq_of(photo_bytes(name))
    assert ours.distance(reference) <= 12


def test_interface_is_uniform() -> None:
    pixels = np.asarray(photo("coffee"))
    for name, algorithm in ALGORITHMS.items():
        value = algorithm.compute(pixels)
        assert algorithm.name == name
        assert value.bits == algorithm.bits
        assert algorithm.query(pixels)[0].value == value
        assert next(r.variant for r in algorithm.reference(pixels)) == "canonical"


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
    assert pdq_of(photo_bytes(name)).distance(pdq_of(make(photo(name)))) <= pdq_max


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
    original = pdq_of(photo_bytes("rocket"))
    query = fingerprint_image(encode(photo("rocket").transpose(transpose), "PNG"), max_pixels=CAP, query=True)
    records = query.of("pdq")
    assert [record.variant for record in records] == list(PDQ_VARIANTS)
    distances = [record.value.distance(original) for record in records]
    assert PDQ_VARIANTS[int(np.argmin(distances))] == variant
    assert min(distances) <= 20 and records[0].value.distance(original) > 60


def test_flat_image_is_not_trusted() -> None:
    flat = np.full((200, 200, 3), 90, dtype=np.uint8)
    flat[:, 100:] = 91
    _, quality = Pdq().compute_with_quality(flat)
    assert quality < 50
    records = fingerprint_image(encode(Image.fromarray(flat), "PNG"), max_pixels=CAP).of("pdq")
    assert [record.variant for record in records] == ["canonical"]  # no crops of a flat picture
    assert records[0].quality is not None and records[0].quality < 50


def test_centred_crop_hashes_make_a_crop_a_pdq_match() -> None:
    pixels = np.asarray(photo("astronaut"))
    pdq = Pdq()
    records = {record.variant: record.value for record in pdq.reference(pixels)}
    assert set(records) == {"canonical", *CROP_VARIANTS}
    for name, keep in CROP_VARIANTS.items():
        side = round(480 * keep)
        offset = (480 - side) // 2
        query = np.asarray(Image.fromarray(pixels).crop((offset, offset, offset + side, offset + side)))
        query_hash = pdq.compute(np.asarray(Image.open(io.BytesIO(encode(Image.fromarray(query))))))
        assert query_hash.distance(records[name]) <= 20 < query_hash.distance(records["canonical"])


def test_reference_hashes_need_rgb() -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        Pdq().reference(np.zeros((10, 10), np.uint8))


def test_a_new_algorithm_is_one_module(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Discovery finds any module of the package that defines ALGORITHM; nothing else needs editing."""
    (tmp_path / "meanhash.py").write_text(MEAN_HASH_MODULE)
    monkeypatch.setattr(algorithms, "__path__", [*algorithms.__path__, str(tmp_path)])
    try:
        found = algorithms.discover()
        assert list(found) == ["dhash", "meanhash", "pdq", "phash"]
        assert found["meanhash"].compute(np.asarray(photo("coffee"))).bits == 64
    finally:
        monkeypatch.undo()
        algorithms.discover()
    assert "meanhash" not in algorithms.ALGORITHMS


def pdq_of(data: bytes) -> HashValue:
    return fingerprint_image(data, max_pixels=CAP).primary()["pdq"].value


# A throwaway algorithm as a whole module: what a contributor adds to fingerprint/algorithms/.
MEAN_HASH_MODULE = """
import imagehash
import numpy as np

from fingerprint.algorithms._imagehash import imagehash_value
from fingerprint.algorithms.base import HashAlgorithm


class MeanHash(HashAlgorithm):
    name = "meanhash"
    bits = 64

    def compute(self, pixels: np.ndarray):
        return imagehash_value(imagehash.average_hash, pixels)


ALGORITHM = MeanHash()
"""
