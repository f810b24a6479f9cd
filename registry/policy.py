"""The one match policy: how close a hash must be to count, and how much a hash must be trusted to be searched.

Distances are stated in PDQ bits (256-bit hashes) and scaled to each algorithm's length, so one setting means the
same fraction of a hash everywhere. `strong` is a copy on the hash alone (full check, fast check and lookup);
`weak` only proposes a candidate that keypoints must then confirm (full check only); hashes whose quality is
under `min_quality` are neither searched nor matched.
"""

from __future__ import annotations

from dataclasses import dataclass

from fingerprint.algorithms.pdq import MIN_TRUSTED_QUALITY

REFERENCE_BITS = 256
DEFAULT_STRONG = 31  # PDQ's own recommended match threshold
DEFAULT_WEAK = 63  # derivatives measured in docs/derivatives.md reach this far before keypoints take over
DEFAULT_MIN_QUALITY = MIN_TRUSTED_QUALITY
# Half the bits differ between unrelated hashes: a radius beyond that matches everything.
MAX_DISTANCE = REFERENCE_BITS // 2


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    strong: int = DEFAULT_STRONG
    weak: int = DEFAULT_WEAK
    min_quality: int = DEFAULT_MIN_QUALITY

    def __post_init__(self) -> None:
        if not 0 <= self.strong <= self.weak <= MAX_DISTANCE:
            raise ValueError(
                f"the match policy needs 0 <= strong ({self.strong}) <= weak ({self.weak}) <= {MAX_DISTANCE}"
            )
        if not 0 <= self.min_quality <= 100:
            raise ValueError(f"min_quality must be 0-100, got {self.min_quality}")

    def radius(self, bits: int, *, weak: bool = False) -> int:
        """The strong (or weak) distance scaled to a `bits`-long hash."""
        return round((self.weak if weak else self.strong) * bits / REFERENCE_BITS)

    def trusted(self, quality: int | None) -> bool:
        return quality is None or quality >= self.min_quality
