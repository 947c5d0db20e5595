"""The status function served by functions-framework, and the report's database cost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from bson import ObjectId
from pymongo import MongoClient, monitoring
from pymongo.database import Database

from common import stats, status
from common.clock import utcnow
from common.lock import STATE_ID
from devstack.processes import free_port
from tests.conftest import SettingsFactory, add_account
from tests.functions_fixtures import STATUS_SOURCE, Served, function_env, serve

TIMEOUT = 30


@pytest.fixture(scope="module")
def status_fn(mongo_uri: str, fn_db_name: str, fn_workdir: Path) -> Iterator[Served]:
    # Every test here reads its own database state: no report is kept between requests.
    env = function_env(mongo_uri, fn_db_name, STATUS_CACHE_SECONDS="0")
    with serve("status", STATUS_SOURCE, env, fn_workdir) as s:
        yield s


def insert_post(db: Database[Any], status_: str, scheduled_ago: timedelta, **extra: Any) -> None:
    now = utcnow()
    doc = {
        "_id": ObjectId(),
        "accountId": "fb-1",
        "platform": "facebook",
        "content": {"text": "confidential launch text", "link": None, "media": []},
        "scheduledAt": now - scheduled_ago,
        "dueAt": now - scheduled_ago,
        "status": status_,
        "version": 1,
        "attempts": 0,
    }
    doc.update(extra)
    db["posts"].insert_one(doc)


def populate(db: Database[Any], last_run_ago: timedelta) -> None:
    now = utcnow()
    add_account(db, "fb-1")
    add_account(db, "fb-2")
    add_account(db, "ig-1", platform="instagram")
    add_account(db, "sky-1", platform="bluesky")
    db["accounts"].update_one({"_id": "ig-1"}, {"$set": {"status": "needs_reauth"}})
    insert_post(db, "scheduled", timedelta(minutes=5))  # due, late
    insert_post(db, "scheduled", timedelta(seconds=1))  # due
    insert_post(db, "scheduled", -timedelta(hours=1), platform="instagram")  # next
    insert_post(db, "failed", timedelta(hours=2))
    stats.count_failed(db, now - timedelta(hours=2))
    insert_post(db, "unknown", timedelta(hours=3))
    insert_post(db, "canceled", timedelta(hours=3))
    on_time, late = now - timedelta(hours=4) + timedelta(seconds=30), now - timedelta(hours=4)
    insert_post(db, "published", timedelta(hours=4), publishedAt=on_time)
    stats.count_published(db, now - timedelta(hours=4), on_time)
    insert_post(db, "published", timedelta(hours=5), publishedAt=late)
    stats.count_published(db, now - timedelta(hours=5), late)
    # Counted by the outcome writes only: a post published two days ago is not in the figures.
    stats.count_published(db, now - timedelta(days=2), now - timedelta(days=2))
    db["scheduler_state"].insert_one(
        {
            "_id": STATE_ID,
            "lastRunAt": now - last_run_ago,
            "lastRunDuration": 0.25,
            "lastRunStatus": "ok",
            "totalExecutions": 42,
            "totalPostsPublished": 2,
            "totalPostsFailed": 1,
            "lock": {"holder": "run-x", "acquiredAt": now, "expiresAt": now + timedelta(minutes=5)},
            "recentTicks": ["m-1"],
        }
    )


def test_the_report_counts_everything_exactly(status_fn: Served, fresh_db: Database[Any]) -> None:
    populate(fresh_db, last_run_ago=timedelta(seconds=30))
    response = requests.get(status_fn.url, timeout=TIMEOUT)
    assert response.status_code == 200
    body = response.json()
    assert body["serverless"] is True
    assert (body["databaseAvailable"], body["metaConnected"], body["operational"]) == (True,) * 3
    assert body["platforms"] == {
        "facebook": {"connected": 2, "needsReauth": 0},
        "instagram": {"connected": 0, "needsReauth": 1},
        "threads": {"connected": 0, "needsReauth": 0},
        "bluesky": {"connected": 1, "needsReauth": 0},
        "mastodon": {"connected": 0, "needsReauth": 0},
    }
    assert body["queue"] == {"due": 2, "scheduled": 3, "failed": 1, "unknown": 1}
    scheduler = body["scheduler"]
    assert scheduler["totalExecutions"] == 42
    assert (scheduler["totalPostsPublished"], scheduler["totalPostsFailed"]) == (2, 1)
    assert scheduler["lastRunStatus"] == "ok"
    assert scheduler["executionLock"]["held"] is True
    assert scheduler["nextScheduledPost"]["platform"] == "instagram"
    health = body["health"]
    assert 300 <= health["lagSeconds"] < 400  # the late post was due five minutes ago
    assert 30 <= health["lastRunAgeSeconds"] < 120
    # Finished in the last day: 1 of 3 (failed, on time, late published).
    assert health["onTimeRate24h"] == 0.3333
    history = body["history24h"]
    assert (sum(history["published"]), sum(history["failed"])) == (2, 1)
    assert body["endpoints"]["run"]["methods"] == ["POST"]
    assert body["version"]
    for private in (
        "confidential launch text",
        "not-a-real-token",
        "fb-1",
        "ext-fb-1",
        "mongodb://",
    ):
        assert private not in response.text
    assert response.headers["Cache-Control"] == "public, max-age=0"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_no_recent_run_means_not_operational(status_fn: Served, fresh_db: Database[Any]) -> None:
    populate(fresh_db, last_run_ago=timedelta(minutes=4))  # more than three tick intervals
    body = requests.get(status_fn.url, timeout=TIMEOUT).json()
    assert body["operational"] is False
    assert body["health"]["lastRunAgeSeconds"] >= 240


def test_an_empty_database_reports_zeroes(status_fn: Served, fresh_db: Database[Any]) -> None:
    body = requests.get(status_fn.url, timeout=TIMEOUT).json()
    assert body["queue"] == {"due": 0, "scheduled": 0, "failed": 0, "unknown": 0}
    assert body["metaConnected"] is False
    assert body["operational"] is False
    assert body["scheduler"]["lastRunAt"] is None
    assert body["scheduler"]["executionLock"] == {"held": False, "expiresAt": None}
    assert body["health"] == {"lagSeconds": 0.0, "lastRunAgeSeconds": None, "onTimeRate24h": None}


def test_head_answers_without_a_body_and_other_methods_get_405(status_fn: Served) -> None:
    head = requests.head(status_fn.url, timeout=TIMEOUT)
    assert head.status_code == 200
    assert head.content == b""
    post = requests.post(status_fn.url, timeout=TIMEOUT)
    assert post.status_code == 405
    assert post.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert post.json()["error"] == "Method not allowed"


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return None


def test_an_unreachable_database_answers_503_with_the_same_shape(
    status_fn: Served, fresh_db: Database[Any], mongo_uri: str, fn_workdir: Path
) -> None:
    healthy = requests.get(status_fn.url, timeout=TIMEOUT).json()  # nothing scheduled: no nulls
    port = free_port()
    env = function_env(f"mongodb://127.0.0.1:{port}/", "nowhere", MONGO_TIMEOUT_MS="500")
    with serve("status", STATUS_SOURCE, env, fn_workdir) as served:
        # The client timeout is the bound: a hanging status call fails the test.
        response = requests.get(served.url, timeout=10)
    assert response.status_code == 503
    body = response.json()
    assert (body["databaseAvailable"], body["operational"]) == (False, False)
    assert _shape(body) == _shape(healthy)
    assert str(port) not in response.text


class _CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


def _report_commands(
    db: Database[Any], mongo_uri: str, make_settings: SettingsFactory
) -> tuple[status.StatusReport, list[str]]:
    counter = _CommandCounter()
    client: MongoClient[Any] = MongoClient(mongo_uri, tz_aware=True, event_listeners=[counter])
    try:
        client.admin.command("ping")  # connection set-up is not the report's cost
        counter.names.clear()
        report = status.report(make_settings(), client[db.name], utcnow())
    finally:
        client.close()
    return report, counter.names


def test_a_report_costs_one_database_command(
    db: Database[Any], mongo_uri: str, make_settings: SettingsFactory
) -> None:
    populate(db, last_run_ago=timedelta(seconds=10))
    report, commands = _report_commands(db, mongo_uri, make_settings)
    # The state document with the open and attention windows, the hourly figures and the
    # accounts joined to it: none of them grows with history.
    assert commands == ["aggregate"]
    assert (report.queue.scheduled, report.queue.due, report.queue.failed) == (3, 2, 1)
    assert report.queue.unknown == 1
    assert report.scheduler.total_executions == 42
    assert report.scheduler.next_post is not None
    assert report.scheduler.next_post.platform == "instagram"
    assert sum(report.history_24h.published) == 2
    assert report.platforms["facebook"].connected == 2
    assert report.platforms["instagram"].needs_reauth == 1


def test_before_the_first_run_a_report_reads_each_figure_on_its_own(
    db: Database[Any], mongo_uri: str, make_settings: SettingsFactory
) -> None:
    populate(db, last_run_ago=timedelta(seconds=10))
    db["scheduler_state"].delete_many({})
    report, commands = _report_commands(db, mongo_uri, make_settings)
    # No state document to join the reads to: they run one by one.
    assert commands == ["aggregate"] * 5
    assert (report.queue.scheduled, report.queue.due, report.queue.unknown) == (3, 2, 1)
    assert (sum(report.history_24h.published), sum(report.history_24h.failed)) == (2, 1)
    assert report.platforms["bluesky"].connected == 1
    assert (report.scheduler.last_run_at, report.scheduler.total_executions) == (None, 0)
