"""The Graph client against real sockets: a refused connection, and the sandbox's strictness."""

from __future__ import annotations

import requests

from common.config import Settings
from common.platforms.base import Ambiguous, Permanent, Retryable
from common.platforms.meta.graph import GraphClient
from devstack.processes import free_port
from devstack.sandbox.control import Sandbox
from tests.conftest import SettingsFactory
from tests.meta_support import connect, meta_env, token_for


def test_a_refused_connection_is_retryable_even_for_a_send(make_settings: SettingsFactory) -> None:
    settings: Settings = make_settings(META_GRAPH_URL=f"http://127.0.0.1:{free_port()}")
    client = GraphClient(settings)
    for idempotent in (True, False):
        outcome = client.call("POST", "1/feed", "tok", {"message": "x"}, idempotent=idempotent)
        assert isinstance(outcome, Retryable)
    assert not isinstance(outcome, Ambiguous)


def test_the_sandbox_refuses_a_parameter_meta_does_not_declare_for_the_edge(
    make_settings: SettingsFactory, sandbox: Sandbox
) -> None:
    connect(None, sandbox, "page-1")
    # `since` is declared on Instagram media, not on a Page's published_posts.
    answer = requests.get(
        f"{sandbox.url}/v25.0/page-1/published_posts",
        params={"fields": "id,message", "since": "1700000000"},
        headers={"Authorization": f"Bearer {token_for('page-1')}"},
        timeout=10,
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["message"], error["type"], error["code"]) == (
        "(#100) Param since is not a valid parameter",
        "OAuthException",
        100,
    )
    client = GraphClient(make_settings(**meta_env(sandbox)))
    token = token_for("page-1")
    misspelt = client.call("POST", "page-1/feed", token, {"mesage": "hi"}, idempotent=False)
    assert misspelt == Permanent("meta_100", "(#100) Param mesage is not a valid parameter")
    assert sandbox.posts() == []
