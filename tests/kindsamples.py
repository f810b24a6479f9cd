"""One small sample file per media kind, made from committed media, for the tests every kind must pass
(`tests/fingerprint/test_every_kind.py`, `tests/registry/test_every_adapter.py`).

A new kind in `fingerprint.kinds.KINDS` adds its sample here: those tests fail until it does. Samples are short (a
2 s clip, 3 s of speech) so that fingerprinting each a few times costs about a second.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from audioclips import sound_file, speech
from videoclips import Clip, encode

_DATA = Path(__file__).parent / "data"

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
