"""Real sound for the benchmarks: speech spoken by `espeak-ng`, music rendered by `fluidsynth`, platform-like encodes.

Speech is sentences of news-like text read by one of several espeak-ng voices (languages, variants, rates and
pitches); music is a General MIDI song written here (melody, chords, bass and drums on instruments chosen by the
seed) and rendered with the FluidR3 soundfont. Both are deterministic for a seed. `encode_sound` muxes a sound with a
silent video and re-encodes it the way platforms do (AAC or Opus at a bitrate, 44.1 or 48 kHz, mono or stereo, a
gain, a tempo change with pitch kept or a speed change by resampling), through the ffmpeg binary of imageio-ffmpeg.

These programs are Debian packages (`espeak-ng`, `fluidsynth`, `fluid-soundfont-gm`): benchmarks use them, tests do
not.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from scipy.signal import resample_poly

RATE = 44_100
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()

_SENTENCES = {
    "en": (
        "The council met on Tuesday evening to discuss plans for the new bridge across the river.",
        "Residents told reporters that the traffic on the old road had become unbearable since the spring.",
        "Firefighters worked through the night to contain the blaze near the industrial park.",
        "No one was injured, according to a statement released by the regional authority this morning.",
        "The harvest came in two weeks early this year after an unusually warm and dry summer.",
        "Farmers say prices for grain have fallen while the cost of fuel keeps rising.",
        "Thousands of people gathered in the central square to watch the final match on a giant screen.",
        "The museum will reopen next month after a renovation that lasted almost three years.",
        "Scientists at the university have published new measurements of the glacier's retreat.",
        "The storm is expected to reach the coast late on Friday, bringing heavy rain and strong winds.",
        "Schools in the northern districts will stay closed until the roads have been cleared.",
        "The minister declined to comment on the report but promised a full answer in parliament.",
        "Local volunteers have planted more than four thousand trees along the old railway line.",
        "A spokesperson for the hospital said the new wing would add two hundred beds.",
        "Witnesses described a loud bang followed by a column of grey smoke rising over the harbour.",
        "The trial is expected to last several weeks, with more than forty witnesses called to testify.",
    ),
    "de": (
        "Der Stadtrat hat am Dienstag über die Pläne für die neue Brücke beraten.",
        "Die Anwohner klagen seit Monaten über den starken Verkehr auf der alten Landstraße.",
        "Die Feuerwehr war die ganze Nacht im Einsatz, um den Brand im Hafen zu löschen.",
        "Nach Angaben der Behörden wurde niemand verletzt.",
        "Das Museum öffnet im nächsten Monat nach drei Jahren Umbau wieder seine Türen.",
        "Der Sturm soll am Freitagabend die Küste erreichen und starken Regen bringen.",
    ),
    "fr": (
        "Le conseil municipal s'est réuni mardi soir pour discuter du projet de nouveau pont.",
        "Les habitants se plaignent depuis des mois de la circulation sur l'ancienne route.",
        "Les pompiers ont travaillé toute la nuit pour maîtriser l'incendie près du port.",
        "Selon les autorités, personne n'a été blessé.",
        "Le musée rouvrira le mois prochain après trois années de travaux.",
        "La tempête devrait atteindre la côte vendredi soir avec de fortes pluies.",
    ),
    "es": (
        "El ayuntamiento se reunió el martes para hablar del nuevo puente sobre el río.",
        "Los vecinos se quejan desde hace meses del tráfico en la carretera vieja.",
        "Los bomberos trabajaron toda la noche para controlar el incendio cerca del puerto.",
        "Según las autoridades, nadie resultó herido.",
        "El museo volverá a abrir el mes que viene después de tres años de obras.",
        "Se espera que la tormenta llegue a la costa el viernes por la noche.",
    ),
}
# (espeak-ng voice, language of its text)
VOICES = (
    ("en-us", "en"),
    ("en-gb+f3", "en"),
    ("en-us+m3", "en"),
    ("en-gb-scotland+f2", "en"),
    ("en-us+f4", "en"),
    ("de+m2", "de"),
    ("fr-fr+f1", "fr"),
    ("es+m4", "es"),
)
# General MIDI programs: melody, chords, bass
_MELODY = (0, 11, 24, 40, 56, 65, 71, 73, 80)
_CHORDS = (0, 4, 16, 19, 25, 48, 52, 88, 89)
_BASS = (32, 33, 34, 38)


def available() -> bool:
    return shutil.which("espeak-ng") is not None and shutil.which("fluidsynth") is not None and SOUNDFONT.exists()


def read_wav(path: Path) -> np.ndarray:
    """(samples, channels) float32 at the file's rate; `RATE` is what this module writes."""
    with wave.open(str(path)) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
        return data.reshape(-1, w.getnchannels())


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> None:
    samples = samples.reshape(len(samples), -1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def speech(seconds: float, *, seed: int, voice: int | None = None) -> np.ndarray:
    """At least `seconds` of one espeak-ng voice reading shuffled sentences, mono at RATE, pauses between them."""
    rng = np.random.default_rng(seed)
    name, language = VOICES[seed % len(VOICES) if voice is None else voice]
    sentences = list(_SENTENCES[language])
    rate, pitch = int(rng.integers(140, 185)), int(rng.integers(30, 70))
    parts: list[np.ndarray] = []
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        while total < seconds:
            text = sentences[int(rng.integers(len(sentences)))]
            out = Path(tmp) / "s.wav"
            subprocess.run(
                ["espeak-ng", "-v", name, "-s", str(rate), "-p", str(pitch), "-w", str(out), text],
                check=True,
                capture_output=True,
            )
            said = resample_poly(read_wav(out)[:, 0], 2, 1)  # espeak-ng speaks at 22.05 kHz
            pause = np.zeros(round(float(rng.uniform(0.15, 0.6)) * RATE), np.float32)
            parts += [said.astype(np.float32), pause]
            total += (len(said) + len(pause)) / RATE
    out = np.concatenate(parts)
    return (0.5 * out / max(1e-6, float(np.abs(out).max()))).astype(np.float32)


@dataclass(frozen=True)
class _Note:
    start: float  # beats
    length: float
    channel: int
    pitch: int
    velocity: int


def song(seconds: float, *, seed: int) -> bytes:
    """A General MIDI file of about `seconds`: melody, chords, bass and drums in a key, tempo and instruments of
    the seed's choosing."""
    rng = np.random.default_rng(seed)
    bpm = int(rng.integers(78, 140))
    root = int(rng.integers(50, 62))
    scale = (0, 2, 4, 5, 7, 9, 11) if rng.random() < 0.6 else (0, 2, 3, 5, 7, 8, 10)
    degrees = [0, 4, 5, 3, 0, 3, 4, 0, 5, 1]
    bars = int(np.ceil(seconds * bpm / 60 / 4)) + 1
    notes: list[_Note] = []
    melody_pitch = 0
    for bar in range(bars):
        degree = degrees[int(rng.integers(len(degrees)))]
        chord = [root + scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]
        at = bar * 4.0
        for pitch in chord:
            notes.append(_Note(at, 3.9, 1, pitch, 60))
        notes.append(_Note(at, 1.9, 2, chord[0] - 24, 90))
        notes.append(_Note(at + 2, 1.9, 2, chord[0] - 24 + (7 if rng.random() < 0.5 else 0), 85))
        beat = 0.0
        while beat < 4:
            length = float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
            melody_pitch = int(np.clip(melody_pitch + rng.integers(-2, 3), -3, 9))
            pitch = root + 12 + scale[melody_pitch % 7] + 12 * (melody_pitch // 7)
            if rng.random() > 0.12:
                notes.append(_Note(at + beat, min(length, 4 - beat) * 0.95, 0, pitch, int(rng.integers(80, 110))))
            beat += length
        for eighth in range(8):
            t = at + eighth / 2
            notes.append(_Note(t, 0.25, 9, 42, 60))  # closed hi-hat
            if eighth in (0, 4) or (eighth == 6 and rng.random() < 0.4):
                notes.append(_Note(t, 0.25, 9, 36, 100))  # bass drum
            if eighth in (2, 6):
                notes.append(_Note(t, 0.25, 9, 38, 90))  # snare
    programs = {
        0: int(rng.choice(_MELODY)),
        1: int(rng.choice(_CHORDS)),
        2: int(rng.choice(_BASS)),
    }
    return _midi(notes, programs, bpm)


def _midi(notes: list[_Note], programs: dict[int, int], bpm: int, ticks: int = 480) -> bytes:
    """A format-0 Standard MIDI File."""
    events: list[tuple[int, int, bytes]] = [(0, 0, bytes([0xFF, 0x51, 3]) + (60_000_000 // bpm).to_bytes(3, "big"))]
    events += [(0, 1, bytes([0xC0 | channel, program])) for channel, program in programs.items()]
    for note in notes:
        on, off = round(note.start * ticks), round((note.start + note.length) * ticks)
        events.append((on, 3, bytes([0x90 | note.channel, note.pitch, note.velocity])))
        events.append((off, 2, bytes([0x80 | note.channel, note.pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    body = bytearray()
    last = 0
    for tick, _, message in events:
        body += _varlen(tick - last) + message
        last = tick
    body += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks) + b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def music(seconds: float, *, seed: int) -> np.ndarray:
    """`seconds` of a song of the seed's rendered by fluidsynth, stereo at RATE."""
    with tempfile.TemporaryDirectory() as tmp:
        mid, out = Path(tmp) / "song.mid", Path(tmp) / "song.wav"
        mid.write_bytes(song(seconds, seed=seed))
        subprocess.run(
            ["fluidsynth", "-ni", "-g", "0.6", "-F", str(out), "-r", str(RATE), str(SOUNDFONT), str(mid)],
            check=True,
            capture_output=True,
        )
        samples = read_wav(out)
    samples = samples[: round(seconds * RATE)]
    return (0.5 * samples / max(1e-6, float(np.abs(samples).max()))).astype(np.float32)


def mono(samples: np.ndarray) -> np.ndarray:
    return samples.reshape(len(samples), -1).mean(axis=1).astype(np.float32)


def mix(voice: np.ndarray, bed: np.ndarray, *, bed_gain: float) -> np.ndarray:
    """Speech over music (a report with a soundtrack under it), stereo."""
    n = min(len(voice), len(bed))
    bed = bed[:n].reshape(n, -1)
    out = voice[:n, None] + bed_gain * (bed if bed.shape[1] == 2 else np.repeat(bed, 2, axis=1))
    return (0.5 * out / max(1e-6, float(np.abs(out).max()))).astype(np.float32)


@dataclass(frozen=True)
class Encoding:
    """How a platform re-encodes a clip's sound."""

    codec: str = "aac"  # or "libopus"
    bitrate: int = 128  # kb/s
    rate: int = 44_100
    channels: int = 2
    gain_db: float = 0.0
    tempo: float = 1.0  # played this much faster, pitch kept (atempo)
    resample: float = 1.0  # played this much faster by resampling (pitch moves with it)

    def label(self) -> str:
        parts = [f"{'opus' if self.codec == 'libopus' else self.codec} {self.bitrate}k {self.rate // 1000}k"]
        parts.append("stereo" if self.channels == 2 else "mono")
        if self.gain_db:
            parts.append(f"{self.gain_db:+.0f}dB")
        if self.tempo != 1.0:
            parts.append(f"tempo {self.tempo:.3g}x")
        if self.resample != 1.0:
            parts.append(f"resampled {self.resample:.3g}x")
        return " ".join(parts)


def encode_sound(video: bytes | None, sound: np.ndarray, encoding: Encoding) -> bytes:
    """`video` (MP4/H.264, its own sound ignored; None: sound only) with `sound` (at RATE, from the video's time 0)
    as its one sound track, encoded as `encoding` says; Opus goes into Matroska, AAC into MP4."""
    filters = [f"volume={encoding.gain_db}dB"]
    if encoding.resample != 1.0:
        filters.append(f"asetrate={RATE * encoding.resample:.3f},aresample={RATE}")
    if encoding.tempo != 1.0:
        filters.append(f"atempo={encoding.tempo:.6f}")
    suffix = ".mp4" if encoding.codec == "aac" else ".mkv"
    with tempfile.TemporaryDirectory() as tmp:
        source, wav, out = Path(tmp) / "v.mp4", Path(tmp) / "a.wav", Path(tmp) / f"out{suffix}"
        write_wav(wav, sound)
        command = [FFMPEG, "-v", "error", "-y"]
        if video is None:
            command += ["-i", str(wav)]
        else:
            source.write_bytes(video)
            command += ["-i", str(source), "-i", str(wav), "-map", "0:v", "-map", "1:a", "-c:v", "copy"]
        command += ["-af", ",".join(filters), "-c:a", encoding.codec, "-b:a", f"{encoding.bitrate}k"]
        command += ["-ar", str(encoding.rate), "-ac", str(encoding.channels), "-shortest", str(out)]
        subprocess.run(command, check=True, capture_output=True)
        return out.read_bytes()


# Short real recordings the tests load (`tests/audioclips.py`), so that they need neither program: a voice and
# another, a song and another, as mono Opus at 24 kb/s (about 3 KB a second).
TEST_SOUNDS = {
    "speech": lambda: speech(16, seed=3, voice=0)[: 16 * RATE],
    "speech-other": lambda: speech(6, seed=4, voice=1)[: 6 * RATE],
    "music": lambda: mono(music(16, seed=5)),
    "music-other": lambda: mono(music(6, seed=6)),
}


def write_test_sounds(folder: Path) -> None:
    """tests/data/sound-<name>.opus for each of TEST_SOUNDS."""
    for name, make in TEST_SOUNDS.items():
        encoded = encode_sound(None, make(), Encoding("libopus", 24, 48_000, 1))
        with tempfile.TemporaryDirectory() as tmp:
            mkv, out = Path(tmp) / "in.mkv", folder / f"sound-{name}.opus"
            mkv.write_bytes(encoded)
            command = [FFMPEG, "-v", "error", "-y", "-i", str(mkv), "-c:a", "copy", "-map_metadata", "-1"]
            subprocess.run([*command, "-fflags", "+bitexact", str(out)], check=True, capture_output=True)


if __name__ == "__main__":
    write_test_sounds(Path(__file__).resolve().parents[1] / "tests" / "data")
