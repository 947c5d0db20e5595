"""What the Facebook and Instagram adapters share: opening the token and finding a post again."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from common.accounts import Account
from common.platforms.base import Outcome, Published, RateLimited
from common.platforms.meta.graph import GraphClient, GraphReply
from common.posts import Post
from common.tokens import TokenCipher, TokenKeyError

# Meta's clock and ours differ a little, and the send starts a moment before Meta records it.
CLOCK_SKEW = timedelta(minutes=2)
READ_BACK_LIMIT = 25
log = logging.getLogger(__name__)
# A missing or wrong encryption key is a deployment problem; look again after this long.
KEY_PROBLEM_RETRY = timedelta(minutes=5)


class ReadBackError(RuntimeError):
    """The platform could not be asked; the post's fate is still unknown (try again later)."""


def open_token(cipher: TokenCipher, account: Account, now: datetime) -> str | Outcome:
    """The plaintext token, or a deferral when the configured keys cannot give it.

    A missing key, or one that does not open the stored token, is a deployment problem (a key
    rotated out too early, the wrong secret version), not the account's: marking the account
    for re-authentication would outlive the fix. The post waits, no attempt spent, and the
    error is logged until the operator restores the key.
    """
    try:
        return cipher.decrypt(account.token)
    except TokenKeyError as exc:
        log.error(
            "token cannot be decrypted; posts wait",
            extra={"accountId": account.id, "reason": str(exc)},
        )
        return RateLimited(now + KEY_PROBLEM_RETRY, str(exc))


def read_back_since(post: Post) -> datetime:
    """The earliest moment a send of this post can have reached the platform."""
    started = post.send_started_at or post.due_at
    return started - CLOCK_SKEW


def parse_meta_time(raw: object) -> datetime | None:
    """Graph timestamps look like 2026-11-28T17:23:00+0000."""
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def match_recent(
    items: Iterable[Mapping[str, Any]], text_field: str, time_field: str, text: str, since: datetime
) -> str | None:
    """The oldest item with exactly this text created after `since` (None for empty text:
    an empty caption matches too much to prove anything)."""
    wanted = text.strip()
    if not wanted:
        return None
    candidates = []
    for item in items:
        created = parse_meta_time(item.get(time_field))
        if created is None or created < since:
            continue
        if str(item.get(text_field) or "").strip() == wanted:
            candidates.append((created, str(item["id"])))
    return min(candidates)[1] if candidates else None


def read_recent(
    client: GraphClient, token: str, edge: str, fields: str, since: datetime
) -> GraphReply | Outcome:
    """One page of an account's recent items (page posts, Instagram media) created since."""
    params = {"fields": fields, "since": int(since.timestamp()), "limit": READ_BACK_LIMIT}
    return client.call("GET", edge, token, params, idempotent=True)


def reply_or_raise(reply: GraphReply | Outcome) -> GraphReply:
    """For read-backs: a failed read proves nothing, so it must not look like 'not found'."""
    if isinstance(reply, GraphReply):
        return reply
    raise ReadBackError(f"platform read failed: {type(reply).__name__}")


def found(platform_post_id: str | None) -> Published | None:
    return None if platform_post_id is None else Published(platform_post_id)
