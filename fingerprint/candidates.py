"""The one candidate record: what the index found for a registered original, read by every kind's analysis.

The registry's index produces `MatchCandidate`s; a kind's analysis reads the evidence it needs from them (an image
its best PDQ hit, a video its frame hits, a sound nothing but the id), so no second candidate type sits in between.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HashEvidence:
    """Why the index proposed a candidate: one of its hashes near one of the query's."""

    alg: str
    variant: str  # the reference's hash variant that hit ("canonical", "crop80", ...)
    query_variant: str  # the query's hash variant that hit ("identity", "rotate_90_cw", ...)
    distance: int
    at: float | None = None  # a video frame hash: the original's time of the frame that hit (seconds)
    query_at: float | None = None  # and the query's time of the frame it hit with


@dataclass(frozen=True, slots=True)
class MatchCandidate:
    """A registered original worth analysing, with all the evidence the index found for it.

    `registration_id` is the caller's opaque key for the original (the registry's registration id).
    """

    registration_id: str
    hashes: tuple[HashEvidence, ...] = ()
    votes: int = 0  # local-descriptor votes
    # The caller's order of preference, lower first, before distance or votes within each kind of evidence: a caller
    # that knows some candidates repeat others (the registry: later registrations of one content) ranks those
    # behind, so a budget is spent on distinct originals first.
    rank: int = 0

    def best(self, alg: str) -> HashEvidence | None:
        return min((e for e in self.hashes if e.alg == alg), key=lambda e: (e.distance, e.query_variant), default=None)
