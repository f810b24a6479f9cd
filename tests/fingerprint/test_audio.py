from __future__ import annotations

import doctest
from functools import cache

import numpy as np
import pytest
from audioclips import RATE, VOICES, change_tempo, mux, speech, swap
from hypothesis import given, settings
from hypothesis import strategies as st

import fingerprint.audio
from fingerprint.audio import (
    AUDIO_RATE,
    Audio,
    AudioComparison,
    AudioFingerprint,
    AudioSpan,
    compare_segment,
    extract_audio,
    fingerprint_audio,
    match_audio,
)
from fingerprint.media import CorruptMediaError, UnsupportedMediaError

ORIGINAL_SECONDS = 40
EXCERPT = (12.0, 24.0)  # original seconds the query clips show
SWAP = (5.0, 7.0)  # query seconds whose voice is replaced
OPUS = {"container": "webm", "codec": "libopus", "codec_rate": 48_000, "bitrate": 24_000}
AAC_LOW = {"container": "mp4", "codec": "aac", "bitrate": 24_000}


@cache
def original() -> np.ndarray:
    return speech(ORIGINAL_SECONDS, seed=1, voice=VOICES[0])


@cache
def reference() -> AudioFingerprint:
    audio = extract_audio(mux(original()), max_seconds=600)
    assert audio is not None
    return fingerprint_audio(audio)


def excerpt() -> np.ndarray:
    return original()[round(EXCERPT[0] * RATE) : round(EXCERPT[1] * RATE)]


def query_fingerprint(samples: np.ndarray, **codec: object) -> AudioFingerprint:
    audio = extract_audio(mux(samples, **codec), max_seconds=600)  # type: ignore[arg-type]
    assert audio is not None
    return fingerprint_audio(audio)


def temporal_iou(span: AudioSpan, truth: tuple[float, float]) -> float:
    overlap = max(0.0, min(span.end, truth[1]) - max(span.start, truth[0]))
    return overlap / (max(span.end, truth[1]) - min(span.start, truth[0]))


def test_the_module_example_runs() -> None:
    assert doctest.testmod(fingerprint.audio).failed == 0


@pytest.mark.parametrize("codec", [{}, OPUS], ids=["mp4-aac", "webm-opus"])
def test_extract_audio_gives_mono_at_the_low_rate(codec: dict[str, object]) -> None:
    audio = extract_audio(mux(speech(3, seed=5), **codec), max_seconds=60)  # type: ignore[arg-type]
    assert audio is not None
    assert audio.rate == AUDIO_RATE and audio.samples.ndim == 1 and audio.samples.dtype == np.float32
    assert abs(audio.duration - 3) < 0.1 and not audio.truncated
    assert 0.2 < np.abs(audio.samples).max() <= 1.0


def test_extract_audio_stops_at_max_seconds() -> None:
    audio = extract_audio(mux(speech(6, seed=5)), max_seconds=2.5)
    assert audio is not None and audio.truncated
    assert audio.duration == pytest.approx(2.5)


def test_a_clip_without_sound_has_no_audio() -> None:
    assert extract_audio(mux(None, seconds=3), max_seconds=60) is None


def test_corrupt_or_foreign_data_is_a_clear_error() -> None:
    clip = mux(speech(3, seed=5))
    with pytest.raises(CorruptMediaError, match="damaged or cut short"):
        extract_audio(clip[: len(clip) // 2], max_seconds=60)
    with pytest.raises(UnsupportedMediaError, match="not a media container"):
        extract_audio(b"this is not a video at all" * 40, max_seconds=60)


@pytest.mark.parametrize(
    ("codec", "volume"), [({}, 1.0), (OPUS, 1.0), (AAC_LOW, 0.2), (OPUS, 3.0)], ids=["aac", "opus", "quiet", "loud"]
)
@pytest.mark.slow
def test_a_reencoded_excerpt_is_found_by_its_sound_alone(codec: dict[str, object], volume: float) -> None:
    query = query_fingerprint(np.clip(excerpt() * volume, -1, 1), **codec)
    match = match_audio(reference(), query)
    assert match is not None
    assert abs(match.offset - EXCERPT[0]) <= 0.1
    assert match.speed == pytest.approx(1.0, abs=0.01)
    assert match.original_start == pytest.approx(EXCERPT[0], abs=0.5)
    assert match.original_end == pytest.approx(EXCERPT[1], abs=0.5)


@pytest.mark.slow
@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_a_sped_up_excerpt_is_found_with_its_speed(factor: float) -> None:
    query = query_fingerprint(change_tempo(excerpt(), factor))
    match = match_audio(reference(), query)
    assert match is not None
    assert abs(match.offset - EXCERPT[0]) <= 0.1
    assert match.speed == pytest.approx(factor, rel=0.02)


def test_a_resampled_excerpt_is_found_despite_its_pitch_shift() -> None:
    sped = excerpt()[np.round(np.arange(0, len(excerpt()), 1.1)).astype(int)[:-1]]
    match = match_audio(reference(), query_fingerprint(sped))
    assert match is not None
    assert abs(match.offset - EXCERPT[0]) <= 0.1
    assert match.speed == pytest.approx(1.1, rel=0.02)


@pytest.mark.parametrize("seed", range(4))
def test_unrelated_speech_does_not_match(seed: int) -> None:
    unrelated = speech(12, seed=100 + seed, voice=VOICES[seed])
    assert match_audio(reference(), query_fingerprint(unrelated)) is None


def compare_excerpt(query: AudioFingerprint | None) -> AudioComparison:
    return compare_segment(
        reference(), query, query_start=0.0, query_end=EXCERPT[1] - EXCERPT[0], original_start=EXCERPT[0]
    )


@pytest.mark.parametrize("codec", [{}, OPUS], ids=["aac", "opus"])
def test_a_genuine_excerpt_has_no_audio_findings(codec: dict[str, object]) -> None:
    comparison = compare_excerpt(query_fingerprint(excerpt(), **codec))
    assert comparison.spans == ()
    assert comparison.similarity is not None and comparison.similarity > 0.5


@pytest.mark.parametrize(("codec", "donor_voice"), [({}, 1), (OPUS, 0), (AAC_LOW, 3)], ids=["aac", "opus", "aac-low"])
def test_a_swapped_voice_is_an_audio_altered_span(codec: dict[str, object], donor_voice: int) -> None:
    donor = speech(EXCERPT[1] - EXCERPT[0], seed=50 + donor_voice, voice=VOICES[donor_voice])
    comparison = compare_excerpt(query_fingerprint(swap(excerpt(), donor, *SWAP), **codec))
    assert [span.kind for span in comparison.spans] == ["audio_altered"]
    assert temporal_iou(comparison.spans[0], SWAP) >= 0.8
    # The picture was not needed for the offset: the sound outside the swap still places the clip.
    match = match_audio(reference(), query_fingerprint(swap(excerpt(), donor, *SWAP), **codec))
    assert match is not None and abs(match.offset - EXCERPT[0]) <= 0.1


def test_a_sped_up_swap_is_found_in_query_seconds() -> None:
    donor = speech(12, seed=51, voice=VOICES[1])
    query = query_fingerprint(change_tempo(swap(excerpt(), donor, 4.0, 6.5), 1.25))
    comparison = compare_segment(
        reference(), query, query_start=0.0, query_end=9.6, original_start=EXCERPT[0], speed=1.25
    )
    assert [span.kind for span in comparison.spans] == ["audio_altered"]
    assert temporal_iou(comparison.spans[0], (4.0 / 1.25, 6.5 / 1.25)) >= 0.8


def test_stripped_sound_is_audio_missing() -> None:
    assert extract_audio(mux(None, seconds=12), max_seconds=60) is None
    comparison = compare_excerpt(None)
    assert comparison.spans == (AudioSpan(start=0.0, end=12.0, kind="audio_missing"),)
    assert comparison.similarity is None and not comparison.query_has_audio


def test_a_silenced_stretch_is_audio_missing() -> None:
    muted = excerpt().copy()
    muted[round(3 * RATE) : round(8 * RATE)] = 0
    comparison = compare_excerpt(query_fingerprint(muted))
    assert [span.kind for span in comparison.spans] == ["audio_missing"]
    assert temporal_iou(comparison.spans[0], (3.0, 8.0)) >= 0.8


def test_silence_on_both_sides_is_no_finding() -> None:
    silent = fingerprint_audio(
        Audio(samples=np.zeros(8 * AUDIO_RATE, np.float32), rate=AUDIO_RATE, start=0.0, truncated=False)
    )
    comparison = compare_segment(silent, silent, query_start=0, query_end=8, original_start=0)
    assert comparison.spans == () and comparison.similarity is None


@settings(max_examples=60, deadline=None)
@given(
    deltas=st.lists(st.integers(0, 5000), max_size=200),
    bins=st.data(),
    loudness=st.lists(st.integers(0, 240), max_size=300),
    start=st.floats(-5, 1e5, allow_nan=False),
)
def test_fingerprint_bytes_round_trip(
    deltas: list[int], bins: st.DataObject, loudness: list[int], start: float
) -> None:
    peak_bins = bins.draw(st.lists(st.integers(0, 255), min_size=len(deltas), max_size=len(deltas)))
    fp = AudioFingerprint(
        rate=AUDIO_RATE,
        hop=128,
        n_fft=512,
        start=start,
        frames=np.cumsum(np.array(deltas, dtype=np.int64)).astype(np.uint32),
        bins=np.array(peak_bins, dtype=np.uint8),
        loudness=-np.array(loudness, dtype=np.float32) / 2,
    )
    blob = fp.to_bytes()
    back = AudioFingerprint.from_bytes(blob)
    assert (back.rate, back.hop, back.n_fft, back.start) == (fp.rate, fp.hop, fp.n_fft, fp.start)
    assert np.array_equal(back.frames, fp.frames) and np.array_equal(back.bins, fp.bins)
    assert np.array_equal(back.loudness, fp.loudness)
    assert back.to_bytes() == blob
    for damaged in (blob[:-1], blob + b"\0", b"\x09" + blob[1:], blob[:10]):
        with pytest.raises(ValueError):
            AudioFingerprint.from_bytes(damaged)


def test_a_stored_fingerprint_is_small_and_matches_like_the_fresh_one() -> None:
    blob = reference().to_bytes()
    assert len(blob) < 100 * ORIGINAL_SECONDS
    match = match_audio(AudioFingerprint.from_bytes(blob), query_fingerprint(excerpt(), **OPUS))
    assert match is not None and abs(match.offset - EXCERPT[0]) <= 0.1


def test_nothing_is_said_past_the_end_of_the_fingerprinted_original() -> None:
    capped = extract_audio(mux(original()), max_seconds=18)
    assert capped is not None and capped.truncated
    comparison = compare_segment(
        fingerprint_audio(capped), query_fingerprint(excerpt()), query_start=0, query_end=12, original_start=12
    )
    assert comparison.spans == ()
    assert comparison.similarity is not None and comparison.similarity > 0.5
    assert all(np.isnan(comparison.profile[70:]))


@pytest.mark.parametrize("codec", [{}, OPUS], ids=["mp4-aac", "webm-opus"])
def test_times_are_container_seconds_when_the_sound_starts_late(codec: dict[str, object]) -> None:
    audio = extract_audio(mux(excerpt(), audio_delay=1.5, **codec), max_seconds=60)  # type: ignore[arg-type]
    assert audio is not None and audio.start == pytest.approx(1.5, abs=0.1)  # AAC primes 1024 samples early
    match = match_audio(reference(), fingerprint_audio(audio))
    assert match is not None
    # Container second 1.5 shows original second 12: the original time at container time 0 is 10.5.
    assert abs(match.offset - (EXCERPT[0] - 1.5)) <= 0.1
    assert match.start >= 1.4
    assert abs(match.offset + match.speed * match.start - match.original_start) <= 0.1
