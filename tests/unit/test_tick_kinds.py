"""What a message on the tick topic asks for: the daily sweep only when its data says so."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from common.entrypoints.tick import MEDIA_SWEEP, message_kind


def pushed(data: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"messageId": "1", "publishTime": "2026-12-03T03:17:00Z"}
    if data is not None:
        message["data"] = data
    return {"message": message}


def encoded(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_the_sweep_jobs_data_asks_for_the_media_sweep() -> None:
    assert message_kind(pushed(encoded(b'{"kind":"media-sweep"}'))) == MEDIA_SWEEP


@pytest.mark.parametrize(
    "data",
    [
        encoded(b'{"kind":"tick","schedule":"* * * * *"}'),
        encoded(b'{"kind":"something-else"}'),
        encoded(b'["media-sweep"]'),
        encoded(b"not json"),
        "%%% not base64 %%%",
        None,
    ],
)
def test_anything_else_is_a_tick(data: str | None) -> None:
    assert message_kind(pushed(data)) == "tick"


def test_a_body_that_is_no_pubsub_message_is_a_tick_too() -> None:
    assert message_kind(b"not even json") == "tick"
