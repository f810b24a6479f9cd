"""Which kinds of track a WebM/Matroska file holds, from its EBML element headers alone: the rule that tells a sound
file (a browser's `audio/webm` voice recording, an `.mka`) from a video.

A Matroska file is sound when its `Tracks` element lists a sound track (`TrackType` 2) and no video track (1);
subtitle, button and metadata tracks count for neither. When no `Tracks` element can be read before the first
`Cluster` (cut short, or too hostile to walk) the file stays with the video kind, as before. Only element headers
are read, at most `_MAX_ELEMENTS` of them, so sniffing costs microseconds whatever the bytes are.

>>> header = _element(EBML, _element(0x4282, b"webm"))
>>> sound = _element(0xAE, _element(TRACK_TYPE, b"\\x02"))
>>> track_types(header + _element(SEGMENT, _element(TRACKS, sound)))
(2,)
>>> is_sound_only(header + _element(SEGMENT, _element(TRACKS, sound)))
True
>>> is_sound_only(header + _element(SEGMENT, _element(TRACKS, _element(0xAE, _element(TRACK_TYPE, b"\\x01")) + sound)))
False
"""

from __future__ import annotations

from collections.abc import Iterator

EBML = 0x1A45DFA3
SEGMENT = 0x18538067
TRACKS = 0x1654AE6B
TRACK_ENTRY = 0xAE
TRACK_TYPE = 0x83
_CLUSTER = 0x1F43B675
_VIDEO, _SOUND = 1, 2
_MAX_ELEMENTS = 4096  # element headers read per file: a real file's headers before its first cluster are tens
_MAX_TRACKS = 64
_UNKNOWN = -1  # an element whose size is "unknown" (live streams): it runs to the end of its parent


def track_types(data: bytes) -> tuple[int, ...] | None:
    """The `TrackType` of each track in the file's first `Tracks` element, in order; None when there is none."""
    if not data.startswith(EBML.to_bytes(4, "big")):
        return None
    budget = [0]
    for ident, start, end in _elements(data, 0, len(data), budget):
        if ident != SEGMENT:
            continue
        for child, child_start, child_end in _elements(data, start, end, budget):
            if child == TRACKS:
                return _tracks(data, child_start, child_end, budget)
            if child == _CLUSTER:
                return None  # the frames begin and no track list came first
        return None
    return None


def is_sound_only(data: bytes) -> bool:
    """Whether a Matroska file is sound without pictures: sound tracks and no video track (see the module's rule)."""
    types = track_types(data)
    return types is not None and _SOUND in types and _VIDEO not in types


def _tracks(data: bytes, start: int, end: int, budget: list[int]) -> tuple[int, ...]:
    types: list[int] = []
    for ident, entry_start, entry_end in _elements(data, start, end, budget):
        if ident != TRACK_ENTRY:
            continue
        for field, value_start, value_end in _elements(data, entry_start, entry_end, budget):
            if field == TRACK_TYPE and 0 < value_end - value_start <= 8:
                types.append(int.from_bytes(data[value_start:value_end], "big"))
                break
        if len(types) >= _MAX_TRACKS:
            break
    return tuple(types)


def _elements(data: bytes, start: int, end: int, budget: list[int]) -> Iterator[tuple[int, int, int]]:
    """(id, payload start, payload end) of the elements directly inside [start, end); an element cut short ends
    at `end`, and an unknown-size one runs to `end` (only a Segment or Cluster has one in practice)."""
    at = start
    while at < end and budget[0] < _MAX_ELEMENTS:
        budget[0] += 1
        ident = _vint(data, at, end, keep_marker=True)
        if ident is None:
            return
        ident_value, at = ident
        size = _vint(data, at, end, keep_marker=False)
        if size is None:
            return
        size_value, at = size
        payload_end = end if size_value == _UNKNOWN else min(end, at + size_value)
        yield ident_value, at, payload_end
        if size_value == _UNKNOWN:
            return
        at = payload_end


def _vint(data: bytes, at: int, end: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at `at`: (value, the offset after it); None when it is invalid or cut short.
    Element ids keep their length marker (`keep_marker`); a size whose value bits are all ones is `_UNKNOWN`."""
    if at >= end:
        return None
    first = data[at]
    length = 8 - first.bit_length() + 1
    if first == 0 or at + length > end or (keep_marker and length > 4):
        return None
    raw = int.from_bytes(data[at : at + length], "big")
    if keep_marker:
        return raw, at + length
    value = raw & ((1 << (7 * length)) - 1)
    return (_UNKNOWN if value == (1 << (7 * length)) - 1 else value), at + length


def _element(ident: int, payload: bytes) -> bytes:
    """An element with an 8-byte size (for the doctests and tests)."""
    size = (0x01 << 56 | len(payload)).to_bytes(8, "big")
    return ident.to_bytes((ident.bit_length() + 7) // 8, "big") + size + payload
