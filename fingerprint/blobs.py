"""The fixed header of every stored fingerprint blob: magic bytes, a version, then the format's own fields.

One parser for every format, so each refuses a short, foreign or newer blob the same way: a ValueError that names
the format, never a struct.error or garbage decoded from the wrong bytes.
"""

from __future__ import annotations

import struct
from typing import Any


class BlobHeader:
    """`layout` is a struct format starting with the magic (`4s`) and, unless `version` is None (the magic carries
    it), a version byte (`B`); `pack` and `unpack` take and give the fields after those."""

    def __init__(self, what: str, magic: bytes, version: int | None, layout: str) -> None:
        self.what, self.magic, self.version = what, magic, version
        self.layout = struct.Struct(layout)

    @property
    def size(self) -> int:
        return self.layout.size

    def pack(self, *fields: Any) -> bytes:
        prefix = (self.magic,) if self.version is None else (self.magic, self.version)
        return self.layout.pack(*prefix, *fields)

    def unpack(self, blob: bytes) -> tuple[Any, ...]:
        """The fields after magic and version; ValueError when `blob` is not this format at this version."""
        if len(blob) < self.layout.size:
            raise ValueError(f"{self.what} blob is too short")
        magic, *fields = self.layout.unpack_from(blob)
        if magic != self.magic:
            raise ValueError(f"not a {self.what} blob")
        if self.version is not None:
            version = fields.pop(0)
            if version != self.version:
                raise ValueError(f"{self.what} blob version {version} is not supported (expected {self.version})")
        return tuple(fields)
