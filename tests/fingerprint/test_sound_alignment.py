"""Sound compared at its own alignment, on real recordings (espeak-ng speech, fluidsynth music: tests/data).

The picture hands the sound comparison an alignment that is 0.05-0.15 s off and a speed a percent or two off; these
tests give it such alignments and check that a faithful re-encode says nothing and a replacement is still found.
"""

from __future__ import annotations

import doctest
from functools import cache

import numpy as np
import pytest
from audioclips import RATE, change_tempo, mux, recorded, swap

from fingerprint.audio import AudioComparison, AudioFingerprint, AudioSpan, align, compare_segment, extract_audio
from fingerprint.audio import fingerprint_audio as fingerprint_samples
from fingerprint.audio.align import align_sound

START = 3.0  # original seconds the excerpts begin at
LENGTH = 10.0
AAC_64 = {"container": "mp4", "codec": "aac", "bitrate": 64_000}
OPUS_24 = {"container": "webm", "codec": "libopus", "codec_rate": 48_000, "bitrate": 24_000}


def fingerprint(samples: np.ndarray, **codec: object) -> AudioFingerprint:
    audio = extract_audio(mux(samples, **codec), max_seconds=60)  # type: ignore[arg-type]
    assert audio is not None
    return fingerprint_samples(audio)


@cache
def reference(name: str) -> AudioFingerprint:
    """The registered original: the recording as AAC at 128 kb/s."""
    return fingerprint(recorded(name), bitrate=128_000)


def excerpt(name: str) -> np.ndarray:
    return recorded(name)[round(START * RATE) : round((START + LENGTH) * RATE)].copy()


def compare(
    name: str, query: AudioFingerprint, *, error: float = 0.1, speed: float = 1.0, length: float = LENGTH
) -> AudioComparison:
    """The comparison as the video check calls it, with the picture's alignment `error` seconds late."""
    return compare_segment(
        reference(name), query, query_start=0.0, query_end=length, original_start=START + error, speed=speed
    )


def iou(span: AudioSpan, truth: tuple[float, float]) -> float:
    overlap = max(0.0, min(span.end, truth[1]) - max(span.start, truth[0]))
    return overlap / (max(span.end, truth[1]) - min(span.start, truth[0]))


@pytest.mark.slow
@pytest.mark.parametrize("error", [0.1, -0.15])
@pytest.mark.parametrize("name", ["speech", "music"])
def test_a_faithful_aac_64k_reencode_has_no_audio_span_despite_the_pictures_alignment_error(
    name: str, error: float
) -> None:
    comparison = compare(name, fingerprint(excerpt(name), **AAC_64), error=error)
    assert comparison.spans == ()
    assert comparison.similarity is not None and comparison.similarity > 0.5
    assert comparison.lag == pytest.approx(-error, abs=0.02)
    assert comparison.original_start == pytest.approx(START, abs=0.02)


def test_a_quieter_opus_reencode_at_24k_has_no_audio_span() -> None:
    quiet = excerpt("speech") * 10 ** (-10 / 20)
    comparison = compare("speech", fingerprint(quiet, **OPUS_24), error=-0.08)
    assert comparison.spans == () and comparison.similarity is not None and comparison.similarity > 0.5


def test_a_1_1x_tempo_clip_has_no_missing_sound_under_the_pictures_rough_alignment() -> None:
    sped = change_tempo(excerpt("speech"), 1.1)
    # 0.3 s and 3% off (a segment's end): compared there, the clip's pauses fell where the original speaks
    comparison = compare("speech", fingerprint(sped, **AAC_64), error=0.3, speed=1.1 * 1.03, length=LENGTH / 1.1)
    assert [span for span in comparison.spans if span.kind == "audio_missing"] == []
    assert comparison.spans == ()
    assert comparison.speed == pytest.approx(1.1, abs=0.005)


def test_a_resampled_clip_is_compared_with_its_pitch_moved() -> None:
    source = excerpt("music")
    resampled = source[np.round(np.arange(0, len(source) - 1, 1.1)).astype(int)]
    query = fingerprint(resampled, **AAC_64)
    found = align_sound(reference("music"), query, query_start=0, query_end=9, original_start=START + 0.1, speed=1.09)
    assert found is not None
    assert found.pitch == pytest.approx(1.1, abs=0.005) and found.speed == pytest.approx(1.1, abs=0.005)
    assert compare("music", query, speed=1.09, length=9.0).spans == ()


@pytest.mark.parametrize("codec", [AAC_64, OPUS_24], ids=["aac-64k", "opus-24k"])
def test_a_2s_replaced_voice_is_audio_altered_where_it_was_replaced(codec: dict[str, object]) -> None:
    doctored = swap(excerpt("speech"), recorded("speech-other"), 4.0, 6.0)
    comparison = compare("speech", fingerprint(doctored, **codec))
    (span,) = comparison.spans
    assert span.kind == "audio_altered" and iou(span, (4.0, 6.0)) >= 0.6
    # the sound outside the replacement still found its own alignment
    assert comparison.lag == pytest.approx(-0.1, abs=0.02)


def test_music_swapped_for_other_music_is_audio_altered() -> None:
    doctored = swap(excerpt("music"), recorded("music-other"), 2.5, 5.5)
    (span,) = compare("music", fingerprint(doctored, **AAC_64), error=-0.1).spans
    assert span.kind == "audio_altered" and iou(span, (2.5, 5.5)) >= 0.6


def test_a_whole_track_replaced_is_audio_altered_throughout() -> None:
    comparison = compare("music", fingerprint(excerpt("speech"), **AAC_64))
    assert comparison.lag is None and comparison.similarity is not None and comparison.similarity < 0.2
    assert {span.kind for span in comparison.spans} == {"audio_altered"}
    assert sum(span.end - span.start for span in comparison.spans) >= 0.8 * LENGTH


def test_speech_replaced_by_silence_is_audio_missing() -> None:
    doctored = swap(excerpt("speech"), np.zeros(round(LENGTH * RATE), np.float32), 3.0, 5.5)
    (span,) = compare("speech", fingerprint(doctored, **AAC_64)).spans
    assert span.kind == "audio_missing" and iou(span, (3.0, 5.5)) >= 0.7


def test_other_sound_has_no_alignment() -> None:
    query = fingerprint(recorded("speech-other"), **AAC_64)
    assert align_sound(reference("speech"), query, query_start=0, query_end=6, original_start=START, speed=1) is None


def test_the_align_module_example_runs() -> None:
    assert doctest.testmod(align).failed == 0
