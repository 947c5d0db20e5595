"""The one JSON encoding of everything that leaves the process: HTTP answers, the CLI's --json,
events and log fields. Instants are RFC 3339 in UTC with `Z` and whole seconds
(`2026-11-28T23:11:09Z`), so every reader sees the same text for the same instant."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId


def to_rfc3339(instant: datetime, *, microseconds: bool = False) -> str:
    """`microseconds` only for a log line's own timestamp, which orders lines within a second."""
    timespec = "microseconds" if microseconds else "seconds"
    return instant.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def json_default(value: Any) -> Any:
    """`json.dumps(..., default=json_default)`: instants and document ids; nothing else."""
    if isinstance(value, datetime):
        return to_rfc3339(value)
    if isinstance(value, ObjectId):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any, *, indent: int | None = None) -> str:
    """Compact, or indented for people (the CLI)."""
    separators = (",", ":") if indent is None else None
    return json.dumps(value, default=json_default, separators=separators, indent=indent)
