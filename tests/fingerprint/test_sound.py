from __future__ import annotations

import dataclasses
import doctest
import hashlib
import io
import wave
from functools import cache

import numpy as np
import pytest
from audioclips import CONTAINERS, RATE, VOICES, mux, recorded, sound_file, speech

import fingerprint.isobmff
import fingerprint.matroska
import fingerprint.sound.match
from fingerprint.isobmff import is_sound_only, track_handlers
from fingerprint.kinds import DecodeLimits, Fingerprint, MatchCandidate
from fingerprint.kinds.image import ImageKind
from fingerprint.kinds.sound import SoundKind
from fingerprint.kinds.video import VideoKind
from fingerprint.media import CorruptMediaError, MediaError, MediaTooLargeError, UnsupportedMediaError
from fingerprint.sound import SoundLimits, SoundMatch, SoundMedia, probe, samples, sniff_sound

LIMITS = DecodeLimits(max_pixels=50_000_000)
KIND = SoundKind()


def wav(channels: int, rate: int, seconds: float = 1.0) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(2 * channels * round(rate * seconds)))
    return buffer.getvalue()


def fingerprinted(data: bytes, *, reference: bool = False) -> Fingerprint:
    media = KIND.decode(data, LIMITS)
    sha256 = hashlib.sha256(data).hexdigest()
    if reference:
        return KIND.reference(media, sha256=sha256, size=len(data))
    return KIND.query(media, sha256=sha256, size=len(data), local=True)


class Stored:
    """The originals' landmarks by id, as the registry hands them to the analysis."""

    def __init__(self, originals: dict[str, bytes]) -> None:
        self.sounds = {rid: fingerprinted(data, reference=True).audio for rid, data in originals.items()}

    def features(self, registration_id: str) -> None:
        return None

    def original(self, registration_id: str) -> SoundMedia:
        raise AssertionError("the stored landmarks are enough")

    def sound(self, registration_id: str):  # type: ignore[no-untyped-def]
        return self.sounds[registration_id]


@cache
def originals() -> Stored:
    return Stored({"speech": sound_file(recorded("speech"), "flac"), "music": sound_file(recorded("music"), "m4a")})


def check(clip: np.ndarray, container: str = "mp3") -> list[SoundMatch]:
    data = sound_file(clip, container)
    query = fingerprinted(data)
    candidates = [MatchCandidate("music"), MatchCandidate("speech")]
    return KIND.analyse(KIND.decode(data, LIMITS), query, candidates, originals(), strong=0, limit=3)


def seconds(a: float, b: float, source: np.ndarray | None = None) -> np.ndarray:
    samples_ = recorded("speech") if source is None else source
    return samples_[round(a * RATE) : round(b * RATE)]


def iou(span: tuple[float, float], truth: tuple[float, float]) -> float:
    overlap = max(0.0, min(span[1], truth[1]) - max(span[0], truth[0]))
    return overlap / (max(span[1], truth[1]) - min(span[0], truth[0]))


def test_the_module_examples_run() -> None:
    assert doctest.testmod(fingerprint.sound.match).failed == 0
    assert doctest.testmod(fingerprint.isobmff).failed == 0
    assert doctest.testmod(fingerprint.matroska).failed == 0


@pytest.mark.parametrize("container", list(CONTAINERS))
def test_each_container_is_sniffed_and_decoded(container: str) -> None:
    data = sound_file(speech(2, seed=3), container)
    media_type = CONTAINERS[container][4]
    assert KIND.sniff(data) == media_type
    assert VideoKind().sniff(data) is None and ImageKind().sniff(data) is None
    found = fingerprinted(data, reference=True)
    assert found.kind == "sound" and found.media_type == media_type
    assert found.facts["channels"] == 1 and abs(found.facts["duration"] - 2) < 0.15  # ADTS keeps its priming
    assert found.audio is not None and len(found.audio.frames) > 20
    assert [record.alg for record in found.hashes] == ["soundhash"]


def test_an_audio_only_m4a_is_sound_and_a_video_mp4_is_video() -> None:
    m4a, video = sound_file(speech(2, seed=3), "m4a"), mux(speech(2, seed=3))
    assert track_handlers(m4a) == ("soun",) and is_sound_only(m4a)
    assert KIND.sniff(m4a) == "audio/mp4" and VideoKind().sniff(m4a) is None
    assert track_handlers(video) == ("vide", "soun") and not is_sound_only(video)
    assert VideoKind().sniff(video) == "video/mp4" and KIND.sniff(video) is None


def test_an_mp4_whose_movie_box_is_cut_off_goes_by_its_brand() -> None:
    m4a = sound_file(speech(2, seed=3), "m4a")
    header = m4a[: int.from_bytes(m4a[:4], "big")]  # the ftyp box alone
    assert track_handlers(header) is None
    assert is_sound_only(header)  # brand M4A
    assert not is_sound_only(header[:8] + b"isom" + header[12:])


def test_an_audio_only_webm_is_sound_and_a_webm_with_pictures_is_video() -> None:
    recording = sound_file(speech(2, seed=3), "webm")  # what a browser's MediaRecorder makes of a voice
    video = mux(speech(2, seed=3), container="webm", codec="libopus", codec_rate=48_000)
    assert fingerprint.matroska.track_types(recording) == (2,)
    assert KIND.sniff(recording) == "audio/webm" and VideoKind().sniff(recording) is None
    assert fingerprint.matroska.track_types(video) == (1, 2)
    assert VideoKind().sniff(video) == "video/webm" and KIND.sniff(video) is None


def test_a_webm_cut_before_its_track_list_stays_with_the_video_kind() -> None:
    recording = sound_file(speech(2, seed=3), "webm")
    tracks = recording.find(fingerprint.matroska.TRACKS.to_bytes(4, "big"))
    for cut in (4, 40, tracks, tracks + 6):
        assert fingerprint.matroska.track_types(recording[:cut]) in (None, ())
        assert VideoKind().sniff(recording[:cut]) in ("video/webm", "video/x-matroska")
        assert KIND.sniff(recording[:cut]) is None


def test_hostile_ebml_headers_are_walked_in_bounded_time() -> None:
    header = fingerprint.matroska._element(fingerprint.matroska.EBML, b"")
    void = b"\xec\x80"  # an empty Void element: the walk reads at most a few thousand of these
    assert fingerprint.matroska.track_types(header + b"\x18\x53\x80\x67\xff" + void * 100_000) is None
    assert fingerprint.matroska.track_types(header + b"\x18\x53\x80\x67\x00\x00") is None  # invalid size


def test_mpeg_audio_needs_two_frames_in_a_row() -> None:
    mp3 = sound_file(speech(2, seed=3), "mp3")
    assert sniff_sound(mp3) == "audio/mpeg"
    tag = sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(mp3[6:10]))
    start = 10 + tag if mp3[:3] == b"ID3" else 0
    assert sniff_sound(mp3[start : start + 4] + bytes(500)) is None
    assert sniff_sound(b"\xff\xd8\xff\xe0" + bytes(100)) is None  # a JPEG's start is no frame


@pytest.mark.parametrize(
    ("data", "limits", "error", "limit"),
    [
        (wav(1, 16_000, 3.0), SoundLimits(max_seconds=2, max_bytes=10**9), MediaTooLargeError, "max_video_seconds"),
        (wav(1, 16_000), SoundLimits(max_seconds=60, max_bytes=1000), MediaTooLargeError, "max_video_bytes"),
        (wav(1, 16_000), SoundLimits(max_seconds=60, max_bytes=10**9, max_sample_rate=8000), MediaTooLargeError, None),
        (wav(3, 8000), SoundLimits(max_seconds=60, max_bytes=10**9, max_channels=2), MediaTooLargeError, None),
        (wav(1, 8000)[:40], SoundLimits(max_seconds=60, max_bytes=10**9), CorruptMediaError, None),
        (b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(64), SoundLimits(max_seconds=60, max_bytes=10**9), MediaError, None),
        (b"not a sound at all" * 10, SoundLimits(max_seconds=60, max_bytes=10**9), UnsupportedMediaError, None),
    ],
    ids=["seconds", "bytes", "sample-rate", "channels", "truncated", "damaged", "foreign"],
)
def test_each_bound_is_refused_with_a_clear_error(
    data: bytes, limits: SoundLimits, error: type[MediaError], limit: str | None
) -> None:
    with pytest.raises(error) as refused:
        samples(probe(data, limits))
    assert refused.value.limit == limit and str(refused.value)


def test_too_many_streams_are_refused() -> None:
    data = sound_file(speech(1, seed=3), "m4a", streams=3)
    with pytest.raises(MediaTooLargeError, match="3 streams"):
        probe(data, SoundLimits(max_seconds=60, max_bytes=10**9, max_streams=2))


def test_caps_bind_while_decoding_too() -> None:
    """A header can understate: the decoded frames are held to the duration and sample caps as they come."""
    media = probe(wav(1, 16_000, 3.0), SoundLimits(max_seconds=60, max_bytes=10**9))
    with pytest.raises(MediaTooLargeError, match="longer than 2"):
        samples(dataclasses.replace(media, limits=SoundLimits(max_seconds=2, max_bytes=10**9)))
    with pytest.raises(MediaTooLargeError, match="samples"):
        samples(dataclasses.replace(media, limits=SoundLimits(60, 10**9, max_decoded_samples=16_000)))


@pytest.mark.parametrize("container", list(CONTAINERS))
def test_damaged_files_raise_only_media_errors(container: str) -> None:
    data = sound_file(speech(1, seed=4), container)
    rng = np.random.default_rng(7)
    for damaged in [data[: len(data) // k] for k in (2, 3, 7)] + [
        bytes(np.where(rng.random(len(data)) < 0.01, rng.integers(0, 256, len(data)), np.frombuffer(data, np.uint8)))
        for _ in range(3)
    ]:
        try:
            fingerprinted(damaged)
        except MediaError as exc:
            assert str(exc)


@pytest.mark.parametrize("container", ["mp3", "opus"])
def test_a_clip_is_found_at_its_offset(container: str) -> None:
    matches = check(seconds(4.0, 12.0), container)
    assert [m.registration_id for m in matches] == ["speech"]
    assert matches[0].verdict == "copy" and matches[0].spans == ()
    assert abs(matches[0].offset - 4.0) <= 0.1 and abs(matches[0].speed - 1.0) < 0.01


def test_a_spliced_in_voice_is_an_inserted_span() -> None:
    clip = np.concatenate([seconds(2.0, 7.0), recorded("speech-other")[: 2 * RATE], seconds(7.0, 14.0)])
    (match,) = check(clip)
    assert match.verdict == "altered" and abs(match.offset - 2.0) <= 0.1
    (span,) = match.spans
    assert span.kind == "inserted" and iou((span.start, span.end), (5.0, 7.0)) >= 0.8
    assert len(match.segments) == 2 and abs(match.segments[1].original_start - 7.0) < 0.15


def test_cut_words_are_a_deletion_where_the_cut_is() -> None:
    (match,) = check(np.concatenate([seconds(2.0, 7.0), seconds(9.0, 15.0)]))
    (span,) = match.spans
    assert match.verdict == "altered" and span.kind == "deleted"
    assert abs(span.start - 5.0) < 0.2 and span.start == span.end
    assert span.original_start is not None and span.original_end is not None
    assert abs(span.original_end - span.original_start - 2.0) < 0.2


def test_unrelated_sound_matches_nothing() -> None:
    assert check(recorded("speech-other")) == []
    assert check(recorded("music-other")) == []


def test_the_soundhash_survives_a_reencode_and_tells_sounds_apart() -> None:
    flac, mp3 = sound_file(recorded("speech"), "flac"), sound_file(recorded("speech"), "mp3")
    same = (
        fingerprinted(flac, reference=True).hashes[0].value.distance(fingerprinted(mp3, reference=True).hashes[0].value)
    )
    music = fingerprinted(sound_file(recorded("music"), "flac"), reference=True).hashes[0].value
    assert same <= 6 < fingerprinted(flac, reference=True).hashes[0].value.distance(music)


def test_a_match_is_drawn() -> None:
    (match,) = check(np.concatenate([seconds(2.0, 7.0), recorded("speech-other")[: 2 * RATE], seconds(7.0, 14.0)]))
    assert KIND.render(match, label="speech").startswith(b"\x89PNG")


def test_a_clip_of_sound_the_original_repeats_names_every_place_it_fits() -> None:
    part = seconds(2.0, 9.0)
    looped = Stored({"loop": sound_file(np.concatenate([part, seconds(9.0, 12.0), part]), "flac")})
    data = sound_file(part[RATE : 6 * RATE], "mp3")
    (match,) = KIND.analyse(
        KIND.decode(data, LIMITS), fingerprinted(data), [MatchCandidate("loop")], looped, strong=0, limit=3
    )
    assert match.verdict == "copy" and len(match.also_at) == 1
    assert sorted([round(match.offset), round(match.also_at[0])]) == [1, 11]


def test_the_offset_vote_ranks_a_resampled_clip_under_its_own_original() -> None:
    """A clip played 6% fast with its pitch moved shares few hashes with its original, but they agree on one placement
    under one speed hypothesis, and another voice's chance hashes do not."""
    from fingerprint.audio import Audio, fingerprint_audio
    from fingerprint.sound.rank import ClipHashes, offset_votes

    def landmarks(samples_: np.ndarray):  # type: ignore[no-untyped-def]
        return fingerprint_audio(Audio(samples=samples_.astype("f4"), rate=RATE, start=0.0, truncated=False))

    original, other = speech(30, seed=31), speech(30, seed=32, voice=VOICES[1])
    excerpt = original[8 * RATE : 20 * RATE]
    resampled = np.interp(np.arange(0, len(excerpt), 1.06), np.arange(len(excerpt)), excerpt)
    clip = ClipHashes.of(landmarks(resampled))
    right, wrong = offset_votes(landmarks(original), clip), offset_votes(landmarks(other), clip)
    assert right > 3 * wrong and right > 0.03


def test_the_landmark_index_ranks_every_original_as_the_per_original_vote_does() -> None:
    """One inverted index over every original gives each the same share as `offset_votes` on it alone, whatever the
    order of adds and searches (runs merged or not), and leaves out excluded owners."""
    from fingerprint.audio import Audio, fingerprint_audio
    from fingerprint.sound.rank import ClipHashes, LandmarkIndex, offset_votes

    def landmarks(samples_: np.ndarray):  # type: ignore[no-untyped-def]
        return fingerprint_audio(Audio(samples=samples_.astype("f4"), rate=RATE, start=0.0, truncated=False))

    stored = [landmarks(speech(12, seed=60 + n, voice=VOICES[n % len(VOICES)])) for n in range(6)]
    excerpt = speech(12, seed=63, voice=VOICES[3])[3 * RATE : 9 * RATE]
    clip = ClipHashes.of(landmarks(np.interp(np.arange(0, len(excerpt), 0.95), np.arange(len(excerpt)), excerpt)))
    expected = sorted(((offset_votes(fp, clip), n) for n, fp in enumerate(stored)), key=lambda v: (-v[0], v[1]))
    index = LandmarkIndex()
    for n, fp in enumerate(stored):
        index.add(n, fp)
        if n in (0, 3):  # a search between adds makes a main run and a small one
            index.rank(clip, limit=1)
    ranked = index.rank(clip, limit=len(stored))
    assert [owner for owner, _ in ranked] == [n for _, n in expected] and ranked[0][0] == 3
    assert [share for _, share in ranked] == pytest.approx([share for share, _ in expected])
    assert len(index) == sum(len(fp.hashes()[0]) for fp in stored) and index.originals == len(stored)
    assert [owner for owner, _ in index.rank(clip, limit=2, excluded={3})] == [n for _, n in expected[1:3]]
    assert LandmarkIndex().rank(clip, limit=3) == []
