from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from registry.errors import InvalidSignature, InvalidStatement
from registry.keys import raw_public_key
from registry.statements import (
    REGISTRATION_DOMAIN,
    RegistrationStatement,
    canonical_json,
    parse_statement,
    parse_strict_json,
    sign,
    verify,
)

# JSON values canonical JSON carries unambiguously: no floats, integers within 2**53.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=6)


@given(json_objects)
def test_canonical_json_is_a_fixed_point(obj: dict[str, Any]) -> None:
    canonical = canonical_json(obj)
    assert parse_strict_json(canonical) == obj
    assert canonical_json(parse_strict_json(canonical)) == canonical


@given(json_objects)
def test_canonical_json_ignores_formatting_and_key_order(obj: dict[str, Any]) -> None:
    spaced = json.dumps(dict(reversed(list(obj.items()))), indent=3)
    assert canonical_json(parse_strict_json(spaced)) == canonical_json(obj)


def test_canonical_json_known_value() -> None:
    assert canonical_json({"b": [1, True, None], "a": "é"}) == '{"a":"é","b":[1,true,null]}'.encode()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"a": 1.5}', "floating-point"),
        ('{"a": 1e3}', "floating-point"),
        ('{"a": NaN}', "floating-point"),
        ('{"a": Infinity}', "floating-point"),
        ('{"a": 1, "a": 2}', "duplicate key"),
        ('{"a": 9007199254740993}', "too large"),
        ("[1, 2]", "must be a JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_strict_parser_rejects_ambiguous_json(raw: str, message: str) -> None:
    with pytest.raises(InvalidStatement, match=message):
        parse_strict_json(raw)


def _statement(**overrides: Any) -> dict[str, Any]:
    statement = {
        "type": "registration",
        "publisher_id": "pub_1",
        "key_id": "ab" * 32,
        "content": {"sha256": "cd" * 32, "media_type": "image/jpeg", "size": 10},
        "metadata": {"title": "t", "custom": {"n": 1}},
        "created_at": "2026-01-31T12:00:00Z",
        "nonce": "n" * 24,
    }
    statement.update(overrides)
    return statement


def test_valid_statement_parses_and_keeps_unknown_metadata() -> None:
    claim, signed = parse_statement(json.dumps(_statement()), RegistrationStatement)
    assert claim.content.size == 10 and claim.metadata.model_extra == {"custom": {"n": 1}}
    assert signed == _statement()


@pytest.mark.parametrize(
    "overrides",
    [
        {"type": "revocation"},
        {"created_at": "2026-01-31 12:00:00"},
        {"created_at": "2026-01-31T12:00:00+01:00"},
        {"nonce": "short"},
        {"key_id": "XY" * 32},
        {"content": {"sha256": "cd" * 32, "media_type": "image/jpeg", "size": "10"}},
        {"content": {"sha256": "cd" * 32, "media_type": "image/jpeg", "size": 0}},
        {"unexpected": True},
    ],
)
def test_invalid_statements_are_rejected(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidStatement):
        parse_statement(json.dumps(_statement(**overrides)), RegistrationStatement)


def test_signature_round_trip_and_tampering() -> None:
    key = Ed25519PrivateKey.generate()
    statement = _statement()
    signature = sign(key, REGISTRATION_DOMAIN, statement)
    verify(raw_public_key(key), REGISTRATION_DOMAIN, statement, signature)

    tampered = _statement(metadata={"title": "something else"})
    with pytest.raises(InvalidSignature, match="does not verify"):
        verify(raw_public_key(key), REGISTRATION_DOMAIN, tampered, signature)
    with pytest.raises(InvalidSignature, match="does not verify"):
        verify(raw_public_key(Ed25519PrivateKey.generate()), REGISTRATION_DOMAIN, statement, signature)
    with pytest.raises(InvalidSignature, match="does not verify"):
        verify(raw_public_key(key), b"other/domain\n", statement, signature)
    with pytest.raises(InvalidSignature, match="base64"):
        verify(raw_public_key(key), REGISTRATION_DOMAIN, statement, "!!!")
    with pytest.raises(InvalidSignature, match="64 bytes"):
        verify(raw_public_key(key), REGISTRATION_DOMAIN, statement, "AAAA")
