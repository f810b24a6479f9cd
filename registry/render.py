"""The render stage: one analysed check as the public views (JSON, CLI, and the pictures' labels)."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import numpy as np

from detector import Assessment
from fingerprint.algorithms import PDQ_VARIANTS, HashRecord
from fingerprint.compare import AlteredRegion, DerivativeMatch, Transform
from fingerprint.geometry import Rect
from fingerprint.kinds import Fingerprint
from fingerprint.kinds.video import AudioFindings, VideoMatch
from fingerprint.video.align import Segment
from registry import views
from registry.models import ContentRevocation, KeyRevocation, Publisher, Registration, is_verified

# PDQ distance at which unrelated images sit on average: fast mode's score estimate reaches 0 there.
_UNRELATED_DISTANCE = 128
# An altered match's score never reads as a copy's, even where the altered share rounds away (shown as 99%).
_ALTERED_CEILING = 0.99
_PDQ = "pdq"
_Listed = TypeVar("_Listed", views.MatchView, views.LookupMatchView)


@dataclass(frozen=True, slots=True)
class RegistrationStatus:
    registration: Registration
    publisher: Publisher
    revocation: ContentRevocation | None
    key_revocation: KeyRevocation | None
    priors: tuple[views.PriorRegistrationView, ...] = ()  # earlier registrations of this content by others

    @property
    def key_compromised(self) -> bool:
        """Registered with a key that was, by then, already in an attacker's hands."""
        return self.key_revocation is not None and self.registration.created_at >= self.key_revocation.compromised_since


@dataclass(frozen=True, slots=True)
class PdqDistance:
    """The least PDQ distance between a query's variants and an original's hashes, and which query variant."""

    distance: int
    query_variant: str

    @classmethod
    def between(cls, query: Fingerprint, stored: list[HashRecord]) -> PdqDistance:
        return min(
            (
                cls(mine.value.distance(theirs.value), mine.variant)
                for theirs in stored
                for mine in query.of(_PDQ)
                if theirs.alg == _PDQ
            ),
            key=lambda d: (d.distance, PDQ_VARIANTS.index(d.query_variant)),
            default=cls(256, PDQ_VARIANTS[0]),
        )


def common(status: RegistrationStatus, now: datetime) -> dict[str, object]:
    return {
        "registration_id": status.registration.id,
        "publisher": status.publisher.name,
        "publisher_id": status.publisher.id,
        "verified": is_verified(status.publisher, now),
        "revoked": status.revocation is not None,
        "revocation_log_index": None if status.revocation is None else status.revocation.log_index,
        "key_compromised": status.key_compromised,
        "log_index": status.registration.log_index,
        "prior_registrations": list(status.priors),
    }


def exact_match(status: RegistrationStatus, now: datetime) -> views.MatchView:
    """Byte-identical: nothing to analyse, and the transform is the identity."""
    facts = json.loads(status.registration.facts)
    whole = Rect(0, 0, facts["width"], facts["height"])
    identity = Transform(whole, False, whole, False, 1.0, 1.0, 0.0, False, False, False, False)
    return views.MatchView(
        **common(status, now), distance=0, score=1.0, variant="identity", exact=True, transform=transform_view(identity)
    )


def global_match(status: RegistrationStatus, pdq: PdqDistance, now: datetime) -> views.MatchView:
    """Fast mode: a strong hash hit, unverified by keypoints, so with no transform or regions."""
    return views.MatchView(
        **common(status, now),
        distance=pdq.distance,
        score=_hash_score(pdq.distance),
        variant=pdq.query_variant,
        exact=False,
        transform=None,
    )


def derivative_match(
    status: RegistrationStatus, match: DerivativeMatch, pdq: PdqDistance, now: datetime
) -> views.MatchView:
    via_pdq = match.candidate.pdq_distance is not None
    return views.MatchView(
        **common(status, now),
        distance=pdq.distance,
        score=match_score(match.verdict, _unchanged_share(match)),
        variant=PDQ_VARIANTS[match.candidate.pdq_variant] if via_pdq else _dihedral_name(match.transform),
        exact=False,
        verdict=match.verdict,
        # nothing was done to the original to make a `related` photo: its geometry is no transform to claim
        transform=None if match.verdict == "related" else transform_view(match.transform),
        regions=[_region_view(region) for region in match.regions],
        altered_fraction=round(match.altered_fraction, 4),
        inliers=match.alignment.inliers,
    )


def analysed_match(
    status: RegistrationStatus, match: DerivativeMatch | VideoMatch, pdq: PdqDistance, now: datetime
) -> views.MatchView:
    """The view of one analysed match, by the kind of media that was analysed."""
    if isinstance(match, VideoMatch):
        return video_match(status, match, now)
    return derivative_match(status, match, pdq, now)


def video_match(status: RegistrationStatus, match: VideoMatch, now: datetime) -> views.MatchView:
    """A clip aligned in time with an original: its segments, spans with regions, and distance profile.

    `distance` is the least frame distance along the alignment, `score` the share of query frames matched, and
    `transform`/`inliers` come from the best-matched frame pair analysed as images.
    """
    found = match.timeline
    aligned = found.distances[found.distances >= 0]
    spans = [
        views.SpanView(
            kind=span.kind,
            start=span.start,
            end=span.end,
            original_start=span.original_start,
            original_end=span.original_end,
            distance=span.distance,
            frame=round(span.peak, 3),
            regions=[] if frame is None else [_region_view(region) for region in frame.regions],
        )
        for span, frame in zip(found.spans, match.span_frames, strict=True)
    ]
    mirrored = any(segment.query_variant == "flip_horizontal" for segment in found.segments[:1])
    return views.MatchView(
        **common(status, now),
        distance=int(aligned.min()) if len(aligned) else 256,
        score=match_score(match.verdict, found.matched_share),
        variant="flip_horizontal" if mirrored else "identity",
        exact=False,
        verdict=match.verdict,
        transform=None if match.frame is None else transform_view(match.frame.transform),
        regions=[region for span in spans for region in span.regions],
        altered_fraction=round(max((f.altered_fraction for f in match.span_frames if f is not None), default=0.0), 4),
        inliers=0 if match.frame is None else match.frame.alignment.inliers,
        segments=[
            views.SegmentView(
                start=segment.start,
                end=segment.end,
                original_start=segment.original_start,
                original_end=segment.original_end,
                speed=segment.speed,
                matched_share=segment.matched_share,
                mirrored=segment.query_variant == "flip_horizontal",
                portrait=segment.variant == "portrait",
            )
            for segment in found.segments
        ],
        spans=spans,
        matched_share=found.matched_share,
        profile=[
            views.FrameDistanceView(
                t=round(float(t), 3),
                original_t=None if np.isnan(o) else round(float(o), 3),
                distance=None if d < 0 else int(d),
            )
            for t, o, d in zip(found.times, found.original_times, found.distances, strict=True)
        ],
        audio=None if match.audio is None else _audio_view(match.audio, found.segments),
    )


def _audio_view(audio: AudioFindings, segments: Sequence[Segment]) -> views.AudioView:
    """The sound findings, each span with the original seconds under it: where the sound's own alignment puts them,
    else (no sound aligned there) where the picture's does."""

    def original_t(t: float) -> float | None:
        heard = next((s for s in audio.segments if s.lag is not None and s.start - 1e-6 <= t <= s.end + 1e-6), None)
        if heard is not None:
            return round(heard.original_start + heard.speed * (t - heard.start), 3)
        segment = next((s for s in segments if s.start - 1e-6 <= t <= s.end + 1e-6), None)
        return None if segment is None else round(segment.original_start + segment.speed * (t - segment.start), 3)

    return views.AudioView(
        similarity=audio.similarity,
        query_has_audio=audio.query_has_audio,
        matched_by=audio.matched_by,
        spans=[
            views.AudioSpanView(
                kind=span.kind,
                start=span.start,
                end=span.end,
                original_start=original_t(span.start),
                original_end=original_t(span.end),
            )
            for span in audio.spans
        ],
        segments=[
            views.AudioSegmentView(
                start=segment.start,
                end=segment.end,
                original_start=segment.original_start,
                original_end=segment.original_end,
                speed=segment.speed,
                lag=segment.lag,
                similarity=segment.similarity,
            )
            for segment in audio.segments
        ],
    )


def check_view(
    fp: Fingerprint,
    matches: list[views.MatchView],
    warnings: list[str],
    max_matches: int,
    leaders: Mapping[str, str] | None = None,
) -> views.CheckView:
    """The answer: matches strongest first, then cut to `max_matches`.

    `leaders` maps each registration to the earliest registration of its near-duplicate group
    (`registry.precedence`): a group's members that got the same verdict are listed together, where its strongest
    stands, earliest registration first. Grouping moves no verdict, so a flood of later copies can neither
    push the first registrant out of the answer nor change what the answer says the file is.
    """
    # derivatives first: a photograph of the same scene (`related`) is shown, but no original was used to make it
    strongest = sorted(
        matches, key=lambda m: (m.verdict == "related", not m.exact, -m.score, m.distance, m.log_index or 0)
    )
    leaders = leaders or {}
    ordered = listed_together(strongest, lambda m: (leaders.get(m.registration_id, m.registration_id), m.verdict))
    primary = fp.primary()
    best = next((m for m in ordered if m.verdict != "related"), None)
    return views.CheckView(
        verdict="unregistered" if best is None else best.verdict,
        sha256=fp.sha256,
        media_type=fp.media_type,
        pdq=primary[_PDQ].value.hex(),
        pdq_quality=primary[_PDQ].quality or 0,
        matches=ordered[:max_matches],
        warnings=warnings,
        kind=fp.kind,
        hashes={alg: record.value.hex() for alg, record in sorted(primary.items())},
        withdrawn=best is not None and best.revoked,
    )


def listed_together(strongest: Sequence[_Listed], group: Callable[[_Listed], Hashable]) -> list[_Listed]:
    """Each group where its strongest member stands in `strongest`, its members earliest registration first."""
    groups: dict[Hashable, list[_Listed]] = {}
    for item in strongest:
        groups.setdefault(group(item), []).append(item)
    return [item for members in groups.values() for item in sorted(members, key=lambda m: m.log_index or 0)]


def assessment_view(assessment: Assessment, fp: Fingerprint) -> views.AssessmentView:
    """The detector's assessment, its faces moved from the assessed pixels into the query's."""
    x0, y0, x1, y1 = fp.facts.get("trim_box", [0, 0, assessment.size[1], assessment.size[0]])
    fx, fy = (x1 - x0) / assessment.size[1], (y1 - y0) / assessment.size[0]
    faces = [face.placed(fx, fy, x0, y0).to_json() for face in assessment.faces]
    return views.AssessmentView.model_validate(assessment.to_json() | {"faces": faces})


def match_score(verdict: str, unchanged: float) -> float:
    """A match's `score`: the share of the query that is the original's content, unchanged, held to its verdict.

    `related` is 0 (a different photograph: nothing in it was made from the original); `altered` stays below
    `_ALTERED_CEILING`, so that a doctored file never reads as 100%; a copy is its unchanged share (1 for an image).
    """
    if verdict == "related":
        return 0.0
    share = round(min(1.0, max(0.0, unchanged)), 4)
    return min(share, _ALTERED_CEILING) if verdict == "altered" else share


def _unchanged_share(match: DerivativeMatch) -> float:
    """The share of a photo query that shows the original unchanged: its footprint (all of the query but framing;
    for a composite, the original's part of it) less the altered regions in it."""
    transform = match.transform
    shown = 1.0
    if transform.composite:
        content = transform.content
        added = sum(rect.area for rect in transform.added)
        shown = content.area / max(1, content.area + added)
    return shown * (1.0 - match.altered_fraction)


def _hash_score(distance: int) -> float:
    """Fast mode's estimate, from the hash distance alone (no analysis says what is unchanged)."""
    return round(max(0.0, 1.0 - distance / _UNRELATED_DISTANCE), 4)


def _dihedral_name(transform: Transform) -> str:
    """The flip/quarter-turn nearest to a transform, named as PDQ_VARIANTS name them."""
    quarter = round(transform.rotation / 90) % 4
    if not transform.flipped:
        return ("identity", "rotate_90_ccw", "rotate_180", "rotate_90_cw")[quarter]
    return ("flip_horizontal", "transpose", "flip_vertical", "transverse")[quarter]


def _rect_view(rect: Rect) -> views.RectView:
    return views.RectView(x=rect.x, y=rect.y, w=rect.w, h=rect.h)


def _region_view(region: AlteredRegion) -> views.RegionView:
    q = region.query
    return views.RegionView(
        x=q.x, y=q.y, w=q.w, h=q.h, original=_rect_view(region.original), share=round(region.share, 4)
    )


def transform_view(transform: Transform) -> views.TransformView:
    return views.TransformView(
        crop=_rect_view(transform.crop),
        cropped=transform.cropped,
        content=_rect_view(transform.content),
        framed=transform.framed,
        scale=round(transform.scale, 4),
        aspect_change=round(transform.aspect_change, 4),
        rotation=round(transform.rotation, 2),
        flipped=transform.flipped,
        perspective=transform.perspective,
        photometric_change=transform.photometric_change,
        grayscale=transform.grayscale,
        composite=transform.composite,
        added=[_rect_view(rect) for rect in transform.added],
    )
