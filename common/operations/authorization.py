"""Connecting accounts in a browser: send the person to the network, and take them back.

`begin` finds our app on the network (registering it on a Mastodon instance the first time),
keeps the flow (common.connect_flows) and answers the network's page to send the browser to.
`finish` takes the flow back once, in the session that began it, exchanges the code for a token
with the same redirect URI, and connects what the token grants through the generic use case
(accounts.connect: the network's Connector verifies it; an account already there is
re-authenticated and its held posts released).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from pymongo.database import Database

from common import connect_flows, oauth_clients
from common.connect_flows import Flow
from common.db import Doc
from common.operations import accounts as account_ops
from common.platforms.base import Connector, LoginRefused
from common.platforms.oauth import Authorizer, Callback, OAuthClient
from common.tokens import TokenCipher


@dataclass(frozen=True)
class Begun:
    url: str  # the network's page, with our client id, the redirect URI and the state


def begin(
    db: Database[Doc], cipher: TokenCipher, authorizer: Authorizer, flow: Flow, now: datetime
) -> Begun | LoginRefused:
    callback = Callback(flow.redirect_uri, flow.server)
    client = _client(db, cipher, authorizer, callback, now)
    if isinstance(client, LoginRefused):
        return client
    state = connect_flows.begin(db, flow, now)
    return Begun(authorizer.authorize_url(client, callback, state))


def finish(
    db: Database[Doc],
    cipher: TokenCipher,
    authorizer: Authorizer,
    connector: Connector,
    session: str,
    state: str,
    code: str,
    now: datetime,
) -> account_ops.Connected | LoginRefused:
    flow = connect_flows.take(db, state, authorizer.network, session, now)
    if flow is None:
        return LoginRefused(
            "this connection was not started here, was used, or expired: start again"
        )
    callback = Callback(flow.redirect_uri, flow.server)
    client = _client(db, cipher, authorizer, callback, now)
    if isinstance(client, LoginRefused):
        return client
    login = authorizer.exchange(client, callback, code)
    if isinstance(login, LoginRefused):
        return login
    if flow.pages is not None:
        login = replace(login, choose=flow.pages)
    return account_ops.connect(db, cipher, connector, login, now, flow.account_id)


def refuse(db: Database[Doc], network: str, session: str, state: str, now: datetime) -> None:
    """The person declined on the network's page: the flow ends unused."""
    connect_flows.take(db, state, network, session, now)


def _client(
    db: Database[Doc],
    cipher: TokenCipher,
    authorizer: Authorizer,
    callback: Callback,
    now: datetime,
) -> OAuthClient | LoginRefused:
    if not authorizer.registers:
        return authorizer.client()
    server, uri = callback.server or "", callback.redirect_uri
    known = oauth_clients.find(db, cipher, authorizer.network, server, uri)
    if known is not None:
        return known
    made = authorizer.register(server, uri)
    if not isinstance(made, LoginRefused):
        oauth_clients.keep(db, cipher, authorizer.network, server, uri, made, now)
    return made
