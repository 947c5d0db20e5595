"""What the upload check reads of an object, within a function's memory (its /tmp is memory).

Every byte passes through SHA-256 a chunk at a time, so the client's declared hash is proven
without holding the file. What is kept on disk is bounded: an image whole (at most
MAX_IMAGE_BYTES: Pillow decodes it, and converts it where a network needs it); a video only its
first and last VIDEO_EDGE_BYTES, written at their offsets in a sparse file of the object's size.
ffmpeg reads a container's header from there: an MP4/MOV keeps its `moov` box at the start or
the end, and the first frames it samples follow the header. The holes read as zeros and take no
memory. (A fragmented MP4 whose fragments reach past the head is read as shorter than it is.)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from common.media_rules import MediaProblem
from common.media_types import SNIFF_BYTES, kind_of, sniff
from common.storage import MediaBucket

MAX_IMAGE_BYTES = 64 * 1024 * 1024  # above every network's image limit here (Mastodon: 16 MiB)
VIDEO_EDGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class LocalCopy:
    """What the check may read: `path` holds the whole image, or a video's two edges."""

    path: Path


def read_for_check(
    bucket: MediaBucket, name: str, size: int, sha256: str, target: Path
) -> LocalCopy | MediaProblem:
    """The object's local copy for probing, or the problem that ends the check."""
    head = bucket.read_range(name, 0, SNIFF_BYTES)
    mime = sniff(head)
    whole = mime is None or kind_of(mime) != "video"
    if whole and size > MAX_IMAGE_BYTES:
        return MediaProblem(
            "size",
            f"images are checked up to {MAX_IMAGE_BYTES:,} bytes (no network here takes a "
            f"larger one); this file has {size:,}",
        )
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for piece in bucket.chunks(name):
            digest.update(piece)
            if whole:
                out.write(piece)
    if digest.hexdigest() != sha256:
        return MediaProblem("sha256", "the bytes uploaded are not the file declared")
    if not whole:
        _write_edges(bucket, name, size, target)
    return LocalCopy(target)


def _write_edges(bucket: MediaBucket, name: str, size: int, target: Path) -> None:
    with target.open("r+b") as out:
        out.truncate(size)
        out.write(bucket.read_range(name, 0, min(size, VIDEO_EDGE_BYTES)))
        tail_start = max(VIDEO_EDGE_BYTES, size - VIDEO_EDGE_BYTES)
        if tail_start < size:
            out.seek(tail_start)
            out.write(bucket.read_range(name, tail_start, size - tail_start))
