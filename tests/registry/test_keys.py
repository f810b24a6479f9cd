"""Ed25519 key and signature hygiene: small-order and non-canonical keys, non-canonical S, wherever they enter.

The byte strings are the well-known ones (libsodium's blocklist, "Taming the many EdDSAs"): with such a key,
OpenSSL verifies the signature `R = identity, S = 0` for any message at all.
"""

from __future__ import annotations

import base64
import json

import pytest
from conftest import PublisherHandle, photo_bytes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from api.client import new_statement
from registry import errors, publishers, service
from registry.keys import check_public_key, check_signature, key_id, public_key_from_raw, raw_public_key
from registry.log.note import NoteError, Signer, Verifier, open_note
from registry.log.receipts import receipt_json, verify_receipt
from registry.runtime import Registry
from registry.statements import DOMAINS, REGISTRATION_DOMAIN, sign, verify

IDENTITY = bytes.fromhex("01" + "00" * 31)
SMALL_ORDER = {
    "identity (order 1)": IDENTITY,
    "y = -1 (order 2)": bytes.fromhex("ec" + "ff" * 30 + "7f"),
    "all zero (order 4)": bytes(32),
    "y = 0, x negative (order 4)": bytes.fromhex("00" * 31 + "80"),
    "order 8 (a)": bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    "order 8 (a, x negative)": bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
    "order 8 (b)": bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    "order 8 (b, x negative)": bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
}
NON_CANONICAL = {
    "identity with the sign bit": bytes.fromhex("01" + "00" * 30 + "80"),
    "y = -1 with the sign bit": bytes.fromhex("ec" + "ff" * 31),
    "y = p (zero)": bytes.fromhex("ed" + "ff" * 30 + "7f"),
    "y = p with the sign bit": bytes.fromhex("ed" + "ff" * 31),
    "y = p + 1 (identity)": bytes.fromhex("ee" + "ff" * 30 + "7f"),
    "y = p + 1 with the sign bit": bytes.fromhex("ee" + "ff" * 31),
    "all 0xFF": b"\xff" * 32,
}
# A real key (private scalar from seed 00 01 .. 1f) plus the order-8 point (a): verifies like the real key for
# cofactored verifiers, differently for others.
MIXED_ORDER = bytes.fromhex("b154bd62188ae283dd187fefe8c31f5e276edf083b4cff11c9d5cff856c74440")
NOT_ON_CURVE = bytes.fromhex("02" + "00" * 31)
FORGED = IDENTITY + bytes(32)  # R = identity, S = 0
L = 2**252 + 27742317777372353535851937790883648493


def _non_canonical_s(signature: bytes) -> bytes:
    """The same signature with S + L: OpenSSL's arithmetic mod L would accept it as a second encoding."""
    return signature[:32] + (int.from_bytes(signature[32:], "little") + L).to_bytes(32, "little")


def test_openssl_alone_accepts_the_forgery() -> None:
    """Why the checks exist: without them, the identity key verifies the forged signature on any message."""
    key = Ed25519PublicKey.from_public_bytes(IDENTITY)
    key.verify(FORGED, b"any message")
    key.verify(FORGED, b"another message")


@pytest.mark.parametrize("raw", SMALL_ORDER.values(), ids=SMALL_ORDER.keys())
def test_small_order_keys_are_refused(raw: bytes) -> None:
    with pytest.raises(errors.InvalidRequest, match=r"small-order point|identity point"):
        public_key_from_raw(raw)


@pytest.mark.parametrize("raw", NON_CANONICAL.values(), ids=NON_CANONICAL.keys())
def test_non_canonical_keys_are_refused(raw: bytes) -> None:
    with pytest.raises(errors.InvalidRequest, match="not canonically encoded"):
        public_key_from_raw(raw)


def test_mixed_order_off_curve_and_short_keys_are_refused() -> None:
    for raw, message in (
        (MIXED_ORDER, "small-order component"),
        (NOT_ON_CURVE, "not a point on the Ed25519 curve"),
        (b"123", "32 bytes"),
    ):
        with pytest.raises(errors.InvalidRequest, match=message):
            public_key_from_raw(raw)


def test_generated_keys_and_their_signatures_are_accepted() -> None:
    for seed in range(50):
        private = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
        check_public_key(raw_public_key(private))
        check_signature(private.sign(b"message"))


def test_non_canonical_s_is_refused() -> None:
    private = Ed25519PrivateKey.generate()
    statement = {"type": "registration", "n": 1}
    signature = base64.b64decode(sign(private, REGISTRATION_DOMAIN, statement))
    with pytest.raises(ValueError, match="S is not canonical"):
        check_signature(_non_canonical_s(signature))
    bad = base64.b64encode(_non_canonical_s(signature)).decode()
    with pytest.raises(errors.InvalidSignature, match="S is not canonical"):
        verify(raw_public_key(private), REGISTRATION_DOMAIN, statement, bad)


def test_statement_verification_refuses_a_small_order_key() -> None:
    """A key stored before this check (or handed to `verify` by any other path) cannot vouch for anything."""
    with pytest.raises(errors.InvalidRequest, match="identity point"):
        verify(IDENTITY, REGISTRATION_DOMAIN, {"any": "statement"}, base64.b64encode(FORGED).decode())


@pytest.mark.parametrize("raw", [IDENTITY, bytes(32), b"\xff" * 32], ids=["identity", "all-zero", "all-0xff"])
def test_publisher_creation_refuses_weak_keys(registry: Registry, raw: bytes) -> None:
    with registry.session() as session, pytest.raises(errors.InvalidRequest, match="unusable Ed25519 public key"):
        publishers.create_publisher(
            session=session,
            registry=registry,
            name="Weak Key",
            public_key=raw,
            verification=publishers.Verification("m", "e", "v", None),
        )


def test_rotation_to_the_identity_key_is_refused(registry: Registry, publisher: PublisherHandle) -> None:
    """The attack from the probe: rotate to the identity key with the forged signature, then sign anything."""
    statement = new_statement(
        {
            "type": "key_rotation",
            "publisher_id": publisher.id,
            "old_key_id": publisher.key_id,
            "new_public_key": base64.b64encode(IDENTITY).decode(),
        }
    )
    with registry.session() as session:
        with pytest.raises(errors.InvalidRequest, match="identity point"):
            publishers.rotate_key(
                session=session,
                registry=registry,
                statement=json.dumps(statement),
                old_signature=sign(publisher.private_key, DOMAINS["key_rotation"], statement),
                new_signature=base64.b64encode(FORGED).decode(),
            )
        view = publishers.get_publisher(session=session, publisher_id=publisher.id)
    assert view.key_id == publisher.key_id  # nothing changed
    content = photo_bytes("rocket")
    forged = publisher.statement(content, key_id=key_id(IDENTITY))
    with registry.session() as session, pytest.raises(errors.InvalidStatement, match="not a key of this publisher"):
        service.register(
            session=session,
            registry=registry,
            statement=json.dumps(forged),
            signature=base64.b64encode(FORGED).decode(),
            content=content,
        )


def test_offline_receipt_with_a_forged_identity_key_fails(registry: Registry, publisher: PublisherHandle) -> None:
    content = photo_bytes("rocket")
    statement, signature = publisher.signed(content)
    with registry.session() as session:
        receipt = service.register(
            session=session, registry=registry, statement=statement, signature=signature, content=content
        ).receipt
    receipt["entry"] |= {
        "public_key": base64.b64encode(IDENTITY).decode(),
        "key_id": key_id(IDENTITY),
        "signature": base64.b64encode(FORGED).decode(),
    }
    with pytest.raises(errors.VerificationFailed, match=r"publisher signature: .*identity point"):
        verify_receipt(receipt_json(receipt), registry.keyring.verifiers)


def test_note_verifier_refuses_weak_keys_and_non_canonical_s() -> None:
    for raw in (*SMALL_ORDER.values(), *NON_CANONICAL.values(), MIXED_ORDER):
        with pytest.raises(NoteError, match=r"verifier key example\.com/log"):
            Verifier("example.com/log", raw)
    with pytest.raises(NoteError, match="identity point"):
        Verifier.from_vkey("example.com/log+00000000+" + base64.b64encode(bytes([1]) + IDENTITY).decode())

    signer = Signer("example.com/log", Ed25519PrivateKey.generate())
    text = "example.com/log\n1\n" + base64.b64encode(bytes(32)).decode() + "\n"
    line = signer.sign(text)
    open_note(text + "\n" + line, [signer.verifier])
    raw = base64.b64decode(line.split(" ")[-1])
    tampered = raw[:4] + _non_canonical_s(raw[4:])
    forged_line = line.rsplit(" ", 1)[0] + " " + base64.b64encode(tampered).decode() + "\n"
    with pytest.raises(NoteError, match="does not verify"):
        open_note(text + "\n" + forged_line, [signer.verifier])
