"""Threads against the sandbox (which serves graph.threads.net's paths and envelopes): every
post type, the quota, the container read-back, and exactly once through the engine."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta

from bson import ObjectId
from pymongo.database import Database

from common import accounts
from common.clock import ScheduledTime, utcnow
from common.config import load_settings
from common.db import Doc
from common.engine import Trigger, execute_once
from common.model import Content
from common.platforms.base import AuthExpired, Published, RateLimited
from common.platforms.meta.containers import ContainerPublisher
from common.platforms.registry import default_registry
from common.posts import store
from common.tokens import TokenCipher
from common.validation import check_post
from devstack.sandbox.control import Sandbox
from tests.conftest import SettingsFactory
from tests.meta_support import TOKEN_KEY, StubContext, claimed_post, connect, image, meta_env, video
from tests.process.test_cli import socialsched


def publisher(make_settings: SettingsFactory, sandbox: Sandbox) -> ContainerPublisher:
    found = default_registry(make_settings(**meta_env(sandbox))).get("threads")
    assert isinstance(found, ContainerPublisher) and found.platform == "threads"
    return found


def schedule(db: Database[Doc], account_id: str, content: Content) -> ObjectId:
    due = utcnow() - timedelta(seconds=5)
    return store.create(
        db,
        account_id=account_id,
        platform="threads",
        content=content,
        when=ScheduledTime(due, "UTC", due.isoformat()),
        now=utcnow(),
    )


def test_text_image_video_and_carousel_each_publish_one_thread(
    db: Database[Doc], sandbox: Sandbox, make_settings: SettingsFactory
) -> None:
    account = connect(db, sandbox, "th-a", "threads")
    adapter = publisher(make_settings, sandbox)
    contents = [
        Content(text="just text", link="https://example.com/"),
        Content(text="an image", media=(image(sandbox, alt="a cat"),)),
        Content(text="a video", media=(video(sandbox),)),
        Content(
            text="a carousel",
            media=(image(sandbox, alt="a cat"), video(sandbox), image(sandbox, alt="a cat")),
        ),
    ]
    for content in contents:
        ctx = StubContext()
        outcome = adapter.publish(claimed_post("th-a", "threads", content), account, ctx)
        assert isinstance(outcome, Published) and ctx.remote["container"] and ctx.sends == 1

    texts = [p["text"] for p in sandbox.posts()]
    assert texts == ["just text\n\nhttps://example.com/", "an image", "a video", "a carousel"]
    counts = sandbox.requests()
    assert counts["POST threads_publish"] == 4
    assert counts["GET threads_publishing_limit"] == 1  # read once, then counted locally


def test_a_text_post_costs_two_requests_after_the_quota_read(
    db: Database[Doc], sandbox: Sandbox, make_settings: SettingsFactory
) -> None:
    account = connect(db, sandbox, "th-a", "threads")
    adapter = publisher(make_settings, sandbox)
    for i in range(5):
        post = claimed_post("th-a", "threads", Content(text=f"t {i}"))
        assert isinstance(adapter.publish(post, account, StubContext()), Published)
    # create and publish (a text container needs no wait); one quota read for all five.
    assert sandbox.requests() == {
        "POST threads": 5,
        "POST threads_publish": 5,
        "GET threads_publishing_limit": 1,
    }


def test_a_used_up_quota_defers_before_anything_is_created(
    db: Database[Doc], sandbox: Sandbox, make_settings: SettingsFactory
) -> None:
    account = connect(db, sandbox, "th-a", "threads")
    sandbox.set_faults("th-a", quota_used=250)
    ctx = StubContext()

    outcome = publisher(make_settings, sandbox).publish(
        claimed_post("th-a", "threads", Content(text="over quota")), account, ctx
    )

    assert isinstance(outcome, RateLimited) and outcome.account_wide
    assert "250/250" in outcome.reason and ctx.sends == 0 and sandbox.posts() == []


def test_a_text_container_not_ready_yet_defers_the_post_without_spending_an_attempt(
    db: Database[Doc], sandbox: Sandbox, make_settings: SettingsFactory
) -> None:
    account = connect(db, sandbox, "th-a", "threads")
    sandbox.set_faults("th-a", processing_seconds=0.5)
    post = claimed_post("th-a", "threads", Content(text="not ready"))
    ctx = StubContext()

    outcome = publisher(make_settings, sandbox).publish(post, account, ctx)

    assert isinstance(outcome, RateLimited) and not outcome.account_wide
    assert sandbox.posts() == []


def test_a_container_still_processing_at_the_budgets_end_is_deferred_and_reused(
    db: Database[Doc], sandbox: Sandbox, make_settings: SettingsFactory
) -> None:
    account = connect(db, sandbox, "th-a", "threads")
    sandbox.set_faults("th-a", stuck_in_progress=True)
    adapter = publisher(make_settings, sandbox)
    post = claimed_post("th-a", "threads", Content(text="slow video", media=(video(sandbox),)))
    ctx = StubContext()

    outcome = adapter.publish(post, account, ctx)

    assert isinstance(outcome, RateLimited) and not outcome.account_wide
    sandbox.set_faults("th-a", stuck_in_progress=False)
    again = adapter.publish(replace(post, remote=ctx.remote), account, StubContext())
    assert isinstance(again, Published)
    assert sandbox.requests()["POST threads"] == 1  # the stored container was reused


def test_the_container_status_says_whether_it_went_out(
    db: Database[Doc], sandbox: Sandbox, make_settings: SettingsFactory
) -> None:
    account = connect(db, sandbox, "th-a", "threads")
    adapter = publisher(make_settings, sandbox)
    post = claimed_post("th-a", "threads", Content(text="out"))
    ctx = StubContext()
    adapter.publish(post, account, ctx)
    unsent = claimed_post("th-a", "threads", Content(text="not out"))
    held = StubContext(allow_send=False)
    adapter.publish(unsent, account, held)  # container made, send withdrawn

    sent_at = utcnow()
    found = adapter.find_published(
        replace(post, remote=ctx.remote, send_started_at=sent_at), account
    )
    assert found == Published(sandbox.posts()[0]["id"])  # the thread's id, read back
    assert adapter.find_published(replace(unsent, remote=held.remote), account) is None
    # A retry of a published container answers Published without a second publish.
    repeat = adapter.publish(replace(post, remote=ctx.remote), account, StubContext())
    assert isinstance(repeat, Published)
    assert sandbox.requests()["POST threads_publish"] == 1


def test_an_invalid_token_is_auth_expired(
    db: Database[Doc], sandbox: Sandbox, make_settings: SettingsFactory
) -> None:
    account = connect(db, sandbox, "th-a", "threads")
    sandbox.set_faults("th-a", invalid_token=True)
    outcome = publisher(make_settings, sandbox).publish(
        claimed_post("th-a", "threads", Content(text="x")), account, StubContext()
    )
    assert isinstance(outcome, AuthExpired)


def test_an_answer_lost_after_publish_is_reconciled_without_a_second_publish(
    db: Database[Doc], sandbox: Sandbox, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**meta_env(sandbox))
    connect(db, sandbox, "th-a", "threads")
    sandbox.set_faults("th-a", timeouts=1, timeout_seconds=1.5, timeout_edge="threads_publish")
    post_id = schedule(db, "th-a", Content(text="answer lost"))

    execute_once(settings, Trigger("manual"), default_registry(settings), db=db)

    doc = db.posts.find_one({"_id": post_id})
    assert doc is not None and doc["status"] == "published"
    assert [p["text"] for p in sandbox.posts()] == ["answer lost"]
    assert sandbox.requests()["POST threads_publish"] == 1


def test_three_concurrent_runners_publish_sixty_posts_each_exactly_once(
    db: Database[Doc], sandbox: Sandbox, make_settings: SettingsFactory
) -> None:
    settings = make_settings(
        **meta_env(sandbox, RETRY_BASE_SECONDS=1, RETRY_MAX_SECONDS=1, MAX_ATTEMPTS=10)
    )
    names = ["th-a", "th-b", "th-c"]
    for name in names:
        connect(db, sandbox, name, "threads")
    sandbox.set_faults("th-a", applied_server_errors=2)
    sandbox.set_faults("th-b", timeouts=2, timeout_seconds=1.5, timeout_edge="threads_publish")
    sandbox.set_faults("th-c", server_errors=1, bad_gateway=1)
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

    assert Counter(doc["status"] for doc in db.posts.find()) == {"published": 60}
    assert Counter(p["text"] for p in sandbox.posts()) == Counter(texts.values())


def test_throttling_and_an_expired_token_hold_posts_without_spending_attempts(
    db: Database[Doc], sandbox: Sandbox, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**meta_env(sandbox))
    connect(db, sandbox, "th-a", "threads")
    connect(db, sandbox, "th-b", "threads")
    sandbox.set_faults("th-a", rate_limited=1)
    sandbox.set_faults("th-b", invalid_token=True)
    throttled = schedule(db, "th-a", Content(text="throttled"))
    held = schedule(db, "th-b", Content(text="held"))

    execute_once(settings, Trigger("manual"), default_registry(settings), db=db)

    for post_id, code in ((throttled, "rate_limited"), (held, "auth_expired")):
        doc = db.posts.find_one({"_id": post_id})
        assert doc is not None
        assert (doc["status"], doc["attempts"], doc["lastError"]["code"]) == ("scheduled", 0, code)
    assert accounts.get(db, "th-b").status == "needs_reauth"  # type: ignore[union-attr]
    assert accounts.get(db, "th-a").paused_until is not None  # type: ignore[union-attr]
    assert sandbox.posts() == []


def test_threads_rules_at_the_door() -> None:
    when = "2030-01-01T10:00:00Z"
    assert check_post("threads", text="x" * 500, scheduled_at=when).ok
    assert [p.field for p in check_post("threads", text="x" * 501, scheduled_at=when).problems] == [
        "text"
    ]
    many = [{"url": "https://img.example/a.jpg"}] * 21
    assert [p.field for p in check_post("threads", media=many, scheduled_at=when).problems] == [
        "media"
    ]


def test_connecting_a_threads_token_and_refreshing_it_before_it_expires(
    mongo_uri: str, db_name: str, db: Database[Doc], sandbox: Sandbox
) -> None:
    sandbox.add_account("th-profile", "threads", "TH-long-lived-token", name="alice")
    env = meta_env(sandbox)
    connected = socialsched(
        mongo_uri,
        db_name,
        "--json",
        "accounts",
        "connect",
        "threads",
        "--id",
        "th",
        stdin="TH-long-lived-token\n",
        env_extra=env,
    )
    assert connected.returncode == 0, connected.stderr
    account = accounts.get(db, "th")
    assert account is not None and (account.external_id, account.name) == ("th-profile", "alice")
    assert account.token_expires_at is not None
    assert timedelta(days=59) < account.token_expires_at - utcnow() <= timedelta(days=60)
    assert "TH-long-lived-token" not in str(db.accounts.find_one({"_id": "th"}))

    # Twenty days left: `accounts check` refreshes it (the token is 40 days old by then).
    db.accounts.update_one(
        {"_id": "th"}, {"$set": {"tokenExpiresAt": utcnow() + timedelta(days=20)}}
    )
    sandbox.set_faults("th-profile", token_age_seconds=40 * 86400)
    checked = socialsched(mongo_uri, db_name, "--json", "accounts", "check", env_extra=env)

    assert checked.returncode == 0, checked.stderr
    renewed = accounts.get(db, "th")
    assert renewed is not None and renewed.token_expires_at is not None
    assert renewed.token_expires_at - utcnow() > timedelta(days=59)
    new_token = TokenCipher((TOKEN_KEY,)).decrypt(renewed.token)
    assert (
        new_token != "TH-long-lived-token" and sandbox.requests()["GET refresh_access_token"] == 1
    )
    # The renewed token publishes.
    settings_env = {**env, "MONGO_URI": mongo_uri, "MONGO_DB": db_name}
    settings = load_settings({k: str(v) for k, v in settings_env.items()})
    post_id = schedule(db, "th", Content(text="after the refresh"))
    execute_once(settings, Trigger("manual"), default_registry(settings), db=db)
    assert db.posts.find_one({"_id": post_id})["status"] == "published"  # type: ignore[index]


def test_a_refused_threads_token_stores_nothing(
    mongo_uri: str, db_name: str, db: Database[Doc], sandbox: Sandbox
) -> None:
    refused = socialsched(
        mongo_uri,
        db_name,
        "accounts",
        "connect",
        "threads",
        "--id",
        "th",
        stdin="not-a-token\n",
        env_extra=meta_env(sandbox),
    )
    assert refused.returncode == 2 and "Threads refused the token" in refused.stderr
    assert db.accounts.count_documents({}) == 0
