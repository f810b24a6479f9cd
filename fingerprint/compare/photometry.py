"""Make the original look like the query before comparing them: the same softness, the same tones and colours.

Resizing, blurring, re-encoding and colour grading change every pixel of a faithful copy; localisation must not see
them as edits, so the original is blurred and recoloured to predict the query, and only what that cannot explain is
an alteration.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["blur", "colour_changed", "match_colour", "query_blur"]

# Measurements behind each threshold are in docs/derivatives.md.

# Blur levels tried on the original to match a softer query (resized down, blurred, re-encoded).
_SHARPNESS_SIGMAS = tuple(round(0.4 * i, 1) for i in range(11))
# The tone curve: bands of original values and the samples a band needs; the same for a colour-cube cell.
_TONE_BANDS = 32
_TONE_MIN_SAMPLES = 8
_CUBE_MIN_SAMPLES = 12
# Pixels sampled (evenly) from the overlap for the colour fits: 40,000 gave the same accuracy as 120,000 on
# bench/derivatives.py --quick at a third of the cost (the per-band and per-cell medians dominate a check).
_COLOUR_SAMPLES = 40_000
# The colour cube that corrects what the per-channel tone curves leave (hue shifts): cells per channel.
_CUBE_LEVELS = 8
# A global photometric change is reported when the colour fit moves pixels by this much on average (8-bit levels).
_PHOTOMETRIC_TOLERANCE = 4.0


def match_colour(
    warped: np.ndarray, reference: np.ndarray, overlap: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool, bool]:  # reference: float32, already as soft as the query
    """The query and the original as float32 channels, the original recoloured to predict the query.

    The fit goes from original to query (a robust affine colour map, then clipped to 0-255) so that contrast
    boosts that saturate the query are predicted, not flagged. A query stripped of colour is compared on
    luminance only: no fit can restore chroma it no longer has.
    """
    query_f: np.ndarray = warped.astype(np.float32)
    reference_f: np.ndarray = reference
    index = np.flatnonzero(overlap.ravel())
    index = index[:: max(1, len(index) // _COLOUR_SAMPLES)]
    query_sample, reference_sample = query_f.reshape(-1, 3)[index], reference_f.reshape(-1, 3)[index]
    query_chroma = float(np.mean(np.ptp(query_sample[::8], axis=1)))
    reference_chroma = float(np.mean(np.ptp(reference_sample[::8], axis=1)))
    grayscale = query_chroma < 4.0 and reference_chroma >= 10.0
    if grayscale or reference_chroma < 4.0:
        weights = np.array([0.299, 0.587, 0.114], np.float32)
        query_f, reference_f = (query_f @ weights)[..., None], (reference_f @ weights)[..., None]
        query_sample, reference_sample = query_sample @ weights[:, None], reference_sample @ weights[:, None]
    channels = query_f.shape[2]
    predicted: np.ndarray = reference_f.reshape(-1, channels).copy()
    predicted_sample = reference_sample.copy()
    for channel in range(channels):  # tone: brightness, contrast, gamma, curves and clipping, channel by channel
        curve_x, curve_y = _tone_curve(reference_sample[:, channel], query_sample[:, channel])
        predicted[:, channel] = np.interp(predicted[:, channel], curve_x, curve_y)
        predicted_sample[:, channel] = np.interp(predicted_sample[:, channel], curve_x, curve_y)
    if channels == 3:
        predicted, predicted_sample = _colour_cube(
            reference_f.reshape(-1, 3), reference_sample, predicted, predicted_sample, query_sample
        )
    changed = grayscale or _moved(predicted_sample, reference_sample)
    predicted = predicted.reshape(reference_f.shape).astype(np.float32)
    # outside the overlap the query shows nothing of the original: fill it so that blurs do not smear its frame in
    query_f[~overlap] = predicted[~overlap]
    return query_f, predicted, grayscale, changed


def colour_changed(predicted: np.ndarray, reference: np.ndarray, where: np.ndarray) -> bool:
    """Whether the fitted colours move the original's pixels, where `where` is set, beyond the tolerance: the global
    photometric claim, measured away from altered regions (a pasted patch pulls the colour cells it shares)."""
    if predicted.shape[2] == 1 and reference.shape[2] == 3:
        reference = reference @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
    if not where.any():
        return False
    index = np.flatnonzero(where.ravel())
    index = index[:: max(1, len(index) // _COLOUR_SAMPLES)]
    channels = predicted.shape[2]
    return _moved(predicted.reshape(-1, channels)[index], reference.reshape(-1, channels)[index])


def _moved(predicted: np.ndarray, reference: np.ndarray) -> bool:
    return bool(np.abs(predicted - reference).mean() > _PHOTOMETRIC_TOLERANCE)


def _colour_cube(
    reference: np.ndarray,
    reference_sample: np.ndarray,
    predicted: np.ndarray,
    predicted_sample: np.ndarray,
    query_sample: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """What the tone curves leave (hue rotations, selective colour) as a median correction per original colour cell.

    Cells are indexed by the *original's* colour, so an edit only shifts a cell's median if it covers most of the
    pixels of that colour.
    """
    cells_sample = _colour_cell(reference_sample)
    correction = np.zeros((_CUBE_LEVELS**3, 3), np.float32)
    cells, medians = _group_medians(cells_sample, query_sample - predicted_sample, _CUBE_MIN_SAMPLES)
    correction[cells] = medians
    corrected = np.clip(predicted + correction[_colour_cell(reference)], 0, 255)
    return corrected, np.clip(predicted_sample + correction[cells_sample], 0, 255)


def _colour_cell(values: np.ndarray) -> np.ndarray:
    levels = np.minimum((values * (_CUBE_LEVELS / 256)).astype(np.int32), _CUBE_LEVELS - 1)
    return (levels[:, 0] * _CUBE_LEVELS + levels[:, 1]) * _CUBE_LEVELS + levels[:, 2]


def _tone_curve(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A monotone curve: the median `target` value for each band of `source` values.

    Conditioning on the original's value keeps an edit from bending the curve (its pixels are a minority in every
    band they fall in), which matching quantiles does not: a white caption shifts the brightest quantiles of the
    whole query. Beyond the populated bands the curve keeps the offset instead of flattening rare highlights.
    """
    bands = np.minimum((source * (_TONE_BANDS / 256)).astype(np.int32), _TONE_BANDS - 1)
    _, medians = _group_medians(bands, np.c_[source, target], _TONE_MIN_SAMPLES)
    xs, ys = medians[:, 0], medians[:, 1]
    if len(xs) < 2:
        offset = float(np.median(target - source))
        return np.array([0.0, 255.0]), np.clip([offset, 255 + offset], 0, 255)
    ys = np.maximum.accumulate(ys)
    return np.r_[xs[0] - 255, xs, xs[-1] + 255], np.clip(np.r_[ys[0] - 255, ys, ys[-1] + 255], 0, 255)


def _group_medians(groups: np.ndarray, values: np.ndarray, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    """The groups with at least `minimum` members, ascending, and the column medians of `values` (n, k) in each."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    ends = np.r_[starts[1:], len(order)]
    keep = (ends - starts) >= minimum
    sorted_values = values[order]
    medians = [np.median(sorted_values[a:b], axis=0) for a, b in zip(starts[keep], ends[keep], strict=True)]
    return sorted_groups[starts[keep]], np.array(medians, np.float32).reshape(-1, values.shape[1])


def query_blur(warped: np.ndarray, reference: np.ndarray, overlap: np.ndarray) -> float:
    """The Gaussian blur that makes the original as soft as the query (resized-down, blurred, re-encoded queries).

    Chosen on half-size grey copies, each standardised so that colour changes do not matter, by mean error: edges
    dominate a mean, while a median would only see the flat areas, where blur changes nothing.
    """
    size = (max(8, reference.shape[1] // 2), max(8, reference.shape[0] // 2))
    inside = cv2.resize(overlap.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    query_small, reference_small = (
        cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA).astype(np.float32)
        for image in (warped, reference)
    )
    query_small = _standardised(query_small, inside)
    errors = [
        float(np.abs(query_small - _standardised(blur(reference_small, sigma / 2), inside))[inside].mean())
        for sigma in _SHARPNESS_SIGMAS
    ]
    return _SHARPNESS_SIGMAS[int(np.argmin(errors))]


def _standardised(values: np.ndarray, inside: np.ndarray) -> np.ndarray:
    selected = values[inside]
    return (values - selected.mean()) / (selected.std() + 1e-3)


def blur(values: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return values
    blurred = cv2.GaussianBlur(values, (0, 0), sigma)
    return blurred.reshape(values.shape)
