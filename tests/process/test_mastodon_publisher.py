"""The Mastodon adapter against the sandbox instance: every post type, media processing, the
idempotency key and the read-back. The engine's context is stood in for (StubContext)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from pymongo.database import Database

from common.clock import utcnow
from common.db import Doc
from common.model import Content, Media
from common.platforms.base import AuthExpired, Published, RateLimited
from common.platforms.mastodon.publisher import MastodonPublisher, idempotency_key
from common.platforms.registry import default_registry
from devstack.sandbox.control import MastodonSandbox
from tests.conftest import SettingsFactory
from tests.mastodon_support import connect_mastodon, mastodon_env
from tests.meta_support import StubContext, claimed_post


def publisher(make_settings: SettingsFactory) -> MastodonPublisher:
    found = default_registry(make_settings(**mastodon_env())).get("mastodon")
    assert isinstance(found, MastodonPublisher)
    return found


def test_text_with_a_link_a_content_warning_and_visibility_is_one_status(
    db: Database[Doc], mastodon: MastodonSandbox, make_settings: SettingsFactory
) -> None:
    account = connect_mastodon(db, mastodon, "masto-a")
    content = Content(
        text="spoilers ahead",
        link="https://example.com/review",
        content_warning="film plot",
        visibility="unlisted",
    )
    post = claimed_post("masto-a", "mastodon", content)
    ctx = StubContext()

    outcome = publisher(make_settings).publish(post, account, ctx)

    (status,) = mastodon.posts()
    assert outcome == Published(status["id"])
    assert status["text"] == "spoilers ahead\n\nhttps://example.com/review"
    assert (status["spoiler_text"], status["visibility"]) == ("film plot", "unlisted")
    assert ctx.remote == {"idempotencyKey": idempotency_key(post), "mediaIds": ""}
    assert mastodon.requests() == {"POST v1/statuses": 1}


def test_media_are_uploaded_with_alt_text_and_attached_once_processed(
    db: Database[Doc], mastodon: MastodonSandbox, make_settings: SettingsFactory
) -> None:
    account = connect_mastodon(db, mastodon, "masto-a")
    mastodon.set_faults("masto-a", media_processing_seconds=1.5)
    media = (
        Media(mastodon.image_url("a.jpg"), alt="a cat"),
        Media(mastodon.image_url("b.mp4", mime="video/mp4"), type="video", alt="a clip"),
    )
    post = claimed_post("masto-a", "mastodon", Content(text="two media", media=media))

    assert isinstance(publisher(make_settings).publish(post, account, StubContext()), Published)

    (status,) = mastodon.posts()
    assert status["media"] == ["a cat", "a clip"]
    counts = mastodon.requests()
    assert counts["POST v2/media"] == 2 and counts["GET v1/media/:id"] > 2  # polled


def test_media_still_processing_at_the_end_of_the_budget_defers_and_keeps_the_uploads(
    db: Database[Doc], mastodon: MastodonSandbox, make_settings: SettingsFactory
) -> None:
    account = connect_mastodon(db, mastodon, "masto-a")
    mastodon.set_faults("masto-a", media_processing_seconds=3600)
    post = claimed_post(
        "masto-a", "mastodon", Content(text="slow", media=(Media(mastodon.image_url("a.jpg")),))
    )
    ctx = StubContext(budget=16.0)  # one poll fits, not a second

    outcome = publisher(make_settings).publish(post, account, ctx)

    assert isinstance(outcome, RateLimited) and not outcome.account_wide
    assert ctx.sends == 0 and ctx.remote["mediaIds"]
    # The next attempt reuses the stored upload instead of uploading again.
    publisher(make_settings).publish(replace(post, remote=ctx.remote), account, StubContext(16.0))
    assert mastodon.requests()["POST v2/media"] == 1


def test_a_revoked_token_is_auth_expired_and_a_throttle_is_rate_limited(
    db: Database[Doc], mastodon: MastodonSandbox, make_settings: SettingsFactory
) -> None:
    account = connect_mastodon(db, mastodon, "masto-a")
    adapter = publisher(make_settings)
    mastodon.set_faults("masto-a", rate_limited=1, regain_minutes=4)
    post = claimed_post("masto-a", "mastodon", Content(text="later"))

    throttled = adapter.publish(post, account, StubContext())
    assert isinstance(throttled, RateLimited) and throttled.account_wide
    assert 3 * 60 <= (throttled.retry_at - utcnow()).total_seconds() <= 4 * 60 + 5

    mastodon.set_faults("masto-a", invalid_token=True)
    assert isinstance(adapter.publish(post, account, StubContext()), AuthExpired)
    assert mastodon.posts() == []


def test_within_the_window_the_look_repeats_the_keyed_request_and_gets_the_same_status(
    db: Database[Doc], mastodon: MastodonSandbox, make_settings: SettingsFactory
) -> None:
    account = connect_mastodon(db, mastodon, "masto-a")
    adapter = publisher(make_settings)
    post = claimed_post("masto-a", "mastodon", Content(text="sent once"))
    ctx = StubContext()
    sent = adapter.publish(post, account, ctx)

    looked = adapter.find_published(
        replace(post, remote=ctx.remote, send_started_at=utcnow()), account
    )

    assert looked == sent
    assert [p["text"] for p in mastodon.posts()] == ["sent once"]


def test_after_the_window_the_look_reads_the_accounts_statuses_back(
    db: Database[Doc], mastodon: MastodonSandbox, make_settings: SettingsFactory
) -> None:
    account = connect_mastodon(db, mastodon, "masto-a")
    adapter = publisher(make_settings)
    content = Content(text="an <old> & long\nstory", link="https://example.com/" + "x" * 40)
    post = claimed_post("masto-a", "mastodon", content)
    ctx = StubContext()
    sent = adapter.publish(post, account, ctx)
    for i in range(45):  # newer statuses push it to the second page
        other = claimed_post("masto-a", "mastodon", Content(text=f"later {i}"))
        adapter.publish(other, account, StubContext())
    long_ago = utcnow() - timedelta(hours=2)
    never = claimed_post("masto-a", "mastodon", Content(text="never sent"))
    never_remote = {"idempotencyKey": idempotency_key(never), "mediaIds": ""}

    found = adapter.find_published(
        replace(post, remote=ctx.remote, send_started_at=long_ago), account
    )
    missing = adapter.find_published(
        replace(never, remote=never_remote, send_started_at=long_ago), account
    )

    assert (found, missing) == (sent, None)
    assert mastodon.requests()["POST v1/statuses"] == 46  # the looks sent nothing
