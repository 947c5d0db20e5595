"""What the Facebook and Instagram adapters share: opening the token and finding a post again.

Finding a post again reads the account's recent items (Page posts, Instagram media), newest
first, page by page back to the moment the send started. Meta does not declare `since` on a
Page's `published_posts`, so only paging reaches back there; a busy Page (or one other tools
post to) can push our post below the first page, and missing it would make a retry a duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from common.model import Post
from common.platforms.base import Outcome, Published
from common.platforms.credentials import ReadBackError
from common.platforms.meta.graph import GraphClient, GraphReply

# Meta's clock and ours differ a little, and the send starts a moment before Meta records it.
CLOCK_SKEW = timedelta(minutes=2)
# Meta's usual largest `limit`; ten such pages bound the read (and its calls) on any Page.
PAGE_SIZE = 100
MAX_PAGES = 10
log = logging.getLogger(__name__)


def read_back_since(post: Post) -> datetime:
    """The earliest moment a send of this post can have reached the platform."""
    started = post.send_started_at or post.due_at
    return started - CLOCK_SKEW


@dataclass(frozen=True)
class RecentEdge:
    """An account's list of published items, newest first, as Meta names its fields."""

    name: str
    text_field: str
    time_field: str
    declares_since: bool  # Meta declares `since` on Instagram media, not on published_posts
    order: str | None = None  # asked for when the edge's default order is not newest first

    @property
    def fields(self) -> str:
        return f"id,{self.text_field},{self.time_field}"


PAGE_POSTS = RecentEdge("published_posts", "message", "created_time", declares_since=False)
IG_MEDIA = RecentEdge("media", "caption", "timestamp", declares_since=True)
THREADS_POSTS = RecentEdge("threads", "text", "timestamp", declares_since=True)
# A Threads profile's replies (its thread parts and first comments) are not among its threads.
THREADS_REPLIES = RecentEdge("replies", "text", "timestamp", declares_since=True)


@dataclass(frozen=True)
class _Page:
    items: Sequence[Mapping[str, Any]]
    after: str | None  # the cursor of the next page; None on the last one


def find_recent(
    client: GraphClient,
    token: str,
    owner: str,
    edge: RecentEdge,
    text: str,
    since: datetime,
    *,
    page_size: int = PAGE_SIZE,
    max_pages: int = MAX_PAGES,
) -> str | None:
    """The id of the oldest item with exactly this text created after `since`.

    None for empty text (an empty caption matches too much to prove anything) and when the
    pages read reach back past `since` without a match. Raises ReadBackError when a read fails,
    or when `max_pages` ran out before reaching `since` with nothing found: not having looked
    far enough back proves nothing.
    """
    wanted = text.strip()
    if not wanted:
        return None
    matches: list[tuple[datetime, str]] = []
    after: str | None = None
    for _ in range(max_pages):
        page = _read_page(client, token, owner, edge, since, page_size, after)
        matches += _matching(page.items, edge, wanted, since)
        if page.after is None or _reaches_back_to(page.items, edge, since):
            return min(matches)[1] if matches else None
        after = page.after
    if matches:
        return min(matches)[1]
    raise ReadBackError(f"{edge.name}: {max_pages} pages did not reach back to the send")


def _read_page(
    client: GraphClient,
    token: str,
    owner: str,
    edge: RecentEdge,
    since: datetime,
    page_size: int,
    after: str | None,
) -> _Page:
    # The cursor, not `paging.next`: Meta's next URL carries the token in its query, and the
    # client keeps the pinned version and the appsecret_proof on every call.
    params: dict[str, Any] = {"fields": edge.fields, "limit": page_size, "after": after}
    if edge.declares_since:
        params["since"] = int(since.timestamp())
    if edge.order is not None:
        params["order"] = edge.order
    reply = reply_or_raise(
        client.call("GET", f"{owner}/{edge.name}", token, params, idempotent=True)
    )
    data = reply.body.get("data")
    items = [i for i in data if isinstance(i, dict)] if isinstance(data, list) else []
    paging = reply.body.get("paging") or {}
    cursor = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
    return _Page(items, str(cursor) if cursor else None)


def _matching(
    items: Sequence[Mapping[str, Any]], edge: RecentEdge, wanted: str, since: datetime
) -> list[tuple[datetime, str]]:
    matches = []
    for item in items:
        created = parse_meta_time(item.get(edge.time_field))
        if created is None or created < since:
            continue
        if str(item.get(edge.text_field) or "").strip() == wanted:
            matches.append((created, str(item["id"])))
    return matches


def _reaches_back_to(items: Sequence[Mapping[str, Any]], edge: RecentEdge, since: datetime) -> bool:
    """True once the page holds an item older than `since` (items come newest first)."""
    times = (parse_meta_time(item.get(edge.time_field)) for item in items)
    return any(created is not None and created < since for created in times)


def parse_meta_time(raw: object) -> datetime | None:
    """Graph timestamps look like 2026-11-28T17:23:00+0000."""
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def reply_or_raise(reply: GraphReply | Outcome) -> GraphReply:
    """For read-backs: a failed read proves nothing, so it must not look like 'not found'."""
    if isinstance(reply, GraphReply):
        return reply
    raise ReadBackError(f"platform read failed: {type(reply).__name__}")


def found(platform_post_id: str | None) -> Published | None:
    return None if platform_post_id is None else Published(platform_post_id)
