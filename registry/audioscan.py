"""Audio-only candidates: registered videos whose sound contains a clip's sound, for a clip no frame of which matched.

A bounded scan: the newest `MAX_AUDIO_SCAN` registered sound fingerprints are each aligned with the clip's
(`fingerprint.audio.match_audio`), which is fine at this registry's scale and linear in it. Scaling further means an
inverted index over `AudioFingerprint.hashes()` (hash -> registration, time), voting for offsets as the frame index
does for frames (README, known limitations).
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from fingerprint.audio import AudioFingerprint, match_audio
from fingerprint.kinds import MatchCandidate
from registry.models import VideoTrack

MAX_AUDIO_SCAN = 200  # registered sound fingerprints one check aligns at most (newest first)


def audio_candidates(session: Session, query: AudioFingerprint) -> list[MatchCandidate]:
    """Registrations whose stored sound the clip's sound aligns with; the analysis verifies and places each."""
    rows = session.exec(
        select(VideoTrack.registration_id, VideoTrack.audio)
        .where(col(VideoTrack.audio).is_not(None))
        .order_by(col(VideoTrack.id).desc())
        .limit(MAX_AUDIO_SCAN)
    ).all()
    return [
        MatchCandidate(registration_id)
        for registration_id, blob in rows
        if blob is not None and match_audio(AudioFingerprint.from_bytes(blob), query) is not None
    ]
