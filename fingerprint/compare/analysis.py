"""Run the whole analysis over the candidates a registry found: rank them, verify, describe, localise.

The registry passes its index's candidates (`MatchCandidate`, keyed by registration ids: opaque keys here) and a
`ReferenceSource` to fetch each original's stored keypoints and decoded pixels by that id. A candidate's PDQ evidence
is its best `pdq` hit: its distance, the query variant that hit (which flip or rotation aligns it) and the reference
variant (which centred crop of the original it covers).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from fingerprint.algorithms import PDQ_VARIANTS
from fingerprint.algorithms.pdq import crop_share
from fingerprint.candidates import MatchCandidate
from fingerprint.compare.footprint import find_surroundings
from fingerprint.compare.localisation import localise
from fingerprint.compare.scene import different_viewpoint
from fingerprint.compare.transform import describe_transform
from fingerprint.compare.types import Alignment, AlteredRegion, Localisation, Transform, Verdict
from fingerprint.compare.verification import pdq_alignment, verify
from fingerprint.features import LocalFeatures
from fingerprint.media import CanonicalImage

log = logging.getLogger(__name__)

__all__ = ["PDQ", "DerivativeMatch", "ReferenceSource", "analyse_image"]

# The global hash whose evidence ranks candidates and aligns one without keypoints.
PDQ = "pdq"

# Candidates found only by descriptor votes are verified if they have at least this share of the best votes.
_RELATIVE_VOTES = 0.2
# Each inset's features (a photo inside a page) bring their own vote candidates, with fewer votes than the page's
# text and icons collect: the verification budget grows by this many per inset.
_PER_INSET = 3
# A match with this many inliers whose original fills the whole query settles a non-exhaustive analysis: the
# remaining weak and vote-only candidates are resemblances (unrelated originals peak at 10 inliers), not worth a
# verification each. Strong PDQ hits (near-duplicate registrations) are still all examined.
_SETTLED_INLIERS = 100


@dataclass(frozen=True, slots=True, eq=False)
class DerivativeMatch:
    """A query verified against one original, with what was done to it and where it differs."""

    registration_id: str  # the candidate's key
    verdict: Verdict
    transform: Transform
    regions: tuple[AlteredRegion, ...]
    altered_fraction: float
    alignment: Alignment
    candidate: MatchCandidate
    localisation: Localisation | None = field(default=None, repr=False)


Original_co = TypeVar("Original_co", covariant=True)  # what the kind decodes an original into


class ReferenceSource(Protocol[Original_co]):
    """What a kind's analysis needs from the registry about a candidate original, by the candidate's `registration_id`
    (`ReferenceSource[CanonicalImage]` for photos: `analyse_image` below)."""

    def features(self, registration_id: str) -> LocalFeatures | None:
        """The original's stored keypoints, or None when it has none."""
        ...

    def original(self, registration_id: str) -> Original_co:
        """The original decoded as its kind decodes it (a photo: `load_image(..., max_side=WORKING_SIDE)`)."""
        ...


def analyse_image(
    query: CanonicalImage,
    features: Sequence[LocalFeatures],
    candidates: Sequence[MatchCandidate],
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
        strong = _strong(candidate, strong_distance)
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
        key=lambda m: (-m.alignment.inliers, _distance(m.candidate), m.candidate.rank, m.registration_id),
    )


def _settles(match: DerivativeMatch) -> bool:
    """Overwhelming evidence that the query is this original, and nothing else: a collage or screenshot (framed)
    may hold more originals, and a photograph of the same scene (`related`) was not made from this one."""
    return match.alignment.inliers >= _SETTLED_INLIERS and not match.transform.framed and match.verdict != "related"


def _ranked(candidates: Sequence[MatchCandidate], strong_distance: int) -> list[MatchCandidate]:
    """One candidate per reference (all its evidence, most votes, best rank), in the order worth verifying."""
    merged: dict[str, MatchCandidate] = {}
    for candidate in candidates:
        known = merged.get(candidate.registration_id)
        merged[candidate.registration_id] = (
            candidate
            if known is None
            else MatchCandidate(
                candidate.registration_id,
                known.hashes + candidate.hashes,
                max(known.votes, candidate.votes),
                min(known.rank, candidate.rank),
            )
        )

    def priority(candidate: MatchCandidate) -> tuple[int, int, int, int]:
        hit = candidate.best(PDQ)
        if hit is not None and hit.distance <= strong_distance:
            return (0, candidate.rank, hit.distance, -candidate.votes)
        if hit is not None:
            return (1, candidate.rank, hit.distance, -candidate.votes)
        return (2, candidate.rank, -candidate.votes, 0)

    # Vote-only candidates far behind the best vote count are random resemblances: not worth a verification.
    floor = _RELATIVE_VOTES * max((c.votes for c in merged.values()), default=0)
    kept = [c for c in merged.values() if c.best(PDQ) is not None or c.votes >= floor]
    return sorted(kept, key=lambda c: (*priority(c), c.registration_id))


def _strong(candidate: MatchCandidate, strong_distance: int) -> bool:
    """A PDQ hit close enough to accept without keypoints (aligned from its PDQ variant if need be).

    The distance is the caller's match policy, so it is always passed, never assumed here.
    """
    hit = candidate.best(PDQ)
    return hit is not None and hit.distance <= strong_distance


def _distance(candidate: MatchCandidate) -> int:
    hit = candidate.best(PDQ)
    return 0 if hit is None else hit.distance


def _aligned_by_pdq(query: CanonicalImage, original: CanonicalImage, candidate: MatchCandidate) -> Alignment:
    """The alignment the best PDQ hit implies: its query variant's flip or rotation, onto its reference variant's
    crop of the original."""
    hit = candidate.best(PDQ)
    if hit is None:
        raise ValueError(f"candidate {candidate.registration_id!r} has no PDQ hit to align by")
    return pdq_alignment(query, original, PDQ_VARIANTS.index(hit.query_variant), crop_share(hit.variant))


def _analyse_one(
    query: CanonicalImage,
    features: Sequence[LocalFeatures],
    candidate: MatchCandidate,
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
        alignment = _aligned_by_pdq(query, original, candidate)
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
    candidate: MatchCandidate, verdict: Verdict, alignment: Alignment, localisation: Localisation, transform: Transform
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
