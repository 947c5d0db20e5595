"""A CSV import in remote mode: the file in one request when it fits, else in parts of whole
rows (each all or nothing), with the api's line numbers mapped back to the file's."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from common import bulk_import
from common.db import Doc
from common.entrypoints.api_client import ApiRefusal
from common.entrypoints.cli.backend import OperationalError, UsageError


@dataclass(frozen=True)
class ImportPart:
    """Whole rows of a file behind its header; `first_line` is the file's line of the part's
    first row, so the api's line numbers (the header being 1) map back to the file's."""

    text: str
    first_line: int

    def file_line(self, line: int) -> int:
        return line if line <= 1 else self.first_line + line - 2

    def in_file(self, answer: Doc) -> Doc:
        def moved(entries: list[Doc]) -> list[Doc]:
            return [{**e, "line": self.file_line(int(e["line"]))} for e in entries]

        return {k: moved(v) if isinstance(v, list) else v for k, v in answer.items()}


def import_parts(text: str, limit: int) -> list[ImportPart]:
    """The file whole when it fits in one request, else parts cut where a row ends (a quoted
    cell may hold line breaks, so rows are found by the CSV reader, not by lines)."""
    if len(text.encode()) <= limit:
        return [ImportPart(text, 2)]
    lines = text.splitlines(keepends=True)
    ends = [row.line for row in bulk_import.read(io.StringIO(text, newline=""))[0]]
    parts, start, size = [], 1, 0  # start: the index in `lines` of the part's first row
    for previous, end in zip([1, *ends], ends, strict=False):
        row_bytes = sum(len(line.encode()) for line in lines[previous:end])
        if size and size + row_bytes > limit:
            parts.append(ImportPart(lines[0] + "".join(lines[start:previous]), start + 1))
            start, size = previous, 0
        size += row_bytes
    parts.append(ImportPart(lines[0] + "".join(lines[start:]), start + 1))
    return parts


def merged_imports(done: Sequence[Doc]) -> Doc:
    merged: Doc = {"imported": sum(int(d["imported"]) for d in done)}
    for field in ("created", "alreadyScheduled", "updated", "warnings", "notChanged"):
        merged[field] = [entry for d in done for entry in d[field]]
    return merged


def import_refused(exc: ApiRefusal, part: ImportPart, done: Sequence[Doc]) -> Exception | None:
    """The refusal of a part by its rows, with the posts earlier parts made; None when the
    refusal names no rows (the request itself was refused)."""
    if not exc.rows:
        return None
    lines = [
        f"line {part.file_line(int(r['line']))}: {r['field']}: {r['message']}" for r in exc.rows
    ]
    made = [entry for d in done for entry in d["created"]]
    if not made:
        return UsageError("nothing imported; fix these rows:\n" + "\n".join(lines))
    named = "\n".join(f"line {m['line']}: post {m['id']}" for m in made)
    return OperationalError(
        f"the file was sent in parts; {len(made)} posts of the earlier parts were scheduled "
        f"(importing the file again makes none of them twice):\n{named}\n"
        "nothing of the refused part was imported; fix these rows:\n" + "\n".join(lines)
    )
