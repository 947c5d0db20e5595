"""A Mastodon instance or a Bluesky PDS is whatever server a person names: a connect must
refuse, with a reason, a server whose answer to the login is not an account or a session (it was
a KeyError or TypeError out of the connector, a 500 from the api), and an id that would put `/`
or `:` into the account id. The server here is a small HTTP server in this process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.fernet import Fernet

from common.config import load_settings
from common.platforms.base import Connector, Credential, Login, LoginRefused
from common.platforms.bluesky.connector import BlueskyConnector
from common.platforms.bluesky.sessions import SessionKeeper
from common.platforms.bluesky.xrpc import XrpcClient
from common.platforms.mastodon.client import MastodonClient
from common.platforms.mastodon.connector import MastodonConnector
from common.tokens import TokenCipher
from tests.local_http import serving

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
LOGIN_PATHS = (
    "/api/v1/accounts/verify_credentials",  # Mastodon
    "/xrpc/com.atproto.server.createSession",  # Bluesky
)
SETTINGS = load_settings({"MONGO_URI": "mongodb://127.0.0.1:1", "PRIVATE_ADDRESSES_ALLOWED": "on"})
CIPHER = TokenCipher((Fernet.generate_key().decode(),))
MASTODON_REFUSAL = "the instance did not answer a Mastodon account for the token"


class NamedServer(ThreadingHTTPServer):
    """Answers a login with `answer`, anything else with 404."""

    answer: object = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Answer(BaseHTTPRequestHandler):
    server: NamedServer

    def do_GET(self) -> None:
        found = self.path in LOGIN_PATHS
        body = json.dumps(self.server.answer if found else {"error": "NotFound"})
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    do_POST = do_GET  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[NamedServer]:
    named = NamedServer(("127.0.0.1", 0), _Answer)
    with serving(named):
        yield named


def _mastodon_login(server: NamedServer, answer: object) -> object:
    client = MastodonClient(SETTINGS)
    try:
        return _verify(server, answer, MastodonConnector(client, CIPHER, allow_private=True))
    finally:
        client.close()


def _bluesky_login(server: NamedServer, answer: object) -> object:
    client = XrpcClient(SETTINGS)
    sessions = SessionKeeper(client, CIPHER, _no_save, lambda: NOW)
    connector = BlueskyConnector(client, sessions, CIPHER, allow_private=True)
    try:
        return _verify(server, answer, connector, handle="ada.test")
    finally:
        client.close()


def _no_save(account_id: str, session_ciphertext: str) -> None:
    raise AssertionError("a connect stores nothing before the login is verified")


def _verify(
    server: NamedServer, answer: object, connector: Connector, handle: str | None = None
) -> object:
    server.answer = answer
    login = Login(secret="abcd-efgh-ijkl-mnop", handle=handle, server=server.url)
    return connector.verify(login, NOW)


@pytest.mark.parametrize(
    "answer", [{}, [], "ok", {"id": None}, {"id": True}, {"id": "1/2"}, {"id": "a:b"}]
)
def test_a_mastodon_answer_that_is_not_an_account_refuses_the_login(
    server: NamedServer, answer: object
) -> None:
    assert _mastodon_login(server, answer) == LoginRefused(MASTODON_REFUSAL)


def test_a_mastodon_account_answer_grants_that_account(server: NamedServer) -> None:
    granted = _mastodon_login(server, {"id": 109, "acct": "ada"})
    assert isinstance(granted, list)
    [credential] = granted
    assert isinstance(credential, Credential)
    port = server.server_address[1]
    assert (credential.account_id, credential.name) == (f"masto-127.0.0.1-{port}-109", "ada")


TOKENS = {"accessJwt": "a.b.c", "refreshJwt": "d.e.f"}


@pytest.mark.parametrize(
    ("answer", "missing"),
    [
        ({}, "a DID"),
        ({**TOKENS, "did": "did:web:example.com/x"}, "a DID"),
        ({**TOKENS, "did": 7}, "a DID"),
        ({"did": "did:plc:abc"}, "the session's tokens"),
        ({"did": "did:plc:abc", "accessJwt": "a.b.c", "refreshJwt": None}, "the session's tokens"),
    ],
)
def test_a_pds_answer_without_a_session_refuses_the_login(
    server: NamedServer, answer: object, missing: str
) -> None:
    refused = _bluesky_login(server, answer)
    assert isinstance(refused, LoginRefused)
    assert refused.reason.endswith(f"the PDS answered without {missing}"), refused.reason
    assert refused.unavailable  # a server's glitch: try again, or name another server


def test_a_pds_session_answer_grants_its_account(server: NamedServer) -> None:
    granted = _bluesky_login(server, {**TOKENS, "did": "did:plc:abc", "handle": "ada.test"})
    assert isinstance(granted, list)
    [credential] = granted
    assert isinstance(credential, Credential)
    assert (credential.account_id, credential.name) == ("bsky-plc-abc", "ada.test")
