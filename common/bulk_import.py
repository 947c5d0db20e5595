"""CSV bulk scheduling: the file format, read into post requests (operations.csv_import.import_csv
validates and stores them, all or none).

Columns (header row required): account, at, tz (optional), text, link (optional), media
(optional, separated by spaces: https URLs, or `media:ID` for an uploaded item; the CLI uploads
local file paths and writes their ids here), media_type (optional: image | video, of the URLs),
key (optional: the row's idempotency key; without it the account, time and content name the
row).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import IO

REQUIRED_COLUMNS = ("account", "at")
KNOWN_COLUMNS = (*REQUIRED_COLUMNS, "tz", "text", "link", "media", "media_type", "key")
UPLOADED = "media:"  # a `media` cell's reference to an uploaded item, by id


def media_items(cell: str, media_type: str) -> list[dict[str, str]]:
    """A `media` cell as post media items: uploaded items by id, anything else as a URL."""
    return [
        {"mediaId": token.removeprefix(UPLOADED)}
        if token.startswith(UPLOADED)
        else {"url": token, "type": media_type}
        for token in cell.split()
    ]


@dataclass(frozen=True)
class Row:
    """One data row, by its line number in the file, with its cells stripped."""

    line: int
    cells: dict[str, str]


@dataclass(frozen=True)
class HeaderProblem:
    column: str
    message: str


def read(handle: IO[str]) -> tuple[list[Row], list[HeaderProblem]]:
    """The file's rows, or what is wrong with its header (then no rows)."""
    reader = csv.DictReader(handle)
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in KNOWN_COLUMNS]
    if missing or unknown:
        problems = [HeaderProblem(c, "required column is missing") for c in missing]
        problems += [
            HeaderProblem(c, f"unknown column (known: {', '.join(KNOWN_COLUMNS)})") for c in unknown
        ]
        return [], problems
    rows = [
        Row(reader.line_num, {k.strip(): (v or "").strip() for k, v in cells.items() if k})
        for cells in reader
    ]
    return rows, []
