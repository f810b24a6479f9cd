"""Deterministic speech-like audio, short real recordings and small clips that carry them, so audio tests download
nothing.

A "voice" is a harmonic source with its own pitch and intonation, shaped by formant resonances that move from
vowel to vowel, cut into syllables by an envelope, with noise bursts for consonants. Two voices with different
seeds differ as two speakers reading different text do: pitch, timbre and timing. Clips are muxed with PyAV into
MP4 (AAC) or WebM (Opus) with a few flat video frames, which is all the audio code needs from a video.

`recorded` loads the real recordings committed in tests/data (`sound-*.opus`, made by `python bench/_sound.py`):
speech spoken by espeak-ng in two voices and two songs rendered by fluidsynth, 44 s in all.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from functools import cache, lru_cache
from pathlib import Path

import av
import numpy as np

RATE = 16_000
_DATA = Path(__file__).parent / "data"
RECORDINGS = ("speech", "speech-other", "music", "music-other")
# Sound files by name: (container format, codec, codec rate, bitrate, media type), for `sound_file`.
CONTAINERS = {
    "mp3": ("mp3", "libmp3lame", RATE, 64_000, "audio/mpeg"),
    "m4a": ("ipod", "aac", RATE, 64_000, "audio/mp4"),
    "aac": ("adts", "aac", RATE, 64_000, "audio/aac"),
    "opus": ("ogg", "libopus", 48_000, 24_000, "audio/ogg"),
    "webm": ("webm", "libopus", 48_000, 24_000, "audio/webm"),  # a browser's voice recording (MediaRecorder)
    "mka": ("matroska", "aac", 44_100, 64_000, "audio/x-matroska"),
    "wav": ("wav", "pcm_s16le", RATE, 0, "audio/wav"),
    "flac": ("flac", "flac", RATE, 0, "audio/flac"),
}
# (F1, F2, F3) in Hz of a few vowels: a, e, i, o, u
_VOWELS = np.array([[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410], [300, 870, 2240]])
_BANDWIDTHS = np.array([90.0, 110.0, 170.0])


@dataclass(frozen=True)
class Voice:
    """A speaker: mean pitch (Hz), how far intonation moves it, and syllables per second."""

    pitch: float
    pitch_range: float
    syllable_rate: float


VOICES = (Voice(115.0, 25.0, 4.0), Voice(210.0, 40.0, 4.6), Voice(150.0, 30.0, 3.6), Voice(95.0, 15.0, 4.2))


def speech(seconds: float, *, seed: int, voice: Voice = VOICES[0], rate: int = RATE) -> np.ndarray:
    """`seconds` of float32 speech-like audio at `rate`, peak about 0.5; the same arguments give the same samples
    (synthesised once per test session: 24 s cost nearly a second each time; the caller gets its own copy)."""
    return _speech(seconds, seed, voice, rate).copy()


@lru_cache(maxsize=64)
def _speech(seconds: float, seed: int, voice: Voice, rate: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    t = np.arange(n) / rate
    # Intonation: a slow random walk of pitch, smoothed, plus a little vibrato.
    knots = rng.normal(0, 1, int(seconds * 2) + 2)
    contour = np.interp(t, np.linspace(0, seconds, len(knots)), knots)
    f0 = voice.pitch + voice.pitch_range * np.tanh(contour) + 2.0 * np.sin(2 * np.pi * 5.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    # Syllables: random lengths around 1 / syllable_rate, each with its vowel, some followed by a short pause.
    lengths = rng.uniform(0.6, 1.4, int(seconds * voice.syllable_rate) + 2) / voice.syllable_rate
    bounds = np.concatenate([[0.0], np.cumsum(lengths)])
    index = np.minimum(np.searchsorted(bounds, t, side="right") - 1, len(lengths) - 1)
    vowel = rng.integers(0, len(_VOWELS), len(lengths))
    voiced = rng.random(len(lengths)) > 0.15
    position = (t - bounds[index]) / lengths[index]
    envelope = np.sin(np.pi * np.clip(position / 0.85, 0, 1)) ** 0.7 * voiced[index]
    # Formants glide from one syllable's vowel to the next, and the voice's vocal tract scales them a little.
    tract = 1.0 + (voice.pitch - 150.0) / 900.0
    formants = _VOWELS[vowel][index] * tract
    nxt = _VOWELS[vowel[np.minimum(index + 1, len(lengths) - 1)]] * tract
    glide = np.clip((position - 0.7) / 0.3, 0, 1)[:, None]
    formants = formants * (1 - glide) + nxt * glide
    out = np.zeros(n)
    for k in range(1, int(3800 / voice.pitch) + 1):
        freq = k * f0
        gain = sum(1.0 / (1.0 + ((freq - formants[:, j]) / _BANDWIDTHS[j]) ** 2) for j in range(3))
        out += np.where(freq < rate / 2 - 200, gain / np.sqrt(k), 0.0) * np.sin(k * phase)
    out *= envelope
    # Consonants: short high-passed noise bursts at some syllable onsets.
    noise = np.diff(rng.normal(0, 1, n + 1))
    burst = (position < 0.12) & (rng.random(len(lengths)) > 0.5)[index]
    out += 0.15 * noise * burst
    return (0.5 * out / np.max(np.abs(out))).astype(np.float32)


def mux(
    samples: np.ndarray | None,
    *,
    rate: int = RATE,
    container: str = "mp4",
    codec: str = "aac",
    codec_rate: int | None = None,
    bitrate: int = 48_000,
    seconds: float | None = None,
    audio_delay: float = 0.0,
) -> bytes:
    """A small clip: a flat 64x48 video at 2 fps and, when `samples` is given, one mono audio track.

    `codec_rate` resamples inside the encoder (Opus only takes 8, 12, 16, 24 or 48 kHz); the sound starts
    `audio_delay` seconds after the first frame.
    """
    duration = seconds if seconds is not None else len(samples) / rate  # type: ignore[arg-type]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        video = out.add_stream("libx264" if container == "mp4" else "libvpx", rate=2)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = None if samples is None else add_sound(out, codec=codec, rate=codec_rate or rate, bitrate=bitrate)
        for i in range(max(1, int(duration * 2))):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 + (i * 7) % 180, np.uint8), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, 2)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None and samples is not None:
            write_sound(out, audio, samples, rate=rate, delay=audio_delay)
    return buffer.getvalue()


def sound_file(samples: np.ndarray, container: str, *, streams: int = 1) -> bytes:
    """`samples` (at RATE) as a sound file of `CONTAINERS[container]`, the sound in each of `streams` streams."""
    fmt, codec, rate, bitrate, _ = CONTAINERS[container]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt) as out:
        added = [add_sound(out, codec=codec, rate=rate, bitrate=bitrate) for _ in range(streams)]
        for stream in added:
            write_sound(out, stream, samples, rate=RATE)
    return buffer.getvalue()


def add_sound(out: av.container.OutputContainer, *, codec: str, rate: int, bitrate: int = 48_000) -> av.AudioStream:
    """A mono audio stream in `out` (before anything is muxed), for `write_sound`."""
    stream = out.add_stream(codec, rate=rate, layout="mono")
    stream.bit_rate = bitrate
    return stream


def write_sound(
    out: av.container.OutputContainer, stream: av.AudioStream, samples: np.ndarray, *, rate: int, delay: float = 0.0
) -> None:
    """Encode `samples` (at `rate`) into `stream`, starting `delay` seconds into the container, and flush it."""
    resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=stream.rate)
    step = rate // 10
    for begin in range(0, len(samples), step):
        chunk = samples[begin : begin + step].astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.rate = rate
        frame.pts = begin + round(delay * rate)
        frame.time_base = Fraction(1, rate)
        for converted in resampler.resample(frame):
            out.mux(stream.encode(converted))
    for converted in resampler.resample(None):
        out.mux(stream.encode(converted))
    out.mux(stream.encode(None))


def change_tempo(samples: np.ndarray, factor: float, *, rate: int = RATE) -> np.ndarray:
    """`samples` played `factor` times faster with pitch kept, by FFmpeg's `atempo` (what editors do)."""
    graph = av.filter.Graph()
    source = graph.add_abuffer(format="flt", sample_rate=rate, layout="mono", time_base=Fraction(1, rate))
    tempo = graph.add("atempo", str(factor))
    sink = graph.add("abuffersink")
    source.link_to(tempo)
    tempo.link_to(sink)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(samples.astype(np.float32)[None, :], format="flt", layout="mono")
    frame.rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
    graph.push(frame)
    graph.push(None)
    out = []
    while True:
        try:
            out.append(graph.pull().to_ndarray().reshape(-1))
        except (av.BlockingIOError, av.EOFError):
            return np.concatenate(out).astype(np.float32)


def swap(samples: np.ndarray, donor: np.ndarray, start: float, end: float, *, rate: int = RATE) -> np.ndarray:
    """`samples` with seconds [start, end) replaced by the same seconds of `donor` (a voice swap)."""
    out = samples.copy()
    out[round(start * rate) : round(end * rate)] = donor[round(start * rate) : round(end * rate)]
    return out


@cache
def recorded(name: str) -> np.ndarray:
    """The committed recording `tests/data/sound-<name>.opus` as mono float32 samples at RATE."""
    with av.open(str(_DATA / f"sound-{name}.opus")) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [
            out.to_ndarray().reshape(-1) for frame in container.decode(audio=0) for out in resampler.resample(frame)
        ]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    samples = np.concatenate(chunks).astype(np.float32)
    samples.flags.writeable = False
    return samples
