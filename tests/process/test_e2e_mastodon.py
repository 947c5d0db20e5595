"""Exactly once on Mastodon, end to end: the engine, the real adapter and the sandbox instance.

The Idempotency-Key (post id and version) makes a repeat within the hour return the first
status; after the window the account's statuses are read back before anything is sent again.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

from bson import ObjectId
from pymongo.database import Database

from common import accounts
from common.clock import ScheduledTime, utcnow
from common.config import Settings
from common.db import Doc
from common.engine import Trigger, execute_once
from common.model import Content, Media
from common.operations.reconcile import reconcile_unknown
from common.platforms.registry import default_registry
from common.posts import store
from devstack.sandbox.control import MastodonSandbox
from tests.conftest import SettingsFactory
from tests.mastodon_support import connect_mastodon, mastodon_env
from tests.meta_support import StubContext


def schedule(db: Database[Doc], account_id: str, content: Content) -> ObjectId:
    due = utcnow() - timedelta(seconds=5)
    return store.create(
        db,
        account_id=account_id,
        platform="mastodon",
        content=content,
        when=ScheduledTime(due, "UTC", due.isoformat()),
        now=utcnow(),
    )


def run_once(settings: Settings, db: Database[Doc]) -> None:
    execute_once(settings, Trigger("manual"), default_registry(settings), db=db)


def stored(db: Database[Doc], post_id: ObjectId) -> Doc:
    doc = db.posts.find_one({"_id": post_id})
    assert doc is not None
    return doc


def test_every_post_type_is_published_through_a_run(
    db: Database[Doc], mastodon: MastodonSandbox, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**mastodon_env())
    connect_mastodon(db, mastodon, "masto-a")
    contents = [
        Content(text="plain text"),
        Content(text="a link", link="https://example.com/a"),
        Content(text="private, with a warning", content_warning="cw", visibility="private"),
        Content(text="an image", media=(Media(mastodon.image_url("a.png"), alt="alt a"),)),
        Content(
            text="a video",
            media=(Media(mastodon.image_url("v.mp4", mime="video/mp4"), type="video"),),
        ),
    ]
    ids = [schedule(db, "masto-a", content) for content in contents]

    run_once(settings, db)

    assert [stored(db, i)["status"] for i in ids] == ["published"] * 5
    by_text = {p["text"].split("\n")[0]: p for p in mastodon.posts()}
    assert len(by_text) == 5
    assert (by_text["private, with a warning"]["visibility"], by_text["an image"]["media"]) == (
        "private",
        ["alt a"],
    )


def test_an_answer_lost_after_the_write_is_reconciled_without_a_second_status(
    db: Database[Doc], mastodon: MastodonSandbox, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**mastodon_env())
    connect_mastodon(db, mastodon, "masto-a")
    mastodon.set_faults("masto-a", timeouts=1, timeout_seconds=1.5)
    post_id = schedule(db, "masto-a", Content(text="answer lost"))

    run_once(settings, db)

    doc = stored(db, post_id)
    (status,) = mastodon.posts()
    assert (doc["status"], doc["platformPostId"]) == ("published", status["id"])
    # The look repeated the request with the same key: the instance gave the first status.
    assert mastodon.requests()["POST v1/statuses"] == 2


def test_after_the_idempotency_window_an_unknown_post_is_found_by_reading_back(
    db: Database[Doc], mastodon: MastodonSandbox, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**mastodon_env())
    account = connect_mastodon(db, mastodon, "masto-a")
    post_id = schedule(db, "masto-a", Content(text="went out long ago"))
    publisher = default_registry(settings).get("mastodon")
    assert publisher is not None
    ctx = StubContext()
    post = store.get(db, post_id)
    assert post is not None
    publisher.publish(post, account, ctx)  # the answer was lost; the post was recorded unknown
    db.posts.update_one(
        {"_id": post_id},
        {
            "$set": {
                "status": "unknown",
                "remote": ctx.remote,
                "sendStartedAt": utcnow() - timedelta(hours=2),
            }
        },
    )

    report = reconcile_unknown(db, settings, default_registry(settings), utcnow())

    assert report.published == 1 and stored(db, post_id)["status"] == "published"
    assert mastodon.requests()["POST v1/statuses"] == 1  # found, not sent again


def test_three_concurrent_runners_publish_sixty_posts_each_exactly_once(
    db: Database[Doc], mastodon: MastodonSandbox, make_settings: SettingsFactory
) -> None:
    settings = make_settings(
        **mastodon_env(RETRY_BASE_SECONDS=1, RETRY_MAX_SECONDS=1, MAX_ATTEMPTS=10)
    )
    names = ["masto-a", "masto-b", "masto-c"]
    for name in names:
        connect_mastodon(db, mastodon, name)
    # Faults on the sends (and on the looks' keyed repeats, which fall back to reading the
    # statuses): applied then answered 500, answered too late, a gateway error and a 500.
    mastodon.set_faults("masto-a", applied_server_errors=2)
    mastodon.set_faults("masto-b", timeouts=2, timeout_seconds=1.5)
    mastodon.set_faults("masto-c", bad_gateway=1, server_errors=1)
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
    assert Counter(p["text"] for p in mastodon.posts()) == Counter(texts.values())


def test_a_rate_limit_defers_the_accounts_posts_without_spending_attempts(
    db: Database[Doc], mastodon: MastodonSandbox, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**mastodon_env())
    connect_mastodon(db, mastodon, "masto-a")
    mastodon.set_faults("masto-a", rate_limited=1, regain_minutes=10)
    ids = [schedule(db, "masto-a", Content(text=f"waits {i}")) for i in range(2)]

    run_once(settings, db)

    for post_id in ids:
        doc = stored(db, post_id)
        assert (doc["status"], doc["attempts"]) == ("scheduled", 0)
    account = accounts.get(db, "masto-a")
    assert account is not None and account.paused_until is not None
    assert mastodon.posts() == []


def test_a_revoked_token_holds_the_accounts_posts_only(
    db: Database[Doc], mastodon: MastodonSandbox, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**mastodon_env())
    connect_mastodon(db, mastodon, "masto-a")
    connect_mastodon(db, mastodon, "masto-b")
    mastodon.set_faults("masto-a", invalid_token=True)
    held = [schedule(db, "masto-a", Content(text=f"held {i}")) for i in range(2)]
    other = schedule(db, "masto-b", Content(text="unaffected"))

    run_once(settings, db)

    account = accounts.get(db, "masto-a")
    assert account is not None and account.status == "needs_reauth"
    for post_id in held:
        doc = stored(db, post_id)
        assert (doc["status"], doc["attempts"], doc["lastError"]["code"]) == (
            "scheduled",
            0,
            "auth_expired",
        )
    assert stored(db, other)["status"] == "published"
    assert [p["text"] for p in mastodon.posts()] == ["unaffected"]
