"""The registry side of a media kind: what is kind-specific in storing, searching, viewing and assessing it.

`fingerprint.kinds` decodes, fingerprints and analyses a kind; its adapter here owns everything the registry does
differently for it, so that the check pipeline (`registry.matching`), the writes (`registry.service`), the views
(`registry.render`), the assessment (`registry.assessment`) and the pages (`api.web`) ask the query's adapter and
name no kind:

- stored rows: the kind's own rows beside the registration and its hashes (`stored_rows`), and what the analysis
  reads back from them (`stored_sounds`);
- searches: its own in-process index beside the hash index (`side_index`, kept current by the `MatchIndex`), the
  candidates it adds to a check (`candidates`) and the earlier registrations a new one repeats (`similar`);
- views: the check's and the registration's kind fields (`check_fields`, `registration_fields`), each match's view
  (`match_view`, `exact_transform`, `fast_distance`) and the typed facts block (`facts_view`);
- assessment inputs: what the detector assesses of a decoded file (`assess`, `heatmap`, `assessment_view`);
- pictures: what a page may draw later for a match, and drawing it (`picture_plans`, `draw_picture`).

An adapter is a plain object of a module-level class: it pickles, so its methods run in the media worker pool.
Defaults are those of a kind with none of the feature (no rows of its own, no side index, no pictures).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from sqlmodel import Session, SQLModel

from detector import Assessment
from fingerprint.algorithms import HashRecord
from fingerprint.kinds import DecodeLimits, Fingerprint, MatchCandidate
from registry import views, work
from registry.assessment import ScorerLoader
from registry.errors import NotFound
from registry.index.common import Shared, SideIndex
from registry.policy import MatchPolicy
from registry.render import HashDistance, KindFields, RegistrationStatus

if TYPE_CHECKING:
    from registry.index import MatchIndex

CheckMode = Literal["full", "fast"]
# Pictures of one match a page may draw (the card lists the rest without one); bounds what a check keeps.
MAX_PICTURES_PER_MATCH = 12
Decoded = TypeVar("Decoded")
Match = TypeVar("Match")


class KindAdapter(Generic[Decoded, Match]):
    """One media kind on the registry side; `Decoded` is what its `fingerprint.kinds` kind decodes a file into, and
    `Match` what its analysis returns (`fingerprint.kinds.MediaKind[Decoded, Match]`)."""

    name: str
    # hashes of a whole file by algorithm (bits): looked up by value (`lookup --alg`), never searched by a check
    whole_file_hashes: Mapping[str, int] = {}
    file_suffixes: tuple[str, ...] = ()  # what the CLI picks out of a directory as this kind's files
    accepts = ""  # what the page's file picker offers for it (an `accept` pattern, "image/*")
    described = ""  # its formats, as the page lists them ("JPEG, PNG ... pictures")
    timed = False  # has a duration: a long one registers as a job (PROVREG_SYNC_VIDEO_SECONDS)
    checks_hashes = False  # the kind a hash-only check (`check_hashes`) stands for
    primary_alg = ""  # the algorithm the views name a file by (`primary_hash`; "" for none)

    def seconds(self, content: bytes, limits: DecodeLimits) -> float:
        """A timed file's declared duration, from its container: nothing is decoded, the caps are checked (a
        media-pool task)."""
        return work.video_seconds(content, limits)

    # --- stored rows --------------------------------------------------------------------------------------------

    def stored_rows(self, registration_id: str, fp: Fingerprint) -> list[SQLModel]:
        """The kind's own rows of a new registration, committed to by its log entry with its hashes."""
        return []

    def stored_sounds(self, session: Session, registration_ids: set[str]) -> dict[str, bytes]:
        """Stored sound fingerprints of these registrations, as blobs, for the analysis."""
        return {}

    # --- searches -----------------------------------------------------------------------------------------------

    def side_index(self, shared: Shared) -> SideIndex | None:
        return None

    def candidates(
        self,
        *,
        session: Session,
        index: MatchIndex,
        fp: Fingerprint,
        policy: MatchPolicy,
        mode: CheckMode,
        found: Sequence[MatchCandidate],
    ) -> list[MatchCandidate]:
        """Candidates beyond the hash and descriptor searches' (`found`)."""
        return []

    def similar(self, *, index: MatchIndex, fp: Fingerprint, policy: MatchPolicy) -> set[str]:
        """Registrations that a new registration `fp` repeats perceptually (`registry.precedence`)."""
        return set()

    # --- views --------------------------------------------------------------------------------------------------

    def check_fields(self, fp: Fingerprint) -> KindFields:
        """The primary hash (the query's canonical `primary_alg` record) and the facts block (none for a check of
        hashes alone)."""
        return KindFields(
            primary_hash=self.primary_hash(fp.primary().get(self.primary_alg)),
            facts=self.facts_view(fp.facts) if fp.facts else None,
        )

    def registration_fields(self, canonical: Mapping[str, HashRecord], facts: Mapping[str, Any]) -> dict[str, Any]:
        """`FingerprintsView`'s kind fields of a registration, from its canonical hashes and stored facts."""
        return {
            "primary_hash": self.primary_hash(canonical.get(self.primary_alg)),
            "facts": self.facts_view(facts) if facts else None,
        }

    def primary_hash(self, record: HashRecord | None) -> views.PrimaryHashView | None:
        if record is None:
            return None
        return views.PrimaryHashView(algorithm=record.alg, value=record.value.hex(), quality=record.quality)

    def facts_view(self, facts: Mapping[str, Any]) -> views.KindFactsView | None:
        return None

    def exact_transform(self, facts: Mapping[str, Any]) -> views.TransformView | None:
        """A byte-identical match's transform: the identity, where the kind has geometry."""
        return None

    def fast_distance(self, fp: Fingerprint, candidate: MatchCandidate, stored: list[HashRecord]) -> HashDistance:
        """Fast mode's distance between the query and a candidate, from the hash evidence alone: its nearest hit."""
        best = min(candidate.hashes, key=lambda e: (e.distance, e.query_variant), default=None)
        return HashDistance(256, "identity") if best is None else HashDistance(best.distance, best.query_variant)

    def match_view(
        self, status: RegistrationStatus, match: Match, fp: Fingerprint, stored: list[HashRecord], now: datetime
    ) -> views.MatchView:
        raise NotImplementedError

    # --- assessment ---------------------------------------------------------------------------------------------

    def assess(self, media: Decoded, load_scorer: ScorerLoader, frames: int) -> Assessment | None:
        """The detector's assessment of decoded media, when the kind is assessed; `frames` for timed media."""
        return None

    def heatmap(self, media: Decoded, assessment: Assessment) -> bytes | None:
        return None

    def assessment_view(self, assessment: Assessment, fp: Fingerprint) -> views.AssessmentView:
        return views.AssessmentView.model_validate(assessment.to_json())

    # --- pictures -----------------------------------------------------------------------------------------------

    def picture_plans(
        self, view: views.CheckView, registrations: Mapping[str, views.RegistrationView]
    ) -> dict[str, list[dict[str, Any]]]:
        """By registration id, the pictures a page may draw later for each match, as JSON: each plan names its
        `original_sha256`."""
        return {}

    def draw_picture(self, query: bytes, original: Path, limits: DecodeLimits, plan: dict[str, Any]) -> bytes:
        """One planned picture as PNG (a media-pool task)."""
        raise NotFound("this kind of media has no pictures to draw")


def stored_facts(registration_facts: str) -> dict[str, Any]:
    """A registration's stored facts (`Registration.facts`, JSON)."""
    facts: dict[str, Any] = json.loads(registration_facts)
    return facts
