"""What a file is, told from its first bytes (never from a name or a declared header): its
media type and whether that is an image or a video."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

MediaKind = Literal["image", "video"]

# Magic numbers: the type comes from the bytes, never from a name or a declared header.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
)
# ISO base media files name their brand at byte 8 after "ftyp" at byte 4.
_FTYP_BRANDS: Mapping[bytes, str] = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
    b"avif": "image/avif",
    b"qt  ": "video/quicktime",
}
SNIFF_BYTES = 64  # enough of the head to tell every type above


def sniff(head: bytes) -> str | None:
    """The media type the bytes are, or None when they are none we know."""
    for offset, magic, mime in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], "video/mp4")
    return None


def kind_of(mime: str) -> MediaKind | None:
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("video/"):
        return "video"
    return None
