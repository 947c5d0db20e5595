"""The sandboxes behave as the networks do where our code once assumed otherwise: Instagram
publishes with the linked Page's token, Meta fetches the media it is given, Bluesky counts its
limits in graphemes and bytes, Mastodon checks scopes and its instance's alt text limit, and a
control route asked with the wrong method answers 405.

Real parts: the sandbox processes over loopback HTTP, the real adapters and connectors, the CLI
as a process and the MongoDB wire server.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from pymongo.database import Database

from common.clock import utcnow
from common.db import Doc
from common.model import Content, Media
from common.platforms.base import Login, LoginRefused, Permanent, Retryable
from common.platforms.meta.containers import ContainerPublisher
from common.platforms.registry import default_registry
from devstack.sandbox.control import BlueskySandbox, MastodonSandbox, Sandbox
from tests.bluesky_support import app_password_for, bluesky_env, connect_bluesky
from tests.conftest import SettingsFactory
from tests.mastodon_support import connect_mastodon, mastodon_env, mastodon_token_for
from tests.meta_support import TOKEN_KEY, StubContext, claimed_post, connect, meta_env
from tests.process.test_cli import socialsched

# --- Meta ---------------------------------------------------------------------------------


def test_onboarding_then_an_instagram_post_publishes_with_the_pages_token(
    mongo_uri: str, db_name: str, db: Database[Doc], sandbox: Sandbox
) -> None:
    """The README's walkthrough: a Meta login stores the Page's token for the linked Instagram
    account (as Meta intends), and the sandbox accepts it for Instagram publishing as Meta does."""
    sandbox.add_account("111", "page", "page-token", "My Page")
    sandbox.add_account("333", "instagram", "ig-token", "my_ig", page="111")
    sandbox.add_user("short-login-token", ["111"])
    env = {
        "META_GRAPH_URL": sandbox.url,
        "META_APP_ID": "sandbox-app",
        "META_APP_SECRET": "sandbox-app-secret",
        "TOKEN_ENCRYPTION_KEY": TOKEN_KEY,
    }
    connected = socialsched(
        mongo_uri, db_name, "accounts", "connect", stdin="short-login-token\n", env_extra=env
    )
    assert connected.returncode == 0, connected.stderr
    add = ["posts", "add", "--account", "ig-333", "--at", "now", "--text", "after onboarding"]
    media = ["--media", sandbox.image_url("photo.jpg")]
    added = socialsched(mongo_uri, db_name, *add, *media, env_extra=env)
    assert added.returncode == 0, added.stderr
    ran = socialsched(mongo_uri, db_name, "run", env_extra=env)
    assert ran.returncode == 0, ran.stderr

    assert [(p["owner"], p["text"]) for p in sandbox.posts()] == [("333", "after onboarding")]
    assert db["posts"].find_one({"accountId": "ig-333"})["status"] == "published"  # type: ignore[index]
    assert db["accounts"].find_one({"_id": "ig-333"})["status"] == "active"  # type: ignore[index]


@pytest.mark.parametrize(
    ("path", "mime"),
    [
        ("missing.jpg", None),  # the URL answers 404
        ("leaflet.pdf", "application/pdf"),
        ("animation.gif", "image/gif"),  # Instagram takes JPEG images only
    ],
)
def test_instagram_fails_the_container_when_meta_cannot_fetch_a_jpeg(
    sandbox: Sandbox, make_settings: SettingsFactory, path: str, mime: str | None
) -> None:
    account = connect(None, sandbox, "ig-1", "instagram")
    url = (
        f"{sandbox.url}/_sandbox/nothing/{path}"
        if mime is None
        else sandbox.image_url(path, mime=mime)
    )
    publisher = default_registry(make_settings(**meta_env(sandbox))).get("instagram")
    assert isinstance(publisher, ContainerPublisher)
    post = claimed_post("ig-1", "instagram", Content(text="bad media", media=(Media(url),)))

    outcome = publisher.publish(post, account, StubContext())

    # 9004 / 2207052: "retry a couple of times, then fail" (the engine's attempts do that).
    assert isinstance(outcome, Retryable) and "2207052" in outcome.reason
    assert sandbox.posts() == []
    assert sandbox.requests().get("POST media_publish", 0) == 0


def test_meta_does_not_fetch_media_from_outside_this_machine(sandbox: Sandbox) -> None:
    sandbox.add_account("111", "page", "page-token")
    answer = requests.post(
        f"{sandbox.url}/v25.0/111/photos",
        data={"url": "https://img.example/a.jpg", "access_token": "page-token"},
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 324
    assert sandbox.posts() == []


# --- every sandbox's control surface --------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "route"),
    [
        ("sandbox", "accounts"),
        ("sandbox", "users"),
        ("bluesky", "accounts"),
        ("bluesky", "expire"),
        ("mastodon", "faults"),
        ("mastodon", "reset"),
    ],
)
def test_a_get_on_a_post_only_control_route_answers_405(
    request: pytest.FixtureRequest, fixture: str, route: str
) -> None:
    control: Any = request.getfixturevalue(fixture)
    answer = requests.get(f"{control.url}/_sandbox/{route}", timeout=10)
    assert (answer.status_code, answer.headers["Allow"]) == (405, "POST")


# --- Bluesky -------------------------------------------------------------------------------


def _bluesky_session(bluesky: BlueskySandbox, handle: str) -> dict[str, str]:
    bluesky.add_account(handle, app_password_for(handle))
    session: dict[str, str] = requests.post(
        f"{bluesky.url}/xrpc/com.atproto.server.createSession",
        json={"identifier": handle, "password": app_password_for(handle)},
        timeout=10,
    ).json()
    return session


def _create(bluesky: BlueskySandbox, session: dict[str, str], record: dict[str, Any]) -> Any:
    body = {"repo": session["did"], "collection": "app.bsky.feed.post", "record": record}
    return requests.post(
        f"{bluesky.url}/xrpc/com.atproto.repo.createRecord",
        json=body,
        headers={"Authorization": f"Bearer {session['accessJwt']}"},
        timeout=10,
    )


def _upload(bluesky: BlueskySandbox, session: dict[str, str], size: int, mime: str) -> Any:
    answer = requests.post(
        f"{bluesky.url}/xrpc/com.atproto.repo.uploadBlob",
        data=b"\xff" * size,
        headers={"Authorization": f"Bearer {session['accessJwt']}", "Content-Type": mime},
        timeout=10,
    )
    return answer.json()["blob"]


def test_the_bluesky_sandbox_refuses_300_graphemes_that_exceed_3000_bytes(
    bluesky: BlueskySandbox,
) -> None:
    session = _bluesky_session(bluesky, "sky.bsky.test")
    family = "👩‍👩‍👧"  # one grapheme, 18 bytes
    now = utcnow().isoformat()
    refused = _create(
        bluesky, session, {"$type": "app.bsky.feed.post", "text": family * 300, "createdAt": now}
    )
    accepted = _create(
        bluesky, session, {"$type": "app.bsky.feed.post", "text": family * 166, "createdAt": now}
    )
    assert refused.status_code == 400 and "3000" in refused.json()["message"]
    assert accepted.status_code == 200
    assert len(bluesky.posts()) == 1


@pytest.mark.parametrize(
    ("size", "mime", "status"),
    [
        (2_000_000, "image/jpeg", 200),  # the current lexicon's maxSize
        (2_000_001, "image/jpeg", 400),
        (1024, "application/pdf", 400),  # the images embed accepts image/* only
    ],
)
def test_the_bluesky_sandbox_takes_images_as_the_images_lexicon_does(
    bluesky: BlueskySandbox, size: int, mime: str, status: int
) -> None:
    session = _bluesky_session(bluesky, "sky.bsky.test")
    blob = _upload(bluesky, session, size, mime)
    record = {
        "$type": "app.bsky.feed.post",
        "text": "a picture",
        "createdAt": utcnow().isoformat(),
        "embed": {"$type": "app.bsky.embed.images", "images": [{"image": blob, "alt": ""}]},
    }
    assert _create(bluesky, session, record).status_code == status
    assert len(bluesky.posts()) == (1 if status == 200 else 0)


def test_a_bluesky_image_of_two_megabytes_is_published(
    bluesky: BlueskySandbox, make_settings: SettingsFactory
) -> None:
    account = connect_bluesky(None, bluesky, "sky-a")
    publisher = default_registry(make_settings(**bluesky_env(bluesky))).get("bluesky")
    assert publisher is not None
    media = (Media(bluesky.image_url("big.jpg", size=2_000_000)),)
    post = claimed_post("sky-a", "bluesky", Content(text="big", media=media))
    publisher.publish(post, account, StubContext())
    assert [p["text"] for p in bluesky.posts()] == ["big"]


# --- Mastodon ------------------------------------------------------------------------------


def test_a_mastodon_token_without_the_profile_scope_is_refused_at_connect(
    mastodon: MastodonSandbox, make_settings: SettingsFactory
) -> None:
    """verify_credentials needs `profile` or `read:accounts`: a real instance answers 403."""
    token = mastodon_token_for("narrow")
    mastodon.add_account("narrow", token, scopes=["write:statuses", "write:media", "read:statuses"])
    connector = default_registry(make_settings(**mastodon_env())).connector("mastodon")
    assert connector is not None
    refused = connector.verify(Login(token, server=mastodon.url), utcnow())
    assert isinstance(refused, LoginRefused)
    assert mastodon.requests() == {"GET v1/accounts/verify_credentials": 1}


def test_the_mastodon_sandbox_states_and_enforces_its_alt_text_limit(
    mastodon: MastodonSandbox, make_settings: SettingsFactory
) -> None:
    configuration = requests.get(f"{mastodon.url}/api/v2/instance", timeout=10).json()
    limit = configuration["configuration"]["media_attachments"]["description_limit"]
    assert limit == 1500
    account = connect_mastodon(None, mastodon, "masto-a")
    publisher = default_registry(make_settings(**mastodon_env())).get("mastodon")
    assert publisher is not None
    too_long = (Media(mastodon.image_url("a.jpg"), alt="x" * (limit + 1)),)
    post = claimed_post("masto-a", "mastodon", Content(text="alt", media=too_long))

    outcome = publisher.publish(post, account, StubContext())

    assert isinstance(outcome, Permanent)
    assert mastodon.posts() == []
