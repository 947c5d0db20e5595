"""A post's proof for people: what happened to it, when, by whom, and how its outcome is known.

Built from the post's own times (created, send begun, outcome) and the audit trail's entries
that name it (who created, moved, retried or canceled it, through the API or this app).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.entrypoints.webapp.calendar_grid import shown_status

ACTION_WORDS = {
    "posts.create": "created",
    "posts.edit": "edited",
    "posts.move": "moved",
    "posts.cancel": "canceled",
    "posts.retry": "retry asked",
    "posts.look": "looked for on the network",
    "posts.submit": "submitted for approval",
    "posts.approve": "approved",
    "posts.send_back": "sent back to draft",
    "posts.permalink": "permalink read from the network",
}


@dataclass(frozen=True)
class Event:
    at: datetime
    what: str
    detail: str = ""


def timeline(post: Mapping[str, Any], trail: Iterable[Mapping[str, Any]]) -> list[Event]:
    events = [Event(post["createdAt"], "created")]
    for entry in trail:
        words = ACTION_WORDS.get(str(entry.get("action")), str(entry.get("action")))
        refused = "" if int(entry.get("status", 200)) < 300 else f" (refused, {entry['status']})"
        events.append(Event(entry["at"], f"{words}{refused}", f"by {entry.get('who', '?')}"))
    if post.get("sendStartedAt") is not None:
        events.append(Event(post["sendStartedAt"], "sent", "the network was asked to publish"))
    events.extend(_outcome(post))
    return sorted(events, key=lambda e: e.at)


def _outcome(post: Mapping[str, Any]) -> list[Event]:
    status = shown_status(post)
    error = post.get("lastError") or {}
    if status == "published" and post.get("publishedAt") is not None:
        return [Event(post["publishedAt"], "published", f"id {post.get('platformPostId', '?')}")]
    if error.get("at") is not None:
        what = {"failed": "failed", "unknown": "outcome unclear", "held": "held"}.get(
            status, "will try again"
        )
        return [Event(error["at"], what, f"{error.get('code', '')}: {error.get('message', '')}")]
    return []


def how_established(post: Mapping[str, Any]) -> str:
    """In words: the network's answer, or a read-back after an unclear answer."""
    status = shown_status(post)
    if status == "published":
        if post.get("establishedBy") == "readback":
            return "Found on the network by a read-back after an unclear answer."
        return "The network answered the publish request with the post's id."
    if status == "unknown":
        return (
            "The network's answer was unclear (it may or may not have published). It is never "
            "sent again blindly: look again to read the network back."
        )
    if status == "failed":
        return "The network refused it, or every attempt was used; retry to send it again."
    return "Not published yet."
