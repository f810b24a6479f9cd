"""Pseudo-fakes made from real photos: the only training data these machines can have.

No deepfake data set is reachable here, so every manipulated sample is generated from a real image (the Face X-ray /
Self-Blended Images idea: a detector trained on blending artefacts generalises better than one trained on one
generator). Five families stand in for the manipulations seen in the wild:

    self_blend    a region blended with a colour-, blur- and geometry-jittered copy of itself (SBI)
    splice        a colour-matched region from another photo (face-swap stand-in)
    local_warp    small smooth warps of eye/mouth-sized regions (lip-sync, reenactment stand-in)
    resynthesis   a region down- and up-sampled (inpainting / local re-generation stand-in)
    decoder       the whole image through a randomly initialised upsampling decoder (generator stand-in)

Reals and fakes get the same random resize and JPEG round trip, so compression is not a label. Every sample comes
with its blend mask (all zeros for reals), the target of the model's heat-map head.

    >>> photos = package_photos()  # from detector.photos
    >>> batch = make_samples(photos, FAMILIES, count=8, size=64, degradation=TRAIN_DEGRADATION, seed=0)
    >>> batch.images.shape, batch.masks.shape
    ((8, 64, 64, 3), (8, 64, 64))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from detector.model import resize_square
from detector.photos import Photo
from detector.signals import jpeg_round_trip

FAMILIES: tuple[str, ...] = ("self_blend", "splice", "local_warp", "resynthesis", "decoder")


@dataclass(frozen=True, slots=True)
class Degradation:
    """The resize and JPEG round trip applied alike to reals and fakes; each field lists ranges to draw from."""

    scales: tuple[tuple[float, float], ...]
    qualities: tuple[tuple[int, int], ...]


TRAIN_DEGRADATION = Degradation(scales=((0.55, 1.0),), qualities=((70, 95),))
# Sizes and qualities never seen in training: stronger down-scaling, up-scaling, and harsher JPEG.
UNSEEN_DEGRADATION = Degradation(scales=((0.3, 0.45), (1.25, 1.6)), qualities=((45, 65),))


@dataclass(frozen=True, slots=True)
class Samples:
    """A batch of square samples: images uint8 NxSxSx3, labels 0/1, masks float32 NxSxS, family per sample."""

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    families: tuple[str, ...]


def _crop(photo: Photo, side: int, rng: np.random.Generator) -> np.ndarray:
    """A random square crop (a third to all of the short side) resized to `side`."""
    height, width = photo.rgb.shape[:2]
    short = min(height, width)
    crop = int(rng.uniform(0.35, 1.0) * short)
    top, left = rng.integers(0, height - crop + 1), rng.integers(0, width - crop + 1)
    return resize_square(photo.rgb[top : top + crop, left : left + crop], side)


def _region_mask(side: int, rng: np.random.Generator, *, scale: tuple[float, float] = (0.2, 0.45)) -> np.ndarray:
    """A soft blob (ellipse or convex hull of random points) with a blurred edge, float32 in [0, 1]."""
    mask = np.zeros((side, side), np.uint8)
    cy, cx = rng.uniform(0.3, 0.7, size=2) * side
    radius = rng.uniform(*scale) * side
    if rng.random() < 0.5:
        axes = (int(radius), int(radius * rng.uniform(0.6, 1.2)))
        cv2.ellipse(mask, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    else:
        points = np.stack([cx, cy]) + rng.normal(0, radius * 0.7, size=(8, 2))
        cv2.fillConvexPoly(mask, cv2.convexHull(points.astype(np.int32)), 255)
    sigma = rng.uniform(0.01, 0.05) * side
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), sigma)
    return np.clip(soft * rng.uniform(0.85, 1.0), 0, 1)


def _blend(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    alpha = mask[..., None]
    return np.clip(alpha * source.astype(np.float32) + (1 - alpha) * target.astype(np.float32), 0, 255).astype(np.uint8)


def _jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The SBI source transform: colour, blur or sharpen, and a small shift and scale."""
    out: np.ndarray = image.astype(np.float32) * rng.uniform(0.9, 1.1, size=3) + rng.uniform(-12, 12, size=3)
    if rng.random() < 0.5:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.3))
    else:
        out = cv2.addWeighted(out, 1.6, cv2.GaussianBlur(out, (0, 0), 1.0), -0.6, 0)
    side = image.shape[0]
    matrix = cv2.getRotationMatrix2D((side / 2, side / 2), 0, rng.uniform(0.95, 1.05))
    matrix[:, 2] += rng.uniform(-0.03, 0.03, size=2) * side
    return np.clip(cv2.warpAffine(out, matrix, (side, side), borderMode=cv2.BORDER_REFLECT), 0, 255).astype(np.uint8)


def _self_blend(image: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    mask = _region_mask(image.shape[0], rng)
    return _blend(image, _jitter(image, rng), mask), mask


def _splice(image: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Reinhard colour transfer of the donor onto the target inside the region, then a soft paste."""
    mask = _region_mask(image.shape[0], rng)
    inside = mask > 0.5
    target_lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    donor_lab = cv2.cvtColor(donor, cv2.COLOR_RGB2LAB).astype(np.float32)
    t_mean, t_std = target_lab[inside].mean(0), target_lab[inside].std(0) + 1e-3
    d_mean, d_std = donor_lab[inside].mean(0), donor_lab[inside].std(0) + 1e-3
    matched = np.clip((donor_lab - d_mean) / d_std * t_std + t_mean, 0, 255).astype(np.uint8)
    return _blend(image, cv2.cvtColor(matched, cv2.COLOR_LAB2RGB), mask), mask


def _local_warp(image: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One to three eye/mouth-sized regions bulged, pinched or pushed by a smooth displacement field."""
    side = image.shape[0]
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    dx, dy = np.zeros_like(xs), np.zeros_like(ys)
    weight = np.zeros_like(xs)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0.25, 0.75, size=2) * side
        radius = rng.uniform(0.07, 0.16) * side
        bump = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * radius**2))
        strength = rng.uniform(0.25, 0.5) * radius
        if rng.random() < 0.5:
            sign = rng.choice([-1.0, 1.0])  # bulge (eyes opened) or pinch (mouth closed)
            dx += sign * strength * bump * (xs - cx) / radius
            dy += sign * strength * bump * (ys - cy) / radius
        else:
            angle = rng.uniform(0, 2 * np.pi)
            dx += strength * bump * np.cos(angle)
            dy += strength * bump * np.sin(angle)
        weight = np.maximum(weight, bump)
    warped = cv2.remap(image, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return warped, np.clip((weight - 0.1) / 0.6, 0, 1).astype(np.float32)


def _resynthesis(image: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    side = image.shape[0]
    mask = _region_mask(side, rng)
    low = max(4, int(side / rng.uniform(2.0, 4.0)))
    small = cv2.resize(image, (low, low), interpolation=cv2.INTER_AREA)
    interpolation = cv2.INTER_LINEAR if rng.random() < 0.5 else cv2.INTER_CUBIC
    return _blend(image, cv2.resize(small, (side, side), interpolation=interpolation), mask), mask


def _decoder(image: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Down-sample, then up-sample through transposed convolutions with random, near-bilinear weights.

    An untrained decoder leaves the periodic up-sampling traces of generators without a generator's content.
    """
    side = image.shape[0]
    stages = int(rng.integers(1, 3))
    low = side // 2**stages
    generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
    x = torch.from_numpy(cv2.resize(image, (low, low), interpolation=cv2.INTER_AREA)).permute(2, 0, 1)[None].float()
    bilinear = torch.tensor([0.25, 0.75, 0.75, 0.25])
    kernel = torch.outer(bilinear, bilinear)
    for _ in range(stages):
        weight = torch.eye(3)[:, :, None, None] * kernel
        noise = torch.randn(3, 3, 4, 4, generator=generator) * float(rng.uniform(0.03, 0.1))
        # Zero-mean per phase of the stride-2 kernel: each output phase keeps its colour; only the pattern changes.
        noise = noise.reshape(3, 3, 2, 2, 2, 2)
        weight = weight + (noise - noise.mean((2, 4), keepdim=True)).reshape(3, 3, 4, 4)
        x = torch.nn.functional.conv_transpose2d(x, weight, stride=2, padding=1)
        refine = torch.eye(3)[:, :, None, None] * torch.tensor([[0, 0, 0], [0, 1.0, 0], [0, 0, 0]])
        refine = refine + torch.randn(3, 3, 3, 3, generator=generator) * 0.02
        x = torch.nn.functional.conv2d(x, refine, padding=1)
    out = x[0].permute(1, 2, 0).clamp(0, 255).round().to(torch.uint8).numpy()
    return cv2.resize(out, (side, side), interpolation=cv2.INTER_LINEAR), np.ones((side, side), np.float32)


_MAKERS = {
    "self_blend": _self_blend,
    "splice": _splice,
    "local_warp": _local_warp,
    "resynthesis": _resynthesis,
    "decoder": _decoder,
}


def _pick(ranges: Sequence[tuple[float, float]], rng: np.random.Generator) -> float:
    low, high = ranges[int(rng.integers(len(ranges)))]
    return float(rng.uniform(low, high))


def degrade(image: np.ndarray, degradation: Degradation, rng: np.random.Generator) -> np.ndarray:
    """Resize by a random factor, then a JPEG round trip at a random quality."""
    side = max(8, round(image.shape[0] * _pick(degradation.scales, rng)))
    interpolation = cv2.INTER_AREA if side < image.shape[0] else cv2.INTER_CUBIC
    resized = cv2.resize(image, (side, side), interpolation=interpolation)
    return jpeg_round_trip(resized, round(_pick(degradation.qualities, rng)))


def make_samples(
    photos: Sequence[Photo],
    families: Sequence[str],
    *,
    count: int,
    size: int,
    degradation: Degradation,
    seed: int,
) -> Samples:
    """`count` samples, half real and half fake (fakes spread evenly over `families`), at `size` x `size`.

    Manipulations are made at twice `size`, then degraded, then resized to `size` exactly as the model does it.
    """
    if len(photos) < 2:
        raise ValueError("need at least two source photos (splices take a donor from another photo)")
    unknown = set(families) - set(_MAKERS)
    if unknown:
        raise ValueError(f"unknown families: {sorted(unknown)}")
    rng = np.random.default_rng(seed)
    work = 2 * size
    images = np.zeros((count, size, size, 3), np.uint8)
    masks = np.zeros((count, size, size), np.float32)
    labels = np.zeros(count, np.int64)
    names: list[str] = []
    for index in range(count):
        source = int(rng.integers(len(photos)))
        image = _crop(photos[source], work, rng)
        mask = np.zeros((work, work), np.float32)
        family = "real"
        if index % 2 == 1 and families:
            family = families[(index // 2) % len(families)]
            other = (source + 1 + int(rng.integers(len(photos) - 1))) % len(photos)
            image, mask = _MAKERS[family](image, _crop(photos[other], work, rng), rng)
            labels[index] = 1
        images[index] = resize_square(degrade(image, degradation, rng), size)
        masks[index] = cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)
        names.append(family)
    return Samples(images, labels, masks, tuple(names))
