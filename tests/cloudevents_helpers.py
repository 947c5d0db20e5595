"""The tests' Pub/Sub CloudEvents: the local ticker's builders, so both send the same shape."""

from __future__ import annotations

from devstack.ticker import (
    SOURCE,
    binary_event,
    new_message_id,
    pubsub_data,
    rfc3339,
    structured_event,
)

__all__ = ["SOURCE", "binary_event", "new_message_id", "pubsub_data", "rfc3339", "structured_event"]
