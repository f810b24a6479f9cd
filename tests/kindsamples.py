"""One small sample file per media kind, made from committed media, for the tests every kind must pass
(`tests/fingerprint/test_every_kind.py`, `tests/registry/test_every_adapter.py`).

A new kind in `fingerprint.kinds.KINDS` adds its sample here: those tests fail until it does. Samples are short (a
2 s clip, 3 s of speech): fingerprinting one costs well under a second, but for a video's `videohash`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from audioclips import sound_file, speech
from videoclips import Clip, encode

from fingerprint.kinds import KINDS, DecodeLimits, Fingerprint

_DATA = Path(__file__).parent / "data"
LIMITS = DecodeLimits(max_pixels=50_000_000)
# Kinds whose reference fingerprint takes seconds: a video's runs `videohash` (FFmpeg in a subprocess, about 2.5 s on
# the shared two-core machine), so the cases that fingerprint one are left to `make test` (`slow_if`).
SLOW_KINDS = {"video"}

SAMPLES: dict[str, Callable[[], bytes]] = {
    "image": lambda: (_DATA / "coffee.jpg").read_bytes(),
    # H.264 in MP4 with an AAC voice: a video with both tracks a video fingerprint holds
    "video": lambda: encode(Clip(duration=2.0, width=128, height=72, fps=10), speech(2.0, seed=3)),
    "sound": lambda: sound_file(speech(3.0, seed=5), "mp3"),
}


@cache
def sample(kind: str) -> bytes:
    """The kind's sample file, made once per test session."""
    return SAMPLES[kind]()


def fingerprint(kind: str, data: bytes, *, local: bool = True) -> Fingerprint:
    """The reference fingerprint of `data` as the kind makes it for a registration (`local=False`: hashes alone)."""
    found = KINDS[kind]
    return found.reference(
        found.decode(data, LIMITS), sha256=hashlib.sha256(data).hexdigest(), size=len(data), local=local
    )


@cache
def reference(kind: str) -> Fingerprint:
    """The reference fingerprint of the kind's sample, made once per test session (a video's takes seconds)."""
    return fingerprint(kind, sample(kind))


def slow_if(kind: str, value: str) -> Any:
    """A parameter about `kind` (its name, one of its algorithms), marked slow when fingerprinting the kind is."""
    return pytest.param(value, marks=pytest.mark.slow) if kind in SLOW_KINDS else value
