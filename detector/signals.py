"""Classical, explainable signals of splicing, each with a per-pixel map the heat-map combines.

Every signal measures one statistic per 32-pixel block, turns it into a robust z-score against the image's own
blocks (median and MAD), and fires when a connected patch of anomalous blocks covers enough of the picture: a
spliced region is a place that does not behave like the rest of its photo, whatever the photo.

- `noise_inconsistency`: the camera's noise level (the lower quartile of local residual spread, so texture counts
  little), beyond what brightness and detail explain, differs in one region: pasted content brings its own sensor
  noise, resampling smooths it away.
- `jpeg_grid_misalignment`: a JPEG's 8x8 block grid shows in the pixel differences along block edges; a region that
  carries a second grid at another phase came from another JPEG, pasted off-grid.
- `error_level_inconsistency`: recompressing at quality 90 changes a region with another compression history by a
  different amount than the rest, beyond what brightness and detail explain (error-level analysis).

The thresholds (`THRESHOLDS`) come from `bench/detector_signals.py`: bundled clean photos (scikit-image,
scikit-learn, matplotlib) at JPEG qualities 70-95 against splices of one photo into another; each threshold is set
above every clean photo's score, and the figures are in docs/detector.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detector.types import Signal

BLOCK = 32  # pixels per block side: enough samples for a local statistic, small enough to outline a face
MIN_BLOCKS = 16  # fewer valid blocks than this and an image has no "rest" to be inconsistent with
MIN_PATCH_BLOCKS = 2  # one odd block is a texture, not a region
_GRID = 8  # the JPEG block size
_ELA_QUALITY = 90
_STEP_FLOOR = 0.5  # grey levels: smooth regions step by less, and tiny steps must not make a grid
_FLAT_STD = 2.0  # grey levels: a block flatter than this (sky, clipped highlights) tells nothing about noise


@dataclass(frozen=True, slots=True)
class Threshold:
    """z: a block is anomalous above it; share: a connected patch of anomalous blocks this large fires."""

    z: float
    share: float


THRESHOLDS: dict[str, Threshold] = {
    "noise_inconsistency": Threshold(z=3.0, share=0.04),
    "jpeg_grid_misalignment": Threshold(z=3.5, share=0.08),
    "error_level_inconsistency": Threshold(z=3.5, share=0.02),
}
_MIN_GRID_STRENGTH = 0.05  # the image-wide 8x8 grid's contrast below which it is not a grid-aligned JPEG


@dataclass(frozen=True, slots=True)
class SignalResult:
    signal: Signal
    heat: np.ndarray  # float32 HxW in [0, 1], over the analysed image; zeros when the signal does not apply


@dataclass(frozen=True, slots=True)
class Analysis:
    """Every signal on one image, and what the out-of-distribution flags read from the same pass."""

    results: list[SignalResult]
    grid_strength: float  # the image-wide 8x8 JPEG grid's contrast (`grid_strength`); 0 with too little detail
    detailed_blocks: int  # blocks with enough detail to compare (MIN_BLOCKS are needed)


def analyse(rgb: np.ndarray) -> Analysis:
    """Every classical signal on one RGB uint8 image (deterministic), in one pass."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    blocks = _Blocks(gray.shape)
    valid = _valid_blocks(gray, blocks)
    detailed = int(valid.sum())
    if detailed < MIN_BLOCKS:
        reason = f"too few detailed {BLOCK}-pixel blocks ({detailed} < {MIN_BLOCKS}) to compare regions"
        return Analysis([_not_applicable(name, reason, blocks) for name in THRESHOLDS], 0.0, detailed)
    strength, secondary = _grid_phases(gray, blocks)
    content = _content(gray, blocks)
    results = [
        _judge("noise_inconsistency", _explained(_noise_levels(gray, blocks), content, valid), valid, blocks),
        _grid_signal(strength, secondary, valid, blocks),
        _judge("error_level_inconsistency", _explained(_error_levels(rgb, blocks), content, valid), valid, blocks),
    ]
    return Analysis(results, strength, detailed)


def compute_signals(rgb: np.ndarray) -> list[SignalResult]:
    """Every classical signal on one RGB uint8 image (deterministic)."""
    return analyse(rgb).results


def grid_strength(gray: np.ndarray) -> float:
    """The contrast of the image-wide 8x8 JPEG grid: about 0 for an uncompressed photo, higher the coarser the JPEG."""
    return _grid_phases(gray, _Blocks(gray.shape))[0]


def _valid_blocks(gray: np.ndarray, blocks: _Blocks) -> np.ndarray:
    return blocks.std(gray.astype(np.float32)) >= _FLAT_STD


class _Blocks:
    """The image cut into whole BLOCK x BLOCK tiles (the right and bottom remainders are left out)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = (shape[0], shape[1])
        self.rows, self.cols = shape[0] // BLOCK, shape[1] // BLOCK

    def mean(self, values: np.ndarray, side: tuple[int, int] = (BLOCK, BLOCK)) -> np.ndarray:
        """Means over (height, width) cells of the blocks' area: exact area averages, at OpenCV's speed."""
        if not (self.rows and self.cols):  # an image smaller than one block
            return np.zeros((self.rows * BLOCK // side[0], self.cols * BLOCK // side[1]), np.float32)
        cut = np.ascontiguousarray(values[: self.rows * BLOCK, : self.cols * BLOCK], dtype=np.float32)
        return cv2.resize(cut, (cut.shape[1] // side[1], cut.shape[0] // side[0]), interpolation=cv2.INTER_AREA)

    def std(self, values: np.ndarray, side: int = BLOCK) -> np.ndarray:
        square = self.mean(values * values, (side, side)) - self.mean(values, (side, side)) ** 2
        return np.sqrt(np.maximum(square, 0.0))

    def upsample(self, grid: np.ndarray) -> np.ndarray:
        """A per-block map spread over the pixels (edges and remainders take the nearest block)."""
        heat = np.zeros(self.shape, np.float32)
        if self.rows and self.cols:
            size = (self.cols * BLOCK, self.rows * BLOCK)
            spread = cv2.resize(grid.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
            heat[: spread.shape[0], : spread.shape[1]] = spread
            heat[spread.shape[0] :, : spread.shape[1]] = spread[-1:]
            heat[:, spread.shape[1] :] = heat[:, spread.shape[1] - 1 : spread.shape[1]]
        return heat


def _noise_levels(gray: np.ndarray, blocks: _Blocks) -> np.ndarray:
    """Per block, the lower quartile of the residual's spread over its 8x8 sub-blocks: noise, little texture."""
    residual = gray.astype(np.float32) - cv2.medianBlur(gray, 3).astype(np.float32)
    per = BLOCK // 8
    sub = blocks.std(residual, 8).reshape(blocks.rows, per, blocks.cols, per).swapaxes(1, 2)
    return np.log(np.percentile(sub.reshape(blocks.rows, blocks.cols, -1), 25, axis=2) + 0.1)


def _content(gray: np.ndarray, blocks: _Blocks) -> list[np.ndarray]:
    """Per block, what a region's noise and error level depend on in any photo: brightness and detail."""
    image = gray.astype(np.float32)
    brightness = blocks.mean(image) / 255.0
    detail = np.log(blocks.mean(np.abs(cv2.Laplacian(image, cv2.CV_32F))) + 1.0)
    return [brightness, brightness**2, detail]


def _explained(values: np.ndarray, content: list[np.ndarray], valid: np.ndarray) -> np.ndarray:
    """What is left of a per-block statistic once brightness and detail explain what they can (robust fit).

    Dark regions are noisier, detailed ones change more under recompression, in every photo; a pasted region is
    one these do not explain. Blocks far off the first fit are left out of the second and third, so a splice does
    not bend the fit towards itself.
    """
    design = np.stack([np.ones_like(values), *content], axis=-1)
    x, y = design[valid], values[valid]
    kept = np.ones(len(y), bool)
    for _ in range(3):
        beta = np.linalg.lstsq(x[kept], y[kept], rcond=None)[0]
        residual = y - x @ beta
        kept = np.abs(residual) <= 2.5 * 1.4826 * float(np.median(np.abs(residual))) + 1e-6
    return values - design @ beta


def jpeg_round_trip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """An RGB image as a JPEG of `quality` decodes it: what a recompression leaves."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else None
    if decoded is None:
        raise RuntimeError("OpenCV could not encode and decode a JPEG")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def _error_levels(rgb: np.ndarray, blocks: _Blocks) -> np.ndarray:
    """Per block, the log of the mean change a quality-90 recompression makes."""
    again = jpeg_round_trip(rgb, _ELA_QUALITY)
    error = cv2.transform(cv2.absdiff(rgb, again).astype(np.float32), np.full((1, 3), 1 / 3, np.float32))
    return np.log(blocks.mean(error) + 0.05)


def _grid_signal(strength: float, secondary: np.ndarray, valid: np.ndarray, blocks: _Blocks) -> SignalResult:
    name = "jpeg_grid_misalignment"
    if strength < _MIN_GRID_STRENGTH:
        reason = f"no image-wide JPEG block grid (contrast {strength:.2f}): not a JPEG, or resized after compression"
        return _not_applicable(name, reason, blocks)
    return _judge(name, secondary, valid, blocks, two_sided=False)


def _grid_phases(gray: np.ndarray, blocks: _Blocks) -> tuple[float, np.ndarray]:
    """The image-wide grid's contrast, and per block the strongest grid at any other phase (either direction)."""
    image = gray.astype(np.float32)
    secondary = np.zeros((blocks.rows, blocks.cols), np.float32)
    strengths = []
    for axis in (1, 0):
        steps = np.abs(np.diff(image, axis=axis))
        steps = np.pad(steps, ((0, 1), (0, 0)) if axis == 0 else ((0, 0), (0, 1)))
        # per block, the mean step at each of its BLOCK positions across the steps' direction, then by phase
        lines = blocks.mean(steps, (BLOCK, 1) if axis == 1 else (1, BLOCK))
        lines = (
            lines.reshape(blocks.rows, blocks.cols, BLOCK)
            if axis == 1
            else lines.T.reshape(blocks.cols, blocks.rows, BLOCK).swapaxes(0, 1)
        )
        energy = lines.reshape(blocks.rows, blocks.cols, BLOCK // _GRID, _GRID).mean(axis=2)
        energy = cv2.blur(energy, (3, 3), borderType=cv2.BORDER_REPLICATE)  # 96 px around each block
        overall = energy.mean(axis=(0, 1))
        phase = int(np.argmax(overall))
        others = np.delete(overall, phase)
        strengths.append(float((overall[phase] - others.mean()) / (others.mean() + 1e-6)))
        typical = np.median(energy, axis=2)
        contrast = (energy - typical[..., None]) / (typical[..., None] + _STEP_FLOOR)
        secondary = np.maximum(secondary, np.delete(contrast, phase, axis=2).max(axis=2))
    return min(strengths), secondary


def _not_applicable(name: str, reason: str, blocks: _Blocks) -> SignalResult:
    return SignalResult(Signal(name, 0.0, False, reason), np.zeros(blocks.shape, np.float32))


def _judge(
    name: str, values: np.ndarray, valid: np.ndarray, blocks: _Blocks, *, two_sided: bool = True
) -> SignalResult:
    """Robust z-scores of per-block values; the signal's score is its largest connected anomalous patch."""
    threshold = THRESHOLDS[name]
    centre = float(np.median(values[valid]))
    spread = 1.4826 * float(np.median(np.abs(values[valid] - centre))) + 0.05
    z = (values - centre) / spread
    z = np.where(valid, np.abs(z) if two_sided else z, 0.0)
    anomalous = (z > threshold.z).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(anomalous, connectivity=8)
    largest = int(stats[1:, cv2.CC_STAT_AREA].max()) if count > 1 else 0
    share = largest / int(valid.sum())
    fired = share >= threshold.share and largest >= MIN_PATCH_BLOCKS
    if fired:
        reason = f"a region ({share:.1%} of the picture: see the heat-map) departs from the rest (z > {threshold.z})"
    else:
        reason = f"no region departs from the rest (largest anomalous patch {share:.1%} < {threshold.share:.0%})"
    heat = np.clip(z / (2 * threshold.z), 0.0, 1.0)
    return SignalResult(Signal(name, share, fired, reason), blocks.upsample(heat))
