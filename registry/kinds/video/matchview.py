"""A video match as the public view: where the clip sits in the original, what differs when, and its sound."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from fingerprint.kinds.video import VideoMatch
from registry import views
from registry.kinds.audio import audio_view
from registry.render import RegistrationStatus, common, match_score, region_view, transform_view


def match_view(status: RegistrationStatus, match: VideoMatch, now: datetime) -> views.MatchView:
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
            regions=[] if frame is None else [region_view(region) for region in frame.regions],
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
        audio=None if match.audio is None else audio_view(match.audio, found.segments),
    )
