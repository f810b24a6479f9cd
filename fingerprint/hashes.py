"""The one hash value type every fingerprint algorithm returns.

>>> a = HashValue.from_hex("f0")
>>> a.hex(), a.bits, a.distance(HashValue.from_hex("0f"))
('f0', 8, 8)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class HashValue:
    """A fixed-length binary hash: raw bytes inside, lowercase hex at every boundary.

    Bit order is most-significant bit first, the order PDQ's and imagehash's hex strings use, so values
    interoperate with ThreatExchange and imagehash.
    """

    data: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes) or not self.data:
            raise ValueError("a hash value needs at least one byte")

    @classmethod
    def from_hex(cls, text: str) -> HashValue:
        text = text.strip().lower()
        if len(text) % 2:
            raise ValueError(f"hex hash must have an even number of digits, got {len(text)}")
        try:
            return cls(bytes.fromhex(text))
        except ValueError:
            raise ValueError("hash is not valid hexadecimal") from None

    @classmethod
    def from_bits(cls, bits: np.ndarray) -> HashValue:
        """Pack a 0/1 vector (MSB first), as pdqhash returns it."""
        return cls(np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes())

    @property
    def bits(self) -> int:
        return len(self.data) * 8

    def hex(self) -> str:
        return self.data.hex()

    def to_array(self) -> np.ndarray:
        """The value as a uint8 row, the layout faiss binary indexes take."""
        return np.frombuffer(self.data, dtype=np.uint8)

    def distance(self, other: HashValue) -> int:
        """Hamming distance; comparing hashes of different lengths is a programming error."""
        if len(self.data) != len(other.data):
            raise ValueError(f"cannot compare a {self.bits}-bit hash with a {other.bits}-bit hash")
        return (int.from_bytes(self.data, "big") ^ int.from_bytes(other.data, "big")).bit_count()

    def __str__(self) -> str:
        return self.hex()
