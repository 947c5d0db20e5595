"""Pub/Sub `messagePublished` CloudEvents as Eventarc and Pub/Sub push deliver them, and the local
ticker that posts one to on_tick as Cloud Scheduler and Eventarc would. The tests build their
events here too, so the local stack and the tests send the same shape."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import uuid
from datetime import datetime
from typing import Any

import requests

from common.clock import utcnow
from common.entrypoints.tick import MESSAGE_PUBLISHED

SOURCE = "//pubsub.googleapis.com/projects/demo-proj/topics/scheduler-ticks"
SUBSCRIPTION = "projects/demo-proj/subscriptions/eventarc-europe-west1-run-123-sub-456"


def rfc3339(instant: datetime) -> str:
    """Pub/Sub's publishTime shape: UTC with milliseconds and `Z`."""
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pubsub_data(message_id: str, published: datetime) -> dict[str, Any]:
    payload = base64.b64encode(b'{"kind":"tick","schedule":"* * * * *"}').decode()
    return {
        "message": {
            "data": payload,
            "attributes": {"origin": "cloud-scheduler"},
            "messageId": message_id,
            "publishTime": rfc3339(published),
        },
        "subscription": SUBSCRIPTION,
    }


def new_message_id() -> str:
    return str(uuid.uuid4().int)[:17]


def binary_event(
    message_id: str | None = None, published: datetime | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers and body exactly as Eventarc delivers a Pub/Sub message (binary content mode)."""
    message_id = message_id or new_message_id()
    published = published or utcnow()
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": message_id,
        "ce-type": MESSAGE_PUBLISHED,
        "ce-source": SOURCE,
        "ce-time": rfc3339(published),
    }
    return headers, json.dumps(pubsub_data(message_id, published)).encode()


def structured_event(
    message_id: str | None = None, published: datetime | None = None
) -> tuple[dict[str, str], bytes]:
    message_id = message_id or new_message_id()
    published = published or utcnow()
    event = {
        "specversion": "1.0",
        "id": message_id,
        "source": SOURCE,
        "type": MESSAGE_PUBLISHED,
        "time": rfc3339(published),
        "datacontenttype": "application/json",
        "data": pubsub_data(message_id, published),
    }
    return {"Content-Type": "application/cloudevents+json"}, json.dumps(event).encode()


def tick_every(tick_url: str, seconds: float, stopping: threading.Event) -> None:
    """Post a tick now and then every `seconds` until `stopping` is set."""
    # A slow run must not be cut off: Cloud Scheduler's deadline is minutes, not the period.
    timeout = max(seconds * 5, 300)
    with requests.Session() as session:
        while not stopping.is_set():
            headers, body = binary_event()
            with contextlib.suppress(requests.RequestException):
                session.post(tick_url, data=body, headers=headers, timeout=timeout)
            if stopping.wait(seconds):
                return
