"""Decode the first audio track of a container into mono samples at a low, fixed rate.

Decoding streams packet by packet through PyAV (FFmpeg inside its wheel) and stops once `max_seconds` of sound are
out, so an hour-long upload costs no more than its first `max_seconds`. The resampler brings every codec, channel
layout and sample rate to one form, which is what makes fingerprints of an AAC original and an Opus copy comparable.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np

from fingerprint.media import CorruptMediaError, UnsupportedMediaError

log = logging.getLogger(__name__)

# 8 kHz keeps the 60-4000 Hz band where voices have their harmonics and formants, and what low-bitrate AAC and
# Opus keep intact; it also makes a fingerprint 5.5x cheaper than at 44.1 kHz.
AUDIO_RATE = 8000

# Leading bytes of containers we know (EBML for WebM/MKV, RIFF, Ogg, FLAC, MP3 with an ID3 tag; MP4 and MOV are
# told by "ftyp" at offset 4): when one of these fails to open, the file is damaged rather than of a foreign type.
_CONTAINER_MAGIC = (b"\x1a\x45\xdf\xa3", b"RIFF", b"OggS", b"fLaC", b"ID3")
# What FFmpeg and PyAV raise on damaged input: their own errors, and undecodable text in stream metadata.
_DECODE_ERRORS = (av.FFmpegError, UnicodeDecodeError, ValueError, EOFError)


@dataclass(frozen=True, slots=True)
class Audio:
    """Mono float32 samples in [-1, 1]; `start` is the container time of the first sample, in seconds.

    `start` matters because a container's audio may begin before or after its first video frame (AAC priming,
    edit lists); keeping it lets audio times line up with frame times.
    """

    samples: np.ndarray
    rate: int
    start: float
    truncated: bool  # the track went on past `max_seconds`

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate


def extract_audio(
    data: bytes,
    *,
    max_seconds: float,
    rate: int = AUDIO_RATE,
    on_frame: Callable[[av.AudioFrame], None] | None = None,
) -> Audio | None:
    """The first audio track of `data` as mono samples at `rate`, at most `max_seconds` long; None without one.

    Raises UnsupportedMediaError when FFmpeg does not recognise the container and CorruptMediaError when the
    track does not decode. `on_frame` sees every decoded frame before it is resampled (a caller's caps on what a
    stream may switch to mid-way: rate, channels, samples), and may raise.
    """
    if max_seconds <= 0:
        raise ValueError("max_seconds must be positive")
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="replace")
    except _DECODE_ERRORS as exc:
        if data.startswith(_CONTAINER_MAGIC) or data[4:8] == b"ftyp":
            raise CorruptMediaError(f"the container's header is damaged or cut short: {exc}") from None
        raise UnsupportedMediaError("not a media container FFmpeg can read") from None
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        return _decode(container, stream, max_seconds=max_seconds, rate=rate, on_frame=on_frame)


def _decode(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    *,
    max_seconds: float,
    rate: int,
    on_frame: Callable[[av.AudioFrame], None] | None,
) -> Audio:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    limit = round(max_seconds * rate)
    chunks: list[np.ndarray] = []
    total = 0
    start: float | None = None
    truncated = False
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                if on_frame is not None:
                    on_frame(frame)
                if start is None and frame.time is not None:
                    start = float(frame.time)
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    total += len(chunk)
            if total >= limit:
                truncated = True
                break
        if not truncated:
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except _DECODE_ERRORS as exc:
        raise CorruptMediaError(f"the audio track does not decode (truncated or corrupt): {exc}") from None
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if len(samples) > limit:
        truncated = True
        samples = samples[:limit]
    samples = np.nan_to_num(np.clip(samples.astype(np.float32, copy=False), -1.0, 1.0), nan=0.0)
    return Audio(samples=samples, rate=rate, start=start or 0.0, truncated=truncated)
