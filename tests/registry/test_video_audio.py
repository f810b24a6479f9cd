"""A video's sound through the registry: stored at registration, compared over the aligned segment at a check, and
enough on its own to name the original when the picture was replaced."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from audioclips import RATE, VOICES, speech, swap
from sqlmodel import select
from videoclips import EXCERPT, ORIGINAL, UNRELATED, encode

from fingerprint.audio import AudioFingerprint
from registry import matching, views
from registry.models import VideoTrack
from registry.runtime import Registry

VOICE = speech(ORIGINAL.duration, seed=1)
# the excerpt shows original seconds 5-11: its own sound is those seconds of the original's
EXCERPT_SOUND = VOICE[round(EXCERPT.offset * RATE) : round((EXCERPT.offset + EXCERPT.duration) * RATE)]


def _check(registry: Registry, content: bytes) -> views.CheckView:
    with registry.session() as session:
        return matching.check(session=session, registry=registry, content=content)


def _iou(span: views.AudioSpanView, start: float, end: float) -> float:
    overlap = max(0.0, min(span.end, end) - max(span.start, start))
    return overlap / (max(span.end, end) - min(span.start, start))


@pytest.fixture
def footage(registry: Registry, register: Callable[[bytes], str]) -> str:
    registration_id = register(encode(ORIGINAL, VOICE))
    with registry.session() as session:
        blob = session.exec(select(VideoTrack.audio).where(VideoTrack.registration_id == registration_id)).one()
    assert blob is not None and AudioFingerprint.from_bytes(blob).duration == pytest.approx(ORIGINAL.duration, abs=0.25)
    return registration_id


@pytest.mark.slow
def test_an_excerpt_with_its_own_sound_is_a_copy_and_a_voice_swap_is_altered(registry: Registry, footage: str) -> None:
    copy = _check(registry, encode(EXCERPT, EXCERPT_SOUND))
    assert copy.verdict == "copy"
    (match,) = copy.matches
    assert match.registration_id == footage and match.audio is not None
    assert match.audio.spans == [] and match.audio.matched_by == "frames" and match.audio.query_has_audio
    assert match.audio.similarity is not None and match.audio.similarity > 0.4
    # the sound found its own alignment: the original seconds the excerpt shows, at the segment's times
    (heard,) = match.audio.segments
    (segment,) = match.segments
    assert (heard.start, heard.end) == (segment.start, segment.end) and heard.lag is not None
    assert heard.original_start - heard.start == pytest.approx(EXCERPT.offset, abs=0.05)
    assert heard.similarity == match.audio.similarity

    donor = speech(EXCERPT.duration, seed=7, voice=VOICES[1])
    swapped = _check(registry, encode(EXCERPT, swap(EXCERPT_SOUND, donor, 2.0, 4.0)))
    assert swapped.verdict == "altered"
    (match,) = swapped.matches
    assert match.spans == []  # the frames are the original's: only the sound changed
    assert match.audio is not None and [span.kind for span in match.audio.spans] == ["audio_altered"]
    (span,) = match.audio.spans
    assert _iou(span, 2.0, 4.0) >= 0.5
    assert span.original_start == pytest.approx(span.start + EXCERPT.offset, abs=0.3)
    assert match.audio.similarity is not None and match.audio.similarity < copy.matches[0].audio.similarity  # type: ignore[union-attr]


@pytest.mark.slow
def test_stripped_sound_is_missing_and_a_replaced_picture_is_found_by_its_sound(
    registry: Registry, footage: str
) -> None:
    stripped = _check(registry, encode(EXCERPT))
    assert stripped.verdict == "copy"  # nothing was added: a muted excerpt is still the original's footage
    (match,) = stripped.matches
    assert match.audio is not None and not match.audio.query_has_audio and match.audio.similarity is None
    assert [(heard.lag, heard.similarity) for heard in match.audio.segments] == [(None, None)]
    (span,) = match.audio.spans
    assert span.kind == "audio_missing" and _iou(span, 0.0, EXCERPT.duration) >= 0.8

    # other footage over the original's sound: no frame matches, the sound names the original and where it sits
    dubbed = _check(registry, encode(dataclasses.replace(UNRELATED, width=256, height=144), EXCERPT_SOUND))
    assert dubbed.verdict == "altered"
    (match,) = dubbed.matches
    assert match.registration_id == footage and match.audio is not None and match.audio.matched_by == "audio"
    (segment,) = match.segments
    assert segment.original_start - segment.start == pytest.approx(EXCERPT.offset, abs=0.1)
    assert match.matched_share == 0.0 and match.profile == []


@pytest.mark.slow
def test_unrelated_footage_with_unrelated_sound_is_unregistered(registry: Registry, footage: str) -> None:
    other = speech(UNRELATED.duration, seed=11, voice=VOICES[2])
    assert _check(registry, encode(UNRELATED, other)).verdict == "unregistered"


@pytest.mark.slow
def test_an_original_registered_before_sound_was_stored_is_compared_by_its_decoded_track(
    registry: Registry, footage: str
) -> None:
    with registry.session() as session:  # as migration 0004 leaves videos registered before it
        track = session.exec(select(VideoTrack).where(VideoTrack.registration_id == footage)).one()
        track.audio = None
        session.add(track)
        session.commit()
    stripped = _check(registry, encode(EXCERPT))
    (match,) = stripped.matches
    assert match.audio is not None and [span.kind for span in match.audio.spans] == ["audio_missing"]
    # but with nothing stored, the sound alone finds nothing
    dubbed = encode(dataclasses.replace(UNRELATED, width=256, height=144), EXCERPT_SOUND)
    assert _check(registry, dubbed).verdict == "unregistered"
