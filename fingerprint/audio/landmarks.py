"""Spectral-peak landmarks: the audio fingerprint, after Wang's Shazam paper (ISMIR 2003).

Chromaprint (`pyacoustid`, `fpcalc`) needs the system library libchromaprint, which no PyPI wheel ships, and it
summarises music by chroma, which says little about *which* voice speaks; spectral peaks are local, so they also
tell where in a clip the sound changed.

What is stored per original is the peaks themselves (time frame, frequency bin) plus a loudness envelope, not the
pair hashes: 5 bytes per peak before compression, and hashes are rebuilt from peaks in microseconds, so a query can
re-hash them under a speed hypothesis. At `PEAKS_PER_SECOND` the blob stays under about 80 bytes per second.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import cv2
import numpy as np

from fingerprint.audio.decode import Audio

FORMAT_VERSION = 1
N_FFT = 512  # 64 ms at 8 kHz: resolves the harmonics of a low male voice (15.6 Hz bins)
HOP = 128  # 16 ms: the time resolution of peaks, offsets and spans
LOW_BIN, HIGH_BIN = 4, 250  # about 60-3900 Hz: below is hum, above is what low-bitrate codecs cut
# A peak is the maximum of its neighbourhood: about 180 ms either side and 110 Hz either side of it.
PEAK_TIME_RADIUS, PEAK_BIN_RADIUS = 5, 7
PEAK_FLOOR_DB = -75.0  # dB relative to a full-scale sine; quieter "peaks" are codec noise and dither
PEAKS_PER_SECOND = 24
PEAKS_PER_FRAME = 3
LOUDNESS_STEP = 0.1  # seconds per loudness value
SILENCE_DB = -120.0
# Pairs: each anchor peak pairs with the next FAN_OUT peaks up to MAX_DT frames (about 1 s) later and within
# MAX_DF bins, giving a 22-bit hash (anchor bin, bin difference, frame difference).
FAN_OUT = 5
MAX_DT = 63
MAX_DF = 63
_SCAN_AHEAD = 40  # later peaks looked at per anchor to find FAN_OUT that fit the target zone
_HEADER = struct.Struct("<BHHHdII")  # version, rate, hop, n_fft, start, peak count, loudness count
MAX_BLOB_BYTES = 64 << 20


@dataclass(frozen=True, slots=True, eq=False)
class AudioFingerprint:
    """The landmarks of one audio track: peak frames and bins, and a loudness envelope in dBFS.

    Times are container seconds: `start + frame * hop / rate` for peaks, `start + i * LOUDNESS_STEP` for loudness.
    """

    rate: int
    hop: int
    n_fft: int
    start: float
    frames: np.ndarray  # uint32, non-decreasing
    bins: np.ndarray  # uint8
    loudness: np.ndarray  # float32 dBFS per LOUDNESS_STEP, quantised to 0.5 dB
    _pairs: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list, init=False, repr=False)

    @property
    def frame_seconds(self) -> float:
        return self.hop / self.rate

    @property
    def duration(self) -> float:
        return len(self.loudness) * LOUDNESS_STEP

    def peak_times(self) -> np.ndarray:
        return self.start + self.frames * self.frame_seconds

    def hashes(self) -> tuple[np.ndarray, np.ndarray]:
        """(hash, anchor frame) of every landmark pair, sorted by hash; computed once."""
        if not self._pairs:
            hashes, anchors = pair_hashes(self.frames.astype(np.float64), self.bins.astype(np.float64))
            order = np.argsort(hashes, kind="stable")
            self._pairs.append((hashes[order], anchors[order]))
        return self._pairs[0]

    def to_bytes(self) -> bytes:
        """Version byte and header, then the zlib-compressed peaks and loudness; `from_bytes` reads it back."""
        deltas = np.diff(self.frames.astype(np.int64), prepend=0).astype("<u4")
        loud = np.clip(np.round(-self.loudness * 2), 0, 255).astype(np.uint8)
        body = deltas.tobytes() + self.bins.astype(np.uint8).tobytes() + loud.tobytes()
        header = _HEADER.pack(FORMAT_VERSION, self.rate, self.hop, self.n_fft, self.start, len(self.frames), len(loud))
        return header + zlib.compress(body, 6)

    @classmethod
    def from_bytes(cls, blob: bytes) -> AudioFingerprint:
        """Parse `to_bytes` output; a damaged or foreign blob raises ValueError, never decodes into garbage."""
        if len(blob) < _HEADER.size:
            raise ValueError("audio fingerprint blob is too short")
        version, rate, hop, n_fft, start, n_peaks, n_loud = _HEADER.unpack_from(blob)
        if version != FORMAT_VERSION:
            raise ValueError(f"unknown audio fingerprint version {version}")
        expected = n_peaks * 5 + n_loud
        if expected > MAX_BLOB_BYTES or rate == 0 or hop == 0 or not np.isfinite(start):
            raise ValueError("audio fingerprint header is inconsistent")
        try:
            inflater = zlib.decompressobj()
            body = inflater.decompress(blob[_HEADER.size :], expected + 1)
        except zlib.error as exc:
            raise ValueError(f"audio fingerprint body is damaged: {exc}") from None
        if len(body) != expected or not inflater.eof or inflater.unused_data:
            raise ValueError("audio fingerprint body has the wrong length")
        deltas = np.frombuffer(body, dtype="<u4", count=n_peaks)
        frames = np.cumsum(deltas, dtype=np.uint64)
        if n_peaks and frames[-1] > np.iinfo(np.uint32).max:
            raise ValueError("audio fingerprint frames overflow")
        bins = np.frombuffer(body, dtype=np.uint8, count=n_peaks, offset=4 * n_peaks).copy()
        loud = np.frombuffer(body, dtype=np.uint8, count=n_loud, offset=5 * n_peaks)
        return cls(
            rate=rate,
            hop=hop,
            n_fft=n_fft,
            start=start,
            frames=frames.astype(np.uint32),
            bins=bins,
            loudness=(loud.astype(np.float32) / -2),
        )


def fingerprint_audio(audio: Audio) -> AudioFingerprint:
    """The landmarks of `audio`: the strongest local maxima of its log spectrogram, at most PEAKS_PER_SECOND."""
    level = spectrogram_db(audio.samples)
    frames, bins = _peaks(level, frames_per_second=audio.rate / HOP)
    return AudioFingerprint(
        rate=audio.rate,
        hop=HOP,
        n_fft=N_FFT,
        start=audio.start,
        frames=frames.astype(np.uint32),
        bins=bins.astype(np.uint8),
        loudness=_loudness(audio.samples, round(audio.rate * LOUDNESS_STEP)),
    )


def spectrogram_db(samples: np.ndarray) -> np.ndarray:
    """(frames, N_FFT // 2 + 1) levels in dB relative to a full-scale sine, Hann window, HOP apart."""
    if len(samples) < N_FFT:
        samples = np.pad(samples, (0, N_FFT - len(samples)))
    window = np.hanning(N_FFT).astype(np.float32)
    count = 1 + (len(samples) - N_FFT) // HOP
    strided = np.lib.stride_tricks.sliding_window_view(samples, N_FFT)[::HOP][:count]
    magnitude = np.abs(np.fft.rfft(strided * window, axis=1)).astype(np.float32)
    magnitude *= 2.0 / window.sum()
    return 20.0 * np.log10(magnitude + 1e-9)


def _peaks(level: np.ndarray, *, frames_per_second: float) -> tuple[np.ndarray, np.ndarray]:
    band = np.ascontiguousarray(level[:, LOW_BIN:HIGH_BIN])
    kernel = np.ones((2 * PEAK_TIME_RADIUS + 1, 2 * PEAK_BIN_RADIUS + 1), dtype=np.uint8)
    neighbourhood_max = cv2.dilate(band, kernel, borderType=cv2.BORDER_REPLICATE)
    is_peak = (band >= neighbourhood_max) & (band > PEAK_FLOOR_DB)
    frames, bins = np.nonzero(is_peak)
    strength = band[frames, bins]
    # At most PEAKS_PER_FRAME per frame: a consonant's noise burst makes a row of peaks in one frame that codecs
    # (Opus fills noise bands with its own noise) do not keep, and they would outnumber the voiced peaks around it.
    keep = _strongest(frames, strength, PEAKS_PER_FRAME)
    frames, bins, strength = frames[keep], bins[keep], strength[keep]
    # The strongest PEAKS_PER_SECOND of every second, so loud passages do not crowd out quiet ones and the
    # fingerprint size is bounded by duration alone.
    keep = _strongest((frames / frames_per_second).astype(np.int64), strength, PEAKS_PER_SECOND)
    keep = keep[np.lexsort((bins[keep], frames[keep]))]
    return frames[keep], bins[keep] + LOW_BIN


def _strongest(groups: np.ndarray, strength: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the `limit` strongest items of each group."""
    order = np.lexsort((-strength, groups))
    sorted_groups = groups[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_groups, sorted_groups, side="left")
    return order[rank < limit]


def pair_hashes(frames: np.ndarray, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hash, anchor frame) for each anchor and its next FAN_OUT peaks in the target zone.

    Takes float frames and bins so a caller can first map them under a speed hypothesis; they are rounded here.
    """
    n = len(frames)
    if n < 2:
        return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int64)
    ahead = np.arange(1, _SCAN_AHEAD + 1)
    anchor = np.arange(n)[:, None]
    target = np.minimum(anchor + ahead[None, :], n - 1)
    dt = np.rint(frames[target] - frames[anchor]).astype(np.int64)
    f1 = np.rint(bins).astype(np.int64)
    df = f1[target] - f1[anchor]
    valid = (target > anchor) & (dt >= 1) & (dt <= MAX_DT) & (np.abs(df) <= MAX_DF)
    valid &= np.cumsum(valid, axis=1) <= FAN_OUT
    rows, cols = np.nonzero(valid)
    f_anchor = np.clip(f1[rows], 0, 255)
    hashes = (f_anchor << 14) | ((df[rows, cols] + 64) << 6) | dt[rows, cols]
    return hashes.astype(np.uint32), np.rint(frames[rows]).astype(np.int64)


def _loudness(samples: np.ndarray, step: int) -> np.ndarray:
    count = max(1, -(-len(samples) // step))
    padded = np.pad(samples, (0, count * step - len(samples))).reshape(count, step).astype(np.float64)
    rms = np.sqrt(np.mean(padded**2, axis=1))
    # dB relative to a full-scale sine's RMS, as the spectrogram levels are
    db = 20 * np.log10(np.maximum(rms * np.sqrt(2), 1e-12))
    return np.clip(np.round(db * 2) / 2, SILENCE_DB, 0).astype(np.float32)
