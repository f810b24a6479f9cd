"""Open an untrusted sound file safely: its type by magic bytes, its declared size checked before any decoding.

MP3 (with or without an ID3 tag), AAC (ADTS, or in an MP4 with sound tracks and no video track:
`fingerprint.isobmff`), Ogg (Opus, Vorbis or FLAC inside), WebM/Matroska with sound tracks only
(`fingerprint.matroska`), WAV and FLAC. `probe` reads the container's header once:
stream count, codec, sample rate, channels and declared duration against the caps, nothing decoded. `samples` then
decodes the first sound stream through `fingerprint.audio.extract_audio` (mono, 8 kHz) and holds every decoded frame
to the same caps, because a stream may switch rate or channel count mid-way and a header's duration can lie. Every
FFmpeg failure is a `CorruptMediaError` whose message is safe to show to the sender.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import av

from fingerprint import matroska
from fingerprint.audio import Audio, extract_audio
from fingerprint.isobmff import is_sound_only
from fingerprint.media import CorruptMediaError, MediaTooLargeError, UnsupportedMediaError

# Caps the registry has no setting of its own for yet (a sound file is held to the video's duration and byte caps,
# `DecodeLimits.max_video_seconds` and `max_video_bytes`): a sound never needs more than these.
MAX_SOUND_SAMPLE_RATE = 192_000
MAX_SOUND_CHANNELS = 8
MAX_SOUND_STREAMS = 8  # of any type: an MP3's cover art is a second (picture) stream
# Decoded samples over all channels, at the source rate: 10 minutes of 96 kHz stereo, or of 48 kHz in 4 channels.
MAX_SOUND_DECODED_SAMPLES = 120_000_000

# Seconds a file may run past the duration cap: encoders add up to a frame or two of priming and padding, so a
# sound exactly as long as the cap decodes a few hundredths of a second longer.
CODEC_SLACK = 0.5

MEDIA_TYPES = (
    "audio/mpeg",
    "audio/aac",
    "audio/mp4",
    "audio/ogg",
    "audio/webm",
    "audio/x-matroska",
    "audio/wav",
    "audio/flac",
)
# MPEG audio: bitrates (kb/s) by [MPEG-1?][layer 1..3][index], sample rates by [version bits][index]
_MP3_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44_100, 48_000, 32_000), 2: (22_050, 24_000, 16_000), 0: (11_025, 12_000, 8_000)}
_OGG_SOUND_CODECS = (b"OpusHead", b"\x01vorbis", b"\x7fFLAC")
_CONTAINER_ERRORS = (av.FFmpegError, EOFError, UnicodeDecodeError, ValueError)


@dataclass(frozen=True, slots=True)
class SoundLimits:
    """Caps on what decoding one sound file may cost (`limit` names in errors are the registry's settings where it
    has one)."""

    max_seconds: float
    max_bytes: int
    max_sample_rate: int = MAX_SOUND_SAMPLE_RATE
    max_channels: int = MAX_SOUND_CHANNELS
    max_streams: int = MAX_SOUND_STREAMS
    max_decoded_samples: int = MAX_SOUND_DECODED_SAMPLES


@dataclass(frozen=True, slots=True)
class SoundMedia:
    """A probed sound file: the compressed bytes (decoded on demand by `samples`) and what its header declares."""

    media_type: str
    data: bytes
    codec: str
    sample_rate: int
    channels: int
    duration: float  # declared seconds (0 when the container does not say)
    limits: SoundLimits


def sniff_sound(data: bytes) -> str | None:
    """The sound media type told by the leading bytes, or None when they are not a sound file's."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data.startswith(b"fLaC"):
        return "audio/flac"
    if data.startswith(b"OggS"):
        # the first page carries the first stream's identification header (Theora would be a video)
        return "audio/ogg" if any(codec in data[28:64] for codec in _OGG_SOUND_CODECS) else None
    if is_sound_only(data):
        return "audio/mp4"
    if matroska.is_sound_only(data):
        return "audio/webm" if b"webm" in data[:64] else "audio/x-matroska"
    return _mpeg_audio(data, _after_id3(data))


def probe(data: bytes, limits: SoundLimits) -> SoundMedia:
    """Check a sound file's declared size against the caps; raises `MediaError` subclasses, decodes nothing."""
    media_type = sniff_sound(data)
    if media_type is None:
        raise UnsupportedMediaError(
            "unsupported media type: expected MP3, AAC/M4A, Ogg (Opus), WebM, WAV or FLAC sound"
        )
    if len(data) > limits.max_bytes:
        raise MediaTooLargeError(
            f"sound is {len(data)} bytes; the limit is {limits.max_bytes}", limit="max_video_bytes"
        )
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="replace") as container:
            if len(container.streams) > limits.max_streams:
                raise MediaTooLargeError(
                    f"the file has {len(container.streams)} streams; the limit is {limits.max_streams}"
                )
            if not container.streams.audio:
                raise CorruptMediaError("the file has no sound stream")
            stream = container.streams.audio[0]
            if stream.codec_context is None:  # FFmpeg has no decoder for the stream's codec (or it is mislabelled)
                raise UnsupportedMediaError("the sound's codec is not supported")
            codec = stream.codec_context.name
            rate, channels = stream.codec_context.sample_rate or 0, stream.codec_context.channels or 0
            duration = _declared_duration(container, stream)
    except _CONTAINER_ERRORS as exc:
        raise CorruptMediaError(f"the sound cannot be read (truncated or damaged): {type(exc).__name__}") from None
    _check_format(rate, channels, limits)
    _check_duration(duration, limits)
    return SoundMedia(media_type, data, codec, rate, channels, duration, limits)


def samples(media: SoundMedia) -> Audio:
    """The first sound stream as mono samples at 8 kHz, every decoded frame held to the caps."""
    limits = media.limits
    decoded = [0]

    def within_caps(frame: av.AudioFrame) -> None:
        _check_format(frame.sample_rate, len(frame.layout.channels), limits)
        decoded[0] += frame.samples * len(frame.layout.channels)
        if decoded[0] > limits.max_decoded_samples:
            raise MediaTooLargeError(f"the sound decodes to more than {limits.max_decoded_samples} samples")
        if frame.time is not None:
            _check_duration(float(frame.time), limits)

    # past the cap's slack, so that a sound longer than that is not cut short but refused
    audio = extract_audio(media.data, max_seconds=limits.max_seconds + 2 * CODEC_SLACK, on_frame=within_caps)
    if audio is None or len(audio.samples) == 0:
        raise CorruptMediaError("the sound has no decodable samples")
    _check_duration(audio.duration, limits)
    return audio


def _check_format(rate: int, channels: int, limits: SoundLimits) -> None:
    if rate <= 0 or channels <= 0:
        raise CorruptMediaError("the sound declares no sample rate or no channels")
    if rate > limits.max_sample_rate:
        raise MediaTooLargeError(f"the sound's sample rate is {rate} Hz; the limit is {limits.max_sample_rate} Hz")
    if channels > limits.max_channels:
        raise MediaTooLargeError(f"the sound has {channels} channels; the limit is {limits.max_channels}")


def _check_duration(seconds: float, limits: SoundLimits) -> None:
    if not math.isfinite(seconds) or seconds > limits.max_seconds + CODEC_SLACK:
        raise MediaTooLargeError(f"sound is longer than {limits.max_seconds:g} seconds", limit="max_video_seconds")


def _declared_duration(container: av.container.InputContainer, stream: av.AudioStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _after_id3(data: bytes) -> int:
    """Where the audio starts after any leading ID3v2 tags (their size is four 7-bit bytes)."""
    at = 0
    while data[at : at + 3] == b"ID3" and len(data) >= at + 10:
        size = (data[at + 6] << 21) | (data[at + 7] << 14) | (data[at + 8] << 7) | data[at + 9]
        at += 10 + size + (10 if data[at + 5] & 0x10 else 0)
    return at


def _mpeg_audio(data: bytes, at: int) -> str | None:
    """MP3 or ADTS AAC when two frames follow each other from `at` (one frame header is four bytes anything could
    hold; a file shorter than two frames needs an ID3 tag before it)."""
    first = _frame_length(data, at)
    if first is None:
        return None
    kind, length = first
    following = _frame_length(data, at + length)
    if following is None and not (at > 0 and at + length >= len(data)):
        return None
    if following is not None and following[0] != kind:
        return None
    return kind


def _frame_length(data: bytes, at: int) -> tuple[str, int] | None:
    """(media type, frame bytes) of an MPEG audio or ADTS frame header at `at`, None when there is none."""
    header = data[at : at + 7]
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    if header[1] & 0xF6 == 0xF0:  # ADTS: 12 sync bits, layer 00
        if len(header) < 7 or (header[2] >> 2) & 0x0F > 12:
            return None
        length = ((header[3] & 0x03) << 11) | (header[4] << 3) | (header[5] >> 5)
        return ("audio/aac", length) if length >= 7 else None
    version, layer_bits = (header[1] >> 3) & 0x03, (header[1] >> 1) & 0x03
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 0x03
    if version == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    layer, mpeg1 = 4 - layer_bits, version == 3
    bitrate = _MP3_BITRATES[(mpeg1, layer)][bitrate_index] * 1000
    rate = _MP3_RATES[version][rate_index]
    padding = (header[2] >> 1) & 0x01
    if layer == 1:
        return "audio/mpeg", (12 * bitrate // rate + padding) * 4
    return "audio/mpeg", (144 if mpeg1 or layer == 2 else 72) * bitrate // rate + padding
