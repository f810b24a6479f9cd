"""Training on pseudo-fakes, Platt calibration and the 5%-false-positive operating point, on one CPU thread.

>>> photos = package_photos()  # from detector.photos
>>> train, calibration, _ = split_photos(photos, seed=0, calibration=3, test=0)
>>> model = train_model(train, calibration, Recipe())
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from detector import synth
from detector.model import Calibration, ManipulationModel, ManipulationNet, to_tensor
from detector.photos import Photo

Progress = Callable[[int, int], None]
VERSION = "sbi-effnetlite0-2026.12.1"
FALSE_POSITIVE_TARGET = 0.05


@dataclass(frozen=True, slots=True)
class Recipe:
    """Everything that decides a trained model besides its source photos."""

    size: int = 64
    train_samples: int = 2400
    calibration_samples: int = 800
    epochs: int = 4
    batch_size: int = 32
    learning_rate: float = 3e-3
    mask_weight: float = 1.0
    seed: int = 0
    families: tuple[str, ...] = field(default=synth.FAMILIES)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) statistic, ties counted half."""
    positives, negatives = scores[labels == 1], scores[labels == 0]
    if len(positives) == 0 or len(negatives) == 0:
        raise ValueError("AUC needs both classes")
    _, inverse, counts = np.unique(np.concatenate([positives, negatives]), return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - counts + (counts + 1) / 2)[inverse]
    rank_sum = ranks[: len(positives)].sum()
    return float((rank_sum - len(positives) * (len(positives) + 1) / 2) / (len(positives) * len(negatives)))


def expected_calibration_error(p: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-width probability bins: the sample-weighted gap between confidence and accuracy."""
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = index == b
        if inside.any():
            total += inside.sum() * abs(p[inside].mean() - labels[inside].mean())
    return float(total / len(p))


def _log_loss(x: np.ndarray, labels: np.ndarray, weights: np.ndarray, l2: float) -> float:
    z = x @ weights
    return float(np.mean(np.logaddexp(0.0, z) - labels * z) + l2 * weights @ weights / 2)


def fit_platt(logits: np.ndarray, labels: np.ndarray, *, l2: float = 1e-4) -> tuple[float, float]:
    """Slope and intercept minimising the log loss of sigmoid(slope * logit + intercept).

    Newton steps with backtracking: on separable data plain Newton runs off to infinite slopes; the small L2 term
    keeps the optimum finite.
    """
    x = np.stack([logits.astype(np.float64), np.ones(len(logits))], axis=1)
    weights = np.array([1.0, 0.0])
    loss = _log_loss(x, labels, weights, l2)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ weights, -500, 500)))
        gradient = x.T @ (p - labels) / len(labels) + l2 * weights
        hessian = (x * (p * (1 - p))[:, None]).T @ x / len(labels) + l2 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-6 and _log_loss(x, labels, weights - scale * step, l2) > loss:
            scale /= 2
        weights = weights - scale * step
        new_loss = _log_loss(x, labels, weights, l2)
        if loss - new_loss < 1e-10:
            break
        loss = new_loss
    return float(weights[0]), float(weights[1])


def fit(net: ManipulationNet, samples: synth.Samples, recipe: Recipe, progress: Progress | None = None) -> None:
    """Train the heads and the unfrozen trunk in place: logit BCE plus the blend-mask BCE at stride 8."""
    frozen = net.frozen()
    for module in frozen:
        module.requires_grad_(False)
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=recipe.learning_rate, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(samples.labels) / recipe.batch_size)
    total = steps_per_epoch * recipe.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 0.5 * (1 + math.cos(math.pi * step / total)))
    generator = np.random.default_rng(recipe.seed)
    images, labels = to_tensor(samples.images), torch.from_numpy(samples.labels).float()
    masks = torch.from_numpy(samples.masks)[:, None]
    step = 0
    for _ in range(recipe.epochs):
        net.train()
        for module in frozen:
            module.eval()
        order = torch.from_numpy(generator.permutation(len(labels)))
        for start in range(0, len(order), recipe.batch_size):
            batch = order[start : start + recipe.batch_size]
            x, y, m = images[batch], labels[batch], masks[batch]
            if generator.random() < 0.5:
                x, m = x.flip(3), m.flip(3)
            logit, mask_logits = net(x)
            target = nn.functional.adaptive_avg_pool2d(m, mask_logits.shape[-2:])
            loss = nn.functional.binary_cross_entropy_with_logits(logit, y)
            loss = loss + recipe.mask_weight * nn.functional.binary_cross_entropy_with_logits(mask_logits, target)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            if progress is not None:
                progress(step, total)
    net.eval()


_IDENTITY = Calibration(1.0, 0.0, (0.0, 1.0), (0,), (0,))


def raw_logits(net: ManipulationNet, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Logits (mirror-averaged, as `ManipulationModel.score` does) for a uint8 batch at input size."""
    model = ManipulationModel(net, version="", input_size=images.shape[1], threshold=0.5, calibration=_IDENTITY)
    return np.concatenate([model.logits(images[i : i + batch_size])[0] for i in range(0, len(images), batch_size)])


def calibrate(logits: np.ndarray, labels: np.ndarray, *, bins: int = 10) -> tuple[Calibration, float]:
    """Platt scaling plus per-bin counts, and the threshold that passes 5% of the real photos."""
    slope, intercept = fit_platt(logits, labels)
    p = Calibration(slope, intercept, (), (), ()).probabilities(logits)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.minimum((p * bins).astype(int), bins - 1)
    counts = tuple(int((index == b).sum()) for b in range(bins))
    positives = tuple(int(labels[index == b].sum()) for b in range(bins))
    threshold = float(np.quantile(p[labels == 0], 1 - FALSE_POSITIVE_TARGET))
    return Calibration(slope, intercept, tuple(float(e) for e in edges), counts, positives), threshold


def train_model(
    train_photos: Sequence[Photo],
    calibration_photos: Sequence[Photo],
    recipe: Recipe,
    *,
    version: str = VERSION,
    progress: Progress | None = None,
) -> ManipulationModel:
    """Generate the training set, train, and calibrate on samples from photos the training never saw."""
    torch.manual_seed(recipe.seed)
    samples = synth.make_samples(
        train_photos,
        recipe.families,
        count=recipe.train_samples,
        size=recipe.size,
        degradation=synth.TRAIN_DEGRADATION,
        seed=recipe.seed,
    )
    net = ManipulationNet(pretrained=True)
    fit(net, samples, recipe, progress)
    held = synth.make_samples(
        calibration_photos,
        recipe.families,
        count=recipe.calibration_samples,
        size=recipe.size,
        degradation=synth.TRAIN_DEGRADATION,
        seed=recipe.seed + 10_000,
    )
    calibration, threshold = calibrate(raw_logits(net, held.images), held.labels)
    return ManipulationModel(net, version=version, input_size=recipe.size, threshold=threshold, calibration=calibration)
