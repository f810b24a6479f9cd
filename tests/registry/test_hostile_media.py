"""Hostile and odd media through the registry: a clear domain error naming the setting, or a normal result."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import PublisherHandle, encode, make_publisher, photo, photo_bytes
from PIL import Image

from registry import errors, matching, service
from registry.media import decode_with
from registry.media import limits as media_limits
from registry.runtime import Registry
from registry.settings import Settings


def _settings(tmp_path: Path, **limits: int) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **limits)  # type: ignore[call-arg]


def _register(registry: Registry, publisher: PublisherHandle, content: bytes) -> str:
    statement, signature = publisher.signed(content)
    with registry.session() as session:
        return service.register(
            session=session, registry=registry, statement=statement, signature=signature, content=content
        ).id


@pytest.mark.parametrize(
    ("limits", "content", "error", "setting"),
    [
        ({"max_pixels": 1000}, photo_bytes("rocket"), errors.MediaTooLarge, "PROVREG_MAX_PIXELS"),
        ({"max_decoded_bytes": 1000}, photo_bytes("rocket"), errors.MediaTooLarge, "PROVREG_MAX_DECODED_BYTES"),
        (
            {"max_jpeg_scans": 3},
            encode(photo("rocket"), progressive=True),
            errors.MediaTooLarge,
            "PROVREG_MAX_JPEG_SCANS",
        ),
        (
            {"max_bits_per_sample": 8},
            encode(Image.fromarray(np.full((32, 32), 40_000, np.uint16)), "PNG"),
            errors.UnsupportedMedia,
            "PROVREG_MAX_BITS_PER_SAMPLE",
        ),
    ],
)
def test_each_limit_names_its_setting(
    tmp_path: Path, limits: dict[str, int], content: bytes, error: type[errors.RegistryError], setting: str
) -> None:
    with pytest.raises(error, match=setting):
        decode_with(content, media_limits(_settings(tmp_path, **limits)))
    assert decode_with(content, media_limits(_settings(tmp_path))).media.pixels.size > 0


def test_limits_are_read_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVREG_MAX_DECODED_BYTES", "1234")
    monkeypatch.setenv("PROVREG_MAX_BITS_PER_SAMPLE", "8")
    monkeypatch.setenv("PROVREG_MAX_JPEG_SCANS", "7")
    settings = _settings(tmp_path)
    assert (settings.max_decoded_bytes, settings.max_bits_per_sample, settings.max_jpeg_scans) == (1234, 8, 7)


@pytest.mark.slow
@pytest.mark.parametrize("size", [(1, 600), (600, 1), (2, 1000), (1000, 2), (1, 1)])
def test_images_one_or_two_pixels_thick_register_and_check(
    registry: Registry, publisher: PublisherHandle, size: tuple[int, int]
) -> None:
    """Such images have no ORB keypoints; feature extraction used to fail an OpenCV assertion (a 500)."""
    rng = np.random.default_rng(sum(size))
    content = encode(Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)), "PNG")
    registration_id = _register(registry, publisher, content)
    with registry.session() as session:
        result = matching.check(session=session, registry=registry, content=content)
    assert registration_id in {m.registration_id for m in result.matches}


def test_same_bytes_registered_by_several_publishers_at_once(registry: Registry) -> None:
    """Pool footage: every publisher's registration of the same bytes succeeds, even all at the same moment."""
    content = encode(photo("chelsea"), "JPEG", quality=88)
    publishers = [make_publisher(registry, f"Agency {n}") for n in range(6)]
    barrier = threading.Barrier(len(publishers))

    def register(publisher: PublisherHandle) -> str:
        barrier.wait()
        return _register(registry, publisher, content)

    with ThreadPoolExecutor(len(publishers)) as pool:
        ids = list(pool.map(register, publishers))
    assert len(set(ids)) == len(publishers)
    with registry.session() as session:
        result = matching.check(session=session, registry=registry, content=content)
    assert set(ids) <= {m.registration_id for m in result.matches}
