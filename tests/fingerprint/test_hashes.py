from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fingerprint.hashes import HashValue


@given(st.binary(min_size=1, max_size=64))
def test_hex_round_trip(data: bytes) -> None:
    value = HashValue(data)
    assert HashValue.from_hex(value.hex()) == value
    assert HashValue.from_hex(value.hex().upper()) == value
    assert str(value) == value.hex() == data.hex()


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_distance_is_hamming_and_symmetric(a: bytes, b: bytes) -> None:
    expected = sum(bin(x ^ y).count("1") for x, y in zip(a, b, strict=True))
    assert HashValue(a).distance(HashValue(b)) == expected == HashValue(b).distance(HashValue(a))


def test_from_bits_is_msb_first() -> None:
    bits = np.zeros(16, dtype=np.uint8)
    bits[0] = 1
    bits[15] = 1
    assert HashValue.from_bits(bits).hex() == "8001"


@pytest.mark.parametrize("bad", ["abc", "zz", ""])
def test_rejects_bad_hex(bad: str) -> None:
    with pytest.raises(ValueError):
        HashValue.from_hex(bad)


def test_distance_between_lengths_is_an_error() -> None:
    with pytest.raises(ValueError, match="64-bit"):
        HashValue(b"\0" * 32).distance(HashValue(b"\0" * 8))


def test_value_is_frozen_and_hashable() -> None:
    value = HashValue(b"\x01")
    with pytest.raises(AttributeError):
        value.data = b"\x02"  # type: ignore[misc]
    assert {value, HashValue(b"\x01")} == {value}
