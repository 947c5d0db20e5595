"""on_tick served by functions-framework: Pub/Sub CloudEvents in, runs out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pymongo.database import Database

from common.clock import utcnow
from common.lock import STATE_ID
from devstack.processes import free_port
from tests.cloudevents_helpers import (
    SOURCE,
    binary_event,
    new_message_id,
    pubsub_data,
    rfc3339,
    structured_event,
)
from tests.conftest import add_account, add_post, seed
from tests.functions_fixtures import (
    RECORDING_SOURCE,
    RUN_SOURCE,
    Served,
    function_env,
    serve,
)
from tests.recording import sends_per_post

TIMEOUT = 30


@pytest.fixture(scope="module")
def tick_fn(mongo_uri: str, fn_db_name: str, fn_workdir: Path) -> Iterator[Served]:
    with serve("on_tick", RECORDING_SOURCE, function_env(mongo_uri, fn_db_name), fn_workdir) as s:
        yield s


def post_event(served: Served, headers: dict[str, str], body: bytes) -> requests.Response:
    return requests.post(served.url, headers=headers, data=body, timeout=TIMEOUT)


def executions(db: Database[Any]) -> int:
    state = db["scheduler_state"].find_one({"_id": STATE_ID}) or {}
    return int(state.get("totalExecutions", 0))


def test_an_eventarc_tick_publishes_every_due_post_exactly_once(
    tick_fn: Served, fresh_db: Database[Any]
) -> None:
    ids = seed(fresh_db, n_posts=6, n_accounts=2)
    response = post_event(tick_fn, *binary_event())
    assert response.status_code == 200
    assert sends_per_post(fresh_db) == dict.fromkeys(ids, 1)
    assert fresh_db["posts"].count_documents({"status": "published"}) == 6
    assert executions(fresh_db) == 1


def test_a_structured_mode_tick_runs(tick_fn: Served, fresh_db: Database[Any]) -> None:
    ids = seed(fresh_db, n_posts=2, n_accounts=1)
    assert post_event(tick_fn, *structured_event()).status_code == 200
    assert sends_per_post(fresh_db) == dict.fromkeys(ids, 1)
    assert executions(fresh_db) == 1


def test_a_raw_pubsub_push_body_runs(tick_fn: Served, fresh_db: Database[Any]) -> None:
    # A push subscription without Eventarc posts the bare body; the framework converts it.
    body = json.dumps(pubsub_data(new_message_id(), utcnow())).encode()
    response = post_event(tick_fn, {"Content-Type": "application/json"}, body)
    assert response.status_code == 200
    assert executions(fresh_db) == 1


def test_a_redelivered_tick_runs_once(tick_fn: Served, fresh_db: Database[Any]) -> None:
    add_account(fresh_db, "acct-0")
    message_id = new_message_id()
    assert post_event(tick_fn, *binary_event(message_id)).status_code == 200
    # A post that became due after the first delivery shows whether the second one ran.
    add_post(fresh_db, "acct-0", utcnow() - timedelta(seconds=1))
    assert post_event(tick_fn, *structured_event(message_id)).status_code == 200
    assert executions(fresh_db) == 1
    assert sends_per_post(fresh_db) == {}


def test_a_stale_tick_is_acknowledged_and_not_run(tick_fn: Served, fresh_db: Database[Any]) -> None:
    seed(fresh_db, n_posts=1, n_accounts=1)
    published = utcnow() - timedelta(minutes=10)
    assert post_event(tick_fn, *binary_event(published=published)).status_code == 200
    assert executions(fresh_db) == 0
    assert fresh_db["posts"].count_documents({"status": "scheduled"}) == 1


def _malformed_events() -> list[tuple[str, dict[str, str], bytes]]:
    headers, body = binary_event()
    data = json.loads(body)
    wrong_type = {**headers, "ce-type": "google.cloud.storage.object.v1.finalized"}
    bad_time = json.loads(body)
    bad_time["message"]["publishTime"] = "yesterday"
    ancient = json.loads(body)
    ancient["message"]["publishTime"] = "0001-01-01T00:00:00+01:00"  # no UTC equivalent
    long_id = json.loads(body)
    long_id["message"]["messageId"] = "9" * 200
    no_message = {"subscription": data["subscription"]}
    return [
        ("wrong event type", wrong_type, body),
        ("data without a message", headers, json.dumps(no_message).encode()),
        ("data that is a list", headers, b"[1, 2]"),
        ("publishTime not a time", headers, json.dumps(bad_time).encode()),
        ("publishTime out of range", headers, json.dumps(ancient).encode()),
        ("messageId too long", headers, json.dumps(long_id).encode()),
        ("message not an object", headers, json.dumps({"message": "tick"}).encode()),
    ]


@pytest.mark.parametrize(
    ("case", "headers", "body"), _malformed_events(), ids=[c[0] for c in _malformed_events()]
)
def test_a_malformed_tick_is_logged_and_acknowledged(
    tick_fn: Served, fresh_db: Database[Any], case: str, headers: dict[str, str], body: bytes
) -> None:
    before = sum(1 for line in tick_fn.log_lines() if line["message"].startswith("malformed"))
    response = post_event(tick_fn, headers, body)
    assert response.status_code == 200, case
    assert executions(fresh_db) == 0
    logged = [line for line in tick_fn.log_lines() if line["message"].startswith("malformed")]
    assert len(logged) == before + 1
    assert logged[-1]["severity"] == "ERROR"


def test_a_tick_on_the_real_main_runs_with_the_default_registry(
    mongo_uri: str, fn_db_name: str, fn_workdir: Path, fresh_db: Database[Any]
) -> None:
    # No posts: the deployed registry's adapters would call the real Graph API.
    env = function_env(mongo_uri, fn_db_name)
    with serve("on_tick", RUN_SOURCE, env, fn_workdir) as served:
        assert post_event(served, *binary_event()).status_code == 200
    assert executions(fresh_db) == 1


def test_an_unreachable_database_fails_the_tick_so_pubsub_redelivers_until_stale(
    mongo_uri: str, fn_workdir: Path
) -> None:
    port = free_port()
    nowhere = f"mongodb://127.0.0.1:{port}/"
    env = function_env(nowhere, "unused", MONGO_TIMEOUT_MS="300", TICK_MAX_AGE_SECONDS="300")
    with serve("on_tick", RUN_SOURCE, env, fn_workdir) as served:
        fresh = post_event(served, *binary_event())
        stale = post_event(served, *binary_event(published=utcnow() - timedelta(minutes=6)))
        lines = served.log_lines()
    assert fresh.status_code == 500  # functions-framework's answer to a raised exception
    assert stale.status_code == 200
    unavailable = [line for line in lines if line["message"].startswith("database unavailable")]
    assert len(unavailable) == 1
    assert unavailable[0]["severity"] == "ERROR"
    assert f":{port}" not in json.dumps(lines)  # the database address stays out of the logs


def test_rfc3339_helper_matches_the_eventarc_example() -> None:
    headers, _ = binary_event("17504356102918430")
    assert headers["ce-source"] == SOURCE
    assert rfc3339(utcnow()).endswith("Z")
