"""Stored sound fingerprints (`video_track.audio`): read for the analysis, and scanned for audio-only candidates,
registered originals whose sound contains a clip's sound, for a clip no frame of which matched.

A bounded scan over the newest `MAX_AUDIO_SCAN` stored sound fingerprints: each is ranked by the share of the clip's
landmark hashes it holds anywhere (a set lookup, about a millisecond), and only the best `VERIFIED` are aligned with
`fingerprint.audio.match_audio` (tens of milliseconds each, and every speed hypothesis when nothing matches). Fine at
this registry's scale and linear in it; scaling further means an inverted index over `AudioFingerprint.hashes()`
(hash -> registration, time) voting for offsets, as the frame index does for frames (README, known limitations).
"""

from __future__ import annotations

import numpy as np
from sqlmodel import Session, col, select

from fingerprint.audio import AudioFingerprint, match_audio
from fingerprint.kinds import MatchCandidate
from registry.db import id_chunks
from registry.models import Registration, VideoTrack

MAX_AUDIO_SCAN = 500  # stored sound fingerprints one check looks at (newest first)
VERIFIED = 3  # of those, the ones holding most of the clip's hashes are aligned
# Share of the clip's hashes an original must hold to be aligned at all. Measured on the test voices: excerpts
# 0.99 (same speed), 0.12-0.17 (0.8x-1.2x tempo); other voices 0.01-0.06.
MIN_SHARED = 0.03


def audio_candidates(session: Session, query: AudioFingerprint, *, kind: str) -> list[MatchCandidate]:
    """Registrations of `kind` whose stored sound the clip's sound aligns with; the analysis verifies and places
    each. (Only the query's kind can be analysed: another kind's sounds would take the few places for nothing.)"""
    wanted = np.unique(query.hashes()[0])
    if len(wanted) == 0:
        return []
    rows = session.exec(
        select(VideoTrack.registration_id, VideoTrack.audio)
        .join(Registration, col(Registration.id) == col(VideoTrack.registration_id))
        .where(col(VideoTrack.audio).is_not(None), col(Registration.kind) == kind)
        .order_by(col(VideoTrack.id).desc())
        .limit(MAX_AUDIO_SCAN)
    ).all()
    ranked: list[tuple[float, str, AudioFingerprint]] = []
    for registration_id, blob in rows:
        if blob is None:
            continue
        reference = AudioFingerprint.from_bytes(blob)
        shared = float(np.isin(wanted, reference.hashes()[0]).mean())
        if shared >= MIN_SHARED:
            ranked.append((shared, registration_id, reference))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return [
        MatchCandidate(registration_id)
        for _, registration_id, reference in ranked[:VERIFIED]
        if match_audio(reference, query) is not None
    ]


def stored_sounds(session: Session, registration_ids: set[str]) -> dict[str, bytes]:
    """The stored sound fingerprints of these registrations, as blobs (none for originals without sound)."""
    sounds: dict[str, bytes] = {}
    for ids in id_chunks(registration_ids):
        sounds.update(
            (registration_id, blob)
            for registration_id, blob in session.exec(
                select(VideoTrack.registration_id, VideoTrack.audio).where(
                    col(VideoTrack.registration_id).in_(ids), col(VideoTrack.audio).is_not(None)
                )
            ).all()
            if blob is not None
        )
    return sounds
