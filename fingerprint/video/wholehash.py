"""`videohash` (PyPI `videohash` 3.0.1): a 64-bit hash of a whole video, kept as a lookup key and nothing more.

It hashes a collage of one frame per second with a wavelet hash. Measured on the test clips: a full re-encode at
another size is distance 0, but a 6 s excerpt of 20 s footage is 20 bits away and unrelated footage 30, so it
finds the same whole video re-encoded, never an excerpt (the frame track does that). It shells out to `ffmpeg`
(imageio-ffmpeg's binary, put first on PATH for the call), writes frames under a temporary directory, and takes
seconds per minute of footage.

Version 3.0.1 calls `Image.ANTIALIAS`, which Pillow 10 removed; `LANCZOS` is what that name always meant, so the
alias is restored on Pillow's module (not in site-packages) before it runs.
"""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from fingerprint.hashes import HashValue
from fingerprint.media import CorruptMediaError

VIDEOHASH = "videohash"
VIDEOHASH_BITS = 64
# PATH is process-wide: one videohash run at a time changes it.
_PATH_LOCK = threading.Lock()


def videohash(data: bytes) -> HashValue:
    """The `videohash` value of a video's bytes; raises CorruptMediaError when ffmpeg cannot read them."""
    if not hasattr(Image, "ANTIALIAS"):
        Image.ANTIALIAS = Image.Resampling.LANCZOS  # type: ignore[attr-defined]  # the alias Pillow 10 dropped
    from videohash import VideoHash

    with tempfile.TemporaryDirectory(prefix="provreg-videohash-") as scratch, _ffmpeg_on_path(Path(scratch)):
        video = Path(scratch) / "video.mp4"  # it insists on an extension; ffmpeg goes by the content
        video.write_bytes(data)
        storage = Path(scratch) / "work"
        storage.mkdir()
        try:
            with warnings.catch_warnings():
                # its dependencies use Pillow APIs deprecated for removal in 2027, once per frame
                warnings.simplefilter("ignore", DeprecationWarning)
                # the trailing separator is how videohash tells a directory from a file
                value = VideoHash(path=str(video), storage_path=f"{storage}{os.sep}").hash
        except Exception as exc:  # it raises its own errors, ffmpeg's and PIL's alike
            raise CorruptMediaError(f"videohash could not read the video: {type(exc).__name__}") from None
    return HashValue(int(value[2:], 2).to_bytes(VIDEOHASH_BITS // 8, "big"))


@contextmanager
def _ffmpeg_on_path(scratch: Path) -> Iterator[None]:
    import imageio_ffmpeg

    tools = scratch / "bin"
    tools.mkdir()
    (tools / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    with _PATH_LOCK:
        before = os.environ.get("PATH", "")
        os.environ["PATH"] = f"{tools}{os.pathsep}{before}"
        try:
            yield
        finally:
            os.environ["PATH"] = before
