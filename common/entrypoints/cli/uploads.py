"""Local files for `posts add --media ./photo.jpg` (and a CSV's `media` column): hashed, then
streamed to the resumable Cloud Storage session the api created, a chunk at a time, with a
progress bar on a terminal. A file is never held in memory whole (bench/media.py measures it)."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

import requests

from common.entrypoints.cli.backend import LocalFile, OperationalError, UsageError
from common.media_types import SNIFF_BYTES, kind_of, sniff

# Resumable uploads take chunks in multiples of 256 KiB; 4 MiB keeps requests few and memory low.
CHUNK_BYTES = 16 * 256 * 1024
_TIMEOUT = (10.0, 300.0)
_RESUME_INCOMPLETE = 308


def is_local(value: str) -> bool:
    return not value.startswith(("https://", "http://"))


def describe(path: Path) -> LocalFile:
    """The file's size, SHA-256 and media type (read from its first bytes, not its name)."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
        digest.update(head)
        while piece := handle.read(CHUNK_BYTES):
            digest.update(piece)
    mime = sniff(head)
    if mime is None or kind_of(mime) is None:
        raise UsageError(f"{path}: not an image or a video (by its content: {mime or 'unknown'})")
    return LocalFile(path, path.stat().st_size, digest.hexdigest(), mime)


def put_resumable(
    session_url: str, local: LocalFile, progress: Callable[[int, int], None] | None = None
) -> None:
    """PUT the file to the session chunk by chunk (Content-Range), as Cloud Storage documents."""
    sent = 0
    with requests.Session() as http, local.path.open("rb") as handle:
        while sent < local.size:
            piece = handle.read(CHUNK_BYTES)
            last = sent + len(piece) - 1
            headers = {"Content-Range": f"bytes {sent}-{last}/{local.size}"}
            answer = http.put(session_url, data=piece, headers=headers, timeout=_TIMEOUT)
            del piece  # the next chunk replaces it, never both at once
            if answer.status_code not in (200, 201, _RESUME_INCOMPLETE):
                raise OperationalError(
                    f"{local.path}: the upload was refused ({answer.status_code})"
                )
            sent = last + 1
            if progress:
                progress(sent, local.size)


class ProgressBar:
    """`name  [#####-----]  45%  90/200 MB` on a terminal's stderr; silent elsewhere."""

    def __init__(self, name: str, out: IO[str] = sys.stderr) -> None:
        self._name, self._out = name, out
        self._shown = out.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self._shown:
            return
        filled = int(20 * done / total)
        mb = 1024 * 1024
        self._out.write(
            f"\r{self._name}  [{'#' * filled}{'-' * (20 - filled)}]  {100 * done // total:3d}%  "
            f"{done // mb}/{total // mb} MB"
        )
        if done >= total:
            self._out.write("\n")
        self._out.flush()
