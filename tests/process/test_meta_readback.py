"""Reading an account's recent items back, page by page, from the sandbox Graph API over HTTP.

Meta lists a Page's posts and an account's media newest first, 25 to a page unless asked for
more, and does not declare `since` on `published_posts`: a post is found again only by
following the cursors back to the moment its send started.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from common.clock import utcnow
from common.config import Settings
from common.model import Account, Content, Media
from common.platforms.base import Published
from common.platforms.credentials import ReadBackError
from common.platforms.meta.containers import ContainerPublisher
from common.platforms.meta.facebook import FacebookPublisher
from common.platforms.meta.graph import GraphClient
from common.platforms.meta.instagram import INSTAGRAM
from common.platforms.meta.readback import IG_MEDIA, PAGE_POSTS, find_recent
from common.tokens import TokenCipher
from devstack.sandbox.control import Sandbox
from tests.conftest import SettingsFactory
from tests.meta_support import StubContext, claimed_post, connect, image, meta_env, token_for


@pytest.fixture
def settings(make_settings: SettingsFactory, sandbox: Sandbox) -> Settings:
    return make_settings(**meta_env(sandbox))


@pytest.fixture
def facebook(settings: Settings) -> FacebookPublisher:
    return FacebookPublisher(GraphClient(settings), TokenCipher.from_settings(settings))


def publish(
    publisher: FacebookPublisher | ContainerPublisher,
    account: Account,
    text: str,
    media: tuple[Media, ...] = (),
) -> str:
    post = claimed_post(account.id, account.platform, Content(text=text, media=media))
    outcome = publisher.publish(post, account, StubContext())
    assert isinstance(outcome, Published)
    return outcome.platform_post_id


def test_a_post_below_more_than_a_page_of_newer_posts_is_still_found(
    facebook: FacebookPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "page-1")
    started = utcnow()
    ours = publish(facebook, account, "ours, then a busy page")
    for i in range(130):  # other tools keep posting: more than one page of 100
        publish(facebook, account, f"someone else's post {i}")
    sent = replace(
        claimed_post("page-1", "facebook", Content(text="ours, then a busy page")),
        send_started_at=started,
    )
    assert facebook.find_published(sent, account) == Published(ours)
    assert sandbox.requests()["GET published_posts"] == 2


def test_the_read_back_follows_the_cursors_and_stops_at_the_send(
    settings: Settings, facebook: FacebookPublisher, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "page-1")
    for i in range(30):
        publish(facebook, account, f"older post {i}")
    time.sleep(1.1)  # Graph times have whole seconds: the send starts in a later one
    since = utcnow().replace(microsecond=0)
    ours = publish(facebook, account, "ours")
    for i in range(30):
        publish(facebook, account, f"newer post {i}")
    client, token = GraphClient(settings), token_for("page-1")

    def read(text: str, max_pages: int) -> str | None:
        return find_recent(
            client, token, "page-1", PAGE_POSTS, text, since, page_size=10, max_pages=max_pages
        )

    assert read("ours", max_pages=10) == ours
    # 31 posts since the send at 10 a page: the fourth page reaches the older posts, and stops.
    assert read("never sent", max_pages=10) is None
    assert sandbox.requests()["GET published_posts"] == 8
    with pytest.raises(ReadBackError, match="did not reach back"):
        read("never sent", max_pages=2)  # not seen far enough back: proves nothing


def test_instagram_media_are_read_back_page_by_page_too(
    settings: Settings, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "ig-1", "instagram")
    cipher = TokenCipher.from_settings(settings)
    instagram = ContainerPublisher(INSTAGRAM, GraphClient(settings), cipher, settings)
    since = utcnow().replace(microsecond=0)  # Graph times have whole seconds
    ours = publish(instagram, account, "our reel caption", (image(sandbox),))
    for i in range(12):
        publish(instagram, account, f"later caption {i}", (image(sandbox),))
    found = find_recent(
        GraphClient(settings),
        token_for("ig-1"),
        "ig-1",
        IG_MEDIA,
        "our reel caption",
        since,
        page_size=5,
    )
    assert found == ours
    assert sandbox.requests()["GET media"] == 3
