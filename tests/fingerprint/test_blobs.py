"""Every stored fingerprint blob refuses a short, foreign or newer blob with a ValueError naming its format."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from fingerprint.blobs import BlobHeader
from fingerprint.video.track import FrameTrack

VERSIONED = BlobHeader("test", b"TEST", 3, "<4sBxxxI")
UNVERSIONED = BlobHeader("test", b"TST1", None, ">4sI")


def test_fields_round_trip_after_magic_and_version() -> None:
    blob = VERSIONED.pack(7)
    assert len(blob) == VERSIONED.size == 12
    assert VERSIONED.unpack(blob + b"body") == (7,)
    assert UNVERSIONED.unpack(UNVERSIONED.pack(9)) == (9,)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"TEST", "test blob is too short"),
        (b"NOPE" + bytes(8), "not a test blob"),
        (struct.pack("<4sBxxxI", b"TEST", 4, 7), "test blob version 4 is not supported"),
    ],
)
def test_refusals_name_the_format(blob: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VERSIONED.unpack(blob)


def test_a_truncated_frame_track_is_a_value_error() -> None:
    track = FrameTrack(np.zeros(1), np.zeros((1, 1, 32), np.uint8), np.full(1, 100, np.uint8), ("identity",))
    blob = track.to_bytes()
    assert FrameTrack.from_bytes(blob).variants == ("identity",)
    for broken in (blob[:5], b"XXXX" + blob[4:]):
        with pytest.raises(ValueError, match="frame-track"):
            FrameTrack.from_bytes(broken)
