"""The Bluesky adapter against the sandbox PDS: every post type, sessions, and each answer's
outcome. The engine's context is stood in for (StubContext); the end-to-end tests use its own."""

from __future__ import annotations

from dataclasses import replace

from pymongo.database import Database

from common import accounts
from common.db import Doc
from common.model import Content, Media
from common.platforms.base import AuthExpired, Permanent, Published, RateLimited
from common.platforms.bluesky.publisher import BlueskyPublisher
from common.platforms.bluesky.record_key import record_key
from common.platforms.registry import default_registry
from devstack.sandbox.control import BlueskySandbox
from tests.bluesky_support import bluesky_env, connect_bluesky
from tests.conftest import SettingsFactory
from tests.meta_support import StubContext, claimed_post


def publisher(make_settings: SettingsFactory, sandbox: BlueskySandbox) -> BlueskyPublisher:
    found = default_registry(make_settings(**bluesky_env(sandbox))).get("bluesky")
    assert isinstance(found, BlueskyPublisher)
    return found


def test_a_text_post_is_a_record_under_the_key_derived_from_the_post_id(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    account = connect_bluesky(db, bluesky, "sky-a")
    post = claimed_post("sky-a", "bluesky", Content(text="hello from the scheduler"))
    ctx = StubContext()

    outcome = publisher(make_settings, bluesky).publish(post, account, ctx)

    rkey = record_key(post.id)
    assert isinstance(outcome, Published)
    assert outcome.platform_post_id == f"at://{account.external_id}/app.bsky.feed.post/{rkey}"
    # The record's cid comes with it: a reply to the post must name both.
    assert outcome.refs is not None and outcome.refs["cid"].startswith("bafyrei")
    assert ctx.remote == {"rkey": rkey, "repo": account.external_id} and ctx.sends == 1
    assert [p["text"] for p in bluesky.posts()] == ["hello from the scheduler"]


def test_links_and_mentions_become_facets_in_utf8_bytes(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    account = connect_bluesky(db, bluesky, "sky-a")
    friend = bluesky.add_account("friend.bsky.test", "x")
    text = "Café ☕ with @friend.bsky.test and @nobody.bsky.test: https://example.com/menu."
    post = claimed_post("sky-a", "bluesky", Content(text=text))

    assert isinstance(
        publisher(make_settings, bluesky).publish(post, account, StubContext()), Published
    )

    (record,) = bluesky.posts()
    raw = text.encode("utf-8")
    spans = {
        raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(): f["features"][0]
        for f in record["facets"]
    }
    # The unknown handle stays plain text; the sentence's full stop is not part of the link.
    assert spans == {
        "@friend.bsky.test": {"$type": "app.bsky.richtext.facet#mention", "did": friend},
        "https://example.com/menu": {
            "$type": "app.bsky.richtext.facet#link",
            "uri": "https://example.com/menu",
        },
    }


def test_up_to_four_images_are_uploaded_as_blobs_with_their_alt_text(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    account = connect_bluesky(db, bluesky, "sky-a")
    media = tuple(Media(bluesky.image_url(f"p{i}.jpg"), alt=f"picture {i}") for i in range(4))
    post = claimed_post("sky-a", "bluesky", Content(text="four pictures", media=media))

    assert isinstance(
        publisher(make_settings, bluesky).publish(post, account, StubContext()), Published
    )

    (record,) = bluesky.posts()
    assert record["embed"] == "app.bsky.embed.images"
    assert record["media"] == ["picture 0", "picture 1", "picture 2", "picture 3"]
    assert bluesky.requests()["POST com.atproto.repo.uploadBlob"] == 4


def test_a_link_becomes_a_link_card(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    account = connect_bluesky(db, bluesky, "sky-a")
    content = Content(text="read this", link="https://example.com/article")
    post = claimed_post("sky-a", "bluesky", content)

    assert isinstance(
        publisher(make_settings, bluesky).publish(post, account, StubContext()), Published
    )

    (record,) = bluesky.posts()
    assert record["embed"] == "app.bsky.embed.external"
    assert record["external"]["uri"] == "https://example.com/article"


def test_an_image_too_large_for_bluesky_fails_before_anything_is_sent(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    account = connect_bluesky(db, bluesky, "sky-a")
    media = (Media(bluesky.image_url("huge.jpg", size=2_000_001)),)
    ctx = StubContext()
    post = claimed_post("sky-a", "bluesky", Content(text="too big", media=media))

    outcome = publisher(make_settings, bluesky).publish(post, account, ctx)

    assert isinstance(outcome, Permanent) and outcome.code == "media_too_large"
    assert ctx.sends == 0 and bluesky.posts() == []


def test_one_login_serves_many_posts_and_is_kept_encrypted_on_the_account(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    account = connect_bluesky(db, bluesky, "sky-a")
    adapter = publisher(make_settings, bluesky)
    for i in range(3):
        post = claimed_post("sky-a", "bluesky", Content(text=f"post {i}"))
        assert isinstance(adapter.publish(post, account, StubContext()), Published)
    stored = accounts.get(db, "sky-a")
    assert stored is not None and stored.session
    assert "accessJwt" not in stored.session and "access_jwt" not in stored.session

    # A new instance (a cold start) reads the stored session instead of logging in again.
    fresh = publisher(make_settings, bluesky)
    post = claimed_post("sky-a", "bluesky", Content(text="after a cold start"))
    assert isinstance(fresh.publish(post, stored, StubContext()), Published)

    assert bluesky.requests()["POST com.atproto.server.createSession"] == 1
    assert bluesky.requests()["POST com.atproto.repo.createRecord"] == 4


def test_an_expired_access_token_is_refreshed_not_logged_in_again(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    account = connect_bluesky(db, bluesky, "sky-a")
    adapter = publisher(make_settings, bluesky)
    first = claimed_post("sky-a", "bluesky", Content(text="first"))
    assert isinstance(adapter.publish(first, account, StubContext()), Published)
    bluesky.expire_sessions("sky-a.bsky.test")

    second = claimed_post("sky-a", "bluesky", Content(text="second"))
    assert isinstance(adapter.publish(second, account, StubContext()), Published)

    counts = bluesky.requests()
    assert counts["POST com.atproto.server.createSession"] == 1
    assert counts["POST com.atproto.server.refreshSession"] == 1
    assert [p["text"] for p in bluesky.posts()] == ["first", "second"]


def test_an_access_token_about_to_expire_is_refreshed_before_the_send(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    account = connect_bluesky(db, bluesky, "sky-a")
    bluesky.set_faults("sky-a.bsky.test", access_ttl_seconds=30)  # under the refresh margin
    adapter = publisher(make_settings, bluesky)
    for text in ("one", "two"):
        post = claimed_post("sky-a", "bluesky", Content(text=text))
        assert isinstance(adapter.publish(post, account, StubContext()), Published)

    counts = bluesky.requests()
    assert counts["POST com.atproto.server.refreshSession"] == 1
    assert "POST com.atproto.server.createSession" in counts
    assert counts["POST com.atproto.repo.createRecord"] == 2  # never refused as expired


def test_a_revoked_app_password_is_auth_expired(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    account = connect_bluesky(db, bluesky, "sky-a")
    bluesky.set_faults("sky-a.bsky.test", invalid_token=True)
    ctx = StubContext()
    post = claimed_post("sky-a", "bluesky", Content(text="never sent"))

    outcome = publisher(make_settings, bluesky).publish(post, account, ctx)

    assert isinstance(outcome, AuthExpired)
    assert ctx.sends == 0 and bluesky.posts() == []


def test_a_throttled_account_is_rate_limited_until_the_reset_header(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    account = connect_bluesky(db, bluesky, "sky-a")
    adapter = publisher(make_settings, bluesky)
    warm = claimed_post("sky-a", "bluesky", Content(text="warm"))
    assert isinstance(adapter.publish(warm, account, StubContext()), Published)
    bluesky.set_faults("sky-a.bsky.test", rate_limited=1, regain_minutes=7)

    post = claimed_post("sky-a", "bluesky", Content(text="throttled"))
    outcome = adapter.publish(post, account, StubContext())

    assert isinstance(outcome, RateLimited) and outcome.account_wide
    wait = (outcome.retry_at - post.due_at).total_seconds()
    assert 6 * 60 <= wait <= 8 * 60
    assert [p["text"] for p in bluesky.posts()] == ["warm"]


def test_find_published_answers_from_get_record(
    db: Database[Doc],
    bluesky: BlueskySandbox,
    make_settings: SettingsFactory,
) -> None:
    account = connect_bluesky(db, bluesky, "sky-a")
    adapter = publisher(make_settings, bluesky)
    sent = claimed_post("sky-a", "bluesky", Content(text="sent"))
    ctx = StubContext()
    outcome = adapter.publish(sent, account, ctx)
    never = claimed_post("sky-a", "bluesky", Content(text="never sent"))
    never_remote = {"rkey": record_key(never.id), "repo": account.external_id}

    assert adapter.find_published(replace(sent, remote=ctx.remote), account) == outcome
    assert adapter.find_published(replace(never, remote=never_remote), account) is None
    assert adapter.find_published(never, account) is None  # no send began: nothing to look for
