"""Who registered a content first: the log's order, kept true in every answer.

The registry accepts the same content from several publishers (pool footage is shared, and only the log can say
who came first), so later registrations must neither crowd the first one out of an answer nor pass for it:

- at registration, `find_priors` names the earlier registrations by other publishers that the new one repeats; they
  are stored (`PriorRegistration`) and every view of the later registration carries them (`prior_registrations`);
- at a check, `near_duplicate_groups` groups candidates whose own contents are near-identical (the same bytes, or a
  canonical PDQ hash within the strong radius of the group's earliest registration's): the earliest of each group
  is analysed first and listed first (`registry.render.check_view`), so no number of later copies pushes it out.

What "repeats" means at registration, cheaply and truly:
- images: the same bytes, or the new original's canonical PDQ hash (of trusted quality) within the match policy's
  strong radius of an earlier original's stored PDQ hashes (canonical or centred crops): what a fast check of the
  new file's own hash would call a copy;
- videos: the same bytes, or one placement in time (the check's own frame votes, `fingerprint.video.align`) that at
  least half of the new video's trustworthy sampled frames (64 at most, evenly spaced) support, each within the
  strong radius of an earlier original's frame: most of its footage is that original's.
Mirrored copies, heavy crops and sound alone are not looked for at registration; a check still finds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from fingerprint.algorithms import CANONICAL, HashRecord
from fingerprint.kinds import Fingerprint
from registry import views
from registry.db import id_chunks
from registry.kinds import adapter
from registry.models import PriorRegistration, Publisher, Registration
from registry.policy import MatchPolicy
from registry.runtime import Registry

# The earliest prior registrations kept per registration: the first is what matters, a few more show a pattern.
MAX_PRIORS = 10
_PDQ = "pdq"


@dataclass(frozen=True, slots=True)
class Prior:
    registration_id: str
    exact: bool  # the same bytes


def newest_registration(session: Session, kind: str) -> int:
    """The log index of the latest registration of `kind` (-1: none): a prior search stays current while this
    stays put."""
    return session.exec(select(func.max(Registration.log_index)).where(Registration.kind == kind)).one() or -1


def find_priors(*, session: Session, registry: Registry, fp: Fingerprint, publisher_id: str) -> list[Prior]:
    """Earlier registrations of `fp`'s kind by other publishers that `fp` repeats, earliest first (at most
    MAX_PRIORS). Every registration committed when this runs is earlier in the log than one not yet written."""
    policy = registry.settings.match_policy
    exact = set(session.exec(select(Registration.id).where(Registration.content_sha256 == fp.sha256)).all())
    registry.index.sync(session)
    similar = adapter(fp.kind).similar(index=registry.index, fp=fp, policy=policy)
    found: list[tuple[str, int]] = []
    for ids in id_chunks(exact | similar):
        found += session.exec(
            select(Registration.id, Registration.log_index).where(
                col(Registration.id).in_(ids),
                Registration.publisher_id != publisher_id,
                Registration.kind == fp.kind,
            )
        ).all()
    return [
        Prior(registration_id, registration_id in exact) for registration_id, _ in sorted(found, key=lambda r: r[1])
    ][:MAX_PRIORS]


def prior_rows(registration_id: str, priors: Iterable[Prior]) -> list[PriorRegistration]:
    return [
        PriorRegistration(registration_id=registration_id, prior_id=p.registration_id, exact=p.exact) for p in priors
    ]


def read_priors(
    session: Session, registration_ids: Iterable[str]
) -> dict[str, tuple[views.PriorRegistrationView, ...]]:
    """The stored prior registrations of each registration, earliest first, one query per 500 ids.

    The table is derived (like the hashes, it is not in the log): a row the log contradicts (a "prior" that is not
    earlier, or is the same publisher's) is never shown."""
    later = aliased(Registration)
    found: dict[str, list[views.PriorRegistrationView]] = {}
    for ids in id_chunks(registration_ids):
        rows = session.exec(
            select(PriorRegistration, Registration, Publisher)
            .join(Registration, col(Registration.id) == col(PriorRegistration.prior_id))
            .join(later, col(later.id) == col(PriorRegistration.registration_id))
            .join(Publisher, col(Publisher.id) == col(Registration.publisher_id))
            .where(
                col(PriorRegistration.registration_id).in_(ids),
                col(Registration.log_index) < col(later.log_index),
                col(Registration.publisher_id) != col(later.publisher_id),
            )
            .order_by(col(Registration.log_index))
        ).all()
        for prior, registration, publisher in rows:
            found.setdefault(prior.registration_id, []).append(
                views.PriorRegistrationView(
                    registration_id=registration.id,
                    publisher=publisher.name,
                    publisher_id=publisher.id,
                    log_index=registration.log_index,
                    created_at=registration.created_at,
                    exact=prior.exact,
                )
            )
    return {registration_id: tuple(priors) for registration_id, priors in found.items()}


@dataclass(frozen=True, slots=True)
class Groups:
    """Near-duplicate registrations among a check's candidates."""

    leaders: dict[str, str]  # registration id -> the earliest registration of its group
    places: dict[str, int]  # registration id -> its place in its group by log index (0: the earliest)


def near_duplicate_groups(
    registrations: Iterable[Registration], hashes: Mapping[str, Sequence[HashRecord]], policy: MatchPolicy
) -> Groups:
    """Each registration joins the earliest earlier one of its kind with the same bytes or a canonical PDQ hash
    within the strong radius (both of trusted quality), else leads a group of its own. Members are compared with
    the leader, never chained through each other, so a group is one content, not a drift of edits."""
    leaders: list[tuple[Registration, int | None]] = []
    group: dict[str, str] = {}
    places: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for registration in sorted(registrations, key=lambda r: r.log_index):
        code = _canonical_pdq(hashes.get(registration.id, ()), policy)
        leader = next(
            (
                known
                for known, known_code in leaders
                if known.kind == registration.kind
                and (
                    known.content_sha256 == registration.content_sha256
                    or (
                        code is not None and known_code is not None and (code ^ known_code).bit_count() <= policy.strong
                    )
                )
            ),
            None,
        )
        if leader is None:
            leaders.append((registration, code))
            leader = registration
        group[registration.id] = leader.id
        places[registration.id] = sizes.get(leader.id, 0)
        sizes[leader.id] = places[registration.id] + 1
    return Groups(group, places)


def _canonical_pdq(records: Sequence[HashRecord], policy: MatchPolicy) -> int | None:
    record = next((r for r in records if r.alg == _PDQ and r.variant == CANONICAL), None)
    if record is None or record.quality is None or not policy.trusted(record.quality):
        return None
    return int.from_bytes(record.value.data, "big")
