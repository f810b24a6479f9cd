"""Out-of-distribution flags: reasons the media lies outside what the assessment was validated on.

Any flag makes the verdict `inconclusive`: an assessment that has not been shown to work on such media must not
sound sure about it. The limits are the validation set's: faces of at least 64 pixels, photos of at least 128
pixels on their shorter side, JPEG qualities from about 50 up, videos sampled over at least 8 frames.
"""

from __future__ import annotations

from collections.abc import Sequence

from detector import signals
from detector.types import Face

MIN_IMAGE_SIDE = 128  # shorter side, pixels: below this neither the signals nor the model have anything to go on
MIN_FACE_SIDE = 64  # the largest face's shorter side, pixels: the model's blending cues vanish below it
MIN_FRAMES = 8  # a video sampled over fewer frames says little about the whole
# The 8x8 grid's contrast (signals.grid_strength) at or above which a photo was heavily compressed: measured on the
# bundled photos, the median photo reaches it near JPEG quality 30, few at quality 70 or above (docs/detector.md).
HEAVY_COMPRESSION_GRID = 0.6


def image_flags(
    shape: tuple[int, ...], analysis: signals.Analysis, faces: Sequence[Face], *, face_detector: str
) -> list[str]:
    """The flags an image of `shape` raises, from its signals' `analysis` and its faces, in a fixed order."""
    h, w = shape[0], shape[1]
    flags = []
    if min(h, w) < MIN_IMAGE_SIDE:
        flags.append("tiny_image")
    if face_detector == "none":
        flags.append("faces_not_searched")
    elif not faces:
        flags.append("no_face")
    elif min(faces[0].w, faces[0].h) < MIN_FACE_SIDE:
        flags.append("tiny_face")
    if min(h, w) >= MIN_IMAGE_SIDE:
        # too little detail: the grid is not measured (it needs detailed blocks), and the flag says why
        if analysis.grid_strength >= HEAVY_COMPRESSION_GRID:
            flags.append("heavy_compression")
        if analysis.detailed_blocks < signals.MIN_BLOCKS:
            flags.append("low_detail")
    return flags


def video_flags(sampled_frames: int) -> list[str]:
    return ["too_few_frames"] if sampled_frames < MIN_FRAMES else []
