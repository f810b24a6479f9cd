"""The registry service against a real SQLite database, content store and faiss index."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from conftest import PHOTOS, PublisherHandle, encode, make_publisher, photo, photo_bytes
from PIL import Image, ImageOps

from api.client import LocalTransport, SignedStatement, sign_statement
from registry import errors, matching, publishers, service
from registry.runtime import Registry
from registry.statements import format_timestamp

pytestmark = pytest.mark.backends  # every test on SQLite and on PostgreSQL


def _register(registry: Registry, publisher: PublisherHandle, data: bytes, /, **overrides):  # type: ignore[no-untyped-def]
    """Register `data` with a statement whose fields `overrides` replace, signed with the publisher's key."""
    request = sign_statement(publisher.private_key, publisher.statement(data, **overrides))
    return LocalTransport(registry).register(request, data)


def _check(registry: Registry, content: bytes):  # type: ignore[no-untyped-def]
    with registry.session() as session:
        return matching.check(session=session, registry=registry, content=content)


def test_registration_is_stored_signed_and_matchable(registry: Registry, publisher: PublisherHandle) -> None:
    content = photo_bytes("rocket")
    registration = _register(registry, publisher, content)
    assert registration.publisher.id == publisher.id and registration.publisher.verified
    assert registration.content.sha256 == registration.statement["content"]["sha256"]
    assert registry.store.get(registration.content.sha256) == content
    with registry.session() as session:
        fetched = service.get_registration(session=session, registration_id=registration.id)
    assert fetched.model_dump() == registration.model_dump(exclude={"receipt"})
    result = _check(registry, content)
    assert result.verdict == "copy"
    assert result.matches[0].registration_id == registration.id and result.matches[0].exact


def test_tampered_statement_is_rejected(registry: Registry, publisher: PublisherHandle) -> None:
    content = photo_bytes("rocket")
    request = sign_statement(publisher.private_key, publisher.statement(content))
    tampered = {**request.statement, "metadata": {"title": "President announces surrender"}}
    with pytest.raises(errors.InvalidSignature):
        LocalTransport(registry).register(SignedStatement(tampered, json.dumps(tampered), request.signature), content)


def test_wrong_key_is_rejected(registry: Registry, publisher: PublisherHandle) -> None:
    other = make_publisher(registry, "Impostor")
    content = photo_bytes("rocket")
    transport = LocalTransport(registry)
    with pytest.raises(errors.InvalidSignature):  # right publisher named, wrong key used
        transport.register(sign_statement(other.private_key, publisher.statement(content)), content)
    # naming another publisher's key in the statement does not help either
    statement = publisher.statement(content, key_id=other.key_id)
    with pytest.raises(errors.InvalidStatement, match="not a key of this publisher"):
        transport.register(sign_statement(other.private_key, statement), content)


def test_reused_nonce_is_rejected(registry: Registry, publisher: PublisherHandle) -> None:
    _register(registry, publisher, photo_bytes("rocket"), nonce="replayed-nonce-0123456789")
    with pytest.raises(errors.NonceReused):
        _register(registry, publisher, photo_bytes("coffee"), nonce="replayed-nonce-0123456789")
    # the rejected request left nothing behind
    assert _check(registry, photo_bytes("coffee")).verdict == "unregistered"


def test_api_key_of_another_publisher_is_forbidden(registry: Registry, publisher: PublisherHandle) -> None:
    other = make_publisher(registry, "Other Newsroom")
    content = photo_bytes("rocket")
    statement, signature = publisher.signed(content)
    with registry.session() as session:
        caller = publishers.authenticate(session=session, api_key=other.api_key)
        with pytest.raises(errors.Forbidden, match="belongs to"):
            service.register(
                session=session,
                registry=registry,
                statement=statement,
                signature=signature,
                content=content,
                caller=caller,
            )
        with pytest.raises(errors.Unauthenticated):
            publishers.authenticate(session=session, api_key="prk_wrong")


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"created_at": format_timestamp(datetime.now(UTC) - timedelta(hours=2))}, errors.InvalidStatement, "older"),
        ({"created_at": format_timestamp(datetime.now(UTC) + timedelta(hours=2))}, errors.InvalidStatement, "future"),
        ({"content": {"sha256": "00" * 32, "media_type": "image/jpeg", "size": 5}}, errors.InvalidStatement, "match"),
        ({"media_type": "image/png"}, errors.InvalidStatement, "the file is image/jpeg"),
        ({"publisher_id": "pub_unknown"}, errors.InvalidStatement, "unknown publisher"),
    ],
)
def test_inconsistent_statements_are_rejected(
    registry: Registry, publisher: PublisherHandle, overrides: dict, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        _register(registry, publisher, photo_bytes("rocket"), **overrides)


def test_expired_publisher_cannot_register(registry: Registry, publisher: PublisherHandle) -> None:
    later = datetime.now(UTC) + timedelta(days=31)
    content = photo_bytes("rocket")
    request = sign_statement(publisher.private_key, publisher.statement(content, created_at=format_timestamp(later)))
    with registry.session() as session, pytest.raises(errors.Forbidden, match="expired"):
        service.register(
            session=session,
            registry=registry,
            statement=request.text,
            signature=request.signature,
            content=content,
            now=later,
        )


def test_same_bytes_twice_name_the_first_registration(registry: Registry, publisher: PublisherHandle) -> None:
    first = _register(registry, publisher, photo_bytes("rocket"))
    with pytest.raises(errors.AlreadyRegistered) as caught:
        _register(registry, publisher, photo_bytes("rocket"))
    assert caught.value.details["registration_id"] == first.id
    # another publisher may hold the same footage (pool footage): both are reported
    other = make_publisher(registry, "Pool Agency")
    second = _register(registry, other, photo_bytes("rocket"))
    assert {m.registration_id for m in _check(registry, photo_bytes("rocket")).matches} == {first.id, second.id}


@pytest.mark.slow
def test_bad_media_is_refused_with_the_right_error(registry: Registry, publisher: PublisherHandle) -> None:
    with pytest.raises(errors.UnsupportedMedia):
        _check(registry, b"plain text, not an image")
    with pytest.raises(errors.CorruptMedia):
        _check(registry, photo_bytes("coffee")[:3000])
    with pytest.raises(errors.InvalidRequest, match="empty"):
        _check(registry, b"")


TRANSFORMS: dict[str, Callable[[Image.Image], bytes]] = {
    "jpeg-q30": lambda im: encode(im, "JPEG", quality=30),
    "resize-0.5": lambda im: encode(im.resize((im.width // 2, im.height // 2)), "JPEG", quality=85),
    "flip": lambda im: encode(ImageOps.mirror(im), "PNG"),
    "rotate-90": lambda im: encode(im.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=85),
    "grayscale": lambda im: encode(ImageOps.grayscale(im), "JPEG", quality=85),
    "webp": lambda im: encode(im, "WEBP", quality=60),
}


@pytest.fixture
def catalogue(registry: Registry, publisher: PublisherHandle) -> dict[str, str]:
    return {name: _register(registry, publisher, photo_bytes(name)).id for name in PHOTOS[:3]}


@pytest.mark.slow
@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("name", PHOTOS[:3])
def test_transformed_copies_match_the_right_original(
    registry: Registry, catalogue: dict[str, str], name: str, transform: str
) -> None:
    result = _check(registry, TRANSFORMS[transform](photo(name)))
    assert result.verdict == "copy"
    assert [m.registration_id for m in result.matches] == [catalogue[name]]
    assert not result.matches[0].exact and 0 < result.matches[0].score <= 1


def test_unrelated_photo_is_unregistered(registry: Registry, catalogue: dict[str, str]) -> None:
    result = _check(registry, photo_bytes("rocket"))  # not in the catalogue
    assert result.verdict == "unregistered" and result.matches == []


def test_flat_query_only_matches_exact_bytes(registry: Registry, publisher: PublisherHandle) -> None:
    flat = np.full((120, 160, 3), 200, dtype=np.uint8)
    flat[:, 80:] = 201
    content = encode(Image.fromarray(flat), "PNG")
    _register(registry, publisher, content)
    exact = _check(registry, content)
    assert exact.verdict == "copy" and exact.matches[0].exact and exact.warnings[0].startswith("low_quality")
    near = _check(registry, encode(Image.fromarray(flat), "JPEG", quality=90))
    assert near.verdict == "unregistered" and near.warnings


def test_lookup_by_every_algorithm(registry: Registry, publisher: PublisherHandle) -> None:
    registration = _register(registry, publisher, photo_bytes("chelsea"))
    fingerprints = registration.fingerprints
    with registry.session() as session:
        for alg, value in (
            ("pdq", fingerprints.pdq),
            ("phash", fingerprints.phash),
            ("dhash", fingerprints.dhash),
            ("sha256", registration.content.sha256),
        ):
            result = matching.lookup(session=session, registry=registry, alg=alg, value=value.upper())
            assert [(m.registration_id, m.distance) for m in result.matches] == [(registration.id, 0)]
        flipped = f"{int(fingerprints.pdq[0], 16) ^ 0xF:x}" + fingerprints.pdq[1:]  # 4 bits away
        result = matching.lookup(session=session, registry=registry, alg="pdq", value=flipped, max_distance=4)
        assert result.matches[0].distance == 4
        assert (
            matching.lookup(session=session, registry=registry, alg="pdq", value=flipped, max_distance=3).matches == []
        )
        for alg, value, max_distance, message in (
            ("md5", "00", None, "unknown algorithm"),
            ("pdq", "abc", None, "64 hexadecimal"),
            ("phash", "zz" * 8, None, "16 hexadecimal"),
            ("pdq", fingerprints.pdq, 65, "between 0 and 64"),
            ("sha256", "00", None, "64 hexadecimal"),
        ):
            with pytest.raises(errors.InvalidRequest, match=message):
                matching.lookup(session=session, registry=registry, alg=alg, value=value, max_distance=max_distance)


def test_publisher_creation_rules(registry: Registry, publisher: PublisherHandle) -> None:
    with registry.session() as session:
        with pytest.raises(errors.Conflict, match="already exists"):
            make_publisher(registry, "Daily Planet")
        with pytest.raises(errors.InvalidRequest, match="32 bytes"):
            publishers.create_publisher(
                session=session,
                registry=registry,
                name="Short Key",
                public_key=b"123",
                verification=publishers.Verification("m", "e", "v", None),
            )
        view = publishers.get_publisher(session=session, publisher_id=publisher.id)
        assert view.key_id == publisher.key_id and view.verified
        with pytest.raises(errors.NotFound):
            publishers.get_publisher(session=session, publisher_id="pub_nope")
