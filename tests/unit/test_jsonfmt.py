"""One encoding of instants for everything that leaves the process."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from bson import ObjectId

from common import events, jsonfmt


def test_an_instant_is_utc_with_z_and_whole_seconds() -> None:
    berlin = timezone(timedelta(hours=1))
    instant = datetime(2026, 11, 29, 0, 11, 9, 987654, tzinfo=berlin)
    assert jsonfmt.to_rfc3339(instant) == "2026-11-28T23:11:09Z"
    assert jsonfmt.to_rfc3339(instant, microseconds=True) == "2026-11-28T23:11:09.987654Z"


def test_dumps_encodes_instants_and_document_ids_and_refuses_anything_else() -> None:
    oid = ObjectId()
    at = datetime(2026, 11, 28, 23, 11, 9, 5, tzinfo=UTC)
    assert jsonfmt.dumps({"at": at, "id": oid}) == f'{{"at":"2026-11-28T23:11:09Z","id":"{oid}"}}'
    with pytest.raises(TypeError):
        jsonfmt.dumps({"x": object()})


def test_an_event_says_when_it_was_emitted_in_the_same_encoding() -> None:
    data, _ = events.message_for(events.RUN_COMPLETED, {"runId": "r"})
    emitted = json.loads(data)["emittedAt"]
    assert emitted == jsonfmt.to_rfc3339(datetime.fromisoformat(emitted))
    assert emitted.endswith("Z")
    assert "." not in emitted
