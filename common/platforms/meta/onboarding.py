"""Meta onboarding: from a user's short-lived login token to the Pages (and their linked
Instagram professional accounts) this app may publish for, with their Page tokens.

The short-lived token (about an hour) is exchanged for a long-lived one with the app secret,
server side only; Page tokens read with a long-lived user token do not expire
(shared/reference/meta-graph-api.md section 5). An Instagram professional account publishes
with its Page's token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from common.config import Settings
from common.platforms.base import RateLimited, Retryable
from common.platforms.meta.graph import GraphClient, GraphReply

PAGE_FIELDS = "id,name,access_token,instagram_business_account"
MAX_PAGES = 100  # one page of /me/accounts; more Pages than this are not listed


@dataclass(frozen=True)
class PageGrant:
    page_id: str
    name: str
    page_token: str
    instagram_id: str | None


@dataclass(frozen=True)
class OnboardingFailed:
    # refused: Meta turned the token down; unavailable: Meta could not be asked;
    # not_configured: META_APP_ID / META_APP_SECRET are missing.
    kind: Literal["refused", "unavailable", "not_configured"]
    reason: str


def pages_for(
    client: GraphClient, settings: Settings, short_token: str
) -> list[PageGrant] | OnboardingFailed:
    if not settings.meta_app_id or not settings.meta_app_secret:
        return OnboardingFailed("not_configured", "META_APP_ID and META_APP_SECRET are required")
    exchange = {
        "grant_type": "fb_exchange_token",
        "client_id": settings.meta_app_id,
        "client_secret": settings.meta_app_secret,
        "fb_exchange_token": short_token,
    }
    reply = client.call("GET", "oauth/access_token", "", exchange, idempotent=True)
    if not isinstance(reply, GraphReply):
        return _failed("the token exchange failed", reply)
    long_token = str(reply.body.get("access_token") or "")
    if not long_token:
        return OnboardingFailed("refused", "Meta answered the token exchange without a token")
    params = {"fields": PAGE_FIELDS, "limit": MAX_PAGES}
    listed = client.call("GET", "me/accounts", long_token, params, idempotent=True)
    if not isinstance(listed, GraphReply):
        return _failed("listing the Pages failed", listed)
    return [_grant(entry) for entry in listed.body.get("data") or () if _usable(entry)]


def _usable(entry: Any) -> bool:
    return isinstance(entry, dict) and bool(entry.get("id")) and bool(entry.get("access_token"))


def _grant(entry: dict[str, Any]) -> PageGrant:
    linked = entry.get("instagram_business_account")
    instagram = str(linked["id"]) if isinstance(linked, dict) and linked.get("id") else None
    name = str(entry.get("name") or entry["id"])
    return PageGrant(str(entry["id"]), name, str(entry["access_token"]), instagram)


def _failed(what: str, failure: object) -> OnboardingFailed:
    # The failure's text is already redacted by the client (tokens and the app secret).
    detail = getattr(failure, "reason", None) or getattr(failure, "message", "") or "no reason"
    kind: Literal["refused", "unavailable"] = (
        "unavailable" if isinstance(failure, Retryable | RateLimited) else "refused"
    )
    return OnboardingFailed(kind, f"{what}: {detail}")
