"""`socialsched accounts check`: inspect every stored token and record what Meta says of it."""

from __future__ import annotations

from datetime import datetime

from pymongo.database import Database

from common import accounts
from common.config import Settings
from common.db import Doc
from common.platforms.meta.graph import GraphClient
from common.platforms.meta.token_check import TokenHealth, inspect
from common.tokens import TokenCipher


def check_all(db: Database[Doc], settings: Settings, now: datetime) -> list[TokenHealth]:
    """Inspect every account; an invalid token sets the account to needs_reauth."""
    client = GraphClient(settings)
    cipher = TokenCipher.from_settings(settings)
    try:
        results = [inspect(client, settings, cipher, a, now) for a in accounts.list_all(db)]
    finally:
        client.close()
    for health in results:
        if health.problem is not None and health.problem.kind == "invalid":
            accounts.mark_needs_reauth(db, health.account_id, now)
        if health.valid and health.expires_at is not None:
            accounts.set_token_expiry(db, health.account_id, health.expires_at, now)
    return results
