"""Video: safe probing and decoding, frame tracks, and temporal matching on clips whose truth is known."""

from __future__ import annotations

import dataclasses
import itertools

import hostilevideo
import numpy as np
import pytest
from conftest import photo_bytes
from videoclips import DOCTORED, EXCERPT, ORIGINAL, UNRELATED, Clip, Repaint, Sweep, encode, original_frame

from fingerprint.compare import AlteredRegion
from fingerprint.geometry import Rect
from fingerprint.kinds import KINDS, DecodeLimits, Fingerprint, HashEvidence, MatchCandidate, detect, video
from fingerprint.kinds.video import VideoKind, VideoMatch
from fingerprint.media import CorruptMediaError, MediaTooLargeError
from fingerprint.video.align import MATCH_DISTANCE, Hypothesis, Span, TemporalFit, Timeline, _Spans, fit
from fingerprint.video.decode import VideoLimits, VideoMedia, probe, sample, sniff_video
from fingerprint.video.match import frame_hits
from fingerprint.video.track import FrameTrack, distances

LIMITS = DecodeLimits(max_pixels=50_000_000)
KIND = VideoKind()


@pytest.fixture(scope="module")
def original() -> tuple[VideoMedia, Fingerprint]:
    data = encode(ORIGINAL)
    media = KIND.decode(data, LIMITS)
    return media, KIND.reference(media, sha256="0" * 64, size=len(data))


class _Original:
    def __init__(self, media: VideoMedia) -> None:
        self.media = media

    def features(self, registration_id: str) -> None:
        return None

    def original(self, registration_id: str) -> VideoMedia:
        return self.media


def check(clip: Clip, original: tuple[VideoMedia, Fingerprint]) -> list[VideoMatch]:
    """The clip checked against the original alone, its hits found exhaustively as the index would find them."""
    media, reference = original
    data = encode(clip)
    query_media = KIND.decode(data, LIMITS)
    query = KIND.query(query_media, sha256="1" * 64, size=len(data), local=True)
    assert query.frames is not None and reference.frames is not None
    hits = frame_hits(query.frames, reference.frames, 31)
    evidence = tuple(
        HashEvidence("pdq_frame", hit.variant, hit.query_variant, hit.distance, hit.time, hit.query_time)
        for hit in hits
    )
    return KIND.analyse(
        query_media, query, [MatchCandidate("original", evidence)], _Original(media), strong=31, limit=10
    )


# --- decoding -----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_detect_names_videos_by_their_magic_bytes() -> None:
    assert detect(encode(EXCERPT))[1] == "video/mp4"
    assert detect(encode(dataclasses.replace(EXCERPT, container="webm")))[1] == "video/webm"
    assert detect(encode(EXCERPT))[0] is KINDS["video"]
    assert sniff_video(photo_bytes("chelsea")) is None


def test_frames_are_sampled_at_the_rate_asked_and_look_like_the_clip() -> None:
    video = probe(encode(EXCERPT), VideoLimits())
    assert (video.width, video.height, video.duration) == (256, 144, 6.0)
    frames = list(sample(video, 4, max_side=256))
    assert len(frames) == 24
    assert all(0 <= b.time - a.time <= 0.3 for a, b in itertools.pairwise(frames))
    truth = EXCERPT.frame(frames[5].time)
    assert np.abs(frames[5].pixels.astype(int) - truth).mean() < 8


def test_sparse_sampling_skips_b_frames_and_keeps_frames_exact() -> None:
    """At a quarter of the clip's rate or less only reference frames are decoded: each sampled frame is exactly the
    frame a full decode shows at its time, at most a few frames after its tick, and some tick lands on a skipped
    B-frame (so the skip happened)."""
    clip = dataclasses.replace(EXCERPT, bframes=True)
    video = probe(encode(clip), VideoLimits())
    every = {round(frame.time, 4): frame.pixels for frame in sample(video, 1000, max_side=256)}
    assert len(every) == 90
    sparse = list(sample(video, 2, max_side=256))
    assert len(sparse) == 12
    for n, frame in enumerate(sparse):
        assert n / 2 - 1e-6 <= frame.time <= n / 2 + 3 / clip.fps + 1e-6
        assert np.array_equal(frame.pixels, every[round(frame.time, 4)])
    first_at_tick = [min(t for t in every if t >= n / 2 - 1e-6) for n in range(12)]
    assert [round(frame.time, 4) for frame in sparse] != first_at_tick


def test_spread_sampling_takes_frames_at_every_phase_of_a_regular_grid() -> None:
    """A clip sampled on a regular 4 fps grid takes the same 4 frames of every second, as an original's 2 fps
    track does, or none of them, by the excerpt's offset alone; spread, its sampled frames fall at every phase."""
    clip = dataclasses.replace(EXCERPT, fps=25)
    video = probe(encode(clip), VideoLimits())

    def phases(spread: bool) -> set[int]:
        frames = sample(video, 4, max_side=64, spread=spread)
        return {round(frame.time * 25) % 25 for frame in frames}

    assert len(phases(False)) == 4 and len(phases(True)) >= 10
    spread = [frame.time for frame in sample(video, 4, max_side=64, spread=True)]
    assert abs(len(spread) - 24) <= 1 and max(np.diff(spread)) < 0.45


def test_rotation_metadata_is_honoured() -> None:
    clip = dataclasses.replace(EXCERPT, rotate=90)
    video = probe(encode(clip), VideoLimits())
    assert (video.width, video.height) == (256, 144)
    frame = next(iter(sample(video, 4, max_side=256)))
    assert frame.pixels.shape == (144, 256, 3)
    assert np.abs(frame.pixels.astype(int) - clip.frame(frame.time)).mean() < 8


@pytest.mark.parametrize(
    ("limits", "limit"),
    [
        (VideoLimits(max_video_seconds=5), "max_video_seconds"),
        (VideoLimits(max_video_pixels=256 * 100), "max_video_pixels"),
        (VideoLimits(max_video_bytes=1000), "max_video_bytes"),
        (VideoLimits(max_video_frames=50), "max_video_frames"),
    ],
)
def test_caps_refuse_before_decoding(limits: VideoLimits, limit: str) -> None:
    with pytest.raises(MediaTooLargeError) as raised:
        probe(encode(EXCERPT), limits)
    assert raised.value.limit == limit


def test_a_stream_that_grows_past_the_pixel_cap_is_refused_while_it_is_decoded() -> None:
    """The header's 64x36 passes the cap; the stream then switches to 640x360 frames, which were decoded in full."""
    data = hostilevideo._remuxed(hostilevideo._annex_b((64, 36), 4) + hostilevideo._annex_b((640, 360), 2), "mp4")
    media = probe(data, VideoLimits(max_video_pixels=100_000))
    with pytest.raises(MediaTooLargeError) as raised:
        list(sample(media, 30.0, max_side=64))
    assert raised.value.limit == "max_video_pixels"


def test_truncated_and_damaged_videos_are_corrupt_media() -> None:
    data = encode(EXCERPT)
    with pytest.raises(CorruptMediaError):
        probe(data[: len(data) // 2], VideoLimits())
    with pytest.raises(CorruptMediaError):
        probe(data[:32] + bytes(4000), VideoLimits())


# --- frame tracks -------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_track_survives_its_bytes_and_prunes_a_still_shot(original: tuple[VideoMedia, Fingerprint]) -> None:
    track = original[1].frames
    assert track is not None and len(track) == 40  # 20 s at 2 fps, all moving
    again = FrameTrack.from_bytes(track.to_bytes())
    assert np.array_equal(again.codes, track.codes) and np.array_equal(again.times, track.times)
    still = KIND.decode(encode(Clip(duration=4.0, offset=19.9, speed=0.0)), LIMITS)
    assert len(KIND.reference(still, sha256="2" * 64, size=1).frames or ()) == 1


def test_distances_are_hamming() -> None:
    a = np.zeros((1, 32), np.uint8)
    b = np.full((2, 32), 0xFF, np.uint8)
    b[1, :2] = 0
    assert distances(a, b).tolist() == [[256, 240]]


# --- temporal matching --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_excerpt_re_encoded_is_a_copy_with_its_segment(original: tuple[VideoMedia, Fingerprint]) -> None:
    (match,) = check(EXCERPT, original)
    (segment,) = match.timeline.segments
    assert match.verdict == "copy" and match.timeline.spans == ()
    assert (segment.start, segment.end) == (0.0, 6.0)
    assert abs(segment.original_start - 5.0) <= 0.25 and abs(segment.original_end - 11.0) <= 0.25
    assert segment.speed == pytest.approx(1.0, abs=0.02) and match.timeline.matched_share == 1.0
    assert match.frame is not None and match.frame.transform.scale == pytest.approx(0.8, abs=0.03)


@pytest.mark.slow
def test_a_doctored_excerpt_is_altered_in_its_span_with_a_region(original: tuple[VideoMedia, Fingerprint]) -> None:
    (match,) = check(DOCTORED, original)
    (span,) = match.timeline.spans
    assert match.verdict == "altered" and span.kind == "altered"
    assert abs(span.start - 2.0) <= 0.3 and abs(span.end - 4.0) <= 0.3
    assert abs((span.original_start or 0) - 11.0) <= 0.3
    (frame,) = match.span_frames
    assert frame is not None
    regions = frame.regions
    truth = Rect(*(round(v * s) for v, s in zip(Repaint(0, 0).box, (256, 144, 256, 144), strict=True)))
    assert max(_iou(region, truth) for region in regions) > 0.5


@pytest.mark.slow
def test_a_span_whose_frame_shows_no_change_to_the_image_analysis_is_no_edit(
    original: tuple[VideoMedia, Fingerprint], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frame hashes of low-detail content, re-encoded, can drift past `MATCH_DISTANCE` (a faithful portrait crop of
    pale sky at 29.97 fps: 38-44 bits for 2.8 s). The image analysis of the span's most changed frame pair is the
    second opinion: a pair it finds to be a copy is no edit, and the clip stays a copy."""
    real = video.locate

    def drifted(*args: object, **kwargs: object) -> Timeline | None:
        found = real(*args, **kwargs)  # type: ignore[arg-type]
        assert found is not None
        i = len(found.times) // 2
        times, original_times = found.times[i : i + 2], found.original_times[i : i + 2]
        span = Span("altered", *map(float, times), *map(float, original_times), 44, float(times[0]), original_times[0])
        return dataclasses.replace(found, spans=(span,))

    monkeypatch.setattr(video, "locate", drifted)
    (match,) = check(EXCERPT, original)
    assert match.verdict == "copy" and match.timeline.spans == () and match.span_frames == ()


@pytest.mark.parametrize(
    ("clip", "variant"),
    [
        (dataclasses.replace(EXCERPT, speed=1.25, offset=3.0), "canonical"),
        (dataclasses.replace(EXCERPT, speed=0.8, offset=6.0), "canonical"),
        (dataclasses.replace(EXCERPT, mirror=True), "canonical"),
        (dataclasses.replace(EXCERPT, portrait=True, width=144, height=256), "portrait"),
        (dataclasses.replace(EXCERPT, container="webm", offset=11.3), "canonical"),
    ],
    ids=["faster", "slower", "mirrored", "portrait", "webm"],
)
@pytest.mark.slow
def test_edited_excerpts_are_found_in_place(clip: Clip, variant: str, original: tuple[VideoMedia, Fingerprint]) -> None:
    (match,) = check(clip, original)
    (segment,) = match.timeline.segments
    assert match.verdict == "copy"
    assert segment.variant == variant and (segment.query_variant == "flip_horizontal") == clip.mirror
    assert segment.speed == pytest.approx(clip.speed, abs=0.03)
    assert abs(segment.original_start - clip.offset) <= 0.25


@pytest.mark.slow
def test_footage_spliced_in_is_an_inserted_span(original: tuple[VideoMedia, Fingerprint]) -> None:
    (match,) = check(dataclasses.replace(EXCERPT, duration=8.0, inserted=((3.0, 5.0),)), original)
    (span,) = match.timeline.spans
    assert match.verdict == "altered" and span.kind == "inserted"
    assert abs(span.start - 3.0) <= 0.3 and abs(span.end - 5.0) <= 0.3


@pytest.mark.slow
def test_footage_from_elsewhere_in_the_original_is_not_inserted(original: tuple[VideoMedia, Fingerprint]) -> None:
    """0.6 s cut in from 8 s later in the same original: re-cut, not doctored; no span says otherwise."""

    def recut(t: float) -> np.ndarray:
        return original_frame(t + 8.0 if 7.5 <= t < 8.1 else t)

    (match,) = check(dataclasses.replace(EXCERPT, footage=recut), original)
    assert match.verdict == "copy" and match.timeline.spans == ()


@pytest.mark.slow
def test_unrelated_footage_matches_nothing(original: tuple[VideoMedia, Fingerprint]) -> None:
    assert check(UNRELATED, original) == []


@pytest.mark.slow
def test_the_picture_is_a_png(original: tuple[VideoMedia, Fingerprint]) -> None:
    (match,) = check(DOCTORED, original)
    assert KIND.render(match, label="reg_x").startswith(b"\x89PNG")


def _iou(region: AlteredRegion, truth: Rect) -> float:
    q = region.query
    w = max(0, min(q.x + q.w, truth.x + truth.w) - max(q.x, truth.x))
    h = max(0, min(q.y + q.h, truth.y + truth.h) - max(q.y, truth.y))
    return w * h / (q.w * q.h + truth.w * truth.h - w * h)


def test_dtw_follows_a_speed_change_that_no_single_speed_explains() -> None:
    rng = np.random.default_rng(7)
    reference_times = np.arange(0, 20, 1 / 15)
    reference = FrameTrack(
        reference_times,
        rng.integers(0, 256, (len(reference_times), 1, 32), dtype=np.uint8),
        np.full(len(reference_times), 100, np.uint8),
        ("canonical",),
    )
    query_times = np.arange(0, 8, 0.25)
    # normal speed for 3 s, then 1.3x: one line fits one half or the other, never both
    shown = np.where(query_times < 3, 5 + query_times, 8 + 1.3 * (query_times - 3))
    query = FrameTrack(
        query_times,
        reference.codes[reference.at(shown)],
        np.full(len(query_times), 100, np.uint8),
        ("identity",),
    )
    fitted = fit(query, reference, Hypothesis(1.0, 5.0, "identity", "canonical", votes=12))
    assert fitted.warped and (fitted.distances == 0).mean() > 0.9
    assert np.abs(fitted.original_times - shown).max() < 0.1


# --- fast camera moves: the original's own frame times --------------------------------------------------------------

PANNING = Clip(duration=12.0, footage=Sweep(), fps=25)


@pytest.fixture(scope="module")
def panning() -> tuple[VideoMedia, Fingerprint]:
    data = encode(PANNING)
    media = KIND.decode(data, LIMITS)
    return media, KIND.reference(media, sha256="3" * 64, size=len(data))


def _cut(**changes: object) -> Clip:
    """An excerpt cut from the panning original's file (its own frames, repeated or dropped at other speeds),
    re-encoded smaller."""
    made: dict[str, object] = {"duration": 5.0, "width": 256, "height": 144, "crf": 28, "source_fps": PANNING.fps}
    return dataclasses.replace(PANNING, **(made | changes))  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("offset", [3.0, 3.04], ids=["on_the_registration_grid", "between_its_frames"])
def test_a_fast_pan_excerpt_at_25_fps_is_a_copy_with_no_spans(
    offset: float, panning: tuple[VideoMedia, Fingerprint]
) -> None:
    """Against the original on a 15 fps grid, frames of a 25 fps pan met original frames up to 40 ms away, 36-72
    bits, and false `altered` spans came every second; and a clip whose sampled frames were never the very frames of
    the original's 2 fps track was not found at all. At the original's own frame times it is a copy."""
    (match,) = check(_cut(offset=offset), panning)
    assert match.verdict == "copy" and match.timeline.spans == ()
    (segment,) = match.timeline.segments
    assert segment.speed == pytest.approx(1.0, abs=0.005) and abs(segment.original_start - offset) <= 0.02
    assert (segment.start, segment.end) == (0.0, 5.0)
    assert match.timeline.distances.max() <= MATCH_DISTANCE


@pytest.mark.slow
def test_a_painted_span_ends_on_the_clip_s_frames_and_its_frame_shows_the_box(
    panning: tuple[VideoMedia, Fingerprint],
) -> None:
    """Painted from 1.1 s to 3.3 s: at 25 fps the first painted frame is at 1.12 s and the first clean one after
    the box at 3.32 s; the span says exactly that, and the frame it reports (whose regions are the answer's) shows
    the box."""
    repaint = Repaint(1.1, 3.3)
    (match,) = check(_cut(offset=4.0, repaints=(repaint,)), panning)
    (span,) = match.timeline.spans
    assert match.verdict == "altered" and span.kind == "altered"
    assert (span.start, span.end) == (1.12, 3.32)
    assert span.start <= span.peak < span.end and span.original_peak is not None
    assert abs(span.original_peak - (4.0 + span.peak)) < 0.02
    (frame,) = match.span_frames
    assert frame is not None and frame.regions
    truth = Rect(*(round(v * s) for v, s in zip(repaint.box, (256, 144, 256, 144), strict=True)))
    assert max(_iou(region, truth) for region in frame.regions) > 0.4


@pytest.mark.slow
def test_a_sped_up_excerpt_keeps_its_speed_and_its_end(panning: tuple[VideoMedia, Fingerprint]) -> None:
    """1.1x with frames dropped, as a platform speeds a clip up: one segment to the clip's end (no `inserted`
    tail), whose speed is what its own times say."""
    (match,) = check(_cut(offset=2.0, speed=1.1, duration=6.0), panning)
    assert match.verdict == "copy" and match.timeline.spans == ()
    (segment,) = match.timeline.segments
    assert segment.speed == pytest.approx(1.1, abs=0.005) and abs(segment.original_start - 2.0) <= 0.02
    assert (segment.start, segment.end) == (0.0, 6.0)
    implied = (segment.original_end - segment.original_start) / (segment.end - segment.start)
    assert implied == pytest.approx(segment.speed, abs=0.002)


@pytest.mark.parametrize(("base", "expected"), [(2, [("altered", 2.5, 6.0)]), (20, [])], ids=["quiet", "noisy"])
def test_a_long_rise_over_a_quiet_clip_s_noise_is_a_span_though_no_frame_reaches_the_threshold(
    base: int, expected: list[tuple[str, float, float]]
) -> None:
    """A small box over a 50 fps clip moved PDQ 16-34 bits for 4 s while the clip's other frames sat at 0-4: no
    run over `MATCH_DISTANCE`, so no span, and the doctored clip was a copy. Six sampled frames in a row clearly
    above a quiet clip's noise are a span (which the image analysis must still confirm); in a noisy clip they are
    noise."""
    n = 40
    times = np.arange(n) / 4
    found = np.full(n, base, np.int32)
    found[10:24] = [20, 24, 26, 28, 24, 28, 30, 22, 24, 22, 24, 28, 26, 25]
    track = FrameTrack(times, np.zeros((n, 1, 32), np.uint8), np.full(n, 100, np.uint8), ("identity",))
    line = TemporalFit(
        1.0, 5.0, "identity", "canonical", times, times + 5, times + 5, found, np.zeros(n, bool), False, track
    )
    ones, none = np.ones(n, bool), np.zeros(n, bool)
    spans = _Spans(track, np.zeros(n, np.int64), [line], found, times + 5, ones, none, 10.0, None).found()
    assert [(span.kind, span.start, span.end) for span in spans] == expected
