"""The classical signals: silent on clean photos, firing on a splice, with a heat-map where the splice is."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from splices import SPLICE, decoded, jpeg_bytes, pixels, spliced_astronaut

from detector import signals

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


@pytest.mark.parametrize("quality", [75, 95])
@pytest.mark.parametrize("name", PHOTOS)
def test_clean_photos_fire_nothing(name: str, quality: int) -> None:
    results = signals.compute_signals(decoded(jpeg_bytes(pixels(name), quality)))
    assert [r.signal.name for r in results] == list(signals.THRESHOLDS)
    assert not [r.signal for r in results if r.signal.fired]


@pytest.mark.parametrize("quality", [75, 85, 95])
def test_a_splice_fires_and_the_heat_is_where_it_was_pasted(quality: int) -> None:
    image = decoded(spliced_astronaut(quality))
    results = signals.compute_signals(image)
    fired = [r for r in results if r.signal.fired]
    assert [r.signal.name for r in fired] == ["jpeg_grid_misalignment"]
    assert "departs from the rest" in fired[0].signal.reason
    heat = fired[0].heat
    assert heat.shape == image.shape[:2] and heat.dtype == np.float32 and 0 <= heat.min() <= heat.max() <= 1
    x, y, w, h = SPLICE
    inside = np.zeros(heat.shape, bool)
    inside[y : y + h, x : x + w] = True
    assert heat[inside].mean() > 4 * heat[~inside].mean()


def test_signals_are_deterministic() -> None:
    image = decoded(spliced_astronaut())
    first, second = signals.compute_signals(image), signals.compute_signals(image.copy())
    assert [r.signal for r in first] == [r.signal for r in second]
    assert all(np.array_equal(a.heat, b.heat) for a, b in zip(first, second, strict=True))


def test_the_grid_signal_stands_aside_without_a_jpeg_grid() -> None:
    grid = next(r for r in signals.compute_signals(pixels("coffee")[::2, ::2].copy()) if "grid" in r.signal.name)
    assert not grid.signal.fired and "no image-wide JPEG block grid" in grid.signal.reason
    assert signals.grid_strength(decoded(jpeg_bytes(pixels("coffee"), 20))[..., 0]) > signals.grid_strength(
        decoded(jpeg_bytes(pixels("coffee"), 95))[..., 0]
    )


def test_too_little_to_compare_is_said_not_guessed() -> None:
    results = signals.compute_signals(np.full((100, 100, 3), 128, np.uint8))
    assert all(not r.signal.fired and "too few detailed" in r.signal.reason for r in results)
    assert all(not r.heat.any() for r in results)


def test_one_pass_gives_the_signals_and_what_the_flags_read() -> None:
    image = decoded(jpeg_bytes(pixels("coffee"), 20))
    analysis = signals.analyse(image)
    assert [r.signal for r in analysis.results] == [r.signal for r in signals.compute_signals(image)]
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    assert analysis.grid_strength == signals.grid_strength(gray) and analysis.detailed_blocks >= signals.MIN_BLOCKS
    flat = signals.analyse(np.full((100, 100, 3), 128, np.uint8))
    assert flat.detailed_blocks == 0 < signals.MIN_BLOCKS
