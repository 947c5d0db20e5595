"""Local files in a CSV's `media` column: found (relative to the CSV's folder), uploaded once per
file, and written back into the CSV as `media:ID` before the import (common.bulk_import).

Every path is checked before anything is uploaded: a missing or unreadable file is a row problem
and nothing is created. The same bytes named by several rows (or under several names) go up once,
for every account that uses them; the api answers an item it already holds without a new upload.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from common.bulk_import import UPLOADED
from common.db import Doc
from common.entrypoints.cli import uploads
from common.entrypoints.cli.backend import LocalFile, UsageError

Upload = Callable[[LocalFile, list[str]], Doc]


@dataclass(frozen=True)
class _Cell:
    """A data row's `media` cell: where it is in the records, its line, its account."""

    record: int
    line: int
    account: str
    tokens: tuple[str, ...]


def with_uploads(text: str, folder: Path, upload: Upload) -> str:
    """`text` with every local path of its `media` column replaced by the uploaded item's
    `media:ID`; unchanged when it names none. Raises UsageError naming each row's problem."""
    records, lines = _records(text)
    media = _column(records[0], "media") if records else None
    account = _column(records[0], "account") if records else None
    if media is None or account is None:  # the import refuses such a header by itself
        return text
    cells = _media_cells(records, lines, media, account)
    if not any(_is_path(token) for cell in cells for token in cell.tokens):
        return text
    files = _described(cells, folder)
    ids = _uploaded(cells, files, folder, upload)
    for cell in cells:
        records[cell.record][media] = " ".join(
            f"{UPLOADED}{ids[files[_resolve(folder, t)].sha256]}" if _is_path(t) else t
            for t in cell.tokens
        )
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(records)
    return out.getvalue()


def _records(text: str) -> tuple[list[list[str]], list[int]]:
    """Every record (blank lines kept as empty ones, so line numbers stay) and its line, counted
    as common.bulk_import counts it (where the record ends)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[list[str]] = []
    lines: list[int] = []
    for record in reader:
        records.append(record)
        lines.append(reader.line_num)
    return records, lines


def _column(header: Sequence[str], name: str) -> int | None:
    names = [h.strip() for h in header]
    return names.index(name) if name in names else None


def _media_cells(
    records: list[list[str]], lines: list[int], media: int, account: int
) -> list[_Cell]:
    return [
        _Cell(
            index,
            lines[index],
            record[account].strip() if account < len(record) else "",
            tuple(record[media].split()),
        )
        for index, record in enumerate(records[1:], start=1)
        if media < len(record) and record[media].strip()
    ]


def _is_path(token: str) -> bool:
    return uploads.is_local(token) and not token.startswith(UPLOADED)


def _resolve(folder: Path, token: str) -> Path:
    return (folder / Path(token).expanduser()).resolve()


def _described(cells: Sequence[_Cell], folder: Path) -> dict[Path, LocalFile]:
    """Each file once: its size, hash and type; every row whose file is wrong, together."""
    files: dict[Path, LocalFile] = {}
    problems: list[str] = []
    for cell in cells:
        for token in filter(_is_path, cell.tokens):
            path = _resolve(folder, token)
            if path in files:
                continue
            try:
                files[path] = uploads.describe(path)
            except UsageError as exc:
                problems.append(f"line {cell.line}: media: {token}: {_reason(exc, path)}")
    if problems:
        raise UsageError("nothing imported; fix these rows:\n" + "\n".join(problems))
    return files


def _reason(exc: UsageError, path: Path) -> str:
    return str(exc).removeprefix(f"{path}: ")


def _uploaded(
    cells: Sequence[_Cell], files: dict[Path, LocalFile], folder: Path, upload: Upload
) -> dict[str, str]:
    """The media id of each file's bytes (by SHA-256), uploaded once for all its accounts."""
    users: dict[str, set[str]] = {}
    first: dict[str, tuple[LocalFile, int]] = {}
    for cell in cells:
        for token in filter(_is_path, cell.tokens):
            local = files[_resolve(folder, token)]
            users.setdefault(local.sha256, set()).add(cell.account)
            first.setdefault(local.sha256, (local, cell.line))
    ids: dict[str, str] = {}
    problems: list[str] = []
    for sha256, (local, line) in first.items():
        item = upload(local, sorted(users[sha256]))
        if item["state"] != "ready":
            reasons = "; ".join(f"{p['rule']}: {p['message']}" for p in item["problems"])
            problems.append(f"line {line}: media: {local.path.name} refused: {reasons}")
        ids[sha256] = str(item["id"])
    if problems:
        raise UsageError("nothing imported; fix these rows:\n" + "\n".join(problems))
    return ids
