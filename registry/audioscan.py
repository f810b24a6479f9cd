"""Stored sound fingerprints (`video_track.audio`): read for the analysis, and the check of a clip no frame of which
matched: the originals whose sound contains the clip's sound.

The video kind's side index ranks every video's sound by the landmark votes that agree on one placement
(`registry.kinds.soundindex`, `fingerprint.sound.rank`); the best `SOUND_RANKED` are aligned here with
`fingerprint.audio.match_audio` (tens of milliseconds each, and every speed hypothesis when nothing matches), and
only those it aligns are candidates.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from fingerprint.audio import AudioFingerprint, match_audio
from fingerprint.kinds import MatchCandidate
from registry.db import id_chunks
from registry.models import VideoTrack

SOUND_RANKED = 3  # originals a sound-only search aligns, from the landmark index's ranking


def verified_by_sound(
    session: Session, query: AudioFingerprint, ranked: Sequence[MatchCandidate]
) -> list[MatchCandidate]:
    """The ranked originals whose stored sound the clip's sound aligns with; the analysis verifies and places each."""
    sounds = stored_sounds(session, {candidate.registration_id for candidate in ranked})
    return [
        MatchCandidate(candidate.registration_id)
        for candidate in ranked
        if candidate.registration_id in sounds
        and match_audio(AudioFingerprint.from_bytes(sounds[candidate.registration_id]), query) is not None
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
