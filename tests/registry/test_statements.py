from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from registry.errors import InvalidSignature, InvalidStatement
from registry.keys import raw_public_key
from registry.settings import Settings
from registry.statements import (
    REGISTRATION_DOMAIN,
    DocumentLimits,
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


@pytest.mark.slow
@given(json_objects)
def test_canonical_json_is_a_fixed_point(obj: dict[str, Any]) -> None:
    canonical = canonical_json(obj)
    assert parse_strict_json(canonical) == obj
    assert canonical_json(parse_strict_json(canonical)) == canonical


@pytest.mark.slow
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


# --- bounded documents ------------------------------------------------------------------------------------------

LIMITS = DocumentLimits()


def _nested(levels: int) -> str:
    """A statement whose metadata brings the whole document to `levels` levels of nesting."""
    return '{"metadata":' + '{"a":' * (levels - 2) + "{}" + "}" * (levels - 2) + "}"


def _at_limit(name: str, value: int) -> str:
    """A document exactly `value` large by the measure of limit `name`."""
    if name == "max_bytes":
        return '{"a":1' + " " * (value - 7) + "}"
    if name == "max_depth":
        return _nested(value)
    if name == "max_object_keys":
        return json.dumps({f"k{i}": 0 for i in range(value)})
    if name == "max_keys":  # groups of at most 200 keys, each group's own key counted too
        groups: dict[str, dict[str, int]] = {}
        remaining = value
        while remaining:
            size = min(200, remaining - 1)
            groups[f"g{len(groups)}"] = {f"k{i}": 0 for i in range(size)}
            remaining -= size + 1
        return json.dumps(groups)
    if name == "max_string_length":
        return json.dumps({"s": "\u00e9" * value})  # escaped on the wire, counted as characters
    if name == "max_array_length":
        return json.dumps({"a": [0] * value})
    if name == "max_integer_digits":
        return '{"n":' + "1" + "0" * (value - 1) + "}"
    raise AssertionError(name)


@pytest.mark.parametrize("name", [field.name for field in dataclasses.fields(DocumentLimits)])
def test_every_limit_admits_its_value_and_names_itself_one_beyond(name: str) -> None:
    value = getattr(LIMITS, name)
    at_limit = _at_limit(name, value)
    parse_strict_json(at_limit, LIMITS)
    with pytest.raises(InvalidStatement, match=f"limit is {value} \\(PROVREG_STATEMENT_{name.upper()}\\)") as raised:
        parse_strict_json(_at_limit(name, value + 1), LIMITS)
    assert raised.value.details == {"limit": name, "limit_value": value}


def test_limits_come_from_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, statement_max_depth=5, statement_max_string_length=200)
    limits = DocumentLimits.from_settings(settings)
    assert (limits.max_depth, limits.max_string_length, limits.max_bytes) == (5, 200, LIMITS.max_bytes)
    parse_strict_json(_nested(5), limits)
    with pytest.raises(InvalidStatement, match="PROVREG_STATEMENT_MAX_DEPTH"):
        parse_strict_json(_nested(6), limits)


@pytest.mark.parametrize("levels", [300, 1000, 30_000])
def test_deep_metadata_is_refused_before_parsing(levels: int) -> None:
    """Issue 8, defect 2: 300 levels parsed (then failed to render for ever), 1000 raised RecursionError."""
    statement = _statement()
    text = json.dumps(statement).replace('"custom": {"n": 1}', '"deep": ' + "[" * levels + "]" * levels)
    with pytest.raises(InvalidStatement, match="nests objects and arrays deeper; the limit is 32"):
        parse_statement(text, RegistrationStatement)


def test_a_5000_digit_integer_is_refused_not_crashed() -> None:
    """Issue 8, defect 5: Python's int-string limit (4,300 digits) raised ValueError, a 500."""
    text = json.dumps(_statement()).replace('"n": 1', '"n": ' + "7" * 5000)
    with pytest.raises(InvalidStatement, match="number with more digits; the limit is 16"):
        parse_statement(text, RegistrationStatement)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": "\xff"}', "not valid UTF-8"),
        ('{"a": "' + "[" * 5000, "not valid JSON"),  # brackets inside a string that never ends are not nesting
        ('{"a": "\\"' * 5000, "not valid JSON"),
        ('{"a": 1' + "".join(f', "b{i}": 2' for i in range(100)) + ', "a": 3}', "duplicate key 'a'"),
        ('{"a": 1.' + "0" * 5000 + "}", "more digits"),
    ],
)
def test_malformed_documents_get_clear_errors(raw: str | bytes, message: str) -> None:
    with pytest.raises(InvalidStatement, match=message):
        parse_strict_json(raw)
