"""Leave-one-family-out evaluation: how the model does on a manipulation type it was never trained on.

For each seed the source photos are split (by photo, never by patch) into train, calibration and test. For each
family, a model is trained on the other families, calibrated and given its 5%-false-positive threshold on the
calibration photos, then tested on the test photos, by default under JPEG qualities and sizes that training never
used (`test_degradation=TRAIN_DEGRADATION` separates the unseen family from the unseen degradation).

    >>> results = leave_one_family_out(package_photos(), Recipe(), seeds=(0, 1, 2))
    >>> print(markdown_table(summarise(results)))
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from detector import synth
from detector.model import ManipulationModel
from detector.photos import Photo, split_photos
from detector.train import Recipe, expected_calibration_error, raw_logits, roc_auc, train_model

Report = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class HeldOutResult:
    """One (seed, held-out family) run, measured on the test photos under unseen degradations."""

    seed: int
    family: str
    auc: float  # held-out family vs reals
    seen_auc: float  # the families it was trained on vs reals (same test photos and degradations)
    false_positive_rate: float  # reals at or above the operating threshold
    true_positive_rate: float  # held-out fakes at or above it
    ece: float  # calibration error over reals and held-out fakes
    train_seconds: float


@dataclass(frozen=True, slots=True)
class FamilyRow:
    family: str
    seeds: int
    auc: tuple[float, float]  # mean, standard deviation over seeds
    seen_auc: tuple[float, float]
    false_positive_rate: tuple[float, float]
    true_positive_rate: tuple[float, float]
    ece: tuple[float, float]


def _measure(model: ManipulationModel, test: synth.Samples, family: str, seed: int, seconds: float) -> HeldOutResult:
    logits = raw_logits(model.net, test.images)
    p = model.calibration.probabilities(logits)
    families = np.array(test.families)
    real, held = families == "real", families == family
    seen = ~real & ~held
    both = real | held
    return HeldOutResult(
        seed=seed,
        family=family,
        auc=roc_auc(logits[both], test.labels[both]),
        seen_auc=roc_auc(logits[real | seen], test.labels[real | seen]),
        false_positive_rate=float((p[real] >= model.threshold).mean()),
        true_positive_rate=float((p[held] >= model.threshold).mean()),
        ece=expected_calibration_error(p[both], test.labels[both].astype(np.float64)),
        train_seconds=seconds,
    )


def leave_one_family_out(
    photos: Sequence[Photo],
    recipe: Recipe,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    test_samples: int = 600,
    calibration_photos: int = 3,
    test_photos: int = 4,
    families: Sequence[str] = synth.FAMILIES,
    test_degradation: synth.Degradation = synth.UNSEEN_DEGRADATION,
    report: Report | None = None,
) -> list[HeldOutResult]:
    """Train len(seeds) x len(families) models, each without one family, and test each on unseen photos."""
    results = []
    for seed in seeds:
        train, calibration, test_set = split_photos(photos, seed=seed, calibration=calibration_photos, test=test_photos)
        test = synth.make_samples(
            test_set,
            synth.FAMILIES,
            count=test_samples,
            size=recipe.size,
            degradation=test_degradation,
            seed=seed + 20_000,
        )
        for family in families:
            kept = tuple(f for f in synth.FAMILIES if f != family)
            started = time.perf_counter()
            model = train_model(train, calibration, replace(recipe, seed=seed, families=kept))
            result = _measure(model, test, family, seed, time.perf_counter() - started)
            results.append(result)
            if report is not None:
                report(
                    f"seed {seed} without {family}: AUC {result.auc:.3f} (seen families {result.seen_auc:.3f}), "
                    f"FPR {result.false_positive_rate:.3f}, TPR {result.true_positive_rate:.3f}, "
                    f"ECE {result.ece:.3f}, {result.train_seconds:.0f} s"
                )
    return results


def _spread(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(results: Sequence[HeldOutResult]) -> list[FamilyRow]:
    """Mean and standard deviation over seeds, one row per held-out family."""
    rows = []
    for family in dict.fromkeys(r.family for r in results):
        mine = [r for r in results if r.family == family]
        rows.append(
            FamilyRow(
                family=family,
                seeds=len(mine),
                auc=_spread([r.auc for r in mine]),
                seen_auc=_spread([r.seen_auc for r in mine]),
                false_positive_rate=_spread([r.false_positive_rate for r in mine]),
                true_positive_rate=_spread([r.true_positive_rate for r in mine]),
                ece=_spread([r.ece for r in mine]),
            )
        )
    return rows


def markdown_table(rows: Sequence[FamilyRow]) -> str:
    """The model card's table: mean ± standard deviation over seeds."""

    def cell(pair: tuple[float, float]) -> str:
        return f"{pair[0]:.3f} ± {pair[1]:.3f}"

    lines = [
        "| held-out family | seeds | AUC held-out | AUC seen families | FPR at threshold | TPR at threshold | ECE |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = (row.auc, row.seen_auc, row.false_positive_rate, row.true_positive_rate, row.ece)
        lines.append(f"| {row.family} | {row.seeds} | " + " | ".join(cell(c) for c in cells) + " |")
    return "\n".join(lines)


def as_json(results: Sequence[HeldOutResult], recipe: Recipe, test_degradation: synth.Degradation) -> dict[str, object]:
    return {
        "recipe": recipe.as_dict(),
        "train_degradation": asdict(synth.TRAIN_DEGRADATION),
        "test_degradation": asdict(test_degradation),
        "runs": [asdict(r) for r in results],
        "families": [asdict(row) for row in summarise(results)],
    }


def latency_ms(model: ManipulationModel, *, side: int = 224, rounds: int = 30) -> dict[str, float]:
    """Per-image `score` latency on a side x side photo crop (whatever thread count the caller has set)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    model.score(image)
    timings = []
    for _ in range(rounds):
        started = time.perf_counter_ns()
        model.score(image)
        timings.append((time.perf_counter_ns() - started) / 1e6)
    timings.sort()
    return {"p50": timings[len(timings) // 2], "p90": timings[int(len(timings) * 0.9)], "rounds": float(rounds)}
