"""What each network's connector does beyond the shared contract (tests/process/
test_network_contract.py): Meta's Page choice and app configuration, Bluesky's app-password rule
and kept session, Threads' refresh rules, and a network that cannot be asked."""

from __future__ import annotations

from datetime import timedelta

from common.clock import utcnow
from common.config import Settings
from common.model import Account, Content
from common.platforms.base import Credential, Login, LoginRefused, Published, TokenProblem
from common.platforms.registry import default_registry
from common.tokens import TokenCipher
from devstack.processes import free_port
from devstack.sandbox.control import BlueskySandbox, Sandbox
from tests.bluesky_support import app_password_for, bluesky_env
from tests.conftest import SettingsFactory
from tests.meta_support import TOKEN_KEY, StubContext, claimed_post, connect, meta_env

APP = {"META_APP_ID": "sandbox-app", "META_APP_SECRET": "sandbox-app-secret"}


def _meta(settings: Settings, login: Login) -> list[Credential] | LoginRefused:
    connector = default_registry(settings).connector("meta")
    assert connector is not None
    granted = connector.verify(login, utcnow())
    return granted if isinstance(granted, LoginRefused) else list(granted)


def _two_pages(sandbox: Sandbox) -> None:
    sandbox.add_account("111", "page", "page-token-111", "Bakery")
    sandbox.add_account("222", "page", "page-token-222", "Other")
    sandbox.add_account("333", "instagram", "unused", "bakery_ig", page="111")
    sandbox.add_user("short-user-token", ["111", "222"])


def test_a_meta_login_grants_the_chosen_pages_with_their_page_tokens(
    make_settings: SettingsFactory, sandbox: Sandbox
) -> None:
    _two_pages(sandbox)
    settings = make_settings(**meta_env(sandbox, **APP))
    granted = _meta(settings, Login("short-user-token", choose=("111",)))
    assert granted == [
        Credential("fb-111", "facebook", "111", "Bakery", "page-token-111"),
        Credential("ig-333", "instagram", "333", "Bakery (Instagram)", "page-token-111"),
    ]
    everything = _meta(settings, Login("short-user-token"))
    assert [c.account_id for c in everything] == ["fb-111", "ig-333", "fb-222"]  # type: ignore[union-attr]


def test_a_chosen_page_the_login_does_not_manage_refuses_the_whole_login(
    make_settings: SettingsFactory, sandbox: Sandbox
) -> None:
    _two_pages(sandbox)
    settings = make_settings(**meta_env(sandbox, **APP))
    refused = _meta(settings, Login("short-user-token", choose=("111", "999")))
    assert refused == LoginRefused("this login does not manage Page(s) 999")


def test_without_the_app_id_and_secret_a_meta_login_is_not_judged_and_meta_not_asked(
    make_settings: SettingsFactory, sandbox: Sandbox
) -> None:
    _two_pages(sandbox)
    refused = _meta(make_settings(**meta_env(sandbox)), Login("short-user-token"))
    assert isinstance(refused, LoginRefused) and refused.unavailable
    assert "META_APP_ID and META_APP_SECRET" in refused.reason
    assert sandbox.total_requests() == 0


def test_an_unreachable_network_is_unavailable_and_check_failed_never_invalid(
    make_settings: SettingsFactory, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "page-1")
    offline = make_settings(
        **meta_env(sandbox, META_GRAPH_URL=f"http://127.0.0.1:{free_port()}", **APP)
    )
    refused = _meta(offline, Login("short-user-token"))
    assert isinstance(refused, LoginRefused) and refused.unavailable
    connector = default_registry(offline).connector("meta")
    assert connector is not None
    problem = connector.inspect(account, utcnow()).health.problem
    assert problem is not None and problem.kind == "check_failed"
    assert str(problem).startswith("check failed: network error before an answer")


def test_a_revoked_meta_token_names_metas_code(
    make_settings: SettingsFactory, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "page-1")
    sandbox.set_faults("page-1", invalid_token=True)
    connector = default_registry(make_settings(**meta_env(sandbox))).connector("meta")
    assert connector is not None
    health = connector.inspect(account, utcnow()).health
    assert health.problem == TokenProblem("invalid", "token invalid (code 190/463)")


def test_a_bluesky_main_password_is_refused_before_anything_is_sent(
    make_settings: SettingsFactory, bluesky: BlueskySandbox
) -> None:
    bluesky.add_account("alice.bsky.test", "my main password!")
    connector = default_registry(make_settings(**bluesky_env(bluesky))).connector("bluesky")
    assert connector is not None
    login = Login("my main password!", handle="alice.bsky.test", server=bluesky.url)
    refused = connector.verify(login, utcnow())
    assert isinstance(refused, LoginRefused) and "not an app password" in refused.reason
    assert bluesky.total_requests() == 0


def test_the_session_of_a_bluesky_login_spares_the_first_post_a_login(
    make_settings: SettingsFactory, bluesky: BlueskySandbox
) -> None:
    handle = "alice.bsky.test"
    bluesky.add_account(handle, app_password_for(handle))
    registry = default_registry(make_settings(**bluesky_env(bluesky)))
    connector, publisher = registry.connector("bluesky"), registry.get("bluesky")
    assert connector is not None and publisher is not None
    login = Login(app_password_for(handle), handle=handle, server=bluesky.url)
    granted = connector.verify(login, utcnow())
    assert not isinstance(granted, LoginRefused) and len(granted) == 1
    credential, cipher = granted[0], TokenCipher((TOKEN_KEY,))
    assert credential.service_url == bluesky.url and credential.session
    stored = Account(
        credential.account_id,
        "bluesky",
        credential.external_id,
        credential.name,
        cipher.encrypt(credential.secret),
        service_url=credential.service_url,
        session=cipher.encrypt(credential.session),
    )
    post = claimed_post(stored.id, "bluesky", Content(text="first post"))
    assert isinstance(publisher.publish(post, stored, StubContext()), Published)
    assert bluesky.requests()["POST com.atproto.server.createSession"] == 1  # the connect's


def test_a_threads_token_too_young_to_refresh_stays_valid_with_a_warning(
    make_settings: SettingsFactory, sandbox: Sandbox
) -> None:
    account = connect(None, sandbox, "7001", "threads")  # issued just now
    expiring = Account(**{**vars(account), "token_expires_at": utcnow() + timedelta(days=20)})
    connector = default_registry(make_settings(**meta_env(sandbox))).connector("threads")
    assert connector is not None
    inspection = connector.inspect(expiring, utcnow())
    assert inspection.refreshed is None and inspection.health.valid
    problem = inspection.health.problem
    assert problem is not None and problem.kind == "expiring"
    assert "at least 24 hours old" in problem.message
