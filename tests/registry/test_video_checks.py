"""Video through the registry: registered footage indexed by frame and time, clips checked against it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import cv2
import pytest
from conftest import encode as encode_image
from conftest import make_publisher
from PIL import Image
from videoclips import DOCTORED, EXCERPT, ORIGINAL, UNRELATED, original_frame
from videoclips import encode as encode_clip

from api.client import LocalTransport
from fingerprint.video.wholehash import videohash
from registry import matching, service, views
from registry.runtime import Registry
from registry.settings import Settings


def _check(registry: Registry, content: bytes, **kwargs: object) -> views.CheckView:
    with registry.session() as session:
        return matching.check(session=session, registry=registry, content=content, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def footage(register: Callable[[bytes], str]) -> str:
    return register(encode_clip(ORIGINAL))


@pytest.mark.slow
def test_an_excerpt_is_a_copy_of_its_segment_and_a_doctored_one_is_altered(registry: Registry, footage: str) -> None:
    copy = _check(registry, encode_clip(EXCERPT))
    assert copy.kind == "video" and copy.media_type == "video/mp4" and copy.verdict == "copy"
    (match,) = copy.matches
    (segment,) = match.segments
    assert match.registration_id == footage and match.spans == [] and match.matched_share == 1.0
    assert abs(segment.original_start - 5.0) <= 0.25 and abs(segment.original_end - 11.0) <= 0.25
    # 6 s sampled at 4 fps on a spread grid (`fingerprint.video.decode.sample`): 24 ticks, give or take the last
    assert 23 <= len(match.profile) <= 24 and all(point.distance is not None for point in match.profile)

    altered = _check(registry, encode_clip(DOCTORED))
    assert altered.verdict == "altered"
    (match,) = altered.matches
    (span,) = match.spans
    assert span.kind == "altered" and abs(span.start - 2.0) <= 0.3 and abs(span.end - 4.0) <= 0.3
    assert span.regions and match.regions == span.regions
    assert _check(registry, encode_clip(DOCTORED), mode="fast").verdict == "copy"  # fast mode sees frame hits only


@pytest.mark.slow
def test_unrelated_footage_and_a_still_photo_are_unregistered(registry: Registry, footage: str) -> None:
    assert _check(registry, encode_clip(UNRELATED)).verdict == "unregistered"
    # the middle frame is the video's poster: its image hashes name the video, but a photo is not footage
    still = cv2.resize(original_frame(10.0), (320, 180))
    view = _check(registry, encode_image(Image.fromarray(still), "PNG"))
    assert view.kind == "image" and view.verdict == "unregistered"


@pytest.mark.slow
def test_the_frame_index_is_rebuilt_from_the_database(settings: Settings, registry: Registry, footage: str) -> None:
    frames = registry.index.stats()["hashes_pdq_frame"]
    assert frames == 80  # 40 sampled frames, upright and as a portrait crop
    registry.close()
    reopened = Registry.open(settings)
    reopened.load()
    try:
        assert reopened.index.stats()["hashes_pdq_frame"] == frames
        assert _check(reopened, encode_clip(EXCERPT)).verdict == "copy"
        with reopened.session() as session:
            view = service.get_registration(session=session, registration_id=footage)
        assert view.fingerprints.kind == "video" and (view.fingerprints.width, view.fingerprints.height) == (320, 180)
        assert view.content.media_type == "video/mp4"
    finally:
        reopened.close()


@pytest.mark.slow
def test_a_whole_video_re_encoded_is_found_by_its_videohash(registry: Registry, footage: str) -> None:
    recoded = dataclasses.replace(ORIGINAL, width=256, height=144, crf=35)
    value = videohash(encode_clip(recoded)).hex()
    with registry.session() as session:
        found = matching.lookup(session=session, registry=registry, alg="videohash", value=value)
        assert [(m.registration_id, m.distance) for m in found.matches] == [(footage, 0)]
        excerpt = videohash(encode_clip(EXCERPT)).hex()
        assert matching.lookup(session=session, registry=registry, alg="videohash", value=excerpt).matches == []


@pytest.mark.slow
def test_later_copies_of_footage_never_push_out_the_first(settings: Settings) -> None:
    """Frame-hit candidates are grouped like photos (tests/registry/test_first_registrant.py): with one match
    reported, later copies by another publisher leave the first registrant first, and name it."""
    registry = Registry.open(settings.model_copy(update={"max_matches": 1}))
    registry.load()
    try:
        footage = dataclasses.replace(ORIGINAL, duration=4.0)
        newsroom = make_publisher(registry, "Daily Planet").client(LocalTransport(registry))
        first = newsroom.register(encode_clip(footage), {"title": "footage"}).id
        copier = make_publisher(registry, "Copy Desk").client(LocalTransport(registry))
        copies = [encode_clip(footage), encode_clip(dataclasses.replace(footage, crf=32))]
        later = [copier.register(content, {"title": "copy"}) for content in copies]
        assert [[(p.registration_id, p.exact) for p in copy.prior_registrations] for copy in later] == [
            [(first, True)],
            [(first, False)],
        ]
        excerpt = encode_clip(dataclasses.replace(EXCERPT, duration=3.0, offset=0.5))
        for mode in ("full", "fast"):
            assert [m.registration_id for m in _check(registry, excerpt, mode=mode).matches] == [first], mode
    finally:
        registry.close()
