"""Structured logs: one JSON object per line on stdout, in the shape Cloud Logging reads.

Each line carries `severity`, `message`, the request's `requestId` and trace (from
X-Cloud-Trace-Context), and the `extra` fields a caller passed (the engine passes `runId`).
Fields that may hold secrets or post text are dropped unless the record is at DEBUG level, and
every text that is written (message, fields, stack trace) goes through `common.redact`, so a
token quoted in an exception or a platform's answer never reaches a line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from common.jsonfmt import to_rfc3339
from common.redact import redact

TRACE_FIELD = "logging.googleapis.com/trace"
SPAN_FIELD = "logging.googleapis.com/spanId"
# Never written above DEBUG, whatever a caller passes in `extra`.
SENSITIVE_FIELDS = frozenset(
    {"text", "content", "token", "authorization", "password", "secret", "mongoUri", "body"}
)
_TRACE_HEADER = re.compile(r"^([0-9a-fA-F]{32})(?:/([0-9]{1,20}))?(?:;o=[01])?$")
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)
_SEVERITY = {"WARNING": "WARNING", "CRITICAL": "CRITICAL", "ERROR": "ERROR", "INFO": "INFO"}

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_trace: ContextVar[tuple[str, str | None] | None] = ContextVar("trace", default=None)
# Ids that every line of a unit of work carries (runId for a run, postId for one post).
_fields: ContextVar[dict[str, str]] = ContextVar("fields", default={})  # noqa: B039 - never mutated
_configured = threading.Lock()
_handler: logging.Handler | None = None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_rfc3339(value)
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """A LogRecord as one line of JSON for Cloud Logging's structured-log parser."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEBUG"),
            "message": redact(record.getMessage()),
            "time": to_rfc3339(datetime.fromtimestamp(record.created, UTC), microseconds=True),
            "logger": record.name,
        }
        if (request_id := _request_id.get()) is not None:
            entry["requestId"] = request_id
        if (trace := _trace.get()) is not None:
            entry[TRACE_FIELD], span = trace
            if span is not None:
                entry[SPAN_FIELD] = span
        entry.update(_fields.get())
        verbose = record.levelno <= logging.DEBUG
        for key, value in record.__dict__.items():
            if key in _STANDARD_ATTRIBUTES or key.startswith("_"):
                continue
            if key in SENSITIVE_FIELDS and not verbose:
                continue
            entry[key] = _jsonable(value)
        if record.exc_info:
            entry["stack_trace"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, separators=(",", ":"))


def configure(level: int = logging.INFO, stream: TextIO = sys.stdout) -> None:
    """Route every log record to `stream` as JSON; idempotent (called by every entry point)."""
    global _handler  # noqa: PLW0603 - one handler per process, installed once
    with _configured:
        if _handler is not None:
            return
        _handler = logging.StreamHandler(stream)
        _handler.setFormatter(JsonFormatter())
        root = logging.getLogger()
        root.addHandler(_handler)
        root.setLevel(level)


def trace_from_header(header: str | None, project: str | None) -> tuple[str, str | None] | None:
    """The Cloud Logging trace resource name and span id from X-Cloud-Trace-Context."""
    match = _TRACE_HEADER.match((header or "").strip())
    if match is None:
        return None
    trace_id, span = match.group(1).lower(), match.group(2)
    name = f"projects/{project}/traces/{trace_id}" if project else trace_id
    return name, span


@contextlib.contextmanager
def bound(request_id: str | None, trace: tuple[str, str | None] | None = None) -> Iterator[None]:
    """Attach the request id and trace to every line logged inside the block."""
    request_token = _request_id.set(request_id)
    trace_token = _trace.set(trace)
    try:
        yield
    finally:
        _trace.reset(trace_token)
        _request_id.reset(request_token)


@contextlib.contextmanager
def fields(**ids: str) -> Iterator[None]:
    """Attach ids (runId, postId) to every line logged inside the block.

    Worker threads start with an empty context: the pool runs each item in a copy of the
    submitter's context (common.workpool), so these reach its lines too.
    """
    token = _fields.set({**_fields.get(), **ids})
    try:
        yield
    finally:
        _fields.reset(token)
