"""A deterministic corpus of hostile video files, cut from tiny seed clips encoded in the test (nothing is stored).

Seeds: one second of 64x36 footage in MP4 (H.264 + AAC), MOV, Matroska (H.264 + Opus), WebM (VP9) and AVI (MPEG-4
Part 2, a container provreg does not take). From them, with fixed seeds: truncations at many offsets; bit flips in
the headers and anywhere; ISO BMFF box mutations (sizes 0, 1 with a huge 64-bit size, past the end, too small;
renamed, duplicated and dropped boxes; boxes nested hundreds deep); table games (sample counts, sizes, chunk
offsets, time-to-sample deltas, composition offsets, edit lists, timescales); EBML element mutations (unknown and
huge sizes, renamed, duplicated and dropped elements) and value games (durations negative, NaN, infinite or gone,
timecode scales 0 and huge, cluster and block timecodes huge, negative and out of order, frame sizes 0 and huge,
no video track, unknown codecs); one container's magic on another's body; timestamps that start past the
duration limit, jump, or run negative; files with no video stream or dozens of streams; and resolution games (the
header says 64x36 while the stream is 640x360, or the stream switches size mid-way). Each must get a result or a
documented 4xx, never a 5xx.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
from fractions import Fraction
from functools import cache

import av
import numpy as np
from audioclips import RATE, add_sound, write_sound
from malformed import Case
from videoclips import original_frame

SIZE = (64, 36)
FPS = 10
FRAMES = 10
_FORMATS = {  # name: (PyAV format, video codec, audio codec or None)
    "mp4": ("mp4", "libx264", "aac"),
    "mov": ("mov", "libx264", None),
    "mkv": ("matroska", "libx264", "libopus"),
    "webm": ("webm", "libvpx-vp9", None),
    "avi": ("avi", "mpeg4", None),
}
_CODEC_OPTIONS = {
    "libx264": {"preset": "ultrafast", "tune": "zerolatency", "threads": "1"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "threads": "1", "row-mt": "0"},
    "mpeg4": {"threads": "1"},
}
Timing = Callable[[int], int]  # frame number -> pts in 1/FPS units


def _add_video(container: av.container.OutputContainer, codec: str, size: tuple[int, int]) -> av.VideoStream:
    stream = container.add_stream(codec, rate=FPS)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.codec_context.options = dict(_CODEC_OPTIONS[codec])
    stream.codec_context.time_base = Fraction(1, FPS)
    return stream


def _frames(size: tuple[int, int], count: int = FRAMES) -> Iterator[av.VideoFrame]:
    for n in range(count):
        yield av.VideoFrame.from_ndarray(np.ascontiguousarray(original_frame(n / FPS, *size)), format="rgb24")


def _encode(
    name: str,
    *,
    size: tuple[int, int] = SIZE,
    timing: Timing = lambda n: n,
    video: int = 1,
    audio: int | None = None,
) -> bytes:
    """`video` video streams (0: none) and `audio` audio streams (None: the format's default) in container `name`."""
    fmt, codec, audio_codec = _FORMATS[name]
    audio = (1 if audio_codec else 0) if audio is None else audio
    tone = (0.2 * np.sin(np.arange(RATE) * 2 * np.pi * 440 / RATE)).astype(np.float32)
    out = io.BytesIO()
    with av.open(out, mode="w", format=fmt, options={"fflags": "+bitexact"}) as container:
        streams = [_add_video(container, codec, size) for _ in range(video)]
        sounds = [add_sound(container, codec=audio_codec or "aac", rate=RATE) for _ in range(audio)]
        for stream in streams:
            for n, frame in enumerate(_frames(size)):
                frame.pts = timing(n)
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        for sound in sounds:
            write_sound(container, sound, tone, rate=RATE)
    return out.getvalue()


@cache
def seeds() -> dict[str, bytes]:
    """The well-formed clips everything else is cut from."""
    return {name: _encode(name) for name in _FORMATS}


# --- truncations and bit flips ----------------------------------------------------------------------------------

_TRUNCATE_AT = (1, 4, 8, 12, 24, 48, 100, 200, 400)
_TRUNCATE_FRACTIONS = (0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97)
_FLIPS = 14


def _truncations() -> Iterator[Case]:
    for name, data in seeds().items():
        offsets = sorted({*_TRUNCATE_AT, *(int(len(data) * f) for f in _TRUNCATE_FRACTIONS), len(data) - 1})
        yield from (Case(f"truncated-{name}-at-{offset}", data[:offset]) for offset in offsets)


def _bit_flips() -> Iterator[Case]:
    rng = np.random.default_rng(18)
    for name, data in seeds().items():
        for n in range(_FLIPS):
            flipped = bytearray(data)
            span = 600 if n % 2 == 0 else len(data)  # even: the headers; odd: anywhere, mostly the coded frames
            for position in rng.integers(0, min(span, len(data)), size=1 + n % 4):
                flipped[position] ^= 1 << int(rng.integers(0, 8))
            yield Case(f"bitflip-{name}-{n}", bytes(flipped))


# --- ISO BMFF (MP4, MOV) ------------------------------------------------------------------------------------------

_BMFF_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"udta", b"mvex"}


def _boxes(data: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> Iterator[tuple[int, int, bytes]]:
    """(offset, size, type) of every box, depth first (32-bit sizes only, as the seeds have)."""
    end = len(data) if end is None else end
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        if size < 8 or at + size > end:
            return
        yield at, size, kind
        if kind in _BMFF_CONTAINERS:
            yield from _boxes(data, at + 8, at + size, depth + 1)
        elif kind == b"stsd":
            yield from _boxes(data, at + 16, at + size, depth + 1)  # its sample entries (avc1, mp4a)
        at += size


def _box(data: bytes, kind: bytes) -> tuple[int, int]:
    return next((at, size) for at, size, k in _boxes(data) if k == kind)


def _with_size(data: bytes, at: int, size: int) -> bytes:
    return data[:at] + struct.pack(">I", size) + data[at + 4 :]


_BOX_MUTATIONS = (
    "size-0", "size-1-huge", "size-past-end", "size-short", "size-long", "renamed", "dropped", "doubled", "size-7",
)  # fmt: skip


def _box_mutated(data: bytes, at: int, size: int, label: str) -> bytes:
    head, box, tail = data[:at], data[at : at + size], data[at + size :]
    sizes = {"size-0": 0, "size-past-end": 0xFFFFFFF0, "size-short": max(8, size // 2), "size-long": size + 1000}
    if label in sizes or label == "size-7":
        return _with_size(data, at, sizes.get(label, 7))
    if label == "size-1-huge":  # a 64-bit size field after the type
        return head + struct.pack(">I", 1) + box[4:8] + struct.pack(">Q", 2**63 - 1) + box[8:] + tail
    if label == "renamed":
        return head + box[:4] + b"zzzz" + box[8:] + tail
    return head + tail if label == "dropped" else head + box + box + tail


def _box_mutations() -> Iterator[Case]:
    """Every box of each seed under one of the mutations, in turn (the order is fixed, so the corpus is)."""
    for name in ("mp4", "mov"):
        data = seeds()[name]
        for n, (at, size, kind) in enumerate(_boxes(data)):
            label = _BOX_MUTATIONS[n % len(_BOX_MUTATIONS)]
            yield Case(f"box-{name}-{kind.decode('latin-1').strip()}-{n}-{label}", _box_mutated(data, at, size, label))


def _patched(data: bytes, kind: bytes, offset: int, fmt: str, *values: int) -> bytes:
    """Box `kind`'s bytes at `offset` from its start rewritten as struct `fmt`."""
    at, _ = _box(data, kind)
    width = struct.calcsize(fmt)
    return data[: at + offset] + struct.pack(fmt, *values) + data[at + offset + width :]


def _table_games() -> Iterator[Case]:
    """Values inside the boxes: counts, sizes, offsets, deltas, timescales, frame sizes."""
    games: list[tuple[str, bytes, int, str, tuple[int, ...]]] = [
        ("stts-count-huge", b"stts", 12, ">I", (0xFFFFFFFF,)),
        ("stts-delta-0", b"stts", 20, ">I", (0,)),
        ("stts-delta-huge", b"stts", 20, ">I", (0xFFFFFFFF,)),
        ("stts-samples-huge", b"stts", 16, ">I", (0x7FFFFFFF,)),
        ("stsz-count-huge", b"stsz", 16, ">I", (0xFFFFFFFF,)),
        ("stsz-size-huge", b"stsz", 20, ">I", (0x7FFFFFFF,)),
        ("stsz-entry-huge", b"stsz", 24, ">I", (0x7FFFFFFF,)),
        ("stco-past-end", b"stco", 16, ">I", (0x7FFFFFFF,)),
        ("stco-count-huge", b"stco", 12, ">I", (0xFFFFFFFF,)),
        ("stco-zero", b"stco", 16, ">I", (0,)),
        ("stsc-first-0", b"stsc", 16, ">I", (0,)),
        ("stsc-per-chunk-huge", b"stsc", 20, ">I", (0xFFFFFFFF,)),
        ("stsc-description-9", b"stsc", 24, ">I", (9,)),
        ("stsd-count-huge", b"stsd", 12, ">I", (0xFFFF,)),
        ("mdhd-timescale-0", b"mdhd", 20, ">I", (0,)),
        ("mdhd-timescale-1", b"mdhd", 20, ">I", (1,)),
        ("mdhd-duration-huge", b"mdhd", 24, ">I", (0xFFFFFFFF,)),
        ("mvhd-timescale-0", b"mvhd", 20, ">I", (0,)),
        ("mvhd-duration-huge", b"mvhd", 24, ">I", (0xFFFFFFFF,)),
        ("tkhd-size-huge", b"tkhd", 84, ">II", (0xFFFF0000, 0xFFFF0000)),
        ("tkhd-size-0", b"tkhd", 84, ">II", (0, 0)),
        ("avc1-claims-7680x4320", b"avc1", 32, ">HH", (7680, 4320)),
        ("avc1-claims-0x0", b"avc1", 32, ">HH", (0, 0)),
        ("avc1-claims-65535x65535", b"avc1", 32, ">HH", (65535, 65535)),
        ("avcC-sps-count-31", b"avcC", 13, ">B", (0xFF,)),
        ("avcC-sps-length-huge", b"avcC", 14, ">H", (0xFFFF,)),
        ("hdlr-text", b"hdlr", 16, ">4s", (b"text",)),
        ("elst-negative", b"elst", 20, ">i", (-2,)),
        ("elst-huge-start", b"elst", 20, ">i", (0x7FFFFFFF,)),
        ("elst-huge-duration", b"elst", 16, ">I", (0xFFFFFFFF,)),
        ("elst-empty", b"elst", 16, ">Ii", (0, -1)),
        ("elst-count-huge", b"elst", 12, ">I", (0xFFFFFFFF,)),
    ]
    for name in ("mp4", "mov"):
        data = seeds()[name]
        kinds = {kind for _, _, kind in _boxes(data)}
        for label, kind, offset, fmt, values in games:
            if kind in kinds:
                yield Case(f"table-{name}-{label}", _patched(data, kind, offset, fmt, *values))
    yield from _nested_boxes()


def _atom(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def _nested_boxes() -> Iterator[Case]:
    data = seeds()["mp4"]
    _, ftyp_size = _box(data, b"ftyp")
    for depth in (40, 2000):
        inner = b""
        for _ in range(depth):
            inner = _atom(b"moov", inner)
        yield Case(f"nested-moov-{depth}", data[:ftyp_size] + inner + data[ftyp_size:])
    yield Case("many-empty-moov-boxes", data[:ftyp_size] + _atom(b"moov", b"") * 20_000 + data[ftyp_size:])


# --- EBML (Matroska, WebM) ----------------------------------------------------------------------------------------

_EBML_MASTERS = {0x18538067, 0x1549A966, 0x1654AE6B, 0xAE, 0xE0, 0xE1, 0x1F43B675, 0xA0, 0x114D9B74, 0x4DBB}
_UNKNOWN_SIZE = b"\x01\xff\xff\xff\xff\xff\xff\xff"
_VOID = 0xEC


def _vint(data: bytes, at: int) -> tuple[int, int]:
    """(length, value without its marker) of the EBML variable-size integer at `at`."""
    first = data[at]
    length = 9 - first.bit_length() if first else 9
    if length > 8 or at + length > len(data):
        raise ValueError("not a variable-size integer")
    value = first & (0xFF >> length)
    for byte in data[at + 1 : at + length]:
        value = value << 8 | byte
    return length, value


def _elements(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int, int]]:
    """(offset, header length, body size, id) of every element, depth first."""
    end = len(data) if end is None else end
    at = start
    while at < end:
        try:
            id_length, _ = _vint(data, at)
            size_length, size = _vint(data, at + id_length)
        except (ValueError, IndexError):
            return
        element = int.from_bytes(data[at : at + id_length], "big")
        header = id_length + size_length
        if at + header + size > end:
            return
        yield at, header, size, element
        if element in _EBML_MASTERS:
            yield from _elements(data, at + header, at + header + size)
        at += header + size


def _size_field(size: int, length: int) -> bytes:
    return ((1 << (7 * length)) | size).to_bytes(length, "big")


def _element_mutations() -> Iterator[Case]:
    for name in ("mkv", "webm"):
        data = seeds()[name]
        seen: set[int] = set()  # the first element of each id: a cluster's hundredth block is like its first
        firsts = [e for e in _elements(data) if not (e[3] in seen or seen.add(e[3]))]
        for n, (at, header, size, element) in enumerate(firsts):
            id_length = _vint(data, at)[0]
            size_length = header - id_length
            body = at + header
            mutations = {
                "unknown-size": data[: at + id_length] + _UNKNOWN_SIZE + data[body:],
                "huge-size": data[: at + id_length] + b"\x01\x00\xff\xff\xff\xff\xff\xff" + data[body:],
                "size-0": data[: at + id_length] + _size_field(0, size_length) + data[body:],
                "size-plus": data[: at + id_length] + _size_field(size + 100, 8) + data[body:],
                "void": data[:at] + bytes([_VOID]) + data[at + id_length :],
                "dropped": data[:at] + data[body + size :],
                "doubled": data[: body + size] + data[at : body + size] + data[body + size :],
            }
            label = sorted(mutations)[n % len(mutations)]
            yield Case(f"ebml-{name}-{element:x}-{n}-{label}", mutations[label])


def _ebml_value(data: bytes, element: int, value: bytes) -> bytes | None:
    """The first element `element` with its body replaced by `value` (its size field rewritten to 8 bytes)."""
    found = [(at, header, size) for at, header, size, e in _elements(data) if e == element]
    if not found:
        return None
    at, header, size = found[0]
    id_length = _vint(data, at)[0]
    rewritten = data[:at] + data[at : at + id_length] + _size_field(len(value), 8) + value + data[at + header + size :]
    # Every master around it grows by the difference; unknown-size masters need nothing.
    grow = len(rewritten) - len(data)
    out = bytearray(rewritten)
    for outer_at, outer_header, outer_size, outer in _elements(data):
        if outer in _EBML_MASTERS and outer_at < at < outer_at + outer_header + outer_size:
            outer_id = _vint(data, outer_at)[0]
            out[outer_at + outer_id : outer_at + outer_header] = _size_field(outer_size + grow, outer_header - outer_id)
    return bytes(out)


def _voided(data: bytes, element: int) -> bytes:
    """The first element `element` overwritten by a Void element of the same length (as if it were never written)."""
    at, header, size = next((at, header, size) for at, header, size, e in _elements(data) if e == element)
    total = header + size
    return data[:at] + bytes([_VOID]) + _size_field(total - 9, 8) + bytes(total - 9) + data[at + total :]


def _uint(value: int) -> bytes:
    return value.to_bytes(8, "big")


def _value_games() -> Iterator[Case]:
    duration, scale, cluster_time = 0x4489, 0x2AD7B1, 0xE7
    games: list[tuple[str, int, bytes]] = [
        ("duration-negative", duration, struct.pack(">d", -1.0)),
        ("duration-nan", duration, struct.pack(">d", float("nan"))),
        ("duration-inf", duration, struct.pack(">d", float("inf"))),
        ("duration-huge", duration, struct.pack(">d", 1e300)),
        ("duration-0", duration, struct.pack(">d", 0.0)),
        ("timecode-scale-0", scale, _uint(0)),
        ("timecode-scale-1", scale, _uint(1)),
        ("timecode-scale-huge", scale, _uint(2**62)),
        ("cluster-time-huge", cluster_time, _uint(2**62)),
        ("cluster-time-past-limit", cluster_time, _uint(4_000_000)),
        ("pixel-width-0", 0xB0, _uint(0)),
        ("pixel-width-huge", 0xB0, _uint(2**40)),
        ("pixel-height-huge", 0xBA, _uint(65535)),
        ("claims-7680-wide", 0xB0, _uint(7680)),
        ("track-type-audio", 0x83, _uint(2)),
        ("track-type-huge", 0x83, _uint(255)),
        ("track-number-0", 0xD7, _uint(0)),
        ("track-number-99", 0xD7, _uint(99)),
        ("codec-unknown", 0x86, b"V_BOGUS"),
        ("codec-private-empty", 0x63A2, b""),
        ("codec-private-junk", 0x63A2, b"\x01" + b"\xff" * 40),
        ("default-duration-0", 0x23E383, _uint(0)),
        ("default-duration-huge", 0x23E383, _uint(2**62)),
        ("ebml-read-version-9", 0x42F7, _uint(9)),
        ("doctype-unknown", 0x4282, b"quicktime"),
    ]
    for name in ("mkv", "webm"):
        data = seeds()[name]
        for label, element, value in games:
            mutated = _ebml_value(data, element, value)
            if mutated is not None:
                yield Case(f"value-{name}-{label}", mutated)
        yield from _block_times(name, data)
        # No declared duration, and the frames' timestamps run past the duration limit.
        no_duration = _voided(data, duration)
        for label, time in (("past-limit", 4_000_000), ("huge", 2**62)):
            late = _ebml_value(no_duration, cluster_time, _uint(time))
            assert late is not None
            yield Case(f"value-{name}-no-duration-cluster-{label}", late)


def _block_times(name: str, data: bytes) -> Iterator[Case]:
    """Block timecodes (int16 relative to their cluster) out of order, at the extremes, and all the same."""
    blocks = [(at + header, size) for at, header, size, e in _elements(data) if e == 0xA3 and size > 4]
    for label, time in (
        ("reversed", lambda n: 3000 - 100 * n),
        ("extremes", lambda n: (-32768, 32767)[n % 2]),
        ("equal", lambda n: 0),
        ("negative", lambda n: -100 * n),
    ):
        out = bytearray(data)
        for n, (body, _) in enumerate(blocks):
            track_length = _vint(data, body)[0]
            out[body + track_length : body + track_length + 2] = struct.pack(">h", time(n))
        yield Case(f"blocks-{name}-{label}", bytes(out))


# --- magic, timestamps, streams, resolutions ----------------------------------------------------------------------


def _wrong_magic() -> Iterator[Case]:
    mp4, mkv, webm, avi = (seeds()[name] for name in ("mp4", "mkv", "webm", "avi"))
    ftyp = mp4[: _box(mp4, b"ftyp")[1]]
    yield from (
        Case("ftyp-on-avi", ftyp + avi),
        Case("ftyp-on-matroska", ftyp + mkv),
        Case("ftyp-qt-on-webm", struct.pack(">I4s4sI", 20, b"ftyp", b"qt  ", 0) + b"qt  " + webm),
        Case("ebml-on-mp4", mkv[:40] + mp4),
        Case("ebml-header-only", mkv[:40]),
        Case("ftyp-only", ftyp),
        Case("webm-doctype-on-avi", webm[:36] + avi),
        Case("mp4-moov-only", ftyp + mp4[_box(mp4, b"moov")[0] :]),
        Case("mp4-mdat-only", ftyp + mp4[slice(*(lambda at, size: (at, at + size))(*_box(mp4, b"mdat")))]),
    )


def _timestamp_games() -> Iterator[Case]:
    """Frame timestamps as muxed: far past the duration limit from the start, a jump past it mid-way, backwards."""
    for name in ("mp4", "mkv", "webm"):
        yield Case(f"pts-{name}-start-past-limit", _encode(name, timing=lambda n: 7_000 + n, audio=0))
        yield Case(f"pts-{name}-jump-past-limit", _encode(name, timing=lambda n: n + (8_000 if n > 4 else 0), audio=0))
        yield Case(f"pts-{name}-start-huge", _encode(name, timing=lambda n: 2**40 + n, audio=0))
    yield Case("pts-mkv-sparse", _encode("mkv", timing=lambda n: n * 500, audio=0))
    # No declared duration, and a jump past the duration limit after a few frames: only decoding can tell.
    for name in ("mkv", "webm"):
        jump = _encode(name, timing=lambda n: n + (8_000 if n > 4 else 0), audio=0)
        yield Case(f"pts-{name}-no-duration-jump-past-limit", _voided(jump, 0x4489))


def _stream_games() -> Iterator[Case]:
    yield from (
        Case("streams-mp4-audio-only", _encode("mp4", video=0)),
        Case("streams-mkv-audio-only", _encode("mkv", video=0)),
        Case("streams-mkv-3-audio-only", _encode("mkv", video=0, audio=3)),
        Case("streams-mkv-24-video", _encode("mkv", video=24, audio=0)),
        Case("streams-mp4-8-video-8-audio", _encode("mp4", video=8, audio=8)),
        Case("streams-mkv-1-video-30-audio", _encode("mkv", audio=30)),
    )


def _annex_b(size: tuple[int, int], frames: int) -> bytes:
    """Raw H.264 (Annex B, parameter sets in front), to be joined to a segment of another size."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="h264") as container:
        stream = _add_video(container, "libx264", size)
        for n, frame in enumerate(_frames(size, frames)):
            frame.pts = n
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def _remuxed(raw: bytes, fmt: str) -> bytes:
    """Raw H.264 in container `fmt`, one frame every 1/FPS s (the raw stream has no timestamps)."""
    out = io.BytesIO()
    with (
        av.open(io.BytesIO(raw), format="h264") as source,
        av.open(out, mode="w", format=fmt, options={"fflags": "+bitexact"}) as container,
    ):
        stream = container.add_stream_from_template(source.streams.video[0])
        stream.time_base = Fraction(1, FPS)
        for n, packet in enumerate(p for p in source.demux(source.streams.video[0]) if p.size):
            packet.pts = packet.dts = n
            packet.duration = 1  # else the muxer takes the last frame to last as long as the raw stream's clock
            packet.time_base = Fraction(1, FPS)
            packet.stream = stream
            container.mux(packet)
    return out.getvalue()


def _resolution_games() -> Iterator[Case]:
    big = (640, 360)
    mp4 = _encode("mp4", size=big, audio=0)
    small = _patched(_patched(mp4, b"avc1", 32, ">HH", *SIZE), b"tkhd", 84, ">II", SIZE[0] << 16, SIZE[1] << 16)
    yield Case("resolution-mp4-header-64x36-stream-640x360", small)
    mkv = _encode("mkv", size=big, audio=0)
    width = _ebml_value(mkv, 0xB0, _uint(SIZE[0]))
    assert width is not None
    yield Case("resolution-mkv-header-64x36-stream-640x360", _ebml_value(width, 0xBA, _uint(SIZE[1])))
    for fmt, name in (("matroska", "mkv"), ("mp4", "mp4")):
        yield Case(f"resolution-{name}-switch-to-640x360", _remuxed(_annex_b(SIZE, 5) + _annex_b(big, 5), fmt))
        yield Case(
            f"resolution-{name}-switch-to-4096x2304", _remuxed(_annex_b(SIZE, 4) + _annex_b((4096, 2304), 1), fmt)
        )
        yield Case(
            f"resolution-{name}-switch-back-and-forth",
            _remuxed(_annex_b(SIZE, 3) + _annex_b(big, 3) + _annex_b(SIZE, 3) + _annex_b((36, 64), 3), fmt),
        )


def corpus() -> list[Case]:
    """Every distinct case, in a fixed order (a mutation that equals an earlier case is dropped)."""
    generated = [
        *_truncations(),
        *_bit_flips(),
        *_box_mutations(),
        *_table_games(),
        *_element_mutations(),
        *_value_games(),
        *_wrong_magic(),
        *_timestamp_games(),
        *_stream_games(),
        *_resolution_games(),
    ]
    seen: set[bytes] = set()
    cases = [case for case in generated if not (case.content in seen or seen.add(case.content))]
    assert len({case.name for case in cases}) == len(cases)
    return cases
