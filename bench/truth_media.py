"""Media for the truth benchmark (bench/truth.py): real photographs, footage, speech, music and the edits of queries.

Photographs come from Debian's wallpaper packages; bench/truth_photos.json lists each file with its package, author,
licence and role. Footage is a camera moving over them (pans of up to half the frame width per second, zooms, slight
rotations, hard cuts between shots), rendered at the footage's own frame rate, or a variable one, and encoded with
imageio-ffmpeg's ffmpeg binary. Sound is speech spoken by espeak-ng over music that fluidsynth renders from General
MIDI songs written here (melody, chords, bass, drums; several instruments). Queries are made from the encoded
originals by ffmpeg, as a platform or an editor would make them. Every function gives the same bytes for the same
arguments, on one thread.
"""

from __future__ import annotations

import io
import json
import math
import struct
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageFont
from scipy.signal import resample_poly

MANIFEST = Path(__file__).with_name("truth_photos.json")
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
_QUIET = ("-hide_banner", "-loglevel", "error", "-y")
# Reproducible files: no encoder version strings or creation times, one thread everywhere.
_STABLE = ("-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1")
_THREADS = ("-threads", "1", "-filter_threads", "1", "-filter_complex_threads", "1")
PEAK = 0.3  # sound is mixed to this peak (-10.5 dBFS), so a +10 dB query barely clips

Image.MAX_IMAGE_PIXELS = 40_000_000  # the largest wallpaper has 20 megapixels


# --- photographs --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Photo:
    name: str
    path: Path
    package: str
    licence: str
    role: str  # footage, footage_other, photo or other (see the manifest's "about")


def photos(role: str) -> list[Photo]:
    """The manifest's photographs with this role, in its order."""
    entries = json.loads(MANIFEST.read_text())["photos"]
    return [
        Photo(e["name"], Path(e["path"]), e["package"], e["licence"], e["role"]) for e in entries if e["role"] == role
    ]


@lru_cache(maxsize=4)
def pixels(path: Path, max_side: int | None = None) -> np.ndarray:
    """A photograph as RGB pixels, at most `max_side` on its longer side (area-resampled)."""
    image = Image.open(path)
    if max_side is not None:
        image.draft("RGB", (max_side, max_side))
    image = image.convert("RGB")
    if max_side is not None and max(image.size) > max_side:
        scale = max_side / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    return np.asarray(image)


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's own scalable font: no font package needed."""
    return ImageFont.load_default(size)


def encode_image(rgb: np.ndarray, fmt: str, quality: int = 90) -> bytes:
    """PNG, JPEG or WEBP bytes of `rgb`."""
    buffer = io.BytesIO()
    options = {} if fmt == "PNG" else {"quality": quality}
    Image.fromarray(rgb).save(buffer, fmt, **options)
    return buffer.getvalue()


# --- footage ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pose:
    x: float  # the window's centre, shares of the photo's width and height
    y: float
    height: float  # the window's height, share of the photo's shorter side
    angle: float  # degrees counter-clockwise


@dataclass(frozen=True, slots=True)
class Shot:
    photo: Path
    seconds: float
    start: Pose
    end: Pose
    speed: float  # frame widths per second the window moves


def plan_shots(rng: np.random.Generator, sources: Sequence[Path], seconds: float, aspect: float) -> list[Shot]:
    """Shots until `seconds` are filled, each over another photo than the shot before: pans at 0.03-0.5 frame
    widths per second (mostly sideways; the fast ones short and close up, as far as the photo allows), zooms, some
    with a slight rotation."""
    shots: list[Shot] = []
    total, previous = 0.0, -1
    while total < seconds:
        index = int(rng.integers(len(sources)))
        if index == previous:
            index = (index + 1) % len(sources)
        previous = index
        shots.append(_shot(rng, sources[index], aspect))
        total += shots[-1].seconds
    return shots


def _shot(rng: np.random.Generator, source: Path, aspect: float) -> Shot:
    width, height = Image.open(source).size
    short = min(width, height)
    zoom = rng.random() < 0.25
    rotating = rng.random() < 0.4
    speed = float(rng.uniform(0.0, 0.05) if zoom else rng.uniform(0.03, 0.5))
    fast = speed > 0.25
    seconds = float(rng.uniform(2.0, 3.5) if fast else rng.uniform(3.0, 7.0))
    most = 0.97 * min(1.0, width / (short * aspect))  # the largest window height that fits the photo's width
    h0 = float(rng.uniform(0.3, 0.5) if fast else rng.uniform(0.45, 0.85)) * most
    h1 = float(np.clip(h0 * rng.uniform(0.7, 1.4), 0.35 * most, most)) if zoom else h0
    a0 = float(rng.uniform(-3, 3)) if rotating else 0.0
    a1 = a0 + float(rng.uniform(-2, 2)) if rotating else a0
    direction = float(rng.choice([0.0, math.pi]) + rng.normal(0, 0.35))
    # extents of the largest (rotated) window the shot shows, in photo pixels
    win_h = max(h0, h1) * short
    win_w = win_h * aspect
    tilt = math.radians(max(abs(a0), abs(a1)))
    ext_x = (win_w * math.cos(tilt) + win_h * math.sin(tilt)) / 2 + 2
    ext_y = (win_w * math.sin(tilt) + win_h * math.cos(tilt)) / 2 + 2
    room_x, room_y = max(0.0, width - 2 * ext_x), max(0.0, height - 2 * ext_y)
    travel = speed * seconds * win_w
    dx, dy = travel * math.cos(direction), travel * math.sin(direction)
    shrink = min(1.0, room_x / abs(dx) if dx else 1.0, room_y / abs(dy) if dy else 1.0)
    dx, dy = dx * shrink, dy * shrink
    x0 = ext_x + max(0.0, -dx) + rng.uniform(0, 1) * (room_x - abs(dx))
    y0 = ext_y + max(0.0, -dy) + rng.uniform(0, 1) * (room_y - abs(dy))
    return Shot(
        source,
        seconds,
        Pose(x0 / width, y0 / height, h0, a0),
        Pose((x0 + dx) / width, (y0 + dy) / height, h1, a1),
        speed * shrink,
    )


@dataclass
class Camera:
    """Renders the frame a list of shots shows at any time, from an image pyramid of each photo."""

    shots: list[Shot]
    size: tuple[int, int]
    _pyramids: dict[Path, list[np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for shot in self.shots:
            if shot.photo not in self._pyramids:
                levels = [pixels(shot.photo)]
                while min(levels[-1].shape[:2]) > 2 * self.size[1]:
                    levels.append(cv2.pyrDown(levels[-1]))
                self._pyramids[shot.photo] = levels
        self._starts = np.cumsum([0.0] + [shot.seconds for shot in self.shots[:-1]])

    @property
    def seconds(self) -> float:
        return float(sum(shot.seconds for shot in self.shots))

    def frame(self, t: float) -> np.ndarray:
        index = max(0, int(np.searchsorted(self._starts, t, side="right")) - 1)
        shot = self.shots[index]
        u = min(max((t - self._starts[index]) / shot.seconds, 0.0), 1.0)
        x, y, share, angle = (a + (b - a) * u for a, b in zip(_fields(shot.start), _fields(shot.end), strict=True))
        levels = self._pyramids[shot.photo]
        height, width = levels[0].shape[:2]
        scale = self.size[1] / (share * min(width, height))  # frame pixels per photo pixel
        level = min(len(levels) - 1, max(0, math.floor(math.log2(1 / scale))))
        source = levels[level]
        factor = width / source.shape[1]
        cx, cy = x * width / factor, y * height / factor
        warp = cv2.getRotationMatrix2D((cx, cy), angle, scale * factor)
        warp[0, 2] += self.size[0] / 2 - cx
        warp[1, 2] += self.size[1] / 2 - cy
        return cv2.warpAffine(source, warp, self.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def _fields(pose: Pose) -> tuple[float, float, float, float]:
    return pose.x, pose.y, pose.height, pose.angle


# A phone's variable frame rate: 60 fps for 2 s, 30 fps for 2 s, then an irregular ~38 fps for 2 s, from 60 fps.
VFR_SELECT = "if(lt(mod(t,6),2),1,if(lt(mod(t,6),4),not(mod(n,2)),lt(mod(n*37,11),7)))"


def encode_footage(
    out: Path,
    camera: Camera,
    *,
    seconds: float,
    fps: Fraction | None,
    sound: np.ndarray,
    rate: int,
    bframes: bool,
    crf: int = 20,
) -> None:
    """`seconds` of the camera's shots at `fps` (None: variable, rendered at 60 and thinned) with `sound`, as an
    H.264 (x264 veryfast, with or without B-frames) + AAC 160 kb/s MP4."""
    render_fps = fps or Fraction(60)
    frames = int(seconds * render_fps)
    with tempfile.TemporaryDirectory() as scratch:
        wav = Path(scratch) / "sound.wav"
        write_wav(wav, sound, rate)
        rate_args = ["-fps_mode", "vfr", "-vf", f"select='{VFR_SELECT}'"] if fps is None else []
        process = subprocess.Popen(
            [
                FFMPEG,
                *_QUIET,
                "-threads",
                "1",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-s",
                f"{camera.size[0]}x{camera.size[1]}",
                "-framerate",
                str(render_fps),
                "-i",
                "-",
                "-i",
                str(wav),
                "-map",
                "0:v",
                "-map",
                "1:a",
                *rate_args,
                *_THREADS,
                *_x264(crf, "veryfast", bframes),
                "-c:a",
                "aac",
                "-b:a",
                "160k",
                "-shortest",
                "-movflags",
                "+faststart",
                *_STABLE,
                str(out),
            ],
            stdin=subprocess.PIPE,
        )
        assert process.stdin is not None
        try:
            for k in range(frames):
                process.stdin.write(camera.frame(float(k / render_fps)).tobytes())
        finally:
            process.stdin.close()
        if process.wait() != 0:
            raise RuntimeError(f"ffmpeg failed to encode {out.name}")


def _x264(crf: int, preset: str, bframes: bool) -> list[str]:
    return [
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-crf",
        str(crf),
        "-pix_fmt",
        "yuv420p",
        "-bf",
        "3" if bframes else "0",
    ]


# --- sound --------------------------------------------------------------------------------------------------------

SENTENCES = {
    "en": (
        "The river rose overnight and the old bridge was closed to traffic before dawn.",
        "Volunteers filled sandbags along the embankment while the rain kept falling.",
        "The council will meet on Tuesday to decide whether the market can reopen.",
        "Witnesses said the fire started in a workshop behind the station.",
        "Farmers in the valley expect a late harvest after the cold spring.",
        "The museum reopens next month with a new hall for local history.",
        "Police asked drivers to avoid the coast road until the evening.",
        "Schools in the north will stay closed for the rest of the week.",
        "The mayor thanked the crews who worked through the night.",
        "Ticket prices for the ferry will rise by ten percent in April.",
    ),
    "de": (
        "Der Fluss ist über Nacht gestiegen und die alte Brücke wurde gesperrt.",
        "Freiwillige haben am Ufer Sandsäcke gefüllt, während es weiter regnete.",
        "Der Stadtrat entscheidet am Dienstag, ob der Markt wieder öffnen darf.",
        "Die Bauern im Tal rechnen nach dem kalten Frühling mit einer späten Ernte.",
    ),
    "fr": (
        "La rivière a monté pendant la nuit et le vieux pont a été fermé.",
        "Des bénévoles ont rempli des sacs de sable le long de la digue.",
        "Le conseil municipal se réunira mardi pour décider de la réouverture du marché.",
        "Les agriculteurs de la vallée attendent une récolte tardive cette année.",
    ),
    "es": (
        "El río subió durante la noche y el puente viejo quedó cerrado al tráfico.",
        "Los voluntarios llenaron sacos de arena junto al dique mientras seguía lloviendo.",
        "El ayuntamiento decidirá el martes si el mercado puede volver a abrir.",
        "Los agricultores del valle esperan una cosecha tardía después de la primavera fría.",
    ),
    "it": (
        "Il fiume è salito durante la notte e il vecchio ponte è stato chiuso.",
        "I volontari hanno riempito sacchi di sabbia lungo l'argine sotto la pioggia.",
        "Il consiglio deciderà martedì se il mercato potrà riaprire.",
    ),
    "nl": (
        "De rivier is vannacht gestegen en de oude brug is afgesloten voor verkeer.",
        "Vrijwilligers vulden zandzakken langs de dijk terwijl het bleef regenen.",
        "De gemeenteraad beslist dinsdag of de markt weer open mag.",
    ),
}
# espeak-ng voices: language + variant (male m1-m7, female f1-f5, klatt synthesiser)
VOICES = (
    "en-us+m3",
    "en-gb+f2",
    "en-us+f4",
    "en-gb-scotland+m1",
    "de+m2",
    "de+f3",
    "fr+m4",
    "fr+f1",
    "es+m6",
    "es+f5",
    "it+m5",
    "nl+f2",
    "en-us+klatt2",
    "en-gb-x-rp+m7",
)


def speak(text: str, voice: str, words_per_minute: int, rate: int) -> np.ndarray:
    """Mono float32 speech at `rate` from espeak-ng (which speaks at 22,050 Hz)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(out), text], check=True)
        samples, source_rate = read_wav(out)
    gcd = math.gcd(rate, source_rate)
    return resample_poly(samples.mean(axis=1), rate // gcd, source_rate // gcd).astype(np.float32)


def speech(rng: np.random.Generator, seconds: float, voices: Sequence[str], rate: int) -> np.ndarray:
    """Sentences in the given voices (taking turns), with pauses, filling `seconds` (mono float32)."""
    out = np.zeros(round(seconds * rate), np.float32)
    at, turn = float(rng.uniform(0.3, 1.5)), 0
    while at < seconds - 1.0:
        voice = voices[turn % len(voices)]
        language = voice.split("+")[0].split("-")[0]
        lines = SENTENCES.get(language, SENTENCES["en"])
        said = speak(lines[int(rng.integers(len(lines)))], voice, int(rng.integers(140, 190)), rate)
        start = round(at * rate)
        piece = said[: len(out) - start]
        out[start : start + len(piece)] += piece
        at += len(said) / rate + float(rng.uniform(0.3, 1.6))
        turn += int(rng.random() < 0.6)
    return out


def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def song(rng: np.random.Generator, seconds: float) -> bytes:
    """A General MIDI file: a melody, chords, a bass line and drums over a four-chord progression."""
    tpq = 480
    bpm = int(rng.integers(84, 140))
    beat = 60 / bpm
    root = 48 + int(rng.integers(0, 12))
    major = rng.random() < 0.6
    scale = [0, 2, 4, 5, 7, 9, 11] if major else [0, 2, 3, 5, 7, 8, 10]
    progression = [[0, 5, 3, 4], [0, 3, 4, 0], [5, 3, 0, 4], [0, 4, 5, 3]][int(rng.integers(4))]
    melody, chords, bass = (
        int(rng.choice(programs))
        for programs in ((0, 11, 24, 40, 56, 65, 71, 73), (0, 4, 19, 48, 52, 89), (32, 33, 35, 38))
    )
    events: list[tuple[int, bytes]] = [(0, bytes([0xFF, 0x51, 3]) + round(beat * 1e6).to_bytes(3, "big"))]
    events += [(0, bytes([0xC0, melody])), (0, bytes([0xC1, chords])), (0, bytes([0xC2, bass]))]

    def note(channel: int, pitch: int, start: int, length: int, velocity: int) -> None:
        events.append((start, bytes([0x90 | channel, pitch, velocity])))
        events.append((start + length, bytes([0x80 | channel, pitch, 0])))

    step = 3  # the melody's position in the scale
    for bar in range(int(seconds / (4 * beat)) + 2):
        t0 = bar * 4 * tpq
        degree = progression[bar % 4]
        chord = [root + 12 + scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]
        for pitch in chord:
            note(1, pitch, t0, 4 * tpq - 20, 55)
        for b in range(4):
            note(2, root - 12 + scale[degree], t0 + b * tpq, tpq - 30, 80)
            note(9, 36 if b % 2 == 0 else 38, t0 + b * tpq, 60, 90)
            note(9, 42, t0 + b * tpq + tpq // 2, 60, 60)
        at = t0
        while at < t0 + 4 * tpq:
            length = int(rng.choice([tpq // 2, tpq, tpq, 3 * tpq // 2]))
            step = int(np.clip(step + rng.integers(-2, 3), 0, 13))
            if rng.random() > 0.15:
                note(0, root + 24 + scale[step % 7] + 12 * (step // 7), at, length - 20, int(rng.integers(70, 105)))
            at += length
    data, now = b"", 0
    for at, message in sorted(events, key=lambda e: (e[0], e[1][0] & 0xF0 == 0x90)):
        data += _vlq(at - now) + message
        now = at
    data += _vlq(0) + b"\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq) + b"MTrk" + struct.pack(">I", len(data)) + data


def music(rng: np.random.Generator, seconds: float, rate: int) -> np.ndarray:
    """`seconds` of stereo float32 music at `rate`: a fresh song rendered by fluidsynth with FluidR3_GM."""
    with tempfile.TemporaryDirectory() as scratch:
        midi, out = Path(scratch) / "song.mid", Path(scratch) / "song.wav"
        midi.write_bytes(song(rng, seconds))
        subprocess.run(
            ["fluidsynth", "-ni", "-q", "-g", "0.6", "-F", str(out), "-r", str(rate), str(SOUNDFONT), str(midi)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        samples, _ = read_wav(out)
    need = round(seconds * rate)
    return np.pad(samples, ((0, max(0, need - len(samples))), (0, 0)))[:need]


def soundtrack(rng: np.random.Generator, seconds: float, rate: int, voices: Sequence[str]) -> np.ndarray:
    """News-like sound: speech in `voices` over quieter music, stereo float32 at `rate`, peak `PEAK`."""
    bed = music(rng, seconds, rate)
    words = speech(rng, seconds, voices, rate)
    mix = 0.35 * bed / (np.abs(bed).max() + 1e-9) + (words / (np.abs(words).max() + 1e-9))[:, None]
    return normalised(mix)


def normalised(samples: np.ndarray) -> np.ndarray:
    return (PEAK * samples / (np.abs(samples).max() + 1e-9)).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    """16-bit PCM WAV of float samples (mono or (n, channels))."""
    frames = samples if samples.ndim == 2 else samples[:, None]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(frames.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(frames, -1, 1) * 32767).astype("<i2").tobytes())


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Float32 samples (n, channels) and the rate of a 16-bit PCM WAV."""
    with wave.open(str(path), "rb") as source:
        raw = np.frombuffer(source.readframes(source.getnframes()), "<i2")
        return (raw.reshape(-1, source.getnchannels()) / 32768).astype(np.float32), source.getframerate()


# --- queries: what a platform or an editor does to an original ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Encoding:
    video: str  # "h264" (MP4 with AAC) or "vp9" (WebM with Opus)
    crf: int
    bframes: bool
    audio_kbps: int
    audio_rate: int
    channels: int

    @property
    def suffix(self) -> str:
        return ".mp4" if self.video == "h264" else ".webm"

    def args(self, *, sound: bool = True) -> list[str]:
        if self.video == "h264":
            video = [*_x264(self.crf, "veryfast", self.bframes), "-movflags", "+faststart"]
            audio = ["-c:a", "aac", "-ar", str(self.audio_rate)]
        else:
            video = [
                "-c:v",
                "libvpx-vp9",
                "-crf",
                str(self.crf),
                "-b:v",
                "0",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
                "-row-mt",
                "0",
                "-pix_fmt",
                "yuv420p",
            ]
            audio = ["-c:a", "libopus", "-ar", "48000"]  # Opus runs at 48 kHz
        return [*video, *audio, "-b:a", f"{self.audio_kbps}k", "-ac", str(self.channels)] if sound else [*video, "-an"]


@dataclass(frozen=True, slots=True)
class Span:
    start: float  # query seconds
    end: float


@dataclass(frozen=True, slots=True)
class Edit:
    """One query made from one original: an excerpt (or the whole), its changes and its encoding."""

    encoding: Encoding
    size: tuple[int, int]  # the query's frame size (after any portrait crop)
    start: float | None = None  # original seconds the excerpt starts at; None: the whole original
    seconds: float = 0.0  # query seconds taken from the original (before any inserted footage)
    speed: float = 1.0  # original seconds per query second; setpts + atempo (pitch kept)
    fps: Fraction | None = None  # frame-rate conversion
    mirror: bool = False
    portrait: bool = False  # a centred 9:16 crop
    gain_db: float = 0.0
    strip_sound: bool = False
    mute: Span | None = None
    paint: tuple[Span, tuple[int, int, int, int], Path] | None = None  # when, box (x, y, w, h) in query pixels, PNG
    sound: tuple[Span, Path] | None = None  # replaced by this WAV's first seconds
    insert: tuple[Span, Path, float] | None = None  # footage from this file (from its second `float`) inserted


def make_query(original: Path, edit: Edit, out: Path) -> None:
    """Run ffmpeg: the original (or its excerpt) through the edit's filters, encoded as `edit.encoding` says."""
    if edit.strip_sound and (edit.sound or edit.mute or edit.insert):
        raise ValueError("a query without sound cannot have its sound edited")
    inputs = ["-threads", "1"]
    if edit.start is not None:
        inputs += ["-ss", f"{edit.start:.3f}", "-t", f"{edit.seconds * edit.speed:.3f}"]
    inputs += ["-i", str(original)]
    width, height = edit.size
    chain = []
    if edit.portrait:
        chain.append("crop=trunc(ih*9/32)*2:ih")
    if edit.mirror:
        chain.append("hflip")
    if edit.speed != 1.0:
        chain.append(f"setpts=PTS/{edit.speed:.4f}")
    if edit.fps is not None:
        chain.append(f"fps={edit.fps}")
    chain += [f"scale={width}:{height}:flags=bicubic", "setsar=1", "format=yuv420p"]
    graph = [f"[0:v]{','.join(chain)}[v0]"]
    sound = [] if edit.speed == 1.0 else [f"atempo={edit.speed:.4f}"]
    if edit.mute is not None:
        sound.append(f"volume=0:enable='between(t,{edit.mute.start:.3f},{edit.mute.end:.3f})'")
    if not edit.strip_sound:
        graph.append(f"[0:a]{','.join([*sound, 'aformat=sample_fmts=fltp:channel_layouts=stereo'])}[a0]")
    video, audio = "[v0]", "[a0]"
    if edit.paint is not None:
        span, (x, y, w, h), patch = edit.paint
        inputs += ["-i", str(patch)]
        graph.append(
            f"[{_input_count(inputs) - 1}:v]scale={w}:{h},format=yuv420p[patch];"
            f"{video}[patch]overlay={x}:{y}:enable='between(t,{span.start:.3f},{span.end:.3f})'[v1]"
        )
        video = "[v1]"
    if edit.sound is not None:
        span, donor = edit.sound
        inputs += ["-i", str(donor)]
        index = _input_count(inputs) - 1
        delay = round(span.start * 1000)
        graph.append(
            f"{audio}volume=0:enable='between(t,{span.start:.3f},{span.end:.3f})'[base];"
            f"[{index}:a]aformat=sample_fmts=fltp:channel_layouts=stereo,atrim=0:{span.end - span.start:.3f},"
            f"adelay={delay}:all=1[donor];[base][donor]amix=inputs=2:duration=first:normalize=0[a1]"
        )
        audio = "[a1]"
    if edit.insert is not None:
        span, other, other_start = edit.insert
        inputs += ["-i", str(other)]
        index = _input_count(inputs) - 1
        rate = edit.fps or Fraction(30)
        at, length = span.start, span.end - span.start
        graph.append(
            f"{video}fps={rate},split[va][vb];[va]trim=end={at:.3f},setpts=PTS-STARTPTS[p0];"
            f"[vb]trim=start={at:.3f},setpts=PTS-STARTPTS[p2];"
            f"[{index}:v]trim=start={other_start:.3f}:duration={length:.3f},setpts=PTS-STARTPTS,"
            f"scale={width}:{height}:flags=bicubic,setsar=1,fps={rate},format=yuv420p[p1];"
            f"{audio}asplit[aa][ab];[aa]atrim=end={at:.3f},asetpts=PTS-STARTPTS[s0];"
            f"[ab]atrim=start={at:.3f},asetpts=PTS-STARTPTS[s2];"
            f"[{index}:a]atrim=start={other_start:.3f}:duration={length:.3f},asetpts=PTS-STARTPTS,"
            f"aformat=sample_fmts=fltp:channel_layouts=stereo[s1];"
            f"[p0][s0][p1][s1][p2][s2]concat=n=3:v=1:a=1[v2][a2]"
        )
        video, audio = "[v2]", "[a2]"
    maps = ["-map", video]
    if not edit.strip_sound:
        graph.append(f"{audio}volume={edit.gain_db:.2f}dB[aout]")
        maps += ["-map", "[aout]"]
    command = [FFMPEG, *_QUIET, *inputs, "-filter_complex", ";".join(graph), *maps, *_THREADS]
    command += [*edit.encoding.args(sound=not edit.strip_sound), *_STABLE, str(out)]
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL)


def _input_count(inputs: list[str]) -> int:
    return inputs.count("-i")


def probe_seconds(path: Path) -> float:
    """The duration ffmpeg reads from a file's container."""
    result = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    for line in result.stderr.splitlines():
        if "Duration:" in line:
            h, m, s = line.split("Duration:")[1].split(",")[0].strip().split(":")
            return int(h) * 3600 + int(m) * 60 + float(s)
    raise RuntimeError(f"no duration in {path}")
