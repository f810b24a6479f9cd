"""Images on the registry side: hashes and keypoints are all they store, and a match is one `DerivativeMatch`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from detector import Assessment, assess
from detector.visualize import heatmap_png
from fingerprint.algorithms import HashRecord
from fingerprint.compare import PDQ, DerivativeMatch, Transform
from fingerprint.kinds import Fingerprint
from fingerprint.media import CanonicalImage
from registry import views
from registry.assessment import ScorerLoader
from registry.index import MatchIndex
from registry.kinds.picture import PictureAdapter, PictureFacts, pdq_distance
from registry.policy import MatchPolicy
from registry.render import RegistrationStatus, common, match_score, region_view, transform_view


class ImageFactsView(views.KindFactsView):
    """`facts` of an image: its full size, and its content once plain borders are trimmed (x0, y0, x1, y1)."""

    kind: str = "image"
    width: int
    height: int
    trim_box: list[int]


class ImageAdapter(PictureAdapter[CanonicalImage, DerivativeMatch]):
    name = "image"
    accepts = "image/*"
    described = "JPEG, PNG, WebP, AVIF or HEIC pictures"
    file_suffixes = (".jpg", ".jpeg", ".png", ".webp", ".avif", ".heic", ".heif")
    checks_hashes = True  # a platform's own PDQ (and other image hashes) stand for an image

    def facts_view(self, facts: Mapping[str, Any]) -> ImageFactsView:
        shown = PictureFacts.of(facts)
        return ImageFactsView(width=shown.width, height=shown.height, trim_box=shown.trim_box)

    def similar(self, *, index: MatchIndex, fp: Fingerprint, policy: MatchPolicy) -> set[str]:
        return self.similar_pictures(index, fp, policy)

    def match_view(
        self,
        status: RegistrationStatus,
        match: DerivativeMatch,
        fp: Fingerprint,
        stored: list[HashRecord],
        now: datetime,
    ) -> views.MatchView:
        hit = match.candidate.best(PDQ)
        return views.MatchView(
            **common(status, now),
            distance=pdq_distance(fp, stored).distance,
            score=match_score(match.verdict, unchanged_share(match)),
            variant=dihedral_name(match.transform) if hit is None else hit.query_variant,
            exact=False,
            verdict=match.verdict,
            # nothing was done to the original to make a `related` photo: its geometry is no transform to claim
            transform=None if match.verdict == "related" else transform_view(match.transform),
            regions=[region_view(region) for region in match.regions],
            altered_fraction=round(match.altered_fraction, 4),
            inliers=match.alignment.inliers,
        )

    def assess(self, media: CanonicalImage, load_scorer: ScorerLoader, frames: int) -> Assessment:
        return assess(media.pixels, scorer=load_scorer())

    def heatmap(self, media: CanonicalImage, assessment: Assessment) -> bytes | None:
        return heatmap_png(media.pixels, assessment)


def unchanged_share(match: DerivativeMatch) -> float:
    """The share of a photo query that shows the original unchanged: its footprint (all of the query but framing;
    for a composite, the original's part of it) less the altered regions in it."""
    transform = match.transform
    shown = 1.0
    if transform.composite:
        content = transform.content
        added = sum(rect.area for rect in transform.added)
        shown = content.area / max(1, content.area + added)
    return shown * (1.0 - match.altered_fraction)


def dihedral_name(transform: Transform) -> str:
    """The flip/quarter-turn nearest to a transform, named as PDQ_VARIANTS name them."""
    quarter = round(transform.rotation / 90) % 4
    if not transform.flipped:
        return ("identity", "rotate_90_ccw", "rotate_180", "rotate_90_cw")[quarter]
    return ("flip_horizontal", "transpose", "flip_vertical", "transverse")[quarter]
