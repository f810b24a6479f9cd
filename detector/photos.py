"""Real photographs to make training and evaluation samples from: where they come from, and how they are split.

Three sources, all read as their files decode (many wallpapers are JPEGs that were compressed once already; that is
what a real photo looks like here):

- `wallpaper_photos`: the photographs among the Debian wallpaper packages (`WALLPAPERS`, each one looked at and its
  licence read from /usr/share/doc/<package>/copyright), at their native resolution. Most files in those packages
  are illustrations or renderings and are left out; `WALLPAPERS` lists the photographs kept, with their licences.
- `package_photos`: the 18 sample photographs inside scikit-image, scikit-learn and matplotlib (the only real
  photos a machine without the wallpaper packages has; the committed model and the tests train on them).
- `directory_photos`: any directory of images (a registry's originals, or photos held out by whoever evaluates).

Splits are by photo. Training on the wallpapers (issue 21) holds out whole packages for evaluation
(`HELD_OUT_PACKAGES`): a photographer's or a collection's look (camera, processing, JPEG settings) is never in both
training and test.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
PACKAGE_SAMPLES = "package-samples"  # the group name of `package_photos`


@dataclass(frozen=True, slots=True)
class Photo:
    """One real source image; `group` is where it came from (a Debian package), the unit evaluation holds out."""

    name: str
    rgb: np.ndarray
    group: str = ""


@dataclass(frozen=True, slots=True)
class Wallpaper:
    """A photograph shipped in a Debian package, with its licence (from the package's copyright file)."""

    package: str
    path: str  # absolute, as the package installs it
    licence: str
    author: str

    @property
    def name(self) -> str:
        """A name unique among WALLPAPERS: the file's, or for Plasma's (named by size) its wallpaper's."""
        path = Path(self.path)
        return f"{path.parts[4]}{path.suffix}" if path.parts[3] == "wallpapers" else path.name


def _mate(name: str, author: str) -> Wallpaper:
    return Wallpaper("mate-backgrounds", f"/usr/share/backgrounds/mate/nature/{name}", "GPL-2+", author)


def _plasma(name: str, image: str = "2560x1600.jpg") -> Wallpaper:
    path = f"/usr/share/wallpapers/{name}/contents/images/{image}"
    return Wallpaper("plasma-workspace-wallpapers", path, "GPL-2+", "KDE Visual Design Group")


def _lomiri(package: str, name: str, licence: str, author: str) -> Wallpaper:
    return Wallpaper(package, f"/usr/share/backgrounds/{name}", licence, author)


_L16, _L20 = "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04"

# Every photograph found in the installed wallpaper packages. Left out after looking at them: all of
# gnome-backgrounds and ukui-wallpapers (renderings and illustrations), mate-backgrounds' abstract and desktop sets,
# Plasma's renderings (Altai, Autumn (a painting), Canopee, Cascade, Cluster, Elarun, Flow, FlyingKonqui, Honeywave,
# IceCold, Kay, Kokkini, MilkyWay, Opal, PastelHills, Patak, SafeLanding, Shell, Volna) and Kite (a photo of the sky
# with a logo pasted in: a composite), and Lomiri's Fossa, Infinite-Sea, Painting-Colors, umang and warty-final.
WALLPAPERS: tuple[Wallpaper, ...] = (
    _mate("Aqua.jpg", "Charles Barbin"),
    _mate("Blinds.jpg", "Lennart Poettering"),
    _mate("Dune.jpg", "Marco Cogoni"),
    _mate("FreshFlower.jpg", "Jens Ansorg"),
    _mate("Garden.jpg", "Charles Barbin"),
    _mate("GreenMeadow.jpg", "Timothy Schellhase"),
    _mate("LadyBird.jpg", "Charles Barbin"),
    _mate("RainDrops.jpg", "blackcombwhistler07"),
    _mate("Storm.jpg", "Sergey Nazarov"),
    _mate("TwoWings.jpg", "Charles Barbin"),
    _mate("Wood.jpg", "Jean-François Fortin Tam"),
    _mate("YellowFlower.jpg", "Charles Barbin"),
    _plasma("BytheWater"),
    _plasma("ColdRipple"),
    _plasma("ColorfulCups"),
    _plasma("DarkestHour"),
    _plasma("EveningGlow"),
    _plasma("FallenLeaf"),
    _plasma("Grey"),
    _plasma("OneStandsOut"),
    _plasma("Path"),
    _plasma("summer_1am"),
    _lomiri(_L16, "aitzgorri_by_Aitzol_Berasategi.jpg", "CC-BY-4.0", "Aitzol Berasategi"),
    _lomiri(_L16, "analogpattern_by_Peter_Nerlich.jpg", "CC-BY-SA-4.0", "Peter Nerlich"),
    _lomiri(_L16, "Bridge_by_Sander_Klootwijk.jpg", "CC-BY-SA-4.0", "Sander Klootwijk"),
    _lomiri(_L16, "Dragonfly_by_Bolly.jpg", "CC-BY-SA-4.0", "Bolly"),
    _lomiri(_L16, "free_by_Peter_Nerlich.jpg", "CC-BY-SA-4.0", "Peter Nerlich"),
    _lomiri(_L16, "friends_by_Aitzol_Berasategi.jpg", "CC-BY-4.0", "Aitzol Berasategi"),
    _lomiri(_L16, "greentock_by_Peter_Nerlich.jpg", "CC-BY-SA-4.0", "Peter Nerlich"),
    _lomiri(_L16, "life_by_Aitzol_Berasategi.jpg", "CC-BY-4.0", "Aitzol Berasategi"),
    _lomiri(_L16, "picosdeeuropa_by_Aitzol_Berasategi.jpg", "CC-BY-4.0", "Aitzol Berasategi"),
    _lomiri(_L16, "Picture_0B_by_freespace.jpg", "CC-BY-4.0", 'Trevor "Freespace"'),
    _lomiri(_L16, "Picture_1A_by_freespace.jpg", "CC-BY-4.0", 'Trevor "Freespace"'),
    _lomiri(_L16, "seeding_by_Clements_Engelhardt.jpg", "CC0-1.0", "Clemens Engelhardt"),
    _lomiri(_L16, "sunset_by_Aitzol_Berasategi.jpg", "CC-BY-4.0", "Aitzol Berasategi"),
    _lomiri(_L16, "Wine_by_Jakkub_Mede.jpg", "CC-BY-4.0", "Jakub Mede"),
    _lomiri(_L20, "Kleiber_by_Lukas_Baubkus.jpg", "CC-BY-SA-3.0", "Lukas Baubkus"),
)
TRAIN_PACKAGES = ("mate-backgrounds", "plasma-workspace-wallpapers", PACKAGE_SAMPLES)
HELD_OUT_PACKAGES = (_L16, _L20)  # never trained or calibrated on: `provreg detector evaluate`'s photos

# Photographs (not charts, renderings or text) inside scikit-image, scikit-learn and matplotlib. The stereo pair's
# right view is left out: it is the same scene as the left, and the split is by scene.
_SKIMAGE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "ihc.png",
    "camera.png",
    "moon.png",
    "coins.png",
    "brick.png",
    "grass.png",
    "gravel.png",
    "clock_motion.png",
)


def _rgb(array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return np.ascontiguousarray(array[..., :3].astype(np.uint8))


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return _rgb(np.asarray(image.convert("RGB")))


def wallpaper_photos(packages: Sequence[str] | None = None) -> list[Photo]:
    """The catalogued wallpaper photographs of `packages` (all by default) that are installed here, at full size."""
    return [
        Photo(w.name, _read(Path(w.path)), w.package)
        for w in WALLPAPERS
        if (packages is None or w.package in packages) and Path(w.path).is_file()
    ]


def package_photos() -> list[Photo]:
    """The photos that ship inside installed packages (whichever of scikit-image, scikit-learn, matplotlib exist)."""
    photos: list[Photo] = []
    try:
        import skimage.data
        import skimage.io

        root = Path(skimage.data.__file__).parent
        photos += [Photo(name, _rgb(skimage.io.imread(root / name)), PACKAGE_SAMPLES) for name in _SKIMAGE_PHOTOS]
    except ImportError:
        pass
    try:
        from sklearn.datasets import load_sample_images

        bunch = load_sample_images()
        photos += [
            Photo(Path(f).name, _rgb(img), PACKAGE_SAMPLES)
            for f, img in zip(bunch.filenames, bunch.images, strict=True)
        ]
    except ImportError:
        pass
    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        photos.append(Photo(path.name, _read(path), PACKAGE_SAMPLES))
    except ImportError:
        pass
    return photos


def training_photos() -> list[Photo]:
    """The default training photos: the wallpapers of TRAIN_PACKAGES installed here, and the package samples."""
    return wallpaper_photos(TRAIN_PACKAGES) + package_photos()


def directory_photos(directory: Path, *, limit: int | None = None) -> list[Photo]:
    """Real images from a directory tree, in a stable order; each top-level subdirectory is a group."""
    paths = sorted(p for p in directory.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
    photos = []
    for path in paths[:limit]:
        relative = path.relative_to(directory)
        group = relative.parts[0] if len(relative.parts) > 1 else directory.name
        photos.append(Photo(os.fspath(relative), _read(path), group))
    return photos


def split_photos(photos: Sequence[Photo], *, seed: int, calibration: int, test: int) -> tuple[list[Photo], ...]:
    """(train, calibration, test) by source image, shuffled by `seed`."""
    order = np.random.default_rng(seed).permutation(len(photos))
    if len(photos) < calibration + test + 2:
        raise ValueError(f"{len(photos)} source photos are too few for {calibration} + {test} held out")
    shuffled = [photos[i] for i in order]
    return shuffled[calibration + test :], shuffled[:calibration], shuffled[calibration : calibration + test]
