"""Static files served under names that carry their content hash, so they can be cached for a
year (`immutable`) and a new release is a new URL; read and compressed once per instance.

They live under /assets/: the Flask app functions-framework builds keeps /static/ for itself.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".LICENSE": "text/plain",
}
SERVED = ("htmx.min.js", "app.js", "compose.js", "app.css", "htmx.LICENSE")
LONG_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    path: str  # the URL path: /assets/<stem>.<hash><suffix>
    body: bytes
    gzipped: bytes
    mimetype: str


@dataclass(frozen=True)
class Assets:
    by_name: dict[str, Asset]  # the file's own name -> the asset
    by_path: dict[str, Asset]  # the hashed URL path -> the asset

    def url(self, name: str) -> str:
        return self.by_name[name].path


def load(directory: Path = STATIC_DIR) -> Assets:
    by_name: dict[str, Asset] = {}
    for name in SERVED:
        body = (directory / name).read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:16]
        stem, dot, suffix = name.partition(".")
        path = f"/assets/{stem}.{digest}{dot}{suffix}"
        mimetype = _TYPES[Path(name).suffix]
        by_name[name] = Asset(path, body, gzip.compress(body, mtime=0), mimetype)
    return Assets(by_name, {a.path: a for a in by_name.values()})
