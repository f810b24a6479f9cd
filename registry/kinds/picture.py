"""What the kinds shown as pictures share on the registry side: images, and videos through their poster frame.

Both are known by the poster's (or the image's) canonical PDQ hash, keep the legacy picture fields of the views
(`pdq`, `phash`, `dhash`, `width`, `height`, `trim_box`), have geometry (a byte-identical copy's transform is the
identity) and are searched for earlier registrations of the same picture.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic

from detector import Assessment
from fingerprint.algorithms import CANONICAL, PDQ_VARIANTS, HashRecord
from fingerprint.compare import Transform
from fingerprint.geometry import Rect
from fingerprint.kinds import Fingerprint, MatchCandidate
from registry import views
from registry.index import MatchIndex
from registry.kinds.base import Decoded, KindAdapter, Match
from registry.policy import MatchPolicy
from registry.render import HashDistance, KindFields, transform_view

PDQ = "pdq"


@dataclass(frozen=True, slots=True)
class PictureFacts:
    """A picture's stored facts: its full size and where its content sits once plain borders are trimmed."""

    width: int
    height: int
    trim_box: list[int]  # x0, y0, x1, y1

    @classmethod
    def of(cls, facts: Mapping[str, Any]) -> PictureFacts:
        return cls(int(facts["width"]), int(facts["height"]), list(facts["trim_box"]))


class PictureAdapter(KindAdapter[Decoded, Match], Generic[Decoded, Match]):
    primary_alg = PDQ

    def check_fields(self, fp: Fingerprint) -> KindFields:
        """Also the legacy `pdq` fields: the image's or the poster frame's canonical PDQ hash."""
        fields = super().check_fields(fp)
        primary = fp.primary()[PDQ]
        return dataclasses.replace(fields, pdq=primary.value.hex(), pdq_quality=primary.quality or 0)

    def registration_fields(self, canonical: Mapping[str, HashRecord], facts: Mapping[str, Any]) -> dict[str, Any]:
        """Also the legacy picture fields."""
        shown = PictureFacts.of(facts)
        pdq = canonical[PDQ]
        return {
            **super().registration_fields(canonical, facts),
            "pdq": pdq.value.hex(),
            "pdq_quality": pdq.quality or 0,
            "phash": canonical["phash"].value.hex(),
            "dhash": canonical["dhash"].value.hex(),
            "width": shown.width,
            "height": shown.height,
            "trim_box": shown.trim_box,
        }

    def exact_transform(self, facts: Mapping[str, Any]) -> views.TransformView:
        shown = PictureFacts.of(facts)
        whole = Rect(0, 0, shown.width, shown.height)
        return transform_view(Transform(whole, False, whole, False, 1.0, 1.0, 0.0, False, False, False, False))

    def fast_distance(self, fp: Fingerprint, candidate: MatchCandidate, stored: list[HashRecord]) -> HashDistance:
        return pdq_distance(fp, stored)

    def assessment_view(self, assessment: Assessment, fp: Fingerprint) -> views.AssessmentView:
        """The detector's assessment, its faces moved from the assessed pixels into the query's."""
        x0, y0, x1, y1 = PictureFacts.of(fp.facts).trim_box
        fx, fy = (x1 - x0) / assessment.size[1], (y1 - y0) / assessment.size[0]
        faces = [face.placed(fx, fy, x0, y0).to_json() for face in assessment.faces]
        return views.AssessmentView.model_validate(assessment.to_json() | {"faces": faces})

    def similar_pictures(self, index: MatchIndex, fp: Fingerprint, policy: MatchPolicy) -> set[str]:
        """Originals with a stored PDQ hash within the strong radius of `fp`'s canonical one."""
        canonical = next((r for r in fp.of(PDQ) if r.variant == CANONICAL), None)
        if canonical is None or not policy.trusted(canonical.quality):
            return set()
        hits = index.search(PDQ, [canonical], policy.strong, min_quality=policy.min_quality)
        return {candidate.registration_id for candidate in hits}


def pdq_distance(query: Fingerprint, stored: list[HashRecord]) -> HashDistance:
    """The least PDQ distance between a query's variants and an original's hashes, and which query variant."""
    return min(
        (
            HashDistance(mine.value.distance(theirs.value), mine.variant)
            for theirs in stored
            for mine in query.of(PDQ)
            if theirs.alg == PDQ
        ),
        key=lambda d: (d.distance, PDQ_VARIANTS.index(d.query_variant)),
        default=HashDistance(256, PDQ_VARIANTS[0]),
    )
