"""Sound: decode a track, fingerprint it, match a clip's sound, align and compare it over a segment, and say what it
finds (`findings`).

Pure functions, bytes and arrays in, results out; the kinds that carry sound (video) call them once a clip is placed.

>>> import numpy as np
>>> t = np.arange(8000 * 12) / 8000
>>> tone = (0.3 * np.sin(2 * np.pi * (300 + 200 * np.sin(t)) * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype("f4")
>>> original = fingerprint_audio(Audio(samples=tone, rate=8000, start=0.0, truncated=False))
>>> excerpt = fingerprint_audio(Audio(samples=tone[8000 * 4 :], rate=8000, start=0.0, truncated=False))
>>> match = match_audio(original, excerpt)
>>> round(match.offset, 1), round(match.speed, 2)
(4.0, 1.0)
>>> compare_segment(original, None, query_start=0, query_end=8, original_start=4).spans[0].kind
'audio_missing'
>>> AudioFingerprint.from_bytes(original.to_bytes()).frames.tolist() == original.frames.tolist()
True
"""

from fingerprint.audio.align import SoundAlignment, align_sound
from fingerprint.audio.compare import AudioComparison, AudioMatch, AudioSpan, compare_segment, match_audio
from fingerprint.audio.decode import AUDIO_RATE, Audio, extract_audio
from fingerprint.audio.findings import AudioFindings, AudioSegment, MatchedBy, SoundSource, heard_alone, heard_over
from fingerprint.audio.landmarks import AudioFingerprint, fingerprint_audio

__all__ = [
    "AUDIO_RATE",
    "Audio",
    "AudioComparison",
    "AudioFindings",
    "AudioFingerprint",
    "AudioMatch",
    "AudioSegment",
    "AudioSpan",
    "MatchedBy",
    "SoundAlignment",
    "SoundSource",
    "align_sound",
    "compare_segment",
    "extract_audio",
    "fingerprint_audio",
    "heard_alone",
    "heard_over",
    "match_audio",
]
