"""What every registered hash algorithm must pass, by iterating `fingerprint.algorithms.ALGORITHMS` (as
python-threatexchange tests every SignalType): a new module in `fingerprint/algorithms/` is held to all of this
without editing this file, and fails until its golden values are written.

- golden values: each algorithm's reference and query records of the committed photos, pinned in
  `tests/data/golden/algorithms.json`, computed on the photos' full-size pixels (the algorithm alone; the image kind's
  reduced decode is pinned by `tests/fingerprint/test_algorithms.py::test_golden_values`);
- every record names its algorithm and has its bit length, and hex round trips;
- Hamming distance over the algorithm's own values is a metric within [0, bits] (hypothesis, on generated pictures);
- hex of the wrong length or not hex is refused with `ValueError` (the registry's `InvalidRequest` for lookups:
  `tests/registry/test_every_adapter.py`);
- a mild JPEG re-save stays nearer its original than any other committed photo is.

`HashValue` itself on arbitrary bytes is `tests/fingerprint/test_hashes.py`; PDQ's flips, crops and the discovery of
a new module are `tests/fingerprint/test_algorithms.py`; the whole-file hashes of media kinds (`videohash`,
`soundhash`) are `tests/registry/test_every_adapter.py`.

Regenerate the golden values only after a deliberate change to an algorithm (every stored hash changes with them;
the tests never write the file):

    PYTHONPATH=$PWD:$PWD/tests python tests/fingerprint/test_every_algorithm.py --write-golden
"""

from __future__ import annotations

import io
import json
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, encode, photo
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from fingerprint.algorithms import ALGORITHMS, HashAlgorithm
from fingerprint.hashes import HashValue

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "algorithms.json"
REGENERATE = "PYTHONPATH=$PWD:$PWD/tests python tests/fingerprint/test_every_algorithm.py --write-golden"
NAMES = sorted(ALGORITHMS)
MILD_JPEG_QUALITY = 75


@cache
def pixels(name: str) -> np.ndarray:
    values = np.asarray(photo(name))
    values.flags.writeable = False
    return values


def records(algorithm: HashAlgorithm, name: str) -> dict[str, dict[str, str]]:
    """An algorithm's reference and query records of one photo, as the golden file holds them: variant -> hex."""
    image = pixels(name)
    return {
        side: {record.variant: record.value.hex() for record in found}
        for side, found in (("reference", algorithm.reference(image)), ("query", algorithm.query(image)))
    }


def golden_values() -> dict[str, dict[str, dict[str, dict[str, str]]]]:
    """The pinned values: algorithm -> photo -> reference/query -> variant -> hex."""
    loaded: dict[str, dict[str, dict[str, dict[str, str]]]] = json.loads(GOLDEN.read_text())
    return loaded


def test_the_golden_file_names_every_algorithm_and_no_other() -> None:
    assert sorted(golden_values()) == NAMES, f"golden values out of date: {REGENERATE}"


@pytest.mark.parametrize("alg", NAMES)
def test_golden_values(alg: str) -> None:
    pinned = golden_values().get(alg)
    assert pinned is not None, f"no golden values for {alg!r}: {REGENERATE}"
    assert {name: records(ALGORITHMS[alg], name) for name in PHOTOS} == pinned


@pytest.mark.parametrize("alg", NAMES)
def test_records_name_their_algorithm_and_have_its_length(alg: str) -> None:
    algorithm = ALGORITHMS[alg]
    image = pixels("chelsea")
    for found in (algorithm.reference(image), algorithm.query(image)):
        assert found and all(record.alg == alg and record.value.bits == algorithm.bits for record in found)
        assert len({record.variant for record in found}) == len(found)
        assert all(record.quality is None or 0 <= record.quality <= 100 for record in found)


# Pictures that differ in content and size, down to a single pixel (a decoded upload may be that small): coarse noise
# scaled up, so they have structure at every size.
pictures = st.builds(
    lambda seed, h, w: _picture(seed, h, w),
    st.integers(0, 2**32 - 1),
    st.integers(1, 96),
    st.integers(1, 96),
)


def _picture(seed: int, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(2, h // 8), max(2, w // 8), 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BILINEAR))


@pytest.mark.parametrize("alg", NAMES)
@settings(max_examples=15)
@given(a=pictures, b=pictures, c=pictures)
def test_distance_is_a_metric_over_the_algorithms_values(alg: str, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    algorithm = ALGORITHMS[alg]
    ha, hb, hc = (algorithm.compute(p) for p in (a, b, c))
    assert algorithm.compute(a.copy()) == ha and ha.distance(ha) == 0
    assert ha.distance(hb) == hb.distance(ha)
    assert all(0 <= x.distance(y) <= algorithm.bits for x in (ha, hb, hc) for y in (ha, hb, hc))
    assert ha.distance(hc) <= ha.distance(hb) + hb.distance(hc)
    text = ha.hex()
    assert len(text) == algorithm.bits // 4 and HashValue.from_hex(text) == ha


@pytest.mark.parametrize("alg", NAMES)
def test_hex_of_the_wrong_length_or_not_hex_is_refused(alg: str) -> None:
    value = ALGORITHMS[alg].compute(pixels("rocket"))
    text = value.hex()
    for bad in (text[:-1], text + "0", f"{text[:-1]}g", ""):
        with pytest.raises(ValueError):
            HashValue.from_hex(bad)
    for other_length in (text[:-2], text + "00"):  # valid hex, another algorithm's length perhaps: never compared
        with pytest.raises(ValueError, match="cannot compare"):
            value.distance(HashValue.from_hex(other_length))


@pytest.mark.parametrize("alg", NAMES)
@pytest.mark.parametrize("name", PHOTOS)
def test_a_mild_jpeg_resave_stays_nearer_than_any_other_photo(alg: str, name: str) -> None:
    """Ordering, not a threshold: the re-save is nearer its original than every other committed photo is."""
    algorithm = ALGORITHMS[alg]
    original = algorithm.compute(pixels(name))
    resaved = np.asarray(Image.open(io.BytesIO(encode(photo(name), "JPEG", quality=MILD_JPEG_QUALITY))).convert("RGB"))
    others = [original.distance(algorithm.compute(pixels(other))) for other in PHOTOS if other != name]
    assert original.distance(algorithm.compute(resaved)) < min(others)


def write_golden() -> None:
    values = {alg: {name: records(ALGORITHMS[alg], name) for name in PHOTOS} for alg in NAMES}
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}: {', '.join(NAMES)}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-golden"]:
        sys.exit(f"usage: {REGENERATE}")
    write_golden()
