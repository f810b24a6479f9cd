"""Which kinds of track an MP4/MOV/M4A file holds, from its boxes alone: the rule that tells a sound file from a video.

An `ftyp` file is a video when its movie (`moov`) has a video track (handler `vide`) and a sound file when it has a
sound track (`soun`) and no video track; text, metadata and hint tracks count for neither. Cover art in an M4A is
metadata (`covr`), not a track. When no movie box can be read (cut short, or too hostile to walk) the major brand
decides: `M4A `, `M4B `, `M4P `, `F4A ` and `F4B ` are sound, everything else stays with the video kind, as before.
Only box headers are read, at most `_MAX_BOXES` of them, so sniffing costs microseconds whatever the bytes are.

>>> movie = _box(b"moov", _box(b"trak", _box(b"mdia", _box(b"hdlr", bytes(8) + b"soun" + bytes(12)))))
>>> track_handlers(_box(b"ftyp", b"M4A " + bytes(4)) + movie)
('soun',)
>>> is_sound_only(_box(b"ftyp", b"M4A " + bytes(4)) + movie), is_sound_only(_box(b"ftyp", b"isom" + bytes(4)))
(True, False)
"""

from __future__ import annotations

import struct

_SOUND_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_MAX_BOXES = 4096  # box headers read per file: a real movie has tens
_MAX_TRACKS = 64


def track_handlers(data: bytes) -> tuple[str, ...] | None:
    """The handler type of each track of the file's movie box, in order; None when there is no readable one."""
    moov = _child(data, 0, len(data), b"moov", [0])
    if moov is None:
        return None
    handlers: list[str] = []
    budget = [0]
    for trak in _children(data, *moov, b"trak", budget):
        mdia = _child(data, *trak, b"mdia", budget)
        hdlr = None if mdia is None else _child(data, *mdia, b"hdlr", budget)
        if hdlr is not None and hdlr[1] - hdlr[0] >= 12:
            handlers.append(data[hdlr[0] + 8 : hdlr[0] + 12].decode("latin-1"))
        if len(handlers) >= _MAX_TRACKS:
            break
    return tuple(handlers)


def is_sound_only(data: bytes) -> bool:
    """Whether an `ftyp` file is sound without pictures: sound tracks and no video track (see the module's rule)."""
    if len(data) < 12 or data[4:8] != b"ftyp":
        return False
    handlers = track_handlers(data)
    if handlers is None:
        return data[8:12] in _SOUND_BRANDS
    return "soun" in handlers and "vide" not in handlers


def _children(data: bytes, start: int, end: int, kind: bytes, budget: list[int]) -> list[tuple[int, int]]:
    """(payload start, payload end) of the boxes of type `kind` directly inside [start, end)."""
    found = []
    at = start
    while at + 8 <= end and budget[0] < _MAX_BOXES:
        budget[0] += 1
        size, box = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            if at + 16 > end:
                break
            size = struct.unpack_from(">Q", data, at + 8)[0]
            header = 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            break  # cut short or inconsistent: what was read so far is all there is
        if box == kind:
            found.append((at + header, at + size))
        at += size
    return found


def _child(data: bytes, start: int, end: int, kind: bytes, budget: list[int]) -> tuple[int, int] | None:
    found = _children(data, start, end, kind, budget)
    return found[0] if found else None


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload
