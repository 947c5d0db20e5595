"""on_tick refuses what is not a CloudEvent, or too large, with a JSON 4xx, and stays small."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pymongo.database import Database

from common.entrypoints.serve import MAX_REQUEST_BYTES, NOT_A_CLOUD_EVENT
from common.lock import STATE_ID
from devstack.processes import free_port
from tests.cloudevents_helpers import binary_event
from tests.functions_fixtures import RUN_SOURCE, Served, function_env, serve

TIMEOUT = 30
STRUCTURED = {"Content-Type": "application/cloudevents+json"}
PLAIN_JSON = {"Content-Type": "application/json"}
LARGE_BODY = b"\xff" * (20 * 1024 * 1024)
# Before the cap, each 20 MB body kept about 50 MB of the process for good.
RSS_GROWTH_BOUND_KIB = 40 * 1024


@pytest.fixture(scope="module")
def tick_fn(mongo_uri: str, fn_db_name: str, fn_workdir: Path) -> Iterator[Served]:
    with serve("on_tick", RUN_SOURCE, function_env(mongo_uri, fn_db_name), fn_workdir) as s:
        yield s


def post(served: Served, headers: dict[str, str], body: bytes) -> requests.Response:
    return requests.post(served.url, headers=headers, data=body, timeout=TIMEOUT)


def assert_json_refusal(response: requests.Response, status: int, error: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"error": error, "requestId": response.headers["X-Request-ID"]}


def executions(db: Database[Any]) -> int:
    state = db["scheduler_state"].find_one({"_id": STATE_ID}) or {}
    return int(state.get("totalExecutions", 0))


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param(STRUCTURED, b"\xff\xfe tick", id="structured body not UTF-8"),
        pytest.param(STRUCTURED, b"tick", id="structured body not JSON"),
        pytest.param(STRUCTURED, b'{"id": "1"}', id="structured event without its fields"),
        pytest.param(PLAIN_JSON, b"\xff\xfe", id="no CloudEvent headers, not UTF-8"),
        pytest.param(PLAIN_JSON, b"tick", id="no CloudEvent headers, not JSON"),
        pytest.param(PLAIN_JSON, b"[1, 2]", id="no CloudEvent headers, not a push body"),
    ],
)
def test_a_request_that_is_not_a_cloud_event_is_a_json_400_and_runs_nothing(
    tick_fn: Served, fresh_db: Database[Any], headers: dict[str, str], body: bytes
) -> None:
    assert_json_refusal(post(tick_fn, headers, body), 400, NOT_A_CLOUD_EVENT)
    assert executions(fresh_db) == 0


def test_a_body_over_the_cap_is_a_json_413(tick_fn: Served, fresh_db: Database[Any]) -> None:
    headers, _ = binary_event()
    response = post(tick_fn, headers, b" " * (MAX_REQUEST_BYTES + 1))
    assert_json_refusal(response, 413, f"Request body exceeds {MAX_REQUEST_BYTES} bytes")
    assert executions(fresh_db) == 0


def test_a_refusal_keeps_the_callers_request_id(tick_fn: Served) -> None:
    response = post(tick_fn, {**STRUCTURED, "X-Request-ID": "caller-42"}, b"tick")
    assert response.json()["requestId"] == "caller-42"
    refused = [line for line in tick_fn.log_lines() if line["message"] == "request refused"]
    assert refused[-1]["requestId"] == "caller-42"
    assert refused[-1]["severity"] == "WARNING"


@pytest.mark.slow
def test_large_bodies_do_not_grow_the_process(fn_workdir: Path) -> None:
    # Refused before any database work, so no database is needed.
    env = function_env(f"mongodb://127.0.0.1:{free_port()}/", "unused")
    with serve("on_tick", RUN_SOURCE, env, fn_workdir) as served, requests.Session() as session:
        for _ in range(5):  # warm-up: the first requests load code and fill caches
            session.post(served.url, headers=STRUCTURED, data=LARGE_BODY, timeout=TIMEOUT)
        warm = served.resident_kib()
        for _ in range(100):
            response = session.post(
                served.url, headers=STRUCTURED, data=LARGE_BODY, timeout=TIMEOUT
            )
            assert response.status_code == 413
            # Checked on every request, so a leak fails fast instead of filling the machine.
            assert served.resident_kib() - warm < RSS_GROWTH_BOUND_KIB
