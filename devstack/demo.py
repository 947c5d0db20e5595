"""The demo data of the local stack: a sandbox Facebook Page, Instagram, Threads, Bluesky and
Mastodon account, and on the first start a few posts due within the minute."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.database import Database

from common import accounts, model
from common.clock import ScheduledTime, utcnow
from common.config import load_settings
from common.db import Doc, ensure_indexes, get_database
from common.posts import store
from common.tokens import TokenCipher
from devstack.sandbox.control import BlueskySandbox, MastodonSandbox, Sandbox

DEMO_ACCOUNTS = (
    # (account id in our database, platform, sandbox kind, page / IG user id)
    ("demo-page", "facebook", "page", "sandbox-demo-page"),
    ("demo-instagram", "instagram", "instagram", "sandbox-demo-ig"),
    ("demo-threads", "threads", "threads", "sandbox-demo-threads"),
)
SECONDS_BETWEEN_DEMO_POSTS = 5
# Sandbox credentials, not secrets: the sandboxes forget them when they stop.
DEMO_BLUESKY = ("demo-bluesky", "demo.bsky.test", "demo-sand-box0-pass")
DEMO_MASTODON = ("demo-mastodon", "demo", "demo-sandbox-mastodon-token")


@dataclass(frozen=True)
class DemoSandboxes:
    meta: Sandbox
    bluesky: BlueskySandbox
    mastodon: MastodonSandbox


def seed_demo(
    settings_env: Mapping[str, str], sandboxes: DemoSandboxes, first_due_in: float
) -> int:
    """Register the demo accounts in the sandboxes; on first start add accounts and posts.

    Returns how many demo posts were added (0 on later starts: the data file kept them)."""
    settings = load_settings(settings_env)
    db = get_database(settings)
    ensure_indexes(db)
    cipher = TokenCipher.from_settings(settings)
    now = utcnow()
    created = _seed_bluesky(db, cipher, sandboxes.bluesky, now)
    created += _seed_mastodon(db, cipher, sandboxes.mastodon, now)
    for account_id, platform, kind, external_id in DEMO_ACCOUNTS:
        token = f"{external_id}-token"
        sandboxes.meta.add_account(external_id, kind, token, name=f"Demo {platform}")
        if accounts.get(db, account_id) is None:
            identity = (account_id, platform, external_id, f"Demo {platform}")
            _add_account(db, cipher, now, identity, token)
            created += 1
    if created == 0:
        return 0
    photo = sandboxes.meta.image_url("demo.jpg")  # Meta fetches it: served on this machine
    return _add_demo_posts(db, now, now + timedelta(seconds=first_due_in), photo)


def _seed_bluesky(
    db: Database[Doc], cipher: TokenCipher, sandbox: BlueskySandbox, now: datetime
) -> int:
    """The sandbox PDS starts empty on a new port each time: the account is registered again
    and moves to the new PDS (as an AT Protocol account can), leaving its old session behind,
    so the first run logs in once."""
    account_id, handle, password = DEMO_BLUESKY
    did = sandbox.add_account(handle, password)
    if accounts.get(db, account_id) is not None:
        accounts.move_service(db, account_id, sandbox.url, now)
        return 0
    _add_account(db, cipher, now, (account_id, "bluesky", did, handle), password, sandbox.url)
    return 1


def _seed_mastodon(
    db: Database[Doc], cipher: TokenCipher, sandbox: MastodonSandbox, now: datetime
) -> int:
    """Like Bluesky's: the sandbox instance starts empty on a new port each time."""
    account_id, username, token = DEMO_MASTODON
    remote_id = sandbox.add_account(username, token)
    if accounts.get(db, account_id) is not None:
        accounts.move_service(db, account_id, sandbox.url, now)
        accounts.set_external_id(db, account_id, remote_id, now)
        return 0
    identity = (account_id, "mastodon", remote_id, username)
    _add_account(db, cipher, now, identity, token, sandbox.url)
    return 1


def _add_account(
    db: Database[Doc],
    cipher: TokenCipher,
    now: datetime,
    identity: tuple[str, str, str, str],
    secret: str,
    service_url: str | None = None,
) -> None:
    """A demo account (`identity`: id, platform, external id, name) whose secret (a token, an
    app password) is stored encrypted, as connecting stores it."""
    account_id, platform, external_id, name = identity
    accounts.create(
        db,
        account_id=account_id,
        platform=platform,
        external_id=external_id,
        name=name,
        token_ciphertext=cipher.encrypt(secret),
        token_expires_at=None,
        now=now,
        service_url=service_url,
    )


def _add_demo_posts(db: Database[Doc], now: datetime, first_due: datetime, photo: str) -> int:
    demo = [
        ("demo-page", "facebook", model.Content(text="Hello from the local scheduler!")),
        ("demo-page", "facebook", model.Content(text="A link post", link="https://example.com/")),
        (
            "demo-instagram",
            "instagram",
            model.Content(text="A sandbox photo", media=(model.Media(photo),)),
        ),
        ("demo-threads", "threads", model.Content(text="Hello Threads from the sandbox")),
        (
            "demo-bluesky",
            "bluesky",
            model.Content(text="Hello Bluesky from @demo.bsky.test: https://example.com/"),
        ),
        (
            "demo-mastodon",
            "mastodon",
            model.Content(text="Hello Mastodon", content_warning="a demo", visibility="unlisted"),
        ),
    ]
    for i, (account_id, platform, content) in enumerate(demo):
        due = first_due + timedelta(seconds=SECONDS_BETWEEN_DEMO_POSTS * i)
        store.create(
            db,
            account_id=account_id,
            platform=platform,
            content=content,
            when=ScheduledTime.utc(due),
            now=now,
        )
    return len(demo)
