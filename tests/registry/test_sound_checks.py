"""Sound files through the real registry: registered, checked (`copy` with its offset, `altered` with the spliced-in
span, `unregistered`), looked up by `soundhash`, and refused with a clear error when damaged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from audioclips import RATE, VOICES, mux, sound_file, speech

from registry import matching, service, views
from registry.errors import CorruptMedia, InvalidRequest
from registry.runtime import Registry
from registry.settings import Settings

ORIGINAL_SECONDS = 24.0


def _original() -> np.ndarray:
    return speech(ORIGINAL_SECONDS, seed=11)


def _excerpt(start: float, end: float) -> np.ndarray:
    return _original()[round(start * RATE) : round(end * RATE)]


def _check(registry: Registry, content: bytes, **kwargs: Any) -> views.CheckView:
    with registry.session() as session:
        return matching.check(session=session, registry=registry, content=content, **kwargs)


def test_a_sound_original_registers_with_its_soundhash_and_facts(
    registry: Registry, register: Callable[[bytes], str]
) -> None:
    registration_id = register(sound_file(_original(), "flac"))
    with registry.session() as session:
        shown = service.get_registration(session=session, registration_id=registration_id).fingerprints
    assert shown.kind == "sound" and shown.pdq is None and shown.width is None
    assert shown.primary_hash is not None and shown.primary_hash.algorithm == "soundhash"
    assert shown.facts is not None and shown.facts.model_dump()["codec"] == "flac"
    assert abs(shown.facts.model_dump()["duration"] - ORIGINAL_SECONDS) < 0.1
    # looked up by its whole-file hash, from a re-encode of the whole file
    with registry.session() as session:
        heard = _check(registry, sound_file(_original(), "mp3"), mode="fast")
        found = matching.lookup(session=session, registry=registry, alg="soundhash", value=heard.hashes["soundhash"])
    assert [m.registration_id for m in found.matches] == [registration_id]


@pytest.mark.parametrize("container", ["mp3", "m4a", "opus", "wav"])
def test_a_re_encoded_excerpt_is_a_copy_at_its_offset(
    registry: Registry, register: Callable[[bytes], str], container: str
) -> None:
    registration_id = register(sound_file(_original(), "flac"))
    view = _check(registry, sound_file(_excerpt(6.0, 16.0), container))
    assert view.kind == "sound" and view.verdict == "copy" and view.pdq is None and view.assessment is None
    assert view.primary_hash is not None and view.primary_hash.algorithm == "soundhash"
    (match,) = view.matches
    assert match.registration_id == registration_id and match.matched_share is not None
    facts = match.model_dump(mode="json")["facts"]
    assert facts["kind"] == "sound" and abs(facts["offset"] - 6.0) <= 0.1 and facts["spans"] == []
    assert abs(facts["speed"] - 1.0) < 0.02 and facts["segments"]


def test_a_spliced_clip_is_altered_with_the_inserted_span(registry: Registry, register: Callable[[bytes], str]) -> None:
    register(sound_file(_original(), "flac"))
    spliced = np.concatenate([_excerpt(4.0, 10.0), speech(3.0, seed=5, voice=VOICES[1]), _excerpt(10.0, 16.0)])
    view = _check(registry, sound_file(spliced, "mp3"), pictures="keep")
    assert view.verdict == "altered"
    (match,) = view.matches
    assert match.score < 1.0
    spans = match.model_dump(mode="json")["facts"]["spans"]
    inserted = [s for s in spans if s["kind"] == "inserted"]
    assert inserted, spans
    overlap = min(inserted[0]["end"], 9.0) - max(inserted[0]["start"], 6.0)
    assert overlap >= 0.8 * 3.0
    # the kind's timeline picture, kept for the page
    assert [p.registration_id for p in view.comparisons] == [match.registration_id]


def test_unrelated_sound_is_unregistered(registry: Registry, register: Callable[[bytes], str]) -> None:
    register(sound_file(_original(), "flac"))
    view = _check(registry, sound_file(speech(10.0, seed=99, voice=VOICES[2]), "mp3"))
    assert view.verdict == "unregistered" and view.matches == [] and view.assessment is None


def test_a_damaged_sound_file_is_refused_clearly(registry: Registry) -> None:
    data = sound_file(_excerpt(0.0, 4.0), "flac")
    with pytest.raises(CorruptMedia) as refused:
        _check(registry, data[:200])
    assert "sound" in refused.value.message
    with registry.session() as session, pytest.raises(InvalidRequest):
        matching.lookup(session=session, registry=registry, alg="soundhash", value="abc")


def test_every_stored_sound_is_in_the_landmark_index_and_a_reopened_registry_finds_the_first(
    registry: Registry, register: Callable[[bytes], str], settings: Settings
) -> None:
    """Sounds are ranked through the kind's inverted landmark index, never a scan of the newest few: it holds every
    sound original (and no video's sound), is rebuilt from the database at start-up, and finds the first of them."""
    first = register(sound_file(_original(), "flac"))
    for n in range(3):
        register(sound_file(speech(8.0, seed=70 + n, voice=VOICES[n % len(VOICES)]), "mp3"))
    with registry.session() as session:
        registry.index.sync(session)
    indexed = registry.index.stats()["landmarks_sound"]
    register(mux(speech(4.0, seed=80)))  # a video with sound: in the video kind's landmarks, not the sound kind's
    with registry.session() as session:
        registry.index.sync(session)
    assert registry.index.stats()["landmarks_sound"] == indexed > 0
    assert registry.index.stats()["landmarks_video"] > 0  # the video kind's own, for clips whose picture was replaced
    reopened = Registry.open(settings)
    reopened.load()
    try:
        assert reopened.index.stats()["landmarks_sound"] == indexed
        view = _check(reopened, sound_file(_excerpt(2.0, 12.0), "opus"))
        assert view.verdict == "copy" and view.matches[0].registration_id == first
    finally:
        reopened.close()


def test_a_silent_or_tiny_sound_has_an_untrusted_soundhash_that_looks_up_nothing(
    registry: Registry, register: Callable[[bytes], str]
) -> None:
    """Silence and a sound too short for 17 stretches all hash to the same bits: stored with quality 0, never a
    lookup answer (it would name every silent file as one sound); a real sound's hash stays unrated and found."""
    silent = register(sound_file(np.zeros(6 * RATE, np.float32), "wav"))
    tiny = register(sound_file(_excerpt(3.0, 3.05), "wav"))
    voiced = register(sound_file(_original(), "flac"))
    with registry.session() as session:
        shown = {
            rid: service.get_registration(session=session, registration_id=rid).fingerprints.primary_hash
            for rid in (silent, tiny, voiced)
        }
        assert [shown[rid].quality for rid in (silent, tiny, voiced)] == [0, 0, None]  # type: ignore[union-attr]
        for rid in (silent, tiny, voiced):
            found = matching.lookup(session=session, registry=registry, alg="soundhash", value=shown[rid].value)  # type: ignore[union-attr]
            assert [m.registration_id for m in found.matches] == ([] if rid != voiced else [voiced])
