"""Media files made on the spot for tests: images with Pillow (HEIC through pillow-heif, EXIF
orientation and GPS when asked) and videos with the ffmpeg binary of imageio-ffmpeg."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from PIL import Image

from common.media_convert import register_heif
from common.media_probe import ffmpeg_exe

ORIENTATION = 0x0112
GPS_IFD = 0x8825


def image(
    path: Path,
    size: tuple[int, int] = (1200, 900),
    fmt: str = "JPEG",
    *,
    orientation: int | None = None,
    gps: bool = False,
    noise: bool = False,
    quality: int = 90,
) -> Path:
    """A picture of `size`; `noise` makes it compress badly (a large file for its pixels)."""
    register_heif()
    if noise:
        picture = Image.frombytes("RGB", size, _noise(size[0] * size[1] * 3))
    else:
        picture = Image.linear_gradient("L").resize(size).convert("RGB")
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    options: dict[str, object] = {"exif": exif.tobytes()} if (orientation or gps) else {}
    if fmt in ("JPEG", "HEIF", "WEBP"):
        options["quality"] = quality
    if fmt == "HEIF":
        options["enc_params"] = {"preset": "ultrafast"}  # seconds, not tens of seconds, at 12 MP
    picture.save(path, format=fmt, **options)
    return path


def _noise(count: int) -> bytes:
    """Deterministic bytes that no codec compresses much (sha256 blocks)."""
    blocks = bytearray()
    seed = b"media-noise"
    while len(blocks) < count:
        seed = hashlib.sha256(seed).digest()
        blocks.extend(seed)
    return bytes(blocks[:count])


def video(
    path: Path,
    seconds: float = 4.0,
    size: tuple[int, int] = (360, 640),
    fps: int = 30,
    codec: str = "libx264",
    total_bytes: int | None = None,
) -> Path:
    """A test-pattern video, padded to `total_bytes` with an ISO BMFF `free` box (a valid MP4
    of that size, made in a moment)."""
    command = [
        ffmpeg_exe(),
        "-y",
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size={size[0]}x{size[1]}:rate={fps}",
        "-t",
        str(seconds),
        "-c:v",
        codec,
        *(["-preset", "ultrafast"] if codec == "libx264" else []),
        "-pix_fmt",
        "yuv420p",
        str(path),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    if total_bytes is not None:
        _pad(path, total_bytes)
    return path


def _pad(path: Path, total_bytes: int) -> None:
    missing = total_bytes - path.stat().st_size
    assert missing > 8, "the video is already larger than asked"
    with path.open("ab") as out:
        out.write(missing.to_bytes(4, "big") + b"free")
        chunk = b"\0" * (1 << 20)
        left = missing - 8
        while left > 0:
            out.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while piece := handle.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()
