"""The Publisher and Connector contracts, run against every network's sandbox.

Each behaviour is one test, parametrised over the five platforms (publishing) or the four
networks (connecting): what one adapter promises, every adapter keeps, through the real
registry, real HTTP and the sandbox's own faults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from common.clock import utcnow
from common.config import Settings
from common.model import Account, Content, Media
from common.platforms.base import (
    Ambiguous,
    AuthExpired,
    Connector,
    Login,
    LoginRefused,
    Permanent,
    Published,
    Publisher,
    RateLimited,
)
from common.platforms.bluesky.connector import account_id_for as bluesky_id
from common.platforms.mastodon.connector import account_id_for as mastodon_id
from common.platforms.registry import default_registry
from common.tokens import TokenCipher
from devstack.sandbox.control import BlueskySandbox, MastodonSandbox, Sandbox, SandboxControl
from tests.bluesky_support import app_password_for, bluesky_env, connect_bluesky
from tests.conftest import SettingsFactory
from tests.mastodon_support import connect_mastodon, mastodon_env, mastodon_token_for
from tests.meta_support import TOKEN_KEY, StubContext, claimed_post, connect, meta_env

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Case:
    """One network as the contract sees it: its sandbox, how an account and a login are made
    there, what it publishes and what it refuses for good."""

    platform: str
    network: str
    sandbox: str  # the fixture serving it
    env: Callable[[Any], dict[str, object]]
    enrol: Callable[[Any, str], Account]  # an account in the sandbox, stored as we store it
    login: Callable[[Any], tuple[Login, list[str]]]  # a good login and the account ids it grants
    bad_login: Callable[[Any], Login]
    post: Callable[[Any], Content]
    refused: Callable[[Any], Content]  # a post the network refuses for good...
    refused_after: int  # ...after it published this many of the same
    send_edge: str  # the one non-idempotent call, as the sandbox names it
    refreshes: bool = False  # the network renews a credential before it ends


def _meta_env(sandbox: Sandbox) -> dict[str, object]:
    return meta_env(sandbox, META_APP_ID="sandbox-app", META_APP_SECRET="sandbox-app-secret")


def _meta_login(sandbox: Sandbox) -> tuple[Login, list[str]]:
    sandbox.add_account("1001", "page", "page-token-1001", "Bakery")
    sandbox.add_account("2002", "instagram", "unused", "bakery_ig", page="1001")
    sandbox.add_user("short-login-token", ["1001"])
    return Login("short-login-token"), ["fb-1001", "ig-2002"]


def _threads_login(sandbox: Sandbox) -> tuple[Login, list[str]]:
    sandbox.add_account("7001", "threads", "TH-long-lived", "alice")
    return Login("TH-long-lived"), ["th-7001"]


def _bluesky_login(sandbox: BlueskySandbox) -> tuple[Login, list[str]]:
    handle = "alice.bsky.test"
    did = sandbox.add_account(handle, app_password_for(handle))
    return Login(app_password_for(handle), handle=handle, server=sandbox.url), [bluesky_id(did)]


def _mastodon_login(sandbox: MastodonSandbox) -> tuple[Login, list[str]]:
    remote_id = sandbox.add_account("alice", mastodon_token_for("alice"))
    return Login(mastodon_token_for("alice"), server=sandbox.url), [
        mastodon_id(sandbox.url, remote_id)
    ]


def _image(sandbox: SandboxControl) -> Media:
    return Media(f"{sandbox.url}/_sandbox/media/a.jpg?bytes=2048&type=image/jpeg")


TOO_LONG = "x" * 600  # beyond Threads' and Mastodon's 500 characters, Bluesky's 300 graphemes

CASES = [
    Case(
        "facebook",
        "meta",
        "sandbox",
        _meta_env,
        lambda sb, name: connect(None, sb, name, "facebook"),
        _meta_login,
        lambda sb: Login("not-a-login-token"),
        lambda sb: Content(text="hello from the contract"),
        lambda sb: Content(text="the same words twice"),  # Meta refuses a repeated status (#506)
        1,
        "feed",
    ),
    Case(
        "instagram",
        "meta",
        "sandbox",
        _meta_env,
        lambda sb, name: connect(None, sb, name, "instagram"),
        _meta_login,
        lambda sb: Login("not-a-login-token"),
        lambda sb: Content(text="hello from the contract", media=(_image(sb),)),
        lambda sb: Content(text="eleven", media=(_image(sb),) * 11),
        0,
        "media_publish",
    ),
    Case(
        "threads",
        "threads",
        "sandbox",
        meta_env,
        lambda sb, name: connect(None, sb, name, "threads"),
        _threads_login,
        lambda sb: Login("not-a-threads-token"),
        lambda sb: Content(text="hello from the contract"),
        lambda sb: Content(text=TOO_LONG),
        0,
        "threads_publish",
        refreshes=True,
    ),
    Case(
        "bluesky",
        "bluesky",
        "bluesky",
        bluesky_env,
        lambda sb, name: connect_bluesky(None, sb, name),
        _bluesky_login,
        lambda sb: Login("aaaa-bbbb-cccc-dddd", handle="nobody.bsky.test", server=sb.url),
        lambda sb: Content(text="hello from the contract"),
        lambda sb: Content(text=TOO_LONG),
        0,
        "com.atproto.repo.createRecord",
    ),
    Case(
        "mastodon",
        "mastodon",
        "mastodon",
        lambda sb: mastodon_env(),
        lambda sb, name: connect_mastodon(None, sb, name),
        _mastodon_login,
        lambda sb: Login("not-a-token", server=sb.url),
        lambda sb: Content(text="hello from the contract"),
        lambda sb: Content(text=TOO_LONG),
        0,
        "POST v1/statuses",
    ),
]
PLATFORMS = [pytest.param(case, id=case.platform) for case in CASES]
NETWORKS = [pytest.param(case, id=case.network) for case in CASES if case.platform != "instagram"]


@dataclass
class Network:
    case: Case
    sandbox: Any  # Sandbox | BlueskySandbox | MastodonSandbox
    settings: Settings

    def publisher(self) -> Publisher:
        found = default_registry(self.settings).get(self.case.platform)
        assert found is not None
        return found

    def connector(self) -> Connector:
        found = default_registry(self.settings).connector(self.case.network)
        assert found is not None and self.case.platform in found.platforms
        return found

    def enrol(self, name: str = "acct") -> Account:
        return self.case.enrol(self.sandbox, name)

    def fault(self, account: Account, **faults: object) -> None:
        self.sandbox.set_faults(account.external_id, **faults)

    def publish(self, account: Account, content: Content) -> tuple[object, StubContext]:
        ctx = StubContext()
        post = claimed_post(account.id, self.case.platform, content)
        return self.publisher().publish(post, account, ctx), ctx


@pytest.fixture(params=PLATFORMS)
def platform(request: pytest.FixtureRequest, make_settings: SettingsFactory) -> Network:
    return _network(request, make_settings)


@pytest.fixture(params=NETWORKS)
def network(request: pytest.FixtureRequest, make_settings: SettingsFactory) -> Network:
    return _network(request, make_settings)


def _network(request: pytest.FixtureRequest, make_settings: SettingsFactory) -> Network:
    case: Case = request.param
    sandbox = request.getfixturevalue(case.sandbox)  # a fresh sandbox for each test
    return Network(case, sandbox, make_settings(**case.env(sandbox)))


# --- Publisher ------------------------------------------------------------------------------


def test_a_post_is_published_once(platform: Network) -> None:
    account = platform.enrol()
    outcome, ctx = platform.publish(account, platform.case.post(platform.sandbox))
    assert isinstance(outcome, Published) and outcome.platform_post_id
    assert ctx.sends == 1
    assert [p["text"] for p in platform.sandbox.posts()] == ["hello from the contract"]


def test_a_rate_limit_is_reported_with_its_retry_time(platform: Network) -> None:
    account = platform.enrol()
    platform.fault(account, rate_limited=1)
    outcome, _ = platform.publish(account, platform.case.post(platform.sandbox))
    assert isinstance(outcome, RateLimited) and outcome.retry_at > utcnow()
    assert outcome.account_wide and platform.sandbox.posts() == []


def test_a_refused_credential_is_auth_expired(platform: Network) -> None:
    account = platform.enrol()
    platform.fault(account, invalid_token=True)
    outcome, _ = platform.publish(account, platform.case.post(platform.sandbox))
    assert isinstance(outcome, AuthExpired) and platform.sandbox.posts() == [], outcome


def test_a_post_the_network_refuses_for_good_is_permanent(platform: Network) -> None:
    account = platform.enrol()
    case = platform.case
    for _ in range(case.refused_after):
        assert isinstance(platform.publish(account, case.refused(platform.sandbox))[0], Published)
    outcome, _ = platform.publish(account, case.refused(platform.sandbox))
    assert isinstance(outcome, Permanent), outcome
    assert len(platform.sandbox.posts()) == case.refused_after


def test_a_send_whose_answer_is_lost_is_ambiguous_and_then_found(platform: Network) -> None:
    account = platform.enrol()
    platform.fault(account, timeouts=1, timeout_edge=platform.case.send_edge)
    content = platform.case.post(platform.sandbox)
    ctx = StubContext()
    post = claimed_post(account.id, platform.case.platform, content)
    publisher = platform.publisher()
    outcome = publisher.publish(post, account, ctx)
    assert isinstance(outcome, Ambiguous), outcome
    sent = replace(post, remote=dict(ctx.remote), send_started_at=utcnow())
    found = publisher.find_published(sent, account)
    posted = platform.sandbox.posts()
    assert found is not None and len(posted) == 1  # found, never sent a second time
    assert str(posted[0]["id"]) in found.platform_post_id


def test_a_post_never_sent_is_not_found(platform: Network) -> None:
    account = platform.enrol()
    post = claimed_post(account.id, platform.case.platform, platform.case.post(platform.sandbox))
    assert platform.publisher().find_published(post, account) is None


# --- Connector ------------------------------------------------------------------------------


def test_a_good_login_grants_its_accounts_under_conventional_ids(network: Network) -> None:
    login, expected_ids = network.case.login(network.sandbox)
    granted = network.connector().verify(login, utcnow())
    assert not isinstance(granted, LoginRefused), granted
    assert [c.account_id for c in granted] == expected_ids
    assert all(c.external_id and c.secret and c.name for c in granted)


def test_a_bad_login_is_refused_without_echoing_it(network: Network) -> None:
    network.case.login(network.sandbox)  # the network knows someone, not this login
    bad = network.case.bad_login(network.sandbox)
    refused = network.connector().verify(bad, utcnow())
    assert isinstance(refused, LoginRefused) and not refused.unavailable
    assert bad.secret not in refused.reason


def test_a_working_credential_is_healthy(network: Network) -> None:
    account = network.enrol()
    inspection = network.connector().inspect(account, utcnow())
    assert inspection.health.valid and inspection.health.problem is None, inspection
    assert inspection.refreshed is None


def test_a_revoked_credential_is_invalid(network: Network) -> None:
    account = network.enrol()
    network.fault(account, invalid_token=True)
    health = network.connector().inspect(account, utcnow()).health
    assert not health.valid and health.problem is not None
    assert health.problem.kind == "invalid"


def test_a_credential_the_key_cannot_open_is_a_key_error_not_invalid(network: Network) -> None:
    account = replace(network.enrol(), token="not-ciphertext")
    health = network.connector().inspect(account, utcnow()).health
    assert health.problem is not None and health.problem.kind == "key_error"
    assert network.sandbox.total_requests() == 0


def test_a_credential_near_its_end_is_renewed_where_the_network_allows(network: Network) -> None:
    account = replace(network.enrol(), token_expires_at=utcnow() + 20 * DAY)
    network.fault(account, **({"token_age_seconds": 40 * 86400} if network.case.refreshes else {}))
    inspection = network.connector().inspect(account, utcnow())
    assert inspection.health.valid
    if not network.case.refreshes:
        assert inspection.refreshed is None
        return
    renewed = inspection.refreshed
    assert renewed is not None and renewed.account_id == account.id
    assert renewed.secret != TokenCipher((TOKEN_KEY,)).decrypt(account.token)
    assert renewed.expires_at is not None and renewed.expires_at - utcnow() > 59 * DAY
    assert inspection.health.expires_at == renewed.expires_at
