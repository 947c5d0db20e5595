"""Account connections under way in a browser: what the callback needs, named by the state.

The state sent to the network is a random 256-bit value; only its sha256 is stored, with the
browser session that started the flow (named by its own hash), the exact redirect URI and what
was asked for. The callback takes the flow once (find-and-delete), only in the same session and
before it expires, so a state from another session, a reused one or an old one connects
nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.database import Database

from common.db import CONNECT_FLOWS, Doc

LIFETIME = timedelta(minutes=10)


@dataclass(frozen=True)
class Flow:
    network: str
    session: str  # the session that began it (common.web_sessions.digest of its token)
    redirect_uri: str
    server: str | None = None  # the Mastodon instance
    account_id: str | None = None  # the id asked for (one account per login)
    pages: tuple[str, ...] | None = None  # Meta: the Pages to connect (None: every one)


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def begin(db: Database[Doc], flow: Flow, now: datetime) -> str:
    """Store the flow; returns its state, for the network to send back."""
    state = secrets.token_urlsafe(32)
    db[CONNECT_FLOWS].insert_one(
        {
            "_id": _digest(state),
            "network": flow.network,
            "session": flow.session,
            "redirectUri": flow.redirect_uri,
            "server": flow.server,
            "accountId": flow.account_id,
            "pages": None if flow.pages is None else list(flow.pages),
            "expireAt": now + LIFETIME,
        }
    )
    return state


def take(db: Database[Doc], state: str, network: str, session: str, now: datetime) -> Flow | None:
    """The flow this state names, removed: once, in its session, before it expires."""
    if not state or len(state) > 100:
        return None
    doc = db[CONNECT_FLOWS].find_one_and_delete(
        {"_id": _digest(state), "network": network, "session": session, "expireAt": {"$gt": now}}
    )
    if doc is None:
        return None
    pages = doc.get("pages")
    return Flow(
        network,
        session,
        str(doc["redirectUri"]),
        doc.get("server"),
        doc.get("accountId"),
        None if pages is None else tuple(str(p) for p in pages),
    )
