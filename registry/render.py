"""The render stage: one analysed check as the public views (JSON, CLI, and the pictures' labels)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict, TypeVar

from fingerprint.compare import AlteredRegion, CheckVerdict, Transform
from fingerprint.geometry import Rect
from fingerprint.kinds import Fingerprint
from registry import views
from registry.models import ContentRevocation, KeyRevocation, Publisher, Registration, is_verified

# Hash distance (of 256 bits) at which unrelated files sit on average: fast mode's score estimate reaches 0 there.
_UNRELATED_DISTANCE = 128
# An altered match's score never reads as a copy's, even where the altered share rounds away (shown as 99%).
_ALTERED_CEILING = 0.99
_Listed = TypeVar("_Listed", views.MatchView, views.LookupMatchView)


@dataclass(frozen=True, slots=True)
class RegistrationStatus:
    registration: Registration
    publisher: Publisher
    revocation: ContentRevocation | None
    key_revocation: KeyRevocation | None
    priors: tuple[views.PriorRegistrationView, ...] = ()  # earlier registrations of this content by others

    @property
    def key_compromised(self) -> bool:
        """Registered with a key that was, by then, already in an attacker's hands."""
        return self.key_revocation is not None and self.registration.created_at >= self.key_revocation.compromised_since


@dataclass(frozen=True, slots=True)
class HashDistance:
    """The least distance between a query's hashes and an original's (its kind's primary algorithm, or frames), and
    which query variant it was: what a match's `distance` and `variant` report when no analysis placed it."""

    distance: int
    query_variant: str


@dataclass(frozen=True, slots=True)
class KindFields:
    """The check view's fields that depend on the query's kind (`registry.kinds`): its primary hash (also as the
    legacy `pdq` fields, where the kind has PDQ) and its typed facts block."""

    primary_hash: views.PrimaryHashView | None
    facts: views.KindFactsView | None
    pdq: str | None = None
    pdq_quality: int | None = None


class CommonFields(TypedDict):
    """A match view's fields about the registration matched, whatever its kind (`common`)."""

    registration_id: str
    publisher: str
    publisher_id: str
    verified: bool
    revoked: bool
    revocation_log_index: int | None
    key_compromised: bool
    log_index: int | None
    prior_registrations: list[views.PriorRegistrationView]


def common(status: RegistrationStatus, now: datetime) -> CommonFields:
    """The fields every kind's match view spreads into `views.MatchView` (`**common(status, now)`)."""
    return {
        "registration_id": status.registration.id,
        "publisher": status.publisher.name,
        "publisher_id": status.publisher.id,
        "verified": is_verified(status.publisher, now),
        "revoked": status.revocation is not None,
        "revocation_log_index": None if status.revocation is None else status.revocation.log_index,
        "key_compromised": status.key_compromised,
        "log_index": status.registration.log_index,
        "prior_registrations": list(status.priors),
    }


def exact_match(status: RegistrationStatus, transform: views.TransformView | None, now: datetime) -> views.MatchView:
    """Byte-identical: nothing to analyse, and the transform is the identity (its kind's `exact_transform`)."""
    return views.MatchView(
        **common(status, now), distance=0, score=1.0, variant="identity", exact=True, transform=transform
    )


def global_match(status: RegistrationStatus, found: HashDistance, now: datetime) -> views.MatchView:
    """Fast mode: a strong hash hit, unverified by keypoints, so with no transform or regions."""
    return views.MatchView(
        **common(status, now),
        distance=found.distance,
        score=_hash_score(found.distance),
        variant=found.query_variant,
        exact=False,
        transform=None,
    )


def check_view(
    fp: Fingerprint,
    fields: KindFields,
    matches: list[views.MatchView],
    warnings: list[str],
    max_matches: int,
    leaders: Mapping[str, str] | None = None,
) -> views.CheckView:
    """The answer: matches strongest first, then cut to `max_matches`.

    `leaders` maps each registration to the earliest registration of its near-duplicate group
    (`registry.precedence`): a group's members that got the same verdict are listed together, where its strongest
    stands, earliest registration first. Grouping moves no verdict, so a flood of later copies can neither
    push the first registrant out of the answer nor change what the answer says the file is.
    """
    # derivatives first: a photograph of the same scene (`related`) is shown, but no original was used to make it
    strongest = sorted(
        matches, key=lambda m: (m.verdict == "related", not m.exact, -m.score, m.distance, m.log_index or 0)
    )
    leaders = leaders or {}
    ordered = listed_together(strongest, lambda m: (leaders.get(m.registration_id, m.registration_id), m.verdict))
    best = next((m for m in ordered if m.verdict != "related"), None)
    verdict: CheckVerdict = "unregistered"
    if best is not None and best.verdict != "related":  # always, by the choice of `best`; narrows the type
        verdict = best.verdict
    return views.CheckView(
        verdict=verdict,
        sha256=fp.sha256,
        media_type=fp.media_type,
        pdq=fields.pdq,
        pdq_quality=fields.pdq_quality,
        matches=ordered[:max_matches],
        warnings=warnings,
        kind=fp.kind,
        hashes={alg: record.value.hex() for alg, record in sorted(fp.primary().items())},
        withdrawn=best is not None and best.revoked,
        primary_hash=fields.primary_hash,
        facts=fields.facts,
    )


def listed_together(strongest: Sequence[_Listed], group: Callable[[_Listed], Hashable]) -> list[_Listed]:
    """Each group where its strongest member stands in `strongest`, its members earliest registration first."""
    groups: dict[Hashable, list[_Listed]] = {}
    for item in strongest:
        groups.setdefault(group(item), []).append(item)
    return [item for members in groups.values() for item in sorted(members, key=lambda m: m.log_index or 0)]


def match_score(verdict: str, unchanged: float) -> float:
    """A match's `score`: the share of the query that is the original's content, unchanged, held to its verdict.

    `related` is 0 (a different photograph: nothing in it was made from the original); `altered` stays below
    `_ALTERED_CEILING`, so that a doctored file never reads as 100%; a copy is its unchanged share (1 for an image).
    """
    if verdict == "related":
        return 0.0
    share = round(min(1.0, max(0.0, unchanged)), 4)
    return min(share, _ALTERED_CEILING) if verdict == "altered" else share


def _hash_score(distance: int) -> float:
    """Fast mode's estimate, from the hash distance alone (no analysis says what is unchanged)."""
    return round(max(0.0, 1.0 - distance / _UNRELATED_DISTANCE), 4)


def rect_view(rect: Rect) -> views.RectView:
    return views.RectView(x=rect.x, y=rect.y, w=rect.w, h=rect.h)


def region_view(region: AlteredRegion) -> views.RegionView:
    q = region.query
    return views.RegionView(
        x=q.x, y=q.y, w=q.w, h=q.h, original=rect_view(region.original), share=round(region.share, 4)
    )


def transform_view(transform: Transform) -> views.TransformView:
    return views.TransformView(
        crop=rect_view(transform.crop),
        cropped=transform.cropped,
        content=rect_view(transform.content),
        framed=transform.framed,
        scale=round(transform.scale, 4),
        aspect_change=round(transform.aspect_change, 4),
        rotation=round(transform.rotation, 2),
        flipped=transform.flipped,
        perspective=transform.perspective,
        photometric_change=transform.photometric_change,
        grayscale=transform.grayscale,
        composite=transform.composite,
        added=[rect_view(rect) for rect in transform.added],
    )
