"""Outcome events through the real google-cloud-pubsub client to a local Pub/Sub emulator."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from bson import ObjectId
from google.cloud import pubsub_v1
from pymongo.database import Database

from common import events
from common.clock import utcnow
from common.config import Settings
from common.engine import Trigger, execute_once
from common.model import Post
from common.platforms.base import AuthExpired
from devstack import pubsub_emulator
from tests.cloudevents_helpers import binary_event
from tests.conftest import SettingsFactory, add_account, add_post, seed
from tests.functions_fixtures import RECORDING_SOURCE, function_env, serve
from tests.recording import RecordingPublisher, registry_for

PROJECT = "test-proj"


@pytest.fixture(scope="module")
def emulator_host() -> Iterator[str]:
    with pubsub_emulator.running() as host:
        yield host


@pytest.fixture
def topic(emulator_host: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A fresh topic and a subscription to it; yields (topic path, subscription path)."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator_host)
    name = f"outcomes-{uuid.uuid4().hex[:8]}"
    topic_path = f"projects/{PROJECT}/topics/{name}"
    subscription = f"projects/{PROJECT}/subscriptions/{name}-test"
    publisher = pubsub_v1.PublisherClient()
    publisher.create_topic(name=topic_path)
    with pubsub_v1.SubscriberClient() as subscriber:
        subscriber.create_subscription(name=subscription, topic=topic_path)
        yield topic_path, subscription


def pull(subscription: str, expected: int, wait_seconds: float = 10.0) -> list[Any]:
    """Messages from the subscription until `expected` arrived or the wait ends."""
    received: list[Any] = []
    deadline = time.monotonic() + wait_seconds
    with pubsub_v1.SubscriberClient() as subscriber:
        while len(received) < expected and time.monotonic() < deadline:
            response = subscriber.pull(subscription=subscription, max_messages=100, timeout=5)
            received.extend(m.message for m in response.received_messages)
            if response.received_messages:
                subscriber.acknowledge(
                    subscription=subscription,
                    ack_ids=[m.ack_id for m in response.received_messages],
                )
    return received


def test_every_outcome_is_an_event_with_attributes(
    db: Database[Any], make_settings: SettingsFactory, topic: tuple[str, str]
) -> None:
    topic_path, subscription = topic
    settings: Settings = make_settings(EVENTS_TOPIC=topic_path)
    now = utcnow()
    add_account(db, "fb-ok")
    add_account(db, "fb-expired")
    published_id = add_post(db, "fb-ok", now - timedelta(minutes=1))
    add_post(db, "fb-expired", now - timedelta(minutes=1))
    add_post(db, "ghost-account", now - timedelta(minutes=1))  # fails: no such account
    # A post a dead runner may have sent: not on the platform, so its outcome is unknown.
    db["posts"].insert_one(
        {
            "_id": ObjectId(),
            "accountId": "fb-ok",
            "platform": "facebook",
            "content": {"text": "t"},
            "scheduledAt": now - timedelta(minutes=9),
            "dueAt": now - timedelta(minutes=9),
            "status": "publishing",
            "version": 1,
            "attempts": 0,
            "sendStartedAt": now - timedelta(minutes=8),
            "lease": {"runId": "dead", "fence": 1, "expiresAt": now - timedelta(minutes=3)},
        }
    )

    def expire_token(post: Post) -> AuthExpired | None:
        return AuthExpired("token expired") if post.account_id == "fb-expired" else None

    sink = events.sink_for(settings)
    registry = registry_for(db)
    registry.register(RecordingPublisher(db, platform="facebook", script=expire_token))
    result = execute_once(settings, Trigger("manual"), registry, db=db, events=sink)
    assert sink.flush(10.0) == 0

    messages = pull(subscription, expected=5)
    names = Counter(m.attributes["event"] for m in messages)
    assert names == Counter(
        {
            events.POST_PUBLISHED: 1,
            events.POST_FAILED: 1,
            events.POST_UNKNOWN: 1,
            events.ACCOUNT_NEEDS_REAUTH: 1,
            events.RUN_COMPLETED: 1,
        }
    )
    by_name = {m.attributes["event"]: m for m in messages}
    published = json.loads(by_name[events.POST_PUBLISHED].data)
    assert published["postId"] == str(published_id)
    assert by_name[events.POST_PUBLISHED].attributes["platform"] == "facebook"
    assert by_name[events.POST_FAILED].attributes["code"] == "account_not_found"
    assert by_name[events.ACCOUNT_NEEDS_REAUTH].attributes["accountId"] == "fb-expired"
    completed = json.loads(by_name[events.RUN_COMPLETED].data)
    assert completed["runId"] == result.run_id
    assert completed["postsPublished"] == result.counts.published == 1
    assert all(b'"text"' not in m.data for m in messages)  # never the post's text


def test_the_run_function_publishes_events_when_a_topic_is_set(
    mongo_uri: str,
    fn_db_name: str,
    fn_workdir: Path,
    fresh_db: Database[Any],
    emulator_host: str,
    topic: tuple[str, str],
) -> None:
    topic_path, subscription = topic
    seed(fresh_db, n_posts=3, n_accounts=2)
    env = function_env(
        mongo_uri,
        fn_db_name,
        EVENTS_TOPIC=topic_path.rsplit("/", 1)[-1],
        GOOGLE_CLOUD_PROJECT=PROJECT,
        PUBSUB_EMULATOR_HOST=emulator_host,
    )
    headers, body = binary_event()
    with serve("on_tick", RECORDING_SOURCE, env, fn_workdir) as served:
        assert requests.post(served.url, headers=headers, data=body, timeout=30).status_code == 200
    names = Counter(m.attributes["event"] for m in pull(subscription, expected=4))
    assert names == Counter({events.POST_PUBLISHED: 3, events.RUN_COMPLETED: 1})


def test_a_failure_to_publish_events_never_fails_the_run(
    mongo_uri: str, fn_db_name: str, fn_workdir: Path, fresh_db: Database[Any], emulator_host: str
) -> None:
    ids = seed(fresh_db, n_posts=2, n_accounts=1)
    env = function_env(
        mongo_uri,
        fn_db_name,
        EVENTS_TOPIC=f"projects/{PROJECT}/topics/does-not-exist",
        PUBSUB_EMULATOR_HOST=emulator_host,
    )
    with serve("on_tick", RECORDING_SOURCE, env, fn_workdir) as served:
        headers, body = binary_event()
        assert requests.post(served.url, headers=headers, data=body, timeout=30).status_code == 200
        warnings = [line for line in served.log_lines() if line["message"] == "event not published"]
    assert fresh_db["posts"].count_documents({"_id": {"$in": ids}, "status": "published"}) == 2
    assert len(warnings) == 3  # two posts and the run
    assert {line["severity"] for line in warnings} == {"WARNING"}


def test_without_a_topic_nothing_is_published(make_settings: SettingsFactory) -> None:
    assert isinstance(events.sink_for(make_settings()), events.NoEvents)
    assert events.topic_path(make_settings(EVENTS_TOPIC="t")) is None  # no project: off
    assert events.topic_path(make_settings(EVENTS_TOPIC="t", GOOGLE_CLOUD_PROJECT="p")) == (
        "projects/p/topics/t"
    )
