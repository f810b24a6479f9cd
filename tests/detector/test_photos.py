"""The catalogue of real photographs: named uniquely, licensed, split by package; and photos read from a directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from detector import photos


def test_the_wallpaper_catalogue_names_each_photo_once_with_its_licence_and_author() -> None:
    names = [w.name for w in photos.WALLPAPERS]
    assert len(names) == len(set(names)) >= 30
    assert all(w.licence and w.author and w.path.startswith("/usr/share/") for w in photos.WALLPAPERS)
    packages = {w.package for w in photos.WALLPAPERS}
    assert set(photos.HELD_OUT_PACKAGES) <= packages
    assert not set(photos.HELD_OUT_PACKAGES) & set(photos.TRAIN_PACKAGES)
    assert packages <= set(photos.HELD_OUT_PACKAGES) | set(photos.TRAIN_PACKAGES)
    plasma = next(w for w in photos.WALLPAPERS if w.package == "plasma-workspace-wallpapers")
    assert plasma.name == "BytheWater.jpg"  # Plasma's files are named by size: the wallpaper's name is used


def test_directory_photos_are_rgb_in_a_stable_order_grouped_by_top_level_folder(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    Image.fromarray(np.full((20, 30), 128, np.uint8)).save(tmp_path / "a" / "grey.png")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "top.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    found = photos.directory_photos(tmp_path)
    assert [(p.name, p.group, p.rgb.shape) for p in found] == [
        ("a/grey.png", "a", (20, 30, 3)),
        ("top.jpg", tmp_path.name, (10, 10, 3)),
    ]
    assert photos.directory_photos(tmp_path, limit=1)[0].name == "a/grey.png"


def test_wallpapers_of_packages_not_installed_are_skipped() -> None:
    assert photos.wallpaper_photos(["no-such-package"]) == []
