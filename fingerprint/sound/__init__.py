"""Sound files as a media kind of their own: safe decoding (`decode`), a whole-file lookup hash (`wholehash`), and a
clip placed in an original and compared segment by segment (`match`), over `fingerprint.audio`'s landmarks."""

from fingerprint.sound.decode import MEDIA_TYPES, SoundLimits, SoundMedia, probe, samples, sniff_sound
from fingerprint.sound.match import SoundMatch, SoundSegment, SoundSpan, SpanKind, match_sound
from fingerprint.sound.wholehash import SOUNDHASH, SOUNDHASH_BITS, soundhash_record

__all__ = [
    "MEDIA_TYPES",
    "SOUNDHASH",
    "SOUNDHASH_BITS",
    "SoundLimits",
    "SoundMatch",
    "SoundMedia",
    "SoundSegment",
    "SoundSpan",
    "SpanKind",
    "match_sound",
    "probe",
    "samples",
    "sniff_sound",
    "soundhash_record",
]
