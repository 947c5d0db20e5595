"""Image conversions that change nothing a viewer sees: EXIF orientation applied, metadata
(location included) dropped, another format, or fewer bytes.

Every output is a JPEG, PNG or WebP written without EXIF, so no conversion ever carries the
camera's GPS position onward. Video is never transcoded here (a function has neither the time
nor the memory for it): a video a network refuses is refused at the door with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

# Re-encoding to fit a byte limit tries these JPEG qualities in turn, then shrinks the picture
# by SHRINK per step (at the last quality) until it fits or MAX_SHRINKS steps were tried.
QUALITY_STEPS = (90, 85, 80, 75, 70)
SHRINK = 0.85
MAX_SHRINKS = 8
_EXIF_GPS_IFD = 0x8825
_ORIENTATION_TAG = 0x0112
_SAVE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


@dataclass(frozen=True)
class Converted:
    path: Path
    mime: str
    width: int
    height: int
    quality: int | None  # the JPEG quality that fitted, when re-encoded to fit


def register_heif() -> None:
    """Pillow reads HEIC/HEIF once pillow-heif registers its opener (idempotent)."""
    import pillow_heif  # noqa: PLC0415 (only media work pays for the import)

    pillow_heif.register_heif_opener()


def needs_cleaning(path: Path) -> bool:
    """True when the image carries a location or an orientation a viewer would have applied."""
    from PIL import Image  # noqa: PLC0415

    register_heif()
    with Image.open(path) as image:
        exif = image.getexif()
        turned = exif.get(_ORIENTATION_TAG, 1) != 1
        located = bool(exif.get_ifd(_EXIF_GPS_IFD)) or _EXIF_GPS_IFD in exif
        heif = (image.format or "").upper() in ("HEIF", "HEIC")
    return turned or located or heif


def clean(source: Path, target: Path) -> Converted:
    """Orientation applied, every metadata block dropped; the format kept when it is JPEG, PNG
    or WebP, else (HEIC, HEIF, anything else) JPEG at the first quality step."""
    from PIL import Image  # noqa: PLC0415

    register_heif()
    with Image.open(source) as image:
        mime = Image.MIME.get(image.format or "", "")
        upright = _upright(image)
        if mime not in _SAVE_FORMATS:
            return _save_jpeg(upright, target, QUALITY_STEPS[0], quality_reported=False)
        _save(upright, target, mime)
        return Converted(target, mime, upright.width, upright.height, None)


def to_jpeg(source: Path, target: Path) -> Converted:
    from PIL import Image  # noqa: PLC0415

    register_heif()
    with Image.open(source) as image:
        return _save_jpeg(_upright(image), target, QUALITY_STEPS[0], quality_reported=False)


def fit_bytes(source: Path, target: Path, max_bytes: int) -> Converted | None:
    """A JPEG of at most `max_bytes`: the quality steps first, then smaller pictures; None when
    even the smallest try is too large."""
    from PIL import Image  # noqa: PLC0415

    register_heif()
    with Image.open(source) as opened:
        image = _upright(opened)
    for quality in QUALITY_STEPS:
        done = _save_jpeg(image, target, quality, quality_reported=True)
        if target.stat().st_size <= max_bytes:
            return done
    for _ in range(MAX_SHRINKS):
        size = (max(1, int(image.width * SHRINK)), max(1, int(image.height * SHRINK)))
        image = image.resize(size, Image.Resampling.LANCZOS)
        done = _save_jpeg(image, target, QUALITY_STEPS[-1], quality_reported=True)
        if target.stat().st_size <= max_bytes:
            return done
    return None


def _upright(image: Image) -> Image:
    """The picture as displayed, with no EXIF left to carry (ImageOps drops the orientation)."""
    from PIL import ImageOps  # noqa: PLC0415

    turned = ImageOps.exif_transpose(image)
    turned.load()
    turned.info.pop("exif", None)
    turned.info.pop("xmp", None)
    return turned


def _save(image: Image, target: Path, mime: str) -> None:
    image.save(target, format=_SAVE_FORMATS[mime])


def _save_jpeg(image: Image, target: Path, quality: int, *, quality_reported: bool) -> Converted:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    rgb.save(target, format="JPEG", quality=quality, optimize=True)
    return Converted(
        target, "image/jpeg", rgb.width, rgb.height, quality if quality_reported else None
    )
