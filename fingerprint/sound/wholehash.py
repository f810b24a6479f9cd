"""`soundhash`: a 64-bit hash of a whole sound file, kept as a lookup key (`lookup --alg soundhash`) and nothing more.

After Haitsma and Kalker (ISMIR 2002): the track is cut into 17 equal stretches and 5 frequency bands (100-3500 Hz,
spaced like hearing); each bit is the sign of how the energy difference between two neighbouring bands changes from
one stretch to the next. Signs of differences of differences survive gain, codecs and equalisation, and stretches
that are a share of the duration survive a tempo change of the whole file; an excerpt or a file with sound added at
one end is another hash (the landmarks find those). Measured in bench/sound_only.py.

A track too short for 17 stretches, or one whose bands never change (silence, a steady tone), gives every such file
the same bits: its record has quality 0, below every match policy's minimum, so it is stored but never returned by a
lookup (it would name every silent file as the same sound).
"""

from __future__ import annotations

import itertools

import numpy as np

from fingerprint.algorithms import CANONICAL, HashRecord
from fingerprint.audio import Audio
from fingerprint.audio.landmarks import N_FFT, spectrogram_db
from fingerprint.hashes import HashValue

SOUNDHASH = "soundhash"
SOUNDHASH_BITS = 64
_STRETCHES = 17
_BAND_EDGES_HZ = (100, 250, 500, 900, 1600, 3500)
# A bit decided by a change smaller than this (in log10 energy: 0.01 dB) is noise, not the sound's shape.
_MIN_CHANGE = 1e-3
UNTRUSTED = 0  # the quality of a hash that tells nothing apart


def soundhash_record(audio: Audio) -> HashRecord:
    """The track's `soundhash` as a stored record: quality 0 when it tells nothing apart (see the module), else
    unrated, as every whole-file hash is."""
    value, telling = _soundhash(audio)
    return HashRecord(SOUNDHASH, CANONICAL, value, None if telling else UNTRUSTED)


def _soundhash(audio: Audio) -> tuple[HashValue, bool]:
    """The hash (all zero bits for a track too short to have 17 stretches), and whether most of its bits were
    decided by a real change in the sound."""
    level = spectrogram_db(audio.samples)
    if len(level) < _STRETCHES:
        return HashValue(bytes(SOUNDHASH_BITS // 8)), False
    power = 10.0 ** (level.astype(np.float64) / 10.0)
    edges = [round(hz * N_FFT / audio.rate) for hz in _BAND_EDGES_HZ]
    bands = np.stack([power[:, lo:hi].sum(axis=1) for lo, hi in itertools.pairwise(edges)], axis=1)
    rows = np.array_split(np.arange(len(bands)), _STRETCHES)
    energy = np.log10(np.stack([bands[r].mean(axis=0) for r in rows]) + 1e-12)
    across = energy[:, :-1] - energy[:, 1:]  # (17, 4): band k louder than band k+1
    change = across[:-1] - across[1:]  # (16, 4)
    telling = float(np.mean(np.abs(change) > _MIN_CHANGE)) > 0.5
    return HashValue.from_bits((change > 0).reshape(-1)), telling
