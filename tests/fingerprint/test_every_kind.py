"""What every media kind in `fingerprint.kinds.KINDS` must pass, on a sample of its own (`tests/kindsamples.py`): a
new kind is held to all of this once it adds its sample.

- it sniffs its own sample, and no other kind claims it (`detect` is decided by the first kind that does);
- decoding and fingerprinting are deterministic: the same bytes give the same reference and query fingerprints;
- a reference of hashes alone (`local=False`) has the very hashes of a full one;
- what a fingerprint holds round trips through its stored form: each hash through hex, at its algorithm's length,
  and the frame track, sound landmarks and local features through their blobs;
- truncated, overwritten or garbled bytes raise `fingerprint.media.MediaError`, never another exception.

Each kind's own behaviour is tested beside it: `tests/fingerprint/test_media.py` (images, decoding and caps),
`test_video.py`, `test_sound.py` (sniffing each container, bounds, damaged files of each codec); the registry side
of every kind (adapters, primary hash, whole-file hashes) is `tests/registry/test_every_adapter.py`, and the
kind-neutral views and check path `tests/registry/test_kinds.py`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest
from kindsamples import LIMITS, SAMPLES, fingerprint, reference, sample, slow_if

from fingerprint.algorithms import ALGORITHMS
from fingerprint.audio import AudioFingerprint
from fingerprint.features import LocalFeatures
from fingerprint.kinds import KINDS, Fingerprint, detect
from fingerprint.media import MediaError
from fingerprint.video.track import FrameTrack

NAMES = sorted(KINDS)
FINGERPRINTED = [slow_if(kind, kind) for kind in NAMES]  # a video's cases are slow


def query(kind: str, data: bytes) -> Fingerprint:
    found = KINDS[kind]
    return found.query(found.decode(data, LIMITS), sha256=hashlib.sha256(data).hexdigest(), size=len(data), local=True)


def test_every_kind_has_a_sample() -> None:
    assert sorted(SAMPLES) == NAMES, "add the new kind's sample to tests/kindsamples.py"


@pytest.mark.parametrize("kind", NAMES)
def test_a_kind_sniffs_its_own_sample_and_no_other_kind_does(kind: str) -> None:
    data = sample(kind)
    assert KINDS[kind].sniff(data) is not None
    assert [other for other in NAMES if other != kind and KINDS[other].sniff(data) is not None] == []
    found, media_type = detect(data)
    assert found.name == kind and media_type == KINDS[kind].sniff(data)


@pytest.mark.parametrize("kind", FINGERPRINTED)
def test_the_same_bytes_give_the_same_fingerprint(kind: str) -> None:
    data = sample(kind)
    assert _content(fingerprint(kind, data)) == _content(reference(kind))
    assert _content(query(kind, data)) == _content(query(kind, data))


@pytest.mark.parametrize("kind", FINGERPRINTED)
def test_hashes_alone_are_those_a_full_reference_stores(kind: str) -> None:
    """`local=False` (a backfill by `reindex`, the CLI's `hash`) must compute the very hashes a registration stores,
    and nothing of the rest."""
    fp = fingerprint(kind, sample(kind), local=False)
    assert fp.hashes == reference(kind).hashes
    assert (fp.features, fp.frames, fp.audio) == ((), None, None)


def _content(fp: Fingerprint) -> dict[str, Any]:
    """Everything a fingerprint holds, in comparable form (its arrays as their stored bytes)."""
    return {
        "fields": (fp.kind, fp.sha256, fp.media_type, fp.size, dict(fp.facts)),
        "hashes": fp.hashes,
        "features": [features.to_bytes() for features in fp.features],
        "frames": None if fp.frames is None else fp.frames.to_bytes(),
        "audio": None if fp.audio is None else fp.audio.to_bytes(),
    }


@pytest.mark.parametrize("kind", FINGERPRINTED)
def test_what_a_fingerprint_holds_round_trips_through_its_stored_form(kind: str) -> None:
    fp = reference(kind)
    assert fp.kind == kind and fp.media_type == KINDS[kind].sniff(sample(kind))
    assert fp.hashes and fp.sha256 == hashlib.sha256(sample(kind)).hexdigest() and fp.size == len(sample(kind))
    for record in fp.hashes:
        text = record.value.hex()
        assert type(record.value).from_hex(text) == record.value and text == text.lower()
        if record.alg in ALGORITHMS:  # the whole-file hashes' lengths are their adapters' (test_every_adapter.py)
            assert record.value.bits == ALGORITHMS[record.alg].bits
    for features in fp.features:
        again = LocalFeatures.from_bytes(features.to_bytes())
        assert np.array_equal(again.points, features.points) and np.array_equal(again.descriptors, features.descriptors)
        assert (again.width, again.height, again.scale, again.mirrored) == (
            features.width,
            features.height,
            features.scale,
            features.mirrored,
        )
    if fp.frames is not None:
        frames = FrameTrack.from_bytes(fp.frames.to_bytes())
        assert np.array_equal(frames.times, fp.frames.times) and frames.to_bytes() == fp.frames.to_bytes()
    if fp.audio is not None:
        audio = AudioFingerprint.from_bytes(fp.audio.to_bytes())
        assert audio.to_bytes() == fp.audio.to_bytes()
        assert np.array_equal(audio.hashes()[0], fp.audio.hashes()[0])


def damaged(data: bytes) -> dict[str, bytes]:
    """The sample cut short, its middle overwritten and its body replaced by noise: the head (the magic bytes) kept
    in each, so the kind's own decoder meets them."""
    rng = np.random.default_rng(len(data))
    head = 32
    flipped = bytearray(data)
    for at in rng.integers(head, len(data), 24):
        flipped[at] ^= 0xFF
    middle = len(data) // 2
    return {
        "head-only": data[:head],
        "cut-third": data[: len(data) // 3],
        "cut-last-byte": data[:-1],
        "flipped-bytes": bytes(flipped),
        "zeroed-middle": data[:middle] + bytes(len(data) // 8) + data[middle + len(data) // 8 :],
        "noise-body": data[:head] + rng.integers(0, 256, len(data) - head, dtype=np.uint8).tobytes(),
    }


@pytest.mark.parametrize("kind", FINGERPRINTED)
def test_damaged_bytes_raise_only_media_errors(kind: str) -> None:
    """Each either fingerprints (a cut after the last frame that matters is still the file) or raises MediaError:
    anything else would be a server error on an upload."""
    for name, data in damaged(sample(kind)).items():
        for step in (fingerprint, query):
            try:
                found, _ = detect(data)
                step(found.name, data)
            except MediaError:
                pass
            except Exception as exc:
                pytest.fail(f"{kind} {name} {step.__name__}: {type(exc).__name__}: {exc}")
