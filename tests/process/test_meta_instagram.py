"""The Instagram adapter against the sandbox Graph API over real HTTP on loopback."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pymongo.database import Database

from common.clock import utcnow
from common.config import Settings
from common.db import Doc
from common.model import Content, Media, Post
from common.platforms.base import AuthExpired, Published, RateLimited, Retryable
from common.platforms.meta.containers import ContainerPublisher
from common.platforms.meta.graph import GraphClient
from common.platforms.meta.instagram import INSTAGRAM
from common.tokens import TokenCipher
from devstack.sandbox.control import Sandbox
from tests.conftest import SettingsFactory
from tests.meta_support import (
    StubContext,
    claimed_post,
    connect,
    image,
    meta_env,
    publish_due,
    video,
)


def ig_post(sandbox: Sandbox, text: str = "hello gram", media: tuple[Media, ...] = ()) -> Post:
    content = Content(text=text, media=media or (image(sandbox),))
    return claimed_post("ig-1", "instagram", content)


@pytest.fixture
def ig_settings(make_settings: SettingsFactory, sandbox: Sandbox) -> Settings:
    return make_settings(**meta_env(sandbox))


@pytest.fixture
def publisher(ig_settings: Settings) -> ContainerPublisher:
    cipher = TokenCipher.from_settings(ig_settings)
    return ContainerPublisher(INSTAGRAM, GraphClient(ig_settings), cipher, ig_settings)


def test_an_image_takes_three_requests_plus_one_quota_read_per_account(
    publisher: ContainerPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "ig-1", "instagram")
    first, second = StubContext(), StubContext()
    assert isinstance(publisher.publish(ig_post(sandbox, "one"), account, first), Published)
    assert isinstance(publisher.publish(ig_post(sandbox, "two"), account, second), Published)
    assert sandbox.requests() == {
        "GET content_publishing_limit": 1,
        "POST media": 2,
        "GET node": 2,
        "POST media_publish": 2,
    }
    assert [p["text"] for p in sandbox.posts()] == ["one", "two"]
    assert first.remote["container"] != second.remote["container"]


def test_a_carousel_publishes_one_post_from_its_children(
    publisher: ContainerPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "ig-1", "instagram")
    sandbox.set_faults("ig-1", processing_seconds=0.2)
    ctx = StubContext()
    outcome = publisher.publish(
        ig_post(sandbox, "three", (image(sandbox), video(sandbox), image(sandbox))), account, ctx
    )
    assert isinstance(outcome, Published)
    assert len(ctx.remote["children"].split(",")) == 3
    assert sandbox.requests()["POST media"] == 4  # three children and the parent
    assert [p["text"] for p in sandbox.posts()] == ["three"]


def test_a_reel_is_polled_until_processed(publisher: ContainerPublisher, sandbox: Sandbox) -> None:
    account = connect(None, sandbox, "ig-1", "instagram")
    sandbox.set_faults("ig-1", processing_seconds=0.3)
    assert isinstance(
        publisher.publish(ig_post(sandbox, "reel", (video(sandbox),)), account, StubContext()),
        Published,
    )
    assert sandbox.requests()["GET node"] >= 2
    assert sandbox.requests()["POST media_publish"] == 1


def test_media_still_processing_is_deferred_and_the_container_reused_next_time(
    publisher: ContainerPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "ig-1", "instagram")
    sandbox.set_faults("ig-1", stuck_in_progress=True)
    first = StubContext()
    outcome = publisher.publish(ig_post(sandbox, "slow reel", (video(sandbox),)), account, first)
    assert isinstance(outcome, RateLimited)
    assert "processing" in outcome.reason
    assert outcome.account_wide is False  # only this post waits, not the account
    assert first.sends == 0
    assert "POST media_publish" not in sandbox.requests()
    sandbox.set_faults("ig-1", stuck_in_progress=False)
    later = replace(ig_post(sandbox, "slow reel", (video(sandbox),)), remote=dict(first.remote))
    assert isinstance(publisher.publish(later, account, StubContext()), Published)
    assert sandbox.requests()["POST media"] == 1


def test_the_wait_respects_the_runs_budget(publisher: ContainerPublisher, sandbox: Sandbox) -> None:
    account = connect(None, sandbox, "ig-1", "instagram")
    sandbox.set_faults("ig-1", processing_seconds=30)
    outcome = publisher.publish(
        ig_post(sandbox, "reel", (video(sandbox),)), account, StubContext(budget=1.0)
    )
    assert isinstance(outcome, RateLimited)
    assert sandbox.requests()["GET node"] == 1  # no budget left to poll again


def test_a_published_container_is_never_published_again(
    publisher: ContainerPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "ig-1", "instagram")
    ctx = StubContext()
    started = utcnow()
    first = publisher.publish(ig_post(sandbox, "once"), account, ctx)
    again = replace(ig_post(sandbox, "once"), remote=dict(ctx.remote), send_started_at=started)
    second = publisher.publish(again, account, StubContext())
    assert first == second
    assert sandbox.requests()["POST media_publish"] == 1
    assert len(sandbox.posts()) == 1


def test_a_used_up_quota_defers_before_any_container_is_made(
    publisher: ContainerPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "ig-1", "instagram")
    sandbox.set_faults("ig-1", quota_total=25, quota_used=25)
    outcome = publisher.publish(
        ig_post(
            sandbox,
        ),
        account,
        StubContext(),
    )
    assert isinstance(outcome, RateLimited)
    assert "25/25" in outcome.reason
    assert sandbox.requests() == {"GET content_publishing_limit": 1}


def test_the_quota_read_at_run_time_is_enforced_with_our_own_count(
    publisher: ContainerPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "ig-1", "instagram")
    sandbox.set_faults("ig-1", quota_total=2)
    outcomes = [
        publisher.publish(ig_post(sandbox, f"q{i}"), account, StubContext()) for i in range(3)
    ]
    assert [type(o).__name__ for o in outcomes] == ["Published", "Published", "RateLimited"]
    assert sandbox.requests()["GET content_publishing_limit"] == 1


def test_a_timeout_on_media_publish_is_settled_by_the_container_status(
    db: Database[Doc], ig_settings: Settings, sandbox: Sandbox
) -> None:
    connect(db, sandbox, "ig-1", "instagram")
    sandbox.set_faults("ig-1", timeouts=1, timeout_seconds=1.5, timeout_edge="media_publish")
    content = Content(text="late answer", media=(image(sandbox),))
    stored = publish_due(db, ig_settings, "ig-1", content, platform="instagram")
    assert stored["status"] == "published"
    assert [m["id"] for m in sandbox.posts()] == [stored["platformPostId"]]
    assert sandbox.requests()["POST media_publish"] == 1


def test_a_timeout_creating_a_container_is_retryable_because_containers_are_invisible(
    publisher: ContainerPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "ig-1", "instagram")
    sandbox.set_faults("ig-1", timeouts=1, timeout_seconds=1.5, timeout_edge="media")
    outcome = publisher.publish(
        ig_post(
            sandbox,
        ),
        account,
        StubContext(),
    )
    assert isinstance(outcome, Retryable)
    assert sandbox.posts() == []


def test_an_account_throttle_and_an_invalid_token_map_to_the_taxonomy(
    publisher: ContainerPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "ig-1", "instagram")
    sandbox.set_faults("ig-1", rate_limited=1, regain_minutes=3)
    throttled = publisher.publish(
        ig_post(
            sandbox,
        ),
        account,
        StubContext(),
    )
    assert isinstance(throttled, RateLimited)
    assert "(80002)" in throttled.reason
    sandbox.set_faults("ig-1", invalid_token=True)
    assert isinstance(
        publisher.publish(
            ig_post(
                sandbox,
            ),
            account,
            StubContext(),
        ),
        AuthExpired,
    )
    assert sandbox.posts() == []


def test_find_published_trusts_the_container_status(
    publisher: ContainerPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "ig-1", "instagram")
    sandbox.set_faults("ig-1", stuck_in_progress=True)
    waiting = StubContext()
    publisher.publish(ig_post(sandbox, "not yet"), account, waiting)
    pending = replace(
        ig_post(sandbox, "not yet"), remote=dict(waiting.remote), send_started_at=utcnow()
    )
    assert publisher.find_published(pending, account) is None
    assert publisher.find_published(ig_post(sandbox, "never sent"), account) is None
    sandbox.set_faults("ig-1", stuck_in_progress=False)
    done = StubContext()
    started = utcnow()
    published = publisher.publish(ig_post(sandbox, "done"), account, done)
    sent = replace(ig_post(sandbox, "done"), remote=dict(done.remote), send_started_at=started)
    assert publisher.find_published(sent, account) == published
