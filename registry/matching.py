"""Matching: is this media a registered original, or a doctored version of one, and where was it changed?

`check` finds candidates two ways, then lets `fingerprint.compare.analyse` verify each one geometrically, report the
transform and localise alterations:

- global: the query's 8 dihedral PDQ hashes against every original's canonical and centred-crop hashes, strong
  up to the match threshold (31) and weak up to 63 bits;
- local: the query's ORB descriptors (upright and mirrored) vote for originals in the descriptor index.

`mode="fast"` skips the local stage: strong PDQ hits and byte-identical files only, with no transform or regions,
for a platform's first pass over everything it ingests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from sqlmodel import Session, col, select

from fingerprint.algorithms import ALGORITHMS, PDQ_VARIANTS
from fingerprint.algorithms.pdq import MIN_TRUSTED_QUALITY
from fingerprint.compare import AlteredRegion, Candidate, DerivativeMatch, Transform, analyse
from fingerprint.features import EXTRA_PDQ_CROPS, LocalFeatures, extract_query_features
from fingerprint.geometry import Rect
from fingerprint.hashes import HashValue
from fingerprint.image import ImageFingerprint, fingerprint_canonical
from fingerprint.media import CanonicalImage
from fingerprint.visualize import render_comparison
from registry import views
from registry.errors import InvalidRequest, NotFound
from registry.media import decode
from registry.models import ContentRevocation, KeyRevocation, LocalFeatureSet, MediaHash, Publisher, Registration
from registry.publishers import is_verified, now_utc
from registry.runtime import Registry

LOOKUP_ALGORITHMS = ("sha256", *ALGORITHMS)
MAX_LOOKUP_RESULTS = 1000
CheckMode = Literal["full", "fast"]
# PDQ distance at which unrelated images sit on average, and keypoint inliers that leave no doubt (unrelated
# pairs reach 10, true derivatives a median of 272): the two ends of a match's score.
_UNRELATED_DISTANCE = 128
_CONVINCING_INLIERS = 100
_CHUNK = 500  # ids per IN (...) query, far below SQLite's bound-parameter limit
# PDQ hits from the match threshold up to this distance are only hints that keypoints must confirm.
WEAK_PDQ_DISTANCE = 63


@dataclass(frozen=True, slots=True)
class RegistrationStatus:
    registration: Registration
    publisher: Publisher
    revocation: ContentRevocation | None
    key_revocation: KeyRevocation | None

    @property
    def key_compromised(self) -> bool:
        """Registered with a key that was, by then, already in an attacker's hands."""
        return self.key_revocation is not None and self.registration.created_at >= self.key_revocation.compromised_since


def registration_status(session: Session, registration_ids: Iterable[str]) -> dict[str, RegistrationStatus]:
    """Registrations with their publisher and any content or key revocation, one query per 500 ids."""
    ids = sorted(set(registration_ids))
    found: dict[str, RegistrationStatus] = {}
    for start in range(0, len(ids), _CHUNK):
        query = (
            select(Registration, Publisher, ContentRevocation, KeyRevocation)
            .join(Publisher, col(Publisher.id) == col(Registration.publisher_id))
            .outerjoin(ContentRevocation, col(ContentRevocation.registration_id) == col(Registration.id))
            .outerjoin(KeyRevocation, col(KeyRevocation.key_id) == col(Registration.key_id))
            .where(col(Registration.id).in_(ids[start : start + _CHUNK]))
        )
        for row in session.exec(query).all():
            found[row[0].id] = RegistrationStatus(*row)
    return found


# --- check ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PdqHit:
    registration_id: str
    distance: int
    variant: int  # index into PDQ_VARIANTS of the query hash that hit
    crop: float  # share of each side of the original that the hit hash covers


class _StoredReferences:
    """`fingerprint.compare.ReferenceSource` over the database and the content store, cached for one check."""

    def __init__(self, session: Session, registry: Registry, statuses: dict[str, RegistrationStatus]) -> None:
        self.session = session
        self.registry = registry
        self.statuses = statuses
        self.registration_of: dict[int, str] = {}
        self._originals: dict[int, CanonicalImage] = {}

    def features(self, reference_id: int) -> LocalFeatures | None:
        row = self.session.get(LocalFeatureSet, reference_id)
        return None if row is None else LocalFeatures.from_bytes(row.data)

    def original(self, reference_id: int) -> CanonicalImage:
        if reference_id not in self._originals:
            sha256 = self.statuses[self.registration_of[reference_id]].registration.content_sha256
            self._originals[reference_id] = decode(self.registry.store.get(sha256), self.registry.settings)
        return self._originals[reference_id]


@dataclass(frozen=True, slots=True)
class _Outcome:
    view: views.CheckView
    derivatives: dict[str, DerivativeMatch]  # by registration id


def check(
    *, session: Session, registry: Registry, content: bytes, mode: CheckMode = "full", now: datetime | None = None
) -> views.CheckView:
    """Verdict `copy`, `altered` or `unregistered`, with every matching original, its transform and altered regions."""
    return _check(session, registry, content, mode, now or now_utc(), analyse_identical=False).view


def check_pictures(
    *, session: Session, registry: Registry, content: bytes, registration_id: str | None = None
) -> tuple[views.CheckView, list[tuple[str, bytes]]]:
    """`check`, plus a PNG per analysed match (original | query aligned | altered regions), or for one match."""
    outcome = _check(session, registry, content, "full", now_utc(), analyse_identical=True)
    pictures = [
        (match_id, render_comparison(match, label=match_id))
        for match_id, match in outcome.derivatives.items()
        if registration_id in (None, match_id)
    ]
    if registration_id is not None and not pictures:
        raise NotFound(f"the query does not match registration {registration_id!r}")
    return outcome.view, pictures


def _check(
    session: Session, registry: Registry, content: bytes, mode: CheckMode, now: datetime, *, analyse_identical: bool
) -> _Outcome:
    registry.require_ready()
    image = decode(content, registry.settings)
    fp = fingerprint_canonical(image, sha256=hashlib.sha256(content).hexdigest(), size=len(content), dihedral=True)
    registry.indexes.catch_up(session)
    threshold = registry.settings.match_threshold
    warnings: list[str] = []
    exact = set(session.exec(select(Registration.id).where(Registration.content_sha256 == fp.sha256)).all())
    hits: list[_PdqHit] = []
    if fp.trusted:
        hits = _pdq_hits(session, registry, fp, threshold if mode == "fast" else WEAK_PDQ_DISTANCE)
    else:
        warnings.append(
            f"low_quality: the image has too little detail for a trustworthy perceptual hash (PDQ quality "
            f"{fp.pdq_quality} < {MIN_TRUSTED_QUALITY}); only byte-identical copies and keypoint matches count"
        )

    if mode == "fast":
        statuses = registration_status(session, exact | {hit.registration_id for hit in hits})
        hits = [hit for hit in hits if statuses[hit.registration_id].registration.pdq_quality >= MIN_TRUSTED_QUALITY]
        matches = [_exact_match(statuses[r], now) for r in exact] + [
            _global_match(statuses[r], hit, now) for r, hit in _best_hits(hits).items() if r not in exact
        ]
        return _Outcome(_check_view(fp, matches, warnings, registry), {})

    features = extract_query_features(image)
    votes = registry.indexes.descriptors.search(features)
    references = _reference_ids(
        session, [hit.registration_id for hit in hits] + list(exact), [v.reference_id for v in votes]
    )
    statuses = registration_status(session, set(references.values()) | exact | {h.registration_id for h in hits})
    sources = _StoredReferences(session, registry, statuses)
    sources.registration_of = references
    reference_of = {registration_id: reference_id for reference_id, registration_id in references.items()}
    analysed = exact if analyse_identical else set()
    candidates = [
        Candidate(reference_of[hit.registration_id], hit.distance, hit.variant, hit.crop)
        for hit in hits
        if hit.registration_id in reference_of
        and (hit.registration_id not in exact or hit.registration_id in analysed)
        # a flat original's hash matches too much to be accepted without keypoints
        and statuses[hit.registration_id].registration.pdq_quality >= MIN_TRUSTED_QUALITY
    ]
    candidates += [Candidate(reference_of[r], 0, 0) for r in analysed if r in reference_of]
    candidates += [
        Candidate(vote.reference_id, votes=vote.votes)
        for vote in votes
        if vote.reference_id in references and references[vote.reference_id] not in exact - analysed
    ]
    derivatives = {
        references[match.reference_id]: match
        for match in analyse(image, features, candidates, sources, strong_distance=threshold)
    }
    best = _best_hits(hits)
    matches = [_exact_match(statuses[r], now) for r in exact] + [
        _derivative_match(statuses[r], match, best.get(r) or _distance(session, fp, r), now)
        for r, match in derivatives.items()
        if r not in exact
    ]
    return _Outcome(_check_view(fp, matches, warnings, registry), derivatives)


def _pdq_hits(session: Session, registry: Registry, fp: ImageFingerprint, max_distance: int) -> list[_PdqHit]:
    codes = np.stack([value.to_array() for value in fp.pdq_dihedral])
    found = registry.indexes.search("pdq", codes, max_distance)
    owners = _hash_owners(session, (hit.id for variant_hits in found for hit in variant_hits))
    return [
        _PdqHit(owner[0], hit.distance, variant, EXTRA_PDQ_CROPS.get(owner[1], 1.0))
        for variant, variant_hits in enumerate(found)
        for hit in variant_hits
        # a hit without a row was indexed from a database since restored: ignore it
        if (owner := owners.get(hit.id)) is not None
    ]


def _best_hits(hits: Iterable[_PdqHit]) -> dict[str, _PdqHit]:
    best: dict[str, _PdqHit] = {}
    for hit in hits:
        known = best.get(hit.registration_id)
        if known is None or (hit.distance, hit.variant) < (known.distance, known.variant):
            best[hit.registration_id] = hit
    return best


def _distance(session: Session, fp: ImageFingerprint, registration_id: str) -> _PdqHit:
    """For a match found by keypoints alone: its PDQ distance anyway, so every match reports one."""
    values = session.exec(
        select(MediaHash.value, MediaHash.variant).where(
            MediaHash.registration_id == registration_id, MediaHash.alg == "pdq"
        )
    ).all()
    return min(
        (
            _PdqHit(registration_id, query.distance(HashValue(value)), variant, EXTRA_PDQ_CROPS.get(name, 1.0))
            for value, name in values
            for variant, query in enumerate(fp.pdq_dihedral)
        ),
        key=lambda hit: (hit.distance, hit.variant),
        default=_PdqHit(registration_id, 256, 0, 1.0),
    )


def _hash_owners(session: Session, hash_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Hash row id -> (registration id, variant)."""
    ids = sorted(set(hash_ids))
    owners: dict[int, tuple[str, str]] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.exec(
            select(MediaHash.id, MediaHash.registration_id, MediaHash.variant).where(
                col(MediaHash.id).in_(ids[start : start + _CHUNK])
            )
        )
        owners.update({int(row_id): (registration_id, variant) for row_id, registration_id, variant in rows.all()})
    return owners


def _reference_ids(session: Session, registration_ids: Iterable[str], reference_ids: Iterable[int]) -> dict[int, str]:
    """Descriptor-index reference id -> registration id, for the registrations and references named."""
    found: dict[int, str] = {}
    for column, values in (
        (LocalFeatureSet.registration_id, sorted(set(registration_ids))),
        (LocalFeatureSet.id, sorted(set(reference_ids))),
    ):
        for start in range(0, len(values), _CHUNK):
            rows = session.exec(
                select(LocalFeatureSet.id, LocalFeatureSet.registration_id).where(
                    col(column).in_(values[start : start + _CHUNK])
                )
            )
            found.update({int(reference_id): registration_id for reference_id, registration_id in rows.all()})
    return found


# --- rendering --------------------------------------------------------------------------------------------------


def _common(status: RegistrationStatus, now: datetime) -> dict[str, object]:
    return {
        "registration_id": status.registration.id,
        "publisher": status.publisher.name,
        "publisher_id": status.publisher.id,
        "verified": is_verified(status.publisher, now),
        "revoked": status.revocation is not None,
        "revocation_log_index": None if status.revocation is None else status.revocation.log_index,
        "key_compromised": status.key_compromised,
    }


def _exact_match(status: RegistrationStatus, now: datetime) -> views.MatchView:
    """Byte-identical: nothing to analyse, and the transform is the identity."""
    registration = status.registration
    whole = Rect(0, 0, registration.width, registration.height)
    identity = Transform(whole, False, whole, False, 1.0, 1.0, 0.0, False, False, False, False)
    return views.MatchView(
        **_common(status, now),
        distance=0,
        score=1.0,
        variant="identity",
        exact=True,
        transform=_transform_view(identity),
    )


def _global_match(status: RegistrationStatus, hit: _PdqHit, now: datetime) -> views.MatchView:
    """Fast mode: a strong PDQ hit, unverified by keypoints, so with no transform or regions."""
    return views.MatchView(
        **_common(status, now),
        distance=hit.distance,
        score=_score(hit.distance, 0),
        variant=PDQ_VARIANTS[hit.variant],
        exact=False,
        transform=None,
    )


def _derivative_match(
    status: RegistrationStatus, match: DerivativeMatch, pdq: _PdqHit, now: datetime
) -> views.MatchView:
    via_pdq = match.candidate.pdq_distance is not None
    return views.MatchView(
        **_common(status, now),
        distance=pdq.distance,
        score=_score(pdq.distance, match.alignment.inliers),
        variant=PDQ_VARIANTS[match.candidate.pdq_variant] if via_pdq else _dihedral_name(match.transform),
        exact=False,
        verdict=match.verdict,
        transform=_transform_view(match.transform),
        regions=[_region_view(region) for region in match.regions],
        altered_fraction=round(match.altered_fraction, 4),
        inliers=match.alignment.inliers,
    )


def _score(distance: int, inliers: int) -> float:
    return round(max(0.0, 1.0 - distance / _UNRELATED_DISTANCE, min(1.0, inliers / _CONVINCING_INLIERS)), 4)


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


def _transform_view(transform: Transform) -> views.TransformView:
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
    )


def _check_view(
    fp: ImageFingerprint, matches: list[views.MatchView], warnings: list[str], registry: Registry
) -> views.CheckView:
    matches.sort(key=lambda match: (not match.exact, -match.score, match.distance, match.registration_id))
    return views.CheckView(
        verdict=matches[0].verdict if matches else "unregistered",
        sha256=fp.sha256,
        media_type=fp.media_type,
        pdq=fp.pdq.hex(),
        pdq_quality=fp.pdq_quality,
        matches=matches[: registry.settings.max_matches],
        warnings=warnings,
    )


# --- lookup -----------------------------------------------------------------------------------------------------


def lookup(
    *,
    session: Session,
    registry: Registry,
    alg: str,
    value: str,
    max_distance: int | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> views.LookupView:
    """Registrations whose `alg` hash is within `max_distance` of `value` (exact for sha256)."""
    now = now or now_utc()
    if alg not in LOOKUP_ALGORITHMS:
        raise InvalidRequest(f"unknown algorithm {alg!r}; choose one of {', '.join(LOOKUP_ALGORITHMS)}")
    if not 1 <= limit <= MAX_LOOKUP_RESULTS:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LOOKUP_RESULTS}")
    value = value.strip().lower()
    best: dict[str, int] = {}
    if alg == "sha256":
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise InvalidRequest("a sha256 value is 64 hexadecimal digits")
        max_distance = 0
        rows = session.exec(select(Registration.id).where(Registration.content_sha256 == value).limit(limit))
        best = dict.fromkeys(rows.all(), 0)
    else:
        registry.require_ready()
        algorithm = ALGORITHMS[alg]
        if len(value) != algorithm.bits // 4 or any(c not in "0123456789abcdef" for c in value):
            raise InvalidRequest(f"a {alg} value is {algorithm.bits // 4} hexadecimal digits")
        max_distance = algorithm.default_threshold if max_distance is None else max_distance
        if not 0 <= max_distance <= algorithm.bits // 4:
            raise InvalidRequest(f"max_distance for {alg} must be between 0 and {algorithm.bits // 4}")
        registry.indexes.catch_up(session)
        hits = registry.indexes.search(alg, np.frombuffer(bytes.fromhex(value), dtype=np.uint8), max_distance)[0]
        owners = _hash_owners(session, (hit.id for hit in hits))
        for hit in hits:
            if (owner := owners.get(hit.id)) is not None:
                best[owner[0]] = min(hit.distance, best.get(owner[0], hit.distance))
    matches = [
        views.LookupMatchView(
            registration_id=status.registration.id,
            publisher=status.publisher.name,
            publisher_id=status.publisher.id,
            verified=is_verified(status.publisher, now),
            distance=best[status.registration.id],
            media_type=status.registration.media_type,
            content_sha256=status.registration.content_sha256,
            created_at=status.registration.created_at,
            revoked=status.revocation is not None,
            key_compromised=status.key_compromised,
        )
        for status in registration_status(session, best).values()
    ]
    matches.sort(key=lambda match: (match.distance, match.created_at))
    return views.LookupView(alg=alg, hash=value, max_distance=max_distance, matches=matches[:limit])
