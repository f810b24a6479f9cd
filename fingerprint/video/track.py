"""The frame track: one PDQ hash (under a few variants) and quality per sampled frame, with its time.

An original's track is what the registry stores and indexes for it (variants `canonical` and `portrait`: the centred
9:16 crop a platform makes of landscape footage); a query's track holds `identity` and `flip_horizontal` (a mirrored
clip), both from one DCT. Consecutive frames within `PRUNE_DISTANCE` bits of the last kept one are dropped: a static
shot is one entry, and a frame's time then means "from here until the next entry". A check's dense tracks (the
original around a placement, the clip around a span's ends) keep every frame at its own time (`prune=False`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pdqhash

from fingerprint.blobs import BlobHeader
from fingerprint.video.decode import SampledFrame

PRUNE_DISTANCE = 4
REFERENCE_VARIANTS = ("canonical", "portrait")
QUERY_VARIANTS = ("identity", "flip_horizontal")
_HEADER = BlobHeader("frame-track", b"PVT1", None, ">4sI")  # magic (its version in it), then the JSON's length
_CODE_BYTES = 32
_BLOCK_BYTES = 1 << 23  # XOR bytes per block of `distances`
_POPCOUNT = np.array([bin(byte).count("1") for byte in range(256)], dtype=np.uint8)
# one frame's pixels -> its codes in the track's variant order, and its PDQ quality
_Hasher = Callable[[np.ndarray], tuple[list[np.ndarray], int]]


@dataclass(frozen=True, slots=True, eq=False)
class FrameTrack:
    """Sampled frames of one video: `codes[i, v]` is frame i's PDQ under `variants[v]`, `times[i]` in seconds."""

    times: np.ndarray  # (n,) float64, increasing
    codes: np.ndarray  # (n, len(variants), 32) uint8
    qualities: np.ndarray  # (n,) uint8, PDQ quality 0-100
    variants: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.times)

    def at(self, times: np.ndarray) -> np.ndarray:
        """For each time, the index of the entry showing it: the last one at or before it (pruning keeps that)."""
        return np.clip(np.searchsorted(self.times, times, side="right") - 1, 0, len(self.times) - 1)

    def variant(self, name: str) -> np.ndarray:
        return self.codes[:, self.variants.index(name)]

    def to_bytes(self) -> bytes:
        header = json.dumps({"n": len(self), "variants": list(self.variants)}).encode()
        return b"".join(
            (
                _HEADER.pack(len(header)),
                header,
                self.times.astype("<f8").tobytes(),
                self.qualities.astype(np.uint8).tobytes(),
                np.ascontiguousarray(self.codes, dtype=np.uint8).tobytes(),
            )
        )

    @classmethod
    def from_bytes(cls, blob: bytes) -> FrameTrack:
        (size,) = _HEADER.unpack(blob)
        at = _HEADER.size + size
        header = json.loads(blob[_HEADER.size : at])
        n, variants = int(header["n"]), tuple(header["variants"])
        times = np.frombuffer(blob, "<f8", n, at).astype(np.float64)
        at += 8 * n
        qualities = np.frombuffer(blob, np.uint8, n, at).copy()
        at += n
        codes = np.frombuffer(blob, np.uint8, n * len(variants) * _CODE_BYTES, at).reshape(
            n, len(variants), _CODE_BYTES
        )
        return cls(times, codes.copy(), qualities, variants)


def reference_track(
    frames: Iterable[SampledFrame], *, variants: tuple[str, ...] = REFERENCE_VARIANTS, prune: bool = True
) -> FrameTrack:
    """An original's track: each kept frame's PDQ (`canonical`) and the PDQ of its centred portrait crop
    (`portrait`), or only the variants asked for."""
    unknown = set(variants) - set(REFERENCE_VARIANTS)
    if unknown:
        raise ValueError(f"unknown reference variants {sorted(unknown)}")

    def hashes(pixels: np.ndarray) -> tuple[list[np.ndarray], int]:
        quality = 0
        codes = []
        for name in variants:
            code, measured = _pdq(pixels if name == "canonical" else _portrait(pixels))
            codes.append(code)
            quality = measured if name == variants[0] else quality
        return codes, quality

    return _track(frames, hashes, variants, prune=prune)


def query_track(frames: Iterable[SampledFrame], *, prune: bool = True) -> FrameTrack:
    """A query's track: each kept frame's PDQ upright and mirrored (hashing the mirrored pixels: PDQ's dihedral
    shortcut lands 20-30 bits from that on small re-encoded frames)."""

    def hashes(pixels: np.ndarray) -> tuple[list[np.ndarray], int]:
        upright, quality = _pdq(pixels)
        return [upright, _pdq(pixels[:, ::-1])[0]], quality

    return _track(frames, hashes, QUERY_VARIANTS, prune=prune)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between every code of `a` (m, 32) and of `b` (n, 32): an (m, n) int array, computed a block
    of rows at a time (a check compares a clip's frames with every frame of a stretch of the original)."""
    found = np.zeros((len(a), len(b)), dtype=np.int32)
    if len(a) == 0 or len(b) == 0:
        return found
    rows = max(1, _BLOCK_BYTES // (len(b) * _CODE_BYTES))
    for start in range(0, len(a), rows):
        xor = np.bitwise_xor(a[start : start + rows, None, :], b[None, :, :])
        found[start : start + rows] = _POPCOUNT[xor].sum(axis=2, dtype=np.int32)
    return found


def _track(frames: Iterable[SampledFrame], hashes: _Hasher, variants: tuple[str, ...], *, prune: bool) -> FrameTrack:
    times: list[float] = []
    codes: list[list[np.ndarray]] = []
    qualities: list[int] = []
    for frame in frames:
        frame_codes, quality = hashes(frame.pixels)
        if prune and codes and int(distances(frame_codes[0][None], codes[-1][0][None])[0, 0]) <= PRUNE_DISTANCE:
            continue
        times.append(frame.time)
        codes.append(frame_codes)
        qualities.append(quality)
    return FrameTrack(
        np.asarray(times, dtype=np.float64),
        np.asarray(codes, dtype=np.uint8).reshape(len(times), len(variants), _CODE_BYTES),
        np.asarray(qualities, dtype=np.uint8),
        variants,
    )


def _pdq(pixels: np.ndarray) -> tuple[np.ndarray, int]:
    bits, quality = pdqhash.compute(np.ascontiguousarray(pixels))
    return np.packbits(bits), int(quality)


def _portrait(pixels: np.ndarray) -> np.ndarray:
    """The centred 9:16 crop of a landscape frame (a portrait frame is returned whole)."""
    h, w = pixels.shape[:2]
    keep = min(w, round(h * 9 / 16))
    x0 = (w - keep) // 2
    return pixels[:, x0 : x0 + keep]
