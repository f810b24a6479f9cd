"""Derivative analysis: is a query a registered original, how was it transformed, and where was it altered?

The flow for one query, all on arrays (decoding is the caller's job, at `fingerprint.media.WORKING_SIDE`):

1. `verification`: `verify` aligns the query's ORB keypoints (upright and mirrored) with an original's; a strong PDQ
   hit whose keypoints do not align (a flat or tiny image) is aligned from its dihedral variant (`pdq_alignment`).
2. `localisation`: `localise` warps the query into the original's frame, cancels global colour and sharpness changes
   (`photometry`), takes a difference that tolerates two pixels of misalignment and turns it into regions.
3. `transform`: `describe_transform` reads crop, scale, rotation and flip from the homography.
4. `analysis`: `analyse_image` runs all of it over the candidates a registry found (`MatchCandidate`: PDQ hits and
   descriptor votes).

A match is a `copy` when the query shows the original's content with only global changes, and `altered` when some
region of the original was replaced or added to. The values all stages share are in `types`; rectangles are
`fingerprint.geometry.Rect`.
"""

from fingerprint.compare.analysis import PDQ, DerivativeMatch, ReferenceSource, analyse_image
from fingerprint.compare.localisation import LOCALISE_SIDE, MIN_REGION_SHARE, localise
from fingerprint.compare.transform import describe_transform
from fingerprint.compare.types import Alignment, AlteredRegion, CheckVerdict, Localisation, Transform, Verdict
from fingerprint.compare.verification import MIN_INLIERS, pdq_alignment, verify

__all__ = [
    "LOCALISE_SIDE",
    "MIN_INLIERS",
    "MIN_REGION_SHARE",
    "PDQ",
    "Alignment",
    "AlteredRegion",
    "CheckVerdict",
    "DerivativeMatch",
    "Localisation",
    "ReferenceSource",
    "Transform",
    "Verdict",
    "analyse_image",
    "describe_transform",
    "localise",
    "pdq_alignment",
    "verify",
]
