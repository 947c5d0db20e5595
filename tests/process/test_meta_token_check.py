"""What /debug_token says of a stored token, as a typed problem (sandbox Graph API over HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet

from common.accounts import Account
from common.clock import utcnow
from common.platforms.base import TokenProblem
from common.platforms.meta.graph import GraphClient
from common.platforms.meta.token_check import _health, inspect
from common.tokens import TokenCipher
from devstack.processes import free_port
from devstack.sandbox.control import Sandbox
from tests.conftest import SettingsFactory
from tests.meta_support import connect, meta_env

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_a_valid_page_token_has_no_problem_and_never_expires(
    make_settings: SettingsFactory, sandbox: Sandbox
) -> None:
    settings = make_settings(**meta_env(sandbox))
    account = connect(None, sandbox, "page-1")
    health = inspect(
        GraphClient(settings), settings, TokenCipher.from_settings(settings), account, utcnow()
    )
    assert (health.valid, health.expires_at, health.problem) == (True, None, None)


def test_an_invalid_token_is_the_invalid_kind(
    make_settings: SettingsFactory, sandbox: Sandbox
) -> None:
    settings = make_settings(**meta_env(sandbox))
    account = connect(None, sandbox, "page-1")
    sandbox.set_faults("page-1", invalid_token=True)
    health = inspect(
        GraphClient(settings), settings, TokenCipher.from_settings(settings), account, utcnow()
    )
    assert health.problem == TokenProblem("invalid", "token invalid (code 190/463)")
    assert health.to_dict()["problem"] == "token invalid (code 190/463)"


def test_a_key_that_cannot_open_the_token_and_an_unreachable_meta_are_not_invalid(
    make_settings: SettingsFactory, sandbox: Sandbox
) -> None:
    settings = make_settings(**meta_env(sandbox))
    account = connect(None, sandbox, "page-1")
    other_key = TokenCipher((Fernet.generate_key().decode(),))
    unopened = inspect(GraphClient(settings), settings, other_key, account, utcnow())
    assert unopened.problem is not None and unopened.problem.kind == "key_error"
    offline = make_settings(**meta_env(sandbox, META_GRAPH_URL=f"http://127.0.0.1:{free_port()}"))
    unasked = inspect(
        GraphClient(offline), offline, TokenCipher.from_settings(offline), account, utcnow()
    )
    assert unasked.problem is not None and unasked.problem.kind == "check_failed"
    assert str(unasked.problem).startswith("check failed: Retryable(")


def test_a_token_close_to_its_end_is_the_expiring_kind() -> None:
    account = Account("a", "facebook", "a", "a", "ciphertext")
    soon = int((NOW + timedelta(days=3)).timestamp())
    health = _health(account, {"is_valid": True, "expires_at": soon}, NOW)
    assert health.valid and health.problem is not None
    assert health.problem.kind == "expiring"
    assert str(health.problem).startswith("expires in 3 days")
    later = int((NOW + timedelta(days=40)).timestamp())
    assert _health(account, {"is_valid": True, "expires_at": later}, NOW).problem is None
