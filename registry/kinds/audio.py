"""The registry side of sound, for every kind that carries it (video now; sound-only media next): its view."""

from __future__ import annotations

from collections.abc import Sequence

from fingerprint.audio import AudioFindings
from fingerprint.audio.findings import Stretch
from registry import views


def audio_view(audio: AudioFindings, segments: Sequence[Stretch]) -> views.AudioView:
    """The sound findings, each span with the original seconds under it: where the sound's own alignment puts them,
    else (no sound aligned there) where the clip's placement (`segments`: a video's picture alignment) does."""

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
