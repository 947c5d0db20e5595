"""Outcome events (`post.published`, `post.failed`, ...) published to Pub/Sub.

Off unless EVENTS_TOPIC is set. google-cloud-pubsub is imported on the first event, not at
import time, so cold starts of functions that never publish stay cheap. Publishing is
best effort: a failure is logged and never fails the run that emitted the event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any, Protocol

from common import jsonfmt
from common.clock import utcnow
from common.config import Settings

log = logging.getLogger(__name__)

POST_PUBLISHED = "post.published"
POST_FAILED = "post.failed"
POST_UNKNOWN = "post.unknown"
ACCOUNT_NEEDS_REAUTH = "account.needs_reauth"
RUN_COMPLETED = "run.completed"

Fields = Mapping[str, str | int | float | bool | None]
PUBLISH_TIMEOUT_SECONDS = 10.0


class EventSink(Protocol):
    """Where the engine reports outcomes. `emit` must never raise."""

    def emit(self, name: str, fields: Fields) -> None: ...

    def flush(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for pending events; return how many failed."""
        ...


class NoEvents:
    """The sink when EVENTS_TOPIC is not set."""

    def emit(self, name: str, fields: Fields) -> None:
        return None

    def flush(self, timeout: float) -> int:
        return 0


def topic_path(settings: Settings) -> str | None:
    """`projects/P/topics/T` from EVENTS_TOPIC (full path, or a name plus GOOGLE_CLOUD_PROJECT)."""
    topic = settings.events_topic
    if topic is None:
        return None
    if topic.startswith("projects/"):
        return topic
    if settings.google_cloud_project is None:
        log.warning("EVENTS_TOPIC is a bare name and GOOGLE_CLOUD_PROJECT is unset: events off")
        return None
    return f"projects/{settings.google_cloud_project}/topics/{topic}"


def message_for(name: str, fields: Fields) -> tuple[bytes, dict[str, str]]:
    """The message body (JSON) and attributes (string fields, for subscription filters)."""
    body = {"event": name, "emittedAt": jsonfmt.to_rfc3339(utcnow()), **fields}
    attributes = {"event": name}
    attributes.update({k: v for k, v in fields.items() if isinstance(v, str)})
    return jsonfmt.dumps(body).encode(), attributes


class PubSubEvents:
    """Publishes through google-cloud-pubsub's batching client, created on first use."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._client: Any = None
        self._pending: list[Future[str]] = []
        self._lock = threading.Lock()

    def _publisher(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud.pubsub_v1 import (  # noqa: PLC0415 - lazy: cold start
                    PublisherClient,
                )

                self._client = PublisherClient()
            return self._client

    def emit(self, name: str, fields: Fields) -> None:
        try:
            data, attributes = message_for(name, fields)
            future = self._publisher().publish(
                self.topic, data, timeout=PUBLISH_TIMEOUT_SECONDS, **attributes
            )
        except Exception as exc:
            log.warning("event not published", extra={"event": name, "error": type(exc).__name__})
            return
        with self._lock:
            self._pending.append(future)

    def flush(self, timeout: float) -> int:
        with self._lock:
            pending, self._pending = self._pending, []
        deadline = time.monotonic() + timeout
        failed = 0
        for future in pending:
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except Exception as exc:
                failed += 1
                log.warning("event not published", extra={"error": type(exc).__name__})
        return failed


def sink_for(settings: Settings) -> EventSink:
    topic = topic_path(settings)
    return NoEvents() if topic is None else PubSubEvents(topic)
