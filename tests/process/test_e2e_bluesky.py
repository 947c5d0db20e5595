"""Exactly once on Bluesky, end to end: the engine, the real adapter and the sandbox PDS.

The record key derived from the post id is what makes it certain: an answer lost after the
write is settled by getRecord, and a repeated create is refused by the PDS (today with a 500).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from bson import ObjectId
from pymongo.database import Database

from common import accounts
from common.clock import utcnow
from common.config import Settings
from common.db import Doc
from common.engine import Trigger, execute_once
from common.model import Content, Media
from common.platforms.bluesky.publisher import BlueskyPublisher
from common.platforms.registry import default_registry
from common.posts import store
from devstack.sandbox.control import BlueskySandbox
from tests.bluesky_support import bluesky_env, connect_bluesky, schedule
from tests.conftest import SettingsFactory
from tests.meta_support import StubContext


def run_once(settings: Settings, db: Database[Doc]) -> None:
    execute_once(settings, Trigger("manual"), default_registry(settings), db=db)


def stored(db: Database[Doc], post_id: ObjectId) -> Doc:
    doc = db.posts.find_one({"_id": post_id})
    assert doc is not None
    return doc


def test_every_post_type_is_published_through_a_run(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(**bluesky_env(bluesky))
    connect_bluesky(db, bluesky, "sky-a")
    images = tuple(
        Media(bluesky.image_url(f"{i}.png", mime="image/png"), alt=f"alt {i}") for i in range(2)
    )
    contents = [
        Content(text="plain text"),
        Content(text="see https://example.com and @sky-a.bsky.test"),
        Content(text="two images", media=images),
        Content(text="a card", link="https://example.com/card"),
    ]
    ids = [schedule(db, "sky-a", content) for content in contents]

    run_once(settings, db)

    assert [stored(db, i)["status"] for i in ids] == ["published"] * 4
    by_text = {p["text"]: p for p in bluesky.posts()}
    assert len(by_text) == 4
    assert len(by_text["see https://example.com and @sky-a.bsky.test"]["facets"]) == 2
    assert by_text["two images"]["media"] == ["alt 0", "alt 1"]
    assert by_text["a card"]["embed"] == "app.bsky.embed.external"
    assert stored(db, ids[0])["platformPostId"].startswith("at://did:plc:")


def test_an_answer_lost_after_the_write_is_reconciled_without_a_second_send(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(**bluesky_env(bluesky))
    connect_bluesky(db, bluesky, "sky-a")
    # The record is written, but the answer comes after the adapter's read timeout (1 s).
    bluesky.set_faults("sky-a.bsky.test", timeouts=1, timeout_seconds=1.5)
    post_id = schedule(db, "sky-a", Content(text="answer lost"))

    run_once(settings, db)

    assert stored(db, post_id)["status"] == "published"
    assert [p["text"] for p in bluesky.posts()] == ["answer lost"]
    counts = bluesky.requests()
    assert counts["POST com.atproto.repo.createRecord"] == 1
    assert counts["GET com.atproto.repo.getRecord"] == 1


def test_a_5xx_after_an_applied_write_is_found_by_get_record(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(**bluesky_env(bluesky))
    connect_bluesky(db, bluesky, "sky-a")
    bluesky.set_faults("sky-a.bsky.test", applied_server_errors=1)
    post_id = schedule(db, "sky-a", Content(text="written, answered 500"))

    run_once(settings, db)

    assert stored(db, post_id)["status"] == "published"
    assert [p["text"] for p in bluesky.posts()] == ["written, answered 500"]
    assert bluesky.requests()["POST com.atproto.repo.createRecord"] == 1


def test_a_repeated_create_is_refused_by_the_record_key_and_found_published(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    """Even a blind second create (an operator's retry of an unknown post under
    at_least_once) cannot duplicate: the PDS answers 500 and getRecord finds the post."""
    settings = make_settings(**bluesky_env(bluesky, RECONCILE_POLICY="at_least_once"))
    account = connect_bluesky(db, bluesky, "sky-a")
    post_id = schedule(db, "sky-a", Content(text="only once"))
    publisher = default_registry(settings).get("bluesky")
    assert isinstance(publisher, BlueskyPublisher)
    post = store.get(db, post_id)
    assert post is not None
    publisher.publish(post, account, StubContext())  # a send whose answer nobody recorded

    run_once(settings, db)

    assert stored(db, post_id)["status"] == "published"
    assert [p["text"] for p in bluesky.posts()] == ["only once"]
    assert bluesky.requests()["POST com.atproto.repo.createRecord"] == 2


def test_three_concurrent_runners_publish_sixty_posts_each_exactly_once(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(
        **bluesky_env(bluesky, RETRY_BASE_SECONDS=1, RETRY_MAX_SECONDS=1, MAX_ATTEMPTS=10)
    )
    names = ["sky-a", "sky-b", "sky-c"]
    warm = [
        schedule(db, connect_bluesky(db, bluesky, name).id, Content(text=name)) for name in names
    ]
    run_once(settings, db)  # each account logs in once, before any fault
    assert [stored(db, post_id)["status"] for post_id in warm] == ["published"] * 3
    # Faults on the sends: applied then answered 500, answered too late, not applied (500).
    bluesky.set_faults("sky-a.bsky.test", applied_server_errors=2)
    bluesky.set_faults("sky-b.bsky.test", timeouts=2, timeout_seconds=1.5)
    # (A fault that also failed the look after it would leave the post unknown, by policy.)
    bluesky.set_faults("sky-c.bsky.test", server_errors=1)
    texts = {schedule(db, names[i % 3], Content(text=f"post {i}")): f"post {i}" for i in range(60)}
    registry = default_registry(settings)

    def runner() -> None:
        for _ in range(10):
            execute_once(settings, Trigger("manual"), registry, db=db)
            time.sleep(0.2)

    threads = [threading.Thread(target=runner) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    on_platform = Counter(p["text"] for p in bluesky.posts())
    assert Counter(doc["status"] for doc in db.posts.find()) == {"published": 63}
    assert on_platform == Counter([*texts.values(), *names])  # every post, each exactly once
    assert bluesky.requests()["POST com.atproto.server.createSession"] == 3  # one per account


def test_a_rate_limit_defers_the_accounts_posts_without_spending_attempts(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(**bluesky_env(bluesky))
    connect_bluesky(db, bluesky, "sky-a")
    bluesky.set_faults("sky-a.bsky.test", rate_limited=1, regain_minutes=10)
    first = schedule(db, "sky-a", Content(text="throttled"))
    second = schedule(db, "sky-a", Content(text="waits too"))

    run_once(settings, db)

    for post_id in (first, second):
        doc = stored(db, post_id)
        assert (doc["status"], doc["attempts"]) == ("scheduled", 0)
        assert doc["dueAt"] > utcnow()
    account = accounts.get(db, "sky-a")
    assert account is not None and account.paused_until is not None
    assert bluesky.posts() == []


def test_a_revoked_app_password_holds_the_accounts_posts_only(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(**bluesky_env(bluesky))
    connect_bluesky(db, bluesky, "sky-a")
    connect_bluesky(db, bluesky, "sky-b")
    bluesky.set_faults("sky-a.bsky.test", invalid_token=True)
    held = [schedule(db, "sky-a", Content(text=f"held {i}")) for i in range(2)]
    other = schedule(db, "sky-b", Content(text="unaffected"))

    run_once(settings, db)

    account = accounts.get(db, "sky-a")
    assert account is not None and account.status == "needs_reauth"
    for post_id in held:
        doc = stored(db, post_id)
        assert (doc["status"], doc["attempts"]) == ("scheduled", 0)
        assert doc["lastError"]["code"] == "auth_expired"
    assert stored(db, other)["status"] == "published"
    assert [p["text"] for p in bluesky.posts()] == ["unaffected"]
