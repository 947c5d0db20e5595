"""Our app on each Mastodon instance: registered once per instance and redirect URI, its
secret kept encrypted (common.tokens), so a second login on the instance reuses it."""

from __future__ import annotations

from datetime import datetime

from pymongo.database import Database

from common.db import OAUTH_CLIENTS, Doc
from common.platforms.oauth import OAuthClient
from common.tokens import TokenCipher


def _key(network: str, server: str, redirect_uri: str) -> str:
    return f"{network} {server.rstrip('/').lower()} {redirect_uri}"


def find(
    db: Database[Doc], cipher: TokenCipher, network: str, server: str, redirect_uri: str
) -> OAuthClient | None:
    doc = db[OAUTH_CLIENTS].find_one({"_id": _key(network, server, redirect_uri)})
    if doc is None:
        return None
    return OAuthClient(str(doc["clientId"]), cipher.decrypt(str(doc["secret"])))


def keep(
    db: Database[Doc],
    cipher: TokenCipher,
    network: str,
    server: str,
    redirect_uri: str,
    client: OAuthClient,
    now: datetime,
) -> None:
    db[OAUTH_CLIENTS].replace_one(
        {"_id": _key(network, server, redirect_uri)},
        {
            "clientId": client.client_id,
            "secret": cipher.encrypt(client.client_secret),
            "registeredAt": now,
        },
        upsert=True,
    )
