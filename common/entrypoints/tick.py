"""on_tick: a Pub/Sub `messagePublished` CloudEvent in, one run (the engine's Trigger) out.

Eventarc delivers in binary content mode; structured mode and a raw push body (which
functions-framework converts) carry the same data. The Pub/Sub messageId de-duplicates
redeliveries and publishTime drives the staleness rule; the CloudEvent's `id` and `time` are
the fallbacks (they hold the same values when Eventarc sends).

The message's data names what to do: `{"kind": "tick"}` (every minute) runs the scheduler;
`{"kind": "media-sweep"}` (once a day, its own Cloud Scheduler job on the same topic) runs the
bounded media sweep instead, so a tick never pays for it. Data that names nothing is a tick.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from common import logs
from common.clock import TimeError, require_aware
from common.config import ConfigError
from common.db import DatabaseUnavailableError
from common.engine import Trigger
from common.entrypoints.instance import Lazy
from common.entrypoints.runner import RunService, execute, sweep_media

log = logging.getLogger(__name__)

MESSAGE_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
MAX_MESSAGE_ID_LENGTH = 128
MEDIA_SWEEP = "media-sweep"


class MalformedTickError(ValueError):
    """The event is not a Pub/Sub tick; it is acknowledged, since a redelivery cannot fix it."""


def trigger_from_event(attributes: Mapping[str, Any], data: Any) -> Trigger:
    """A tick Trigger from a CloudEvent's attributes and data."""
    if attributes.get("type") != MESSAGE_PUBLISHED:
        raise MalformedTickError("event type is not a Pub/Sub messagePublished")
    message = _message(data)
    message_id = _first_text(message, "messageId", "message_id") or attributes.get("id")
    if not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_MESSAGE_ID_LENGTH:
        raise MalformedTickError("no usable messageId")
    published = _first_text(message, "publishTime", "publish_time") or attributes.get("time")
    if not isinstance(published, str):
        raise MalformedTickError("no publishTime")
    return Trigger("tick", message_id=message_id, published_at=_instant(published))


def _message(data: Any) -> Mapping[str, Any]:
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise MalformedTickError("event data is not JSON") from exc
    message = data.get("message") if isinstance(data, Mapping) else None
    if not isinstance(message, Mapping):
        raise MalformedTickError("event data has no Pub/Sub message")
    return message


def message_kind(data: Any) -> str:
    """What the message's own data asks for: "tick" unless it names another kind."""
    try:
        encoded = _message(data).get("data")
        named = json.loads(base64.b64decode(encoded, validate=True)) if encoded else None
    except (MalformedTickError, binascii.Error, TypeError, ValueError):
        return "tick"
    kind = named.get("kind") if isinstance(named, Mapping) else None
    return kind if kind == MEDIA_SWEEP else "tick"


def _first_text(message: Mapping[str, Any], *keys: str) -> str | None:
    # Google's samples carry both camelCase and snake_case spellings; accept either.
    for key in keys:
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _instant(text: str) -> datetime:
    try:
        return require_aware(datetime.fromisoformat(text), "publishTime")
    except (ValueError, TimeError) as exc:
        raise MalformedTickError("publishTime is not an RFC 3339 instant") from exc


def receive_tick(attributes: Mapping[str, Any], data: Any, service: Lazy[RunService]) -> None:
    """Returns (ack) on input no redelivery can fix; raises when the database is away."""
    logs.configure()
    try:
        trigger = trigger_from_event(attributes, data)
    except MalformedTickError as exc:
        log.error("malformed tick acknowledged", extra={"reason": str(exc)})
        return
    with logs.bound(trigger.message_id):
        try:
            instance = service.get()
        except ConfigError as exc:
            log.critical("configuration invalid; tick dropped", extra={"reason": str(exc)})
            return
        if message_kind(data) == MEDIA_SWEEP:
            _sweep(instance)
            return
        try:
            result = execute(instance, trigger)
        except DatabaseUnavailableError as exc:
            # Pub/Sub redelivers; the staleness rule ends the retries of an old tick.
            log.error("database unavailable; tick not run", extra={"reason": str(exc)})
            # Re-raised without its cause: the framework logs the chain, and the driver's
            # error names database hosts.
            raise DatabaseUnavailableError(str(exc)) from None
        log.info("tick handled", extra=result.to_response())


def _sweep(instance: RunService) -> None:
    """Acknowledged whatever happens: tomorrow's sweep picks up where this one stopped."""
    try:
        report = sweep_media(instance)
    except DatabaseUnavailableError as exc:
        log.error("database unavailable; media sweep not run", extra={"reason": str(exc)})
        return
    if report is None:
        log.info("media sweep skipped: no MEDIA_BUCKET")
        return
    log.info("media swept", extra=report)
