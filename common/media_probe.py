"""Reading what a media file is from its content: the type from its first bytes, an image's
displayed size with Pillow (HEIC through pillow-heif), a video's duration, codec, frame rate and
size from ffmpeg (the binary that the imageio-ffmpeg wheel ships)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from common.media_rules import MediaFacts
from common.media_types import SNIFF_BYTES, kind_of, sniff

# EXIF Orientation values that turn the picture a quarter: width and height swap on display.
_QUARTER_TURNS = frozenset({5, 6, 7, 8})
_ORIENTATION_TAG = 0x0112
_FFMPEG_SECONDS = 60
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")
_FPS = re.compile(r", (\d+(?:\.\d+)?) fps")
_ROTATED = re.compile(r"(?:rotate\s*:\s*|rotation of )(-?\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Unreadable:
    """The bytes are not media this scheduler can read; `reason` says why."""

    reason: str


def probe(path: Path) -> MediaFacts | Unreadable:
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    mime = sniff(head)
    size = path.stat().st_size
    if mime is None or kind_of(mime) is None:
        what = mime or "not a known image or video type"
        return Unreadable(f"the file is {what} (read from its content)")
    if kind_of(mime) == "image":
        return _image(path, mime, size)
    return _video(path, mime, size)


def register_heif() -> None:
    """Pillow reads HEIC/HEIF once pillow-heif registers its opener (idempotent)."""
    import pillow_heif  # noqa: PLC0415 (only media work pays for the import)

    pillow_heif.register_heif_opener()


def _image(path: Path, mime: str, size: int) -> MediaFacts | Unreadable:
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    register_heif()
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        return Unreadable(f"the {mime} image could not be read: {type(exc).__name__}")
    if orientation in _QUARTER_TURNS:
        width, height = height, width
    return MediaFacts(mime=mime, bytes=size, width=width, height=height)


def _video(path: Path, mime: str, size: int) -> MediaFacts | Unreadable:
    header = ffmpeg_header(path)
    duration = _DURATION.search(header)
    stream = _VIDEO.search(header)
    if stream is None:
        return Unreadable(f"the {mime} file holds no video stream ffmpeg can read")
    width, height = int(stream.group(2)), int(stream.group(3))
    rotated = _ROTATED.search(header)
    if rotated and abs(round(float(rotated.group(1)))) % 180 == 90:
        width, height = height, width
    fps = _FPS.search(header[stream.start() :])
    seconds = None
    if duration:
        hours, minutes, secs = duration.groups()
        seconds = int(hours) * 3600 + int(minutes) * 60 + float(secs)
    return MediaFacts(
        mime=mime,
        bytes=size,
        width=width,
        height=height,
        duration_seconds=seconds,
        codec=stream.group(1),
        fps=float(fps.group(1)) if fps else None,
    )


def ffmpeg_exe() -> str:
    import imageio_ffmpeg  # noqa: PLC0415

    exe: str = imageio_ffmpeg.get_ffmpeg_exe()
    return exe


def ffmpeg_header(path: Path) -> str:
    """What `ffmpeg -i` says about the input (it reads the container's header, not the frames)."""
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        timeout=_FFMPEG_SECONDS,
        check=False,  # with no output named, ffmpeg exits 1 after describing the input
    )
    return result.stderr
