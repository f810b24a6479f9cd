"""Run the whole analysis over the candidates a registry found: rank them, verify, describe, localise.

The registry passes candidates keyed by its registration ids (opaque keys here) and a `ReferenceSource` to
fetch each original's stored keypoints and decoded pixels by that id.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from fingerprint.compare.footprint import find_surroundings
from fingerprint.compare.localisation import localise
from fingerprint.compare.scene import different_viewpoint
from fingerprint.compare.transform import describe_transform
from fingerprint.compare.types import Alignment, AlteredRegion, Localisation, Transform, Verdict
from fingerprint.compare.verification import pdq_alignment, verify
from fingerprint.features import LocalFeatures
from fingerprint.media import CanonicalImage

log = logging.getLogger(__name__)

__all__ = ["Candidate", "DerivativeMatch", "ReferenceSource", "analyse"]

# Candidates found only by descriptor votes are verified if they have at least this share of the best votes.
_RELATIVE_VOTES = 0.2
# Each inset's features (a photo inside a page) bring their own vote candidates, with fewer votes than the page's
# text and icons collect: the verification budget grows by this many per inset.
_PER_INSET = 3
# A match with this many inliers whose original fills the whole query settles a non-exhaustive analysis: the
# remaining weak and vote-only candidates are resemblances (unrelated originals peak at 10 inliers), not worth a
# verification each. Strong PDQ hits (near-duplicate registrations) are still all examined.
_SETTLED_INLIERS = 100


@dataclass(frozen=True, slots=True)
class Candidate:
    """A reference worth verifying, as found by the global PDQ search or by descriptor votes.

    `registration_id` is the caller's opaque key for the original (the registry's registration id).
    """

    registration_id: str
    pdq_distance: int | None = None
    pdq_variant: int = 0  # index into PDQ_VARIANTS of the query hash that hit
    pdq_crop: float = (
        1.0  # share of each side of the original the hit hash covers (fingerprint.algorithms.pdq.CROP_VARIANTS)
    )
    votes: int = 0
    # The caller's order of preference, lower first, before distance or votes within each kind of evidence: a caller
    # that knows some candidates repeat others (the registry: later registrations of one content) ranks those
    # behind, so a budget is spent on distinct originals first.
    rank: int = 0

    def strong(self, *, strong_distance: int) -> bool:
        """A global hit close enough to accept without keypoints (aligned from its PDQ variant if need be).

        The distance is the caller's match policy, so it is always passed, never assumed here.
        """
        return self.pdq_distance is not None and self.pdq_distance <= strong_distance


@dataclass(frozen=True, slots=True, eq=False)
class DerivativeMatch:
    """A query verified against one original, with what was done to it and where it differs."""

    registration_id: str  # the candidate's key
    verdict: Verdict
    transform: Transform
    regions: tuple[AlteredRegion, ...]
    altered_fraction: float
    alignment: Alignment
    candidate: Candidate
    localisation: Localisation | None = field(default=None, repr=False)


Original_co = TypeVar("Original_co", covariant=True)  # what the kind decodes an original into


class ReferenceSource(Protocol[Original_co]):
    """What a kind's analysis needs from the registry about a candidate original, by the candidate's `registration_id`
    (`ReferenceSource[CanonicalImage]` for photos: `analyse` below)."""

    def features(self, registration_id: str) -> LocalFeatures | None:
        """The original's stored keypoints, or None when it has none."""
        ...

    def original(self, registration_id: str) -> Original_co:
        """The original decoded as its kind decodes it (a photo: `load_image(..., max_side=WORKING_SIDE)`)."""
        ...


def analyse(
    query: CanonicalImage,
    features: Sequence[LocalFeatures],
    candidates: Sequence[Candidate],
    references: ReferenceSource[CanonicalImage],
    *,
    strong_distance: int,
    max_verified: int = 6,
    max_strong: int | None = None,
    exhaustive: bool = True,
) -> list[DerivativeMatch]:
    """Verify candidates (strong PDQ hits first, then weak hits, then by votes) and analyse each one that aligns.

    `features` are the query's (`extract_query_features`: upright, mirrored, insets); `query` was decoded at
    `WORKING_SIDE`. A PDQ hit within `strong_distance` is strong: it is always examined, and accepted without
    keypoints if need be. Any other PDQ hit is weak (the caller decides how far it searched) and needs keypoints;
    other candidates are examined only up to `max_verified` in all, and `_PER_INSET` more per inset. `max_strong`
    caps the strong hits examined (by the caller's `rank`, then nearest first): a caller that reports at most that
    many matches need not pay for dozens of near-duplicates.
    `exhaustive=False` stops at weak and vote-only candidates once a match settles it (see `_SETTLED_INLIERS`).
    """
    if max_verified < 0 or (max_strong is not None and max_strong < 0):
        raise ValueError("max_verified and max_strong must not be negative")
    matches: list[DerivativeMatch] = []
    strong_examined = 0
    budget = max_verified + _PER_INSET * max(0, len(features) - 2)
    for position, candidate in enumerate(_ranked(candidates, strong_distance)):
        strong = candidate.strong(strong_distance=strong_distance)
        if strong:
            if max_strong is not None and strong_examined >= max_strong:
                continue
            strong_examined += 1
        elif position >= budget or (not exhaustive and any(map(_settles, matches))):
            break
        match = _analyse_one(query, features, candidate, references, strong)
        if match is not None:
            matches.append(match)
    return sorted(
        matches,
        key=lambda m: (-m.alignment.inliers, m.candidate.pdq_distance or 0, m.candidate.rank, m.registration_id),
    )


def _settles(match: DerivativeMatch) -> bool:
    """Overwhelming evidence that the query is this original, and nothing else: a collage or screenshot (framed)
    may hold more originals, and a photograph of the same scene (`related`) was not made from this one."""
    return match.alignment.inliers >= _SETTLED_INLIERS and not match.transform.framed and match.verdict != "related"


def _ranked(candidates: Sequence[Candidate], strong_distance: int) -> list[Candidate]:
    """One candidate per reference (best PDQ distance, most votes), in the order worth verifying."""
    merged: dict[str, Candidate] = {}
    for candidate in candidates:
        known = merged.get(candidate.registration_id)
        if known is None:
            merged[candidate.registration_id] = candidate
            continue
        pdq = min((c for c in (known, candidate) if c.pdq_distance is not None), key=_pdq_key, default=known)
        merged[candidate.registration_id] = Candidate(
            candidate.registration_id,
            pdq.pdq_distance,
            pdq.pdq_variant,
            pdq.pdq_crop,
            max(known.votes, candidate.votes),
            min(known.rank, candidate.rank),
        )

    def priority(candidate: Candidate) -> tuple[int, int, int, int]:
        distance = candidate.pdq_distance
        if distance is not None and distance <= strong_distance:
            return (0, candidate.rank, distance, -candidate.votes)
        if distance is not None:
            return (1, candidate.rank, distance, -candidate.votes)
        return (2, candidate.rank, -candidate.votes, 0)

    # Vote-only candidates far behind the best vote count are random resemblances: not worth a verification.
    floor = _RELATIVE_VOTES * max((c.votes for c in merged.values()), default=0)
    kept = [c for c in merged.values() if c.pdq_distance is not None or c.votes >= floor]
    return sorted(kept, key=lambda c: (*priority(c), c.registration_id))


def _pdq_key(candidate: Candidate) -> float:
    return candidate.pdq_distance if candidate.pdq_distance is not None else math.inf


def _analyse_one(
    query: CanonicalImage,
    features: Sequence[LocalFeatures],
    candidate: Candidate,
    references: ReferenceSource[CanonicalImage],
    strong: bool,
) -> DerivativeMatch | None:
    reference_features = references.features(candidate.registration_id)
    alignment, aligned = None, None
    if reference_features is not None:
        for orientation in features:
            # the first orientation that aligns wins: an upright match is never also a mirrored one
            alignment = verify(orientation, reference_features)
            if alignment is not None:
                aligned = orientation
                break
    if alignment is None and not strong:
        return None
    original = references.original(candidate.registration_id)
    if alignment is None:
        alignment = pdq_alignment(query, original, candidate.pdq_variant, candidate.pdq_crop)
    surroundings = find_surroundings(query, original, alignment)
    localisation = localise(query, original, alignment)
    # parallax first: a second photograph of the scene also shows content the original has not, at its edges
    related = (
        localisation.verdict == "altered"
        and aligned is not None
        and reference_features is not None
        and different_viewpoint(aligned, reference_features, alignment, localisation, original)
    )
    composite = surroundings.composite and not related
    # only surroundings that are accounted for (framing, or another photograph) leave the comparison; other content
    # that is not the original's stays in it and is reported as an altered region
    accounted = surroundings.content is not None and (surroundings.framed or composite)
    if accounted:
        localisation = localise(query, original, alignment, within=(surroundings.footprint, surroundings.grid_to_full))
    transform = describe_transform(
        alignment,
        (query.width, query.height),
        (original.width, original.height),
        photometric_change=localisation.photometric_change,
        grayscale=localisation.grayscale,
        footprint=surroundings.content if accounted else None,
        framed=surroundings.framed,
        composite=composite,
        added=surroundings.added if composite else (),
    )
    verdict: Verdict = "related" if related else "altered" if composite else localisation.verdict
    return _match(candidate, verdict, alignment, localisation, transform)


def _match(
    candidate: Candidate, verdict: Verdict, alignment: Alignment, localisation: Localisation, transform: Transform
) -> DerivativeMatch:
    log.debug("reference %s: %s, %d inliers", candidate.registration_id, verdict, alignment.inliers)
    return DerivativeMatch(
        registration_id=candidate.registration_id,
        verdict=verdict,
        transform=transform,
        regions=localisation.regions,
        altered_fraction=localisation.altered_fraction,
        alignment=alignment,
        candidate=candidate,
        localisation=localisation,
    )
