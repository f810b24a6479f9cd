"""Matching: is this media a registered original, or a doctored version of one, and where was it changed?

`run_check` is one pipeline of stages, each taking the previous stage's result and nothing else (`check` returns
its view alone):

    decode -> fingerprint -> candidates -> references -> analyse -> fallback assessment -> render

- decode and fingerprint: by the media kind the magic bytes name (`fingerprint.kinds`);
- candidates: the match index (`registry.index`) returns registrations with their evidence: hashes within the
  match policy's radius (strong in fast mode, weak in full mode), and local-descriptor votes (full mode);
  byte-identical registrations come from the database;
- references: one batched read of everything the analysis and the views need about those registrations;
- analyse: the kind verifies each candidate against its original (transform, altered regions);
- fallback assessment: when nothing registered matches, or only `related` originals, the detector's assessment
  (`Registry.assessor`, see registry.assessment), in full mode; an assessment that fails (a bug, or a worker over
  its limits) is dropped with a warning and logged: it never fails the check it would only have added to;
- render: the public views, and the comparison pictures from the same analysis when asked for (`pictures`).

`mode="fast"` skips local features and analysis: strong hash hits and byte-identical files only, with no transform
or regions, for a platform's first pass over everything it ingests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session, col, select

from detector import Assessment
from fingerprint.algorithms import ALGORITHMS, HashRecord
from fingerprint.hashes import HashValue
from fingerprint.kinds import DecodedMedia, Fingerprint, HashEvidence, MatchCandidate
from registry import views, work
from registry.assessment import draw_heatmap
from registry.clock import now_utc
from registry.db import id_chunks
from registry.errors import ClientGone, InvalidRequest, NotReady, RegistryError
from registry.kinds import KindAdapter, adapter, hash_check_kind, whole_file_hashes
from registry.kinds.base import CheckMode as CheckMode  # re-exported: the API names a check's mode by it
from registry.media import limits as media_limits
from registry.models import (
    ContentRevocation,
    KeyRevocation,
    LocalFeatureSet,
    MediaHash,
    Publisher,
    Registration,
    is_verified,
)
from registry.policy import MatchPolicy
from registry.precedence import Groups, near_duplicate_groups, read_priors
from registry.render import RegistrationStatus, check_view, exact_match, global_match, listed_together
from registry.runtime import Registry

log = logging.getLogger(__name__)
MAX_LOOKUP_RESULTS = 1000
_HEX = re.compile(r"[0-9a-f]+")


def lookup_algorithms() -> tuple[str, ...]:
    return ("sha256", *ALGORITHMS, *whole_file_hashes())


LOOKUP_ALGORITHMS = lookup_algorithms()


def _bits(alg: str) -> int:
    """The length of a lookup algorithm's values: sha256's, a registered algorithm's or a kind's whole-file hash's."""
    return 256 if alg == "sha256" else ALGORITHMS[alg].bits if alg in ALGORITHMS else whole_file_hashes()[alg]


def registration_status(session: Session, registration_ids: Iterable[str]) -> dict[str, RegistrationStatus]:
    """Registrations with their publisher, any content or key revocation and their prior registrations, two
    queries per 500 ids."""
    found: dict[str, RegistrationStatus] = {}
    registration_ids = set(registration_ids)
    priors = read_priors(session, registration_ids)
    for ids in id_chunks(registration_ids):
        query = (
            select(Registration, Publisher, ContentRevocation, KeyRevocation)
            .join(Publisher, col(Publisher.id) == col(Registration.publisher_id))
            .outerjoin(ContentRevocation, col(ContentRevocation.registration_id) == col(Registration.id))
            .outerjoin(KeyRevocation, col(KeyRevocation.key_id) == col(Registration.key_id))
            .where(col(Registration.id).in_(ids))
        )
        for row in session.exec(query).all():
            found[row[0].id] = RegistrationStatus(*row, priors=priors.get(row[0].id, ()))
    return found


# --- check ------------------------------------------------------------------------------------------------------


# A check's comparison pictures (and the assessment's heat-map): "none" draws none (the analysis may stop once a match
# settles it); "draw" returns them in `CheckOutcome`; "keep" also keeps them for `settings.picture_ttl_seconds`
# (`registry.pictures`) and lists them in the view's `comparisons` and the assessment's `heatmap`.
Pictures = Literal["none", "draw", "keep"]


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    view: views.CheckView
    pictures: dict[str, bytes]  # PNG by registration id, when drawn
    assessment: Assessment | None = None  # the fallback assessor's answer when nothing registered matches
    heatmap: bytes | None = None  # the assessment's heat-map PNG, when drawn


def check(
    *,
    session: Session,
    registry: Registry,
    content: bytes,
    mode: CheckMode = "full",
    pictures: Pictures = "none",
    now: datetime | None = None,
    cancelled: threading.Event | None = None,
) -> views.CheckView:
    """`run_check`'s view, for the callers that need nothing else: verdict `copy`, `altered` or `unregistered`, with
    every matching original, its transform and altered regions."""
    return run_check(
        session=session,
        registry=registry,
        content=content,
        mode=mode,
        pictures=pictures,
        now=now,
        cancelled=cancelled,
    ).view


def run_check(
    *,
    session: Session,
    registry: Registry,
    content: bytes,
    mode: CheckMode = "full",
    pictures: Pictures = "none",
    now: datetime | None = None,
    cancelled: threading.Event | None = None,
) -> CheckOutcome:
    """The whole pipeline; `pictures` (not in fast mode) draws a comparison of every analysed match, byte-identical
    ones too, and the assessment's heat-map.

    The CPU-bound stages run through `registry.run_media` (the worker pool in the server); `cancelled` stops
    waiting for them when the caller has gone.
    """
    outcome = _checked(
        session=session,
        registry=registry,
        content=content,
        mode=mode,
        draw=pictures != "none",
        now=now or now_utc(),
        cancelled=cancelled,
    )
    return _kept(registry, outcome) if pictures == "keep" else outcome


def _kept(registry: Registry, outcome: CheckOutcome) -> CheckOutcome:
    """The outcome with its pictures kept, and listed in its view."""
    kept = []
    for registration_id, png in outcome.pictures.items():
        picture_id, expires_at = registry.pictures.keep(png)
        kept.append(views.PictureView(registration_id=registration_id, id=picture_id, expires_at=expires_at))
    view = outcome.view.model_copy(update={"comparisons": kept})
    if outcome.heatmap is not None and view.assessment is not None:
        picture_id, expires_at = registry.pictures.keep(outcome.heatmap)
        heatmap = views.HeatmapView(id=picture_id, expires_at=expires_at)
        view = view.model_copy(update={"assessment": view.assessment.model_copy(update={"heatmap": heatmap})})
    return dataclasses.replace(outcome, view=view)


def _dropped(exc: Exception) -> str:
    """The check's warning for a failed assessment: a domain error's own (safe) message, never a traceback."""
    reason = str(exc) if isinstance(exc, RegistryError) else "an internal error (logged)"
    return f"the manipulation assessment was dropped: {reason}; the match result stands without it"


def _checked(
    *,
    session: Session,
    registry: Registry,
    content: bytes,
    mode: CheckMode,
    draw: bool,
    now: datetime,
    cancelled: threading.Event | None,
) -> CheckOutcome:
    """The stages, drawing the pictures when `draw`."""
    registry.require_ready()
    limits = media_limits(registry.settings)
    sha256 = hashlib.sha256(content).hexdigest()
    fp, media = registry.run_media(work.query_fingerprint, content, limits, sha256, mode == "full", cancelled=cancelled)
    registry.index.sync(session)
    kind = adapter(fp.kind)
    found, references, groups = _search(session, registry, fp, mode)
    max_matches = registry.settings.max_matches
    if mode == "fast":
        return CheckOutcome(_fast_view(fp, found, references, groups, max_matches, now), {})

    analysed = _run_analysis(registry, media, fp, found, references, groups, pictures=draw, cancelled=cancelled)
    matches = _exact_matches(kind, found, references, now) + [
        kind.match_view(references.statuses[r], match, fp, references.hashes.get(r, []), now)
        for r, match in ((match.registration_id, match) for match in analysed.matches)
        if r not in found.exact
    ]
    view = check_view(fp, kind.check_fields(fp), matches, found.warnings, max_matches, groups.leaders)
    if registry.assessor is None or any(match.verdict != "related" for match in matches):
        return CheckOutcome(view, analysed.pictures)
    try:
        assessment = registry.run_media(registry.assessor, media, fp, cancelled=cancelled)
        heatmap = (
            registry.run_media(draw_heatmap, fp.kind, media, assessment, cancelled=cancelled)
            if draw and assessment is not None and assessment.heatmap is not None
            else None
        )
    except (ClientGone, NotReady):
        raise  # nobody is waiting for the answer, or the server is stopping: not the assessment's failure
    except Exception as exc:
        log.warning("check %s: the fallback assessment failed and was dropped", sha256[:12], exc_info=True)
        return CheckOutcome(view.model_copy(update={"warnings": [*view.warnings, _dropped(exc)]}), analysed.pictures)
    if assessment is None:
        return CheckOutcome(view, analysed.pictures)
    view = view.model_copy(update={"assessment": kind.assessment_view(assessment, fp)})
    return CheckOutcome(view, analysed.pictures, assessment, heatmap)


def check_hashes(
    *, session: Session, registry: Registry, hashes: Mapping[str, str], pdq_quality: int | None = None
) -> views.CheckView:
    """A fast check of hashes a platform computed itself: the hash-check kind's primary algorithm's (`pdq`,
    required), optionally `sha256` and any algorithm.

    The same search and view as `mode="fast"` on the file, but only the given hashes are searched (a file check
    also searches its 7 flipped and rotated PDQ hashes). `pdq_quality`, when given, is held to the match policy's
    minimum quality like a file's.
    """
    registry.require_ready()
    fp = _hash_query(hashes, pdq_quality)
    registry.index.sync(session)
    found, references, groups = _search(session, registry, fp, "fast")
    return _fast_view(fp, found, references, groups, registry.settings.max_matches, now_utc())


def _hash_query(hashes: Mapping[str, str], quality: int | None) -> Fingerprint:
    kind = hash_check_kind()
    unknown = sorted(set(hashes) - set(lookup_algorithms()))
    if unknown:
        raise InvalidRequest(f"unknown algorithm {unknown[0]!r}; choose among {', '.join(lookup_algorithms())}")
    if kind.primary_alg not in hashes:
        raise InvalidRequest(f"a hash check needs a {kind.primary_alg} value")
    records = []
    for alg, value in sorted(hashes.items()):
        bits = _bits(alg)
        if not isinstance(value, str) or len(value) != bits // 4 or not _HEX.fullmatch(value.lower()):
            raise InvalidRequest(f"a {alg} value is {bits // 4} hexadecimal digits")
        if alg != "sha256":
            records.append(
                HashRecord(alg, "identity", HashValue.from_hex(value), quality if alg == kind.primary_alg else None)
            )
    if quality is not None and not 0 <= quality <= 100:
        raise InvalidRequest(f"{kind.primary_alg}_quality is between 0 and 100")
    sha256 = hashes.get("sha256", "").lower()
    return Fingerprint(kind=kind.name, sha256=sha256, media_type="", size=0, hashes=tuple(records))


def _fast_view(
    fp: Fingerprint, found: _Found, references: _References, groups: Groups, max_matches: int, now: datetime
) -> views.CheckView:
    """Byte-identical registrations and strong hash hits, without analysis."""
    kind = adapter(fp.kind)
    matches = _exact_matches(kind, found, references, now)
    matches += [
        global_match(references.statuses[r], kind.fast_distance(fp, candidate, references.hashes.get(r, [])), now)
        for r, candidate in found.candidates.items()
        if r not in found.exact and r in references.statuses
    ]
    return check_view(fp, kind.check_fields(fp), matches, found.warnings, max_matches, groups.leaders)


def _exact_matches(
    kind: KindAdapter[Any, Any], found: _Found, references: _References, now: datetime
) -> list[views.MatchView]:
    """Registrations of these very bytes: the identity, with nothing to analyse."""
    return [
        exact_match(status, kind.exact_transform(json.loads(status.registration.facts)), now)
        for status in (references.statuses[r] for r in found.exact if r in references.statuses)
    ]


@dataclass(frozen=True, slots=True)
class _Found:
    exact: list[str]  # registrations of these very bytes
    candidates: dict[str, MatchCandidate]  # by registration id: hash evidence and votes merged
    warnings: list[str]

    @property
    def registration_ids(self) -> set[str]:
        return set(self.exact) | set(self.candidates)

    def of_kind(self, kind: str, statuses: dict[str, RegistrationStatus]) -> _Found:
        """Only candidates of the query's kind: a video's poster hash may resemble a photo, and neither kind's
        analysis can read the other's originals."""
        kept = {r: c for r, c in self.candidates.items() if r in statuses and statuses[r].registration.kind == kind}
        return _Found(self.exact, kept, self.warnings)

    def adding(self, candidates: Mapping[str, MatchCandidate]) -> _Found:
        return _Found(self.exact, {**self.candidates, **candidates}, self.warnings)


def _search(
    session: Session, registry: Registry, fp: Fingerprint, mode: CheckMode
) -> tuple[_Found, _References, Groups]:
    """Candidates of the query's kind, what is known about them, and their near-duplicate groups."""
    found = _candidates(session, registry, fp, mode)
    references = _References.read(session, found.registration_ids, adapter(fp.kind))
    found = found.of_kind(fp.kind, references.statuses)
    found, references = _with_first_registrants(session, registry.settings.match_policy, fp, found, references, mode)
    registrations = [references.statuses[r].registration for r in found.registration_ids if r in references.statuses]
    return found, references, near_duplicate_groups(registrations, references.hashes, registry.settings.match_policy)


def _with_first_registrants(
    session: Session, policy: MatchPolicy, fp: Fingerprint, found: _Found, references: _References, mode: CheckMode
) -> tuple[_Found, _References]:
    """Add the registrations that candidates name as their prior registrations, where the search left them out.

    The index cuts what it returns (descriptor votes keep the best few per query, pgvector its top k), so near-copies
    that outvote their original could hide it. An added one carries the evidence its own stored hashes give against
    the query (what the hash search would have found), and in a full check the votes of the copy that named it:
    votes only choose what keypoints then verify, so they claim nothing.
    """
    votes: dict[str, int] = {}
    for registration_id in found.registration_ids:
        status = references.statuses.get(registration_id)
        for prior in () if status is None else status.priors:
            if prior.registration_id not in found.registration_ids:
                named = found.candidates.get(registration_id)
                votes[prior.registration_id] = max(votes.get(prior.registration_id, 0), named.votes if named else 0)
    if not votes:
        return found, references
    more = _References.read(session, set(votes), adapter(fp.kind))
    added = {}
    for registration_id, borrowed in votes.items():
        status = more.statuses.get(registration_id)
        if status is None or status.registration.kind != fp.kind:
            continue
        evidence = _stored_evidence(fp, more.hashes.get(registration_id, []), policy, weak=mode == "full")
        borrowed = borrowed if mode == "full" else 0
        if evidence or borrowed:
            added[registration_id] = MatchCandidate(registration_id, evidence, borrowed)
    return found.adding(added), references.merged(more)


def _stored_evidence(
    fp: Fingerprint, stored: list[HashRecord], policy: MatchPolicy, *, weak: bool
) -> tuple[HashEvidence, ...]:
    """The hits the index's hash search makes between the query's trusted hashes and these stored ones."""
    found = [
        HashEvidence(alg, theirs.variant, mine.variant, distance)
        for alg, algorithm in ALGORITHMS.items()
        if algorithm.searched
        for mine in fp.of(alg)
        if policy.trusted(mine.quality)
        for theirs in stored
        if theirs.alg == alg
        and policy.trusted(theirs.quality)
        and (distance := mine.value.distance(theirs.value)) <= policy.radius(algorithm.bits, weak=weak)
    ]
    return tuple(sorted(found, key=lambda e: (e.distance, e.variant)))


def _candidates(session: Session, registry: Registry, fp: Fingerprint, mode: CheckMode) -> _Found:
    policy = registry.settings.match_policy
    exact = sorted(session.exec(select(Registration.id).where(Registration.content_sha256 == fp.sha256)).all())
    warnings: list[str] = []
    found: list[MatchCandidate] = []
    for alg, algorithm in ALGORITHMS.items():
        records = fp.of(alg)
        if not algorithm.searched or not records:
            continue
        trusted = [record for record in records if policy.trusted(record.quality)]
        if not trusted:
            warnings.append(
                f"low_quality: the {fp.kind} has too little detail for a trustworthy perceptual hash ({alg} quality "
                f"{records[0].quality} < {policy.min_quality}); only byte-identical copies and keypoint matches count"
            )
            continue
        radius = policy.radius(algorithm.bits, weak=mode == "full")
        found += registry.index.search(alg, trusted, radius, min_quality=policy.min_quality)
    if fp.features:
        found += registry.index.vote(fp.features)
    found += adapter(fp.kind).candidates(
        session=session, index=registry.index, fp=fp, policy=policy, mode=mode, found=found
    )
    merged: dict[str, MatchCandidate] = {}
    for candidate in found:
        known = merged.get(candidate.registration_id)
        merged[candidate.registration_id] = (
            candidate
            if known is None
            else MatchCandidate(
                candidate.registration_id, known.hashes + candidate.hashes, max(known.votes, candidate.votes)
            )
        )
    return _Found(exact, merged, warnings)


@dataclass(frozen=True, slots=True)
class _References:
    """Everything the analysis and the views need about the candidates, read in one batch."""

    statuses: dict[str, RegistrationStatus]
    hashes: dict[str, list[HashRecord]]  # searched algorithms' stored hashes, for the distance every match reports
    features: dict[str, bytes]  # stored local features, as blobs
    sounds: dict[str, bytes]  # stored sound fingerprints, as blobs (the query's kind's `stored_sounds`)

    @classmethod
    def read(cls, session: Session, registration_ids: set[str], kind: KindAdapter[Any, Any]) -> _References:
        hashes = _stored_hashes(session, registration_ids)
        features: dict[str, bytes] = {}
        for ids in id_chunks(registration_ids):
            features.update(
                session.exec(
                    select(LocalFeatureSet.registration_id, LocalFeatureSet.data).where(
                        col(LocalFeatureSet.registration_id).in_(ids)
                    )
                ).all()
            )
        sounds = kind.stored_sounds(session, registration_ids)
        return cls(registration_status(session, registration_ids), hashes, features, sounds)

    def merged(self, other: _References) -> _References:
        return _References(
            self.statuses | other.statuses,
            self.hashes | other.hashes,
            self.features | other.features,
            self.sounds | other.sounds,
        )


def _stored_hashes(session: Session, registration_ids: Iterable[str]) -> dict[str, list[HashRecord]]:
    """The searched algorithms' stored hashes of each registration."""
    searched = [alg for alg, algorithm in ALGORITHMS.items() if algorithm.searched]
    hashes: dict[str, list[HashRecord]] = {}
    for ids in id_chunks(registration_ids):
        for row in session.exec(
            select(MediaHash).where(col(MediaHash.registration_id).in_(ids), col(MediaHash.alg).in_(searched))
        ).all():
            hashes.setdefault(row.registration_id, []).append(
                HashRecord(row.alg, row.variant, HashValue(row.value), row.quality)
            )
    return hashes


def _run_analysis(
    registry: Registry,
    media: DecodedMedia,
    fp: Fingerprint,
    found: _Found,
    references: _References,
    groups: Groups,
    *,
    pictures: bool,
    cancelled: threading.Event | None,
) -> work.Analysed:
    """Every candidate the kind can verify; byte-identical ones only when their picture is wanted.

    Each candidate's `rank` is its place in its near-duplicate group: the kind spends its budget on the earliest
    registration of each content first."""
    skip = set() if pictures else set(found.exact)
    candidates = [
        candidate
        for registration_id, candidate in found.candidates.items()
        if registration_id not in skip and registration_id in references.statuses
    ]
    candidates += [
        MatchCandidate(registration_id)
        for registration_id in found.exact
        if pictures and registration_id not in found.candidates and registration_id in references.statuses
    ]
    candidates = [dataclasses.replace(c, rank=groups.places.get(c.registration_id, 0)) for c in candidates]
    if not candidates:
        return work.Analysed([], {})
    data = [
        work.ReferenceData(
            candidate.registration_id,
            references.features.get(candidate.registration_id),
            registry.store.path(references.statuses[candidate.registration_id].registration.content_sha256),
            references.sounds.get(candidate.registration_id),
        )
        for candidate in candidates
    ]
    settings = registry.settings
    return registry.run_media(
        work.analyse_and_draw,
        fp.kind,
        media,
        fp,
        candidates,
        data,
        media_limits(settings),
        settings.match_policy.strong,
        settings.max_matches,
        pictures,
        cancelled=cancelled,
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
    """Registrations whose `alg` hash is within `max_distance` of `value` (exact for sha256).

    The default distance is the match policy's strong radius scaled to the algorithm's length.
    """
    now = now or now_utc()
    if alg not in lookup_algorithms():
        raise InvalidRequest(f"unknown algorithm {alg!r}; choose one of {', '.join(lookup_algorithms())}")
    if not 1 <= limit <= MAX_LOOKUP_RESULTS:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LOOKUP_RESULTS}")
    value = value.strip().lower()
    best: dict[str, int] = {}
    if alg == "sha256":
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise InvalidRequest("a sha256 value is 64 hexadecimal digits")
        max_distance = 0
        rows = session.exec(
            select(Registration.id)
            .where(Registration.content_sha256 == value)
            .order_by(col(Registration.log_index))
            .limit(limit)
        )
        best = dict.fromkeys(rows.all(), 0)
    else:
        registry.require_ready()
        bits = _bits(alg)
        if len(value) != bits // 4 or any(c not in "0123456789abcdef" for c in value):
            raise InvalidRequest(f"a {alg} value is {bits // 4} hexadecimal digits")
        policy = registry.settings.match_policy
        max_distance = policy.radius(bits) if max_distance is None else max_distance
        if not 0 <= max_distance <= bits // 4:
            raise InvalidRequest(f"max_distance for {alg} must be between 0 and {bits // 4}")
        registry.index.sync(session)
        query = HashRecord(alg, "canonical", HashValue.from_hex(value))
        for candidate in registry.index.search(alg, [query], max_distance, min_quality=policy.min_quality):
            best[candidate.registration_id] = min(evidence.distance for evidence in candidate.hashes)
    statuses = registration_status(session, best)
    groups = near_duplicate_groups(
        [status.registration for status in statuses.values()],
        _stored_hashes(session, statuses),
        registry.settings.match_policy,
    )
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
            log_index=status.registration.log_index,
        )
        for status in statuses.values()
    ]
    matches.sort(key=lambda match: (match.distance, match.log_index or 0))
    matches = listed_together(matches, lambda m: groups.leaders.get(m.registration_id, m.registration_id))
    return views.LookupView(alg=alg, hash=value, max_distance=max_distance, matches=matches[:limit])
