"""The first registrant is the original: near-copies registered later by someone else never push it out of an answer,
and they carry the earlier registration they repeat."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from conftest import PublisherHandle, encode, make_publisher, photo, photo_bytes
from PIL import Image, ImageOps

from api.client import LocalTransport
from fingerprint.kinds.image import fingerprint_image
from registry import matching, service
from registry.precedence import Prior, prior_rows
from registry.runtime import Registry

pytestmark = pytest.mark.backends  # every test on SQLite and on PostgreSQL

ORIGINAL = "chelsea"


def near_copies(name: str) -> list[bytes]:
    """20 near-copies: the same bytes, 12 one-pixel edits, 7 re-saves."""
    image = photo(name)
    pixels = np.asarray(image).copy()
    edits = []
    for n in range(12):
        edited = pixels.copy()
        y, x = 10 + 20 * n, 15 + 30 * n
        edited[y, x] = 255 - edited[y, x]
        edits.append(encode(Image.fromarray(edited), "PNG"))
    resaves = [encode(image, "JPEG", quality=q) for q in (55, 65, 75, 85, 95)]
    resaves += [encode(image, "PNG"), encode(image, "WEBP", quality=80)]
    return [photo_bytes(name), *edits, *resaves]


DERIVATIVES: dict[str, Callable[[Image.Image], bytes]] = {
    "jpeg-q40": lambda im: encode(im, "JPEG", quality=40),
    "resize-0.6": lambda im: encode(im.resize((im.width * 3 // 5, im.height * 3 // 5)), "JPEG", quality=80),
    "mirrored": lambda im: encode(ImageOps.mirror(im), "JPEG", quality=85),
    "crop-90": lambda im: encode(im.crop((im.width // 20, im.height // 20, im.width * 19 // 20, im.height * 19 // 20))),
}


@pytest.fixture
def flood(registry: Registry, publisher: PublisherHandle) -> tuple[str, list[str]]:
    """The newsroom's original, then 20 near-copies of it registered by another verified publisher."""
    first = publisher.client(LocalTransport(registry)).register(photo_bytes(ORIGINAL), {"title": "original"}).id
    copier = make_publisher(registry, "Copy Desk").client(LocalTransport(registry))
    later = [copier.register(content, {"title": f"copy {n}"}).id for n, content in enumerate(near_copies(ORIGINAL))]
    return first, later


@pytest.mark.slow
def test_twenty_later_near_copies_never_push_out_the_first_registrant(
    registry: Registry, flood: tuple[str, list[str]]
) -> None:
    first, later = flood
    assert registry.settings.max_matches == 10
    queries = {"original": photo_bytes(ORIGINAL)} | {name: make(photo(ORIGINAL)) for name, make in DERIVATIVES.items()}
    with registry.session() as session:
        for name, content in queries.items():
            for mode in ("full", "fast"):
                if mode == "fast" and name == "crop-90":
                    continue  # beyond the strong radius: only the full check finds a crop
                result = matching.check(session=session, registry=registry, content=content, mode=mode)
                ids = [m.registration_id for m in result.matches]
                assert ids[0] == first, (name, mode, ids.index(first) if first in ids else None)
                assert len(ids) == 10 and set(ids[1:]) <= set(later), (name, mode)
                assert result.verdict == "copy" and not result.withdrawn
                # the first registrant names nobody before it; every later copy names it
                assert result.matches[0].prior_registrations == []
                assert all(m.prior_registrations[0].registration_id == first for m in result.matches[1:])
            if name in ("crop-90", "mirrored"):
                continue  # a platform's own hash is searched as given: not flipped, and a crop is too far
            hashes = {"pdq": fingerprint_image(content, max_pixels=10**8, query=True).primary()["pdq"].value.hex()}
            fast = matching.check_hashes(session=session, registry=registry, hashes=hashes)
            assert fast.matches[0].registration_id == first and len(fast.matches) == 10, name
        pdq = service.get_registration(session=session, registration_id=first).fingerprints.pdq
        for limit in (1, 10, 100):
            found = matching.lookup(session=session, registry=registry, alg="pdq", value=pdq, limit=limit)
            assert found.matches[0].registration_id == first and len(found.matches) == min(limit, 21)


@pytest.mark.slow
def test_later_registrations_of_the_same_content_name_the_first(registry: Registry, publisher: PublisherHandle) -> None:
    newsroom = publisher.client(LocalTransport(registry))
    first = newsroom.register(photo_bytes(ORIGINAL), {"title": "original"})
    assert first.prior_registrations == []
    # the same publisher's own edit repeats nobody else; another photograph repeats nothing
    own = newsroom.register(encode(photo(ORIGINAL), "JPEG", quality=70), {"title": "smaller"})
    other = make_publisher(registry, "Copy Desk")
    copier = other.client(LocalTransport(registry))
    unrelated = copier.register(photo_bytes("rocket"), {"title": "rocket"})
    assert own.prior_registrations == [] and unrelated.prior_registrations == []

    same = copier.register(photo_bytes(ORIGINAL), {"title": "the same bytes"})
    resaved = copier.register(near_copies(ORIGINAL)[-3], {"title": "a re-save"})
    prior, also = same.prior_registrations  # the newsroom's original (these bytes), then its own smaller copy
    assert (prior.registration_id, prior.publisher, prior.publisher_id, prior.exact) == (
        first.id,
        "Daily Planet",
        publisher.id,
        True,
    )
    assert (prior.log_index, prior.created_at) == (first.log_index, first.created_at)
    assert (also.registration_id, also.exact) == (own.id, False)
    assert [(p.registration_id, p.exact) for p in resaved.prior_registrations] == [(first.id, False), (own.id, False)]
    with registry.session() as session:
        stored = service.get_registration(session=session, registration_id=resaved.id)
        assert stored.prior_registrations == resaved.prior_registrations
        # the table is derived, not logged: rows the log contradicts (a later "prior", the same publisher's) are
        # never shown
        session.add_all(prior_rows(first.id, [Prior(same.id, True), Prior(own.id, False)]))
        session.commit()
        assert service.get_registration(session=session, registration_id=first.id).prior_registrations == []


def test_a_copy_of_a_withdrawn_original_leads_with_the_withdrawal(
    registry: Registry, publisher: PublisherHandle
) -> None:
    client = publisher.client(LocalTransport(registry))
    first = client.register(photo_bytes(ORIGINAL), {"title": "original"}).id
    revocation = client.revoke_registration(first, "published in error")
    with registry.session() as session:
        for mode in ("full", "fast"):
            view = matching.check(session=session, registry=registry, content=photo_bytes(ORIGINAL), mode=mode)
            # still a copy of it (that is what the file is), but nobody stands behind it now
            assert (view.verdict, view.withdrawn) == ("copy", True)
            assert view.matches[0].revoked and view.matches[0].revocation_log_index == revocation.log_index
        other = matching.check(session=session, registry=registry, content=photo_bytes("rocket"))
        assert (other.verdict, other.withdrawn) == ("unregistered", False)
