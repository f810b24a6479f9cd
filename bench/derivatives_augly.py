"""Meta's AugLy image augmentations as an independent second query set (default parameters, never tuned against).

Transforms that only change the picture globally are expected to be `copy`; those that put new content on top of
it (text, emoji, stripes, another image) are expected to be `altered`. AugLy 1.0's `meme_format` and
`perspective_transform` fail with current Pillow and NumPy and are reported as skipped.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
from PIL import Image

from bench.derivatives_corpus import Photo, Query, encode

GLOBAL = (
    "blur",
    "brightness",
    "change_aspect_ratio",
    "color_jitter",
    "contrast",
    "crop",
    "encoding_quality",
    "grayscale",
    "hflip",
    "opacity",
    "overlay_onto_screenshot",
    "pad",
    "pad_square",
    "pixelization",
    "random_noise",
    "resize",
    "rotate",
    "saturation",
    "scale",
    "sharpen",
    "skew",
    "vflip",
    "meme_format",
    "perspective_transform",
)
CONTENT_ADDING = ("overlay_text", "overlay_emoji", "overlay_stripes", "overlay_image")


def _transform(name: str, donor: Image.Image) -> Callable[[Image.Image], Image.Image]:
    import augly.image as imaugs

    function = getattr(imaugs, name)
    if name == "overlay_image":
        return lambda image: function(image, overlay=donor)
    return function


def augly_queries(
    photos: list[Photo], donors: list[Photo], only: frozenset[str] | None = None
) -> tuple[list[Query], dict[str, str]]:
    """One query per photo and transform (those in `only`, when given); returns the queries and {transform: error}
    for those that failed. The random state is seeded per transform, so a selection sees the same bytes."""
    queries, skipped = [], {}
    donor = Image.fromarray(donors[0].pixels)
    for name in GLOBAL + CONTENT_ADDING:
        if only is not None and name not in only:
            continue
        random.seed(0)  # AugLy draws its random text, emoji and stripes from these
        np.random.seed(0)
        kind = "benign" if name in GLOBAL else "edit"
        function = _transform(name, donor)
        for photo in photos:
            try:
                result = function(Image.fromarray(photo.pixels)).convert("RGB")
            except Exception as exc:
                skipped[name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:120]
                break
            queries.append(Query(f"{photo.name}/augly_{name}", photo.name, name, kind, encode(np.asarray(result))))
    return queries, skipped
