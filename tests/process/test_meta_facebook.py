"""The Facebook adapter against the sandbox Graph API over real HTTP on loopback."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from pymongo.database import Database

from common.clock import utcnow
from common.config import Settings
from common.db import Doc
from common.model import Content, Media, Post
from common.platforms.base import (
    Ambiguous,
    AuthExpired,
    Deferred,
    Permanent,
    Published,
    RateLimited,
    Retryable,
    Withdrawn,
)
from common.platforms.credentials import ReadBackError
from common.platforms.meta.facebook import FacebookPublisher
from common.platforms.meta.graph import GraphClient
from common.tokens import TokenCipher
from devstack.sandbox import control
from devstack.sandbox.control import Sandbox
from tests.conftest import SettingsFactory
from tests.meta_support import (
    ENCODABLE_TOKEN,
    StubContext,
    claimed_post,
    connect,
    image,
    meta_env,
    publish_due,
    token_for,
)


def fb_post(
    text: str = "hello page", link: str | None = None, photos: tuple[Media, ...] = ()
) -> Post:
    media = photos
    return claimed_post("page-1", "facebook", Content(text=text, link=link, media=media))


def photos_on(sandbox: Sandbox, count: int) -> tuple[Media, ...]:
    return tuple(image(sandbox, f"{i}.jpg") for i in range(count))


@pytest.fixture
def fb_settings(make_settings: SettingsFactory, sandbox: Sandbox) -> Settings:
    return make_settings(**meta_env(sandbox))


@pytest.fixture
def publisher(fb_settings: Settings) -> FacebookPublisher:
    return FacebookPublisher(GraphClient(fb_settings), TokenCipher.from_settings(fb_settings))


def test_a_text_post_is_published_with_one_request(
    publisher: FacebookPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "page-1")
    ctx = StubContext()
    outcome = publisher.publish(fb_post("first words"), account, ctx)
    assert isinstance(outcome, Published)
    assert outcome.platform_post_id.startswith("page-1_")
    assert [p["text"] for p in sandbox.posts()] == ["first words"]
    assert sandbox.requests() == {"POST feed": 1}
    assert ctx.sends == 1


def test_a_link_post_carries_the_link(publisher: FacebookPublisher, sandbox: Sandbox) -> None:
    account = connect(None, sandbox, "page-1")
    outcome = publisher.publish(
        fb_post("read this", link="https://example.org/a"), account, StubContext()
    )
    assert isinstance(outcome, Published)
    assert [p["link"] for p in sandbox.posts()] == ["https://example.org/a"]


def test_a_single_photo_answers_the_page_post_id(
    publisher: FacebookPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "page-1")
    outcome = publisher.publish(
        fb_post("a photo", photos=(image(sandbox),)), account, StubContext()
    )
    posts = sandbox.posts()
    assert isinstance(outcome, Published)
    assert [(p["id"], len(p["media"])) for p in posts] == [(outcome.platform_post_id, 1)]
    assert sandbox.requests() == {"POST photos": 1}


def test_several_photos_become_one_post_and_the_uploads_are_stored_before_the_send(
    publisher: FacebookPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "page-1")
    ctx = StubContext()
    outcome = publisher.publish(
        fb_post("three photos", photos=photos_on(sandbox, 3)),
        account,
        ctx,
    )
    posts = sandbox.posts()
    assert isinstance(outcome, Published)
    assert len(posts) == 1
    assert posts[0]["media"] == ctx.remote["photos"].split(",")
    assert sandbox.requests() == {"POST photos": 3, "POST feed": 1}


def test_stored_photo_uploads_are_reused_on_a_later_attempt(
    publisher: FacebookPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "page-1")
    first = StubContext(allow_send=False)
    assert isinstance(
        publisher.publish(
            fb_post("again", photos=photos_on(sandbox, 2)),
            account,
            first,
        ),
        Withdrawn,
    )
    retry = replace(
        fb_post("again", photos=photos_on(sandbox, 2)),
        remote=dict(first.remote),
    )
    assert isinstance(publisher.publish(retry, account, StubContext()), Published)
    assert sandbox.requests() == {"POST photos": 2, "POST feed": 1}


def test_a_withdrawn_post_sends_nothing(publisher: FacebookPublisher, sandbox: Sandbox) -> None:
    account = connect(None, sandbox, "page-1")
    outcome = publisher.publish(fb_post(), account, StubContext(allow_send=False))
    assert isinstance(outcome, Withdrawn)
    assert sandbox.posts() == []
    assert sandbox.total_requests() == 0


def test_a_page_rate_limit_defers_until_meta_says_access_returns(
    publisher: FacebookPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "page-1")
    sandbox.set_faults("page-1", rate_limited=1, regain_minutes=7)
    before = utcnow()
    outcome = publisher.publish(fb_post(), account, StubContext())
    assert isinstance(outcome, RateLimited)
    assert before + timedelta(minutes=7) <= outcome.retry_at <= utcnow() + timedelta(minutes=7)
    assert "(32)" in outcome.reason
    assert sandbox.posts() == []


def test_an_invalid_token_is_auth_expired_and_never_shows_the_token(
    publisher: FacebookPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "page-1")
    sandbox.set_faults("page-1", invalid_token=True)
    outcome = publisher.publish(fb_post(), account, StubContext())
    assert isinstance(outcome, AuthExpired)
    assert "190/463" in outcome.reason
    assert token_for("page-1") not in outcome.reason


def test_a_token_echoed_url_encoded_in_an_error_leaves_no_trace_in_the_outcome(
    publisher: FacebookPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "page-1", token=ENCODABLE_TOKEN)
    sandbox.set_faults("page-1", echo_token=1)
    outcome = publisher.publish(fb_post(), account, StubContext())
    assert isinstance(outcome, Permanent)
    assert outcome.message.startswith("(#100) Invalid parameter: could not fetch")
    assert "access_token=[redacted]" in outcome.message
    assert "echo" not in outcome.message  # no part of the token, in any encoding


def test_a_token_the_key_cannot_open_defers_the_post(
    fb_settings: Settings, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "page-1")
    other = TokenCipher((Fernet.generate_key().decode(),))
    outcome = FacebookPublisher(GraphClient(fb_settings), other).publish(
        fb_post(), account, StubContext()
    )
    # A key problem is the deployment's, not the account's: the post waits, no attempt spent,
    # the account neither paused nor called rate limited.
    assert isinstance(outcome, Deferred) and outcome.code == "token_key_error"
    assert "TOKEN_ENCRYPTION_KEY" in outcome.reason
    assert sandbox.total_requests() == 0


def test_without_any_key_the_post_waits_without_spending_an_attempt(
    fb_settings: Settings, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "page-1")
    outcome = FacebookPublisher(GraphClient(fb_settings), TokenCipher(())).publish(
        fb_post(), account, StubContext()
    )
    assert isinstance(outcome, Deferred)  # no attempt spent, the account not blamed
    assert "TOKEN_ENCRYPTION_KEY is not set" in outcome.reason
    assert sandbox.total_requests() == 0


def test_an_unclear_answer_to_the_send_goes_back_as_it_is_without_a_look(
    publisher: FacebookPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "page-1")
    sandbox.set_faults("page-1", server_errors=1)
    outcome = publisher.publish(fb_post(), account, StubContext())
    assert outcome == Retryable(outcome.reason, after_send=True)  # type: ignore[union-attr]
    sandbox.set_faults("page-1", bad_gateway=1)
    assert isinstance(publisher.publish(fb_post(), account, StubContext()), Ambiguous)
    assert sandbox.requests() == {"POST feed": 2}  # looking is the run's job


def test_a_transient_server_error_is_retried_once_the_page_shows_nothing(
    db: Database[Doc], fb_settings: Settings, sandbox: Sandbox
) -> None:
    connect(db, sandbox, "page-1")
    sandbox.set_faults("page-1", server_errors=1)
    stored = publish_due(db, fb_settings, "page-1", Content(text="not applied"))
    assert (stored["status"], stored["attempts"]) == ("scheduled", 1)
    assert sandbox.posts() == []
    # Meta may apply a write it answers with an error, so the page was read before retrying.
    assert sandbox.requests() == {"POST feed": 1, "GET published_posts": 1}


def test_a_write_applied_but_answered_with_a_transient_error_is_published_not_retried(
    db: Database[Doc], fb_settings: Settings, sandbox: Sandbox
) -> None:
    connect(db, sandbox, "page-1")
    sandbox.set_faults("page-1", applied_server_errors=1)
    stored = publish_due(db, fb_settings, "page-1", Content(text="applied anyway"))
    assert stored["status"] == "published"
    assert [p["id"] for p in sandbox.posts()] == [stored["platformPostId"]]


def test_a_post_without_text_is_never_resent_after_an_unclear_answer(
    db: Database[Doc], fb_settings: Settings, publisher: FacebookPublisher, sandbox: Sandbox
) -> None:
    account = connect(db, sandbox, "page-1")
    sandbox.set_faults("page-1", applied_server_errors=1)
    link_only = Content(text="", link="https://example.com/launch")
    stored = publish_due(db, fb_settings, "page-1", link_only)
    # unknown: an operator decides, nothing is re-sent
    assert stored["status"] == "unknown"
    assert "cannot be recognised" in stored["lastError"]["message"]
    with pytest.raises(ReadBackError):
        publisher.find_published(replace(fb_post(""), send_started_at=utcnow()), account)
    assert len(sandbox.posts()) == 1


def test_a_send_answered_too_late_is_found_on_the_page_and_counts_as_published(
    db: Database[Doc], fb_settings: Settings, sandbox: Sandbox
) -> None:
    connect(db, sandbox, "page-1")
    sandbox.set_faults("page-1", timeouts=1, timeout_seconds=2)
    stored = publish_due(db, fb_settings, "page-1", Content(text="slow words"))
    assert stored["status"] == "published"
    assert [p["id"] for p in sandbox.posts()] == [stored["platformPostId"]]


def test_a_gateway_error_after_the_send_is_unknown_when_the_page_does_not_show_it(
    db: Database[Doc], fb_settings: Settings, sandbox: Sandbox
) -> None:
    connect(db, sandbox, "page-1")
    sandbox.set_faults("page-1", bad_gateway=1)
    stored = publish_due(db, fb_settings, "page-1", Content(text="lost answer"))
    assert stored["status"] == "unknown"
    assert sandbox.posts() == []
    assert sandbox.requests() == {"POST feed": 1, "GET published_posts": 1}


def test_find_published_matches_exact_text_after_the_send_started(
    publisher: FacebookPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "page-1")
    started = utcnow()
    published = publisher.publish(fb_post("find me"), account, StubContext())
    assert isinstance(published, Published)
    sent = replace(fb_post("find me"), send_started_at=started)
    other = replace(fb_post("find me too"), send_started_at=started)
    assert publisher.find_published(sent, account) == published
    assert publisher.find_published(other, account) is None


def test_a_permission_problem_is_auth_expired_and_a_bad_request_is_permanent(
    publisher: FacebookPublisher, sandbox: Sandbox
) -> None:
    page_1 = connect(None, sandbox, "page-1")
    page_2 = connect(None, sandbox, "page-2")
    borrowed = replace(page_1, token=page_2.token)  # page-2's token used on page-1: code 200
    assert isinstance(publisher.publish(fb_post(), borrowed, StubContext()), AuthExpired)
    empty = publisher.publish(fb_post(text=""), page_1, StubContext())
    assert isinstance(empty, Permanent)
    assert empty.code == "meta_100"


def test_appsecret_proof_is_sent_and_checked(make_settings: SettingsFactory) -> None:
    with control.running(app_secret="s3cret-app") as guarded:
        account = connect(None, guarded, "page-1")
        good = make_settings(**meta_env(guarded, META_APP_SECRET="s3cret-app"))
        bad = make_settings(**meta_env(guarded, META_APP_SECRET="another"))
        for settings, expected in ((good, Published), (bad, Permanent)):
            publisher = FacebookPublisher(
                GraphClient(settings), TokenCipher.from_settings(settings)
            )
            outcome = publisher.publish(
                fb_post(f"proof {expected.__name__}"), account, StubContext()
            )
            assert isinstance(outcome, expected)
        assert len(guarded.posts()) == 1
