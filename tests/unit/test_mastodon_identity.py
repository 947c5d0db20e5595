"""A Mastodon instance is whatever server a person names: a connect must refuse, with a reason,
an instance whose verify_credentials answers something other than an account (it was a KeyError
or TypeError out of the connector, a 500 from the api), and an id that would put `/` or `:`
into the account id. The instance here is a small HTTP server in this process."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.fernet import Fernet

from common.config import load_settings
from common.platforms.base import Credential, Login, LoginRefused
from common.platforms.mastodon.client import MastodonClient
from common.platforms.mastodon.connector import MastodonConnector
from common.tokens import TokenCipher

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class Instance(ThreadingHTTPServer):
    """Answers every GET with `account` for verify_credentials, 404 for anything else (one
    server for the module: shutting one down waits for its half-second poll)."""

    account: object = None


class _Answer(BaseHTTPRequestHandler):
    server: Instance

    def do_GET(self) -> None:
        found = self.path == "/api/v1/accounts/verify_credentials"
        body = json.dumps(self.server.account if found else {"error": "Record not found"})
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def instance() -> Iterator[Instance]:
    server = Instance(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _verify(instance: Instance, account: object) -> object:
    instance.account = account
    settings = load_settings(
        {"MONGO_URI": "mongodb://127.0.0.1:1", "PRIVATE_ADDRESSES_ALLOWED": "on"}
    )
    client = MastodonClient(settings)
    cipher = TokenCipher((Fernet.generate_key().decode(),))
    url = f"http://127.0.0.1:{instance.server_address[1]}"
    try:
        connector = MastodonConnector(client, cipher, allow_private=True)
        return connector.verify(Login(secret="token", server=url), NOW)
    finally:
        client.close()


@pytest.mark.parametrize(
    "account", [{}, [], "ok", {"id": None}, {"id": True}, {"id": "1/2"}, {"id": "a:b"}]
)
def test_an_answer_that_is_not_an_account_refuses_the_login(
    instance: Instance, account: object
) -> None:
    refused = _verify(instance, account)
    assert refused == LoginRefused("the instance did not answer a Mastodon account for the token")


def test_an_account_answer_grants_that_account(instance: Instance) -> None:
    granted = _verify(instance, {"id": 109, "acct": "ada"})
    assert isinstance(granted, list)
    [credential] = granted
    assert isinstance(credential, Credential)
    port = instance.server_address[1]
    assert (credential.account_id, credential.name) == (f"masto-127.0.0.1-{port}-109", "ada")
