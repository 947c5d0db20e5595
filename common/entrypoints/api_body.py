"""The api function's request and answer shapes: JSON bodies and query strings into use-case
requests (unknown fields refused, every problem named), stored documents into answers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from common import model, posts
from common.accounts import Account
from common.clock import TimeError, require_aware
from common.db import Doc
from common.entrypoints import web
from common.operations.bulk import ItemProblem
from common.operations.post_actions import PostChanges
from common.operations.scheduling import PostRequest

MAX_BATCH = 1000
MAX_PAGE = 1000
DEFAULT_PAGE = 100
_TYPES: dict[str, tuple[type, ...]] = {
    "accountId": (str,),
    "scheduledAt": (str,),
    "timeZone": (str, type(None)),
    "text": (str,),
    "link": (str, type(None)),
    "media": (list,),
    "idempotencyKey": (str,),
    "allowLate": (bool,),
    "contentWarning": (str, type(None)),  # Mastodon
    "visibility": (str, type(None)),  # Mastodon
}
POST_FIELDS = frozenset(_TYPES)
CHANGE_FIELDS = frozenset({"scheduledAt", "timeZone", "text", "link", "media", "allowLate"})
MEDIA_FIELDS = frozenset({"url", "type", "alt"})  # alt: Bluesky, Mastodon, Threads
UPLOADED_MEDIA_FIELDS = frozenset({"mediaId", "alt"})  # an item of POST /v1/media
_SHOWN_POST_FIELDS = (
    "accountId",
    "platform",
    "status",
    "version",
    "scheduledAt",
    "timeZone",
    "localTime",
    "dueAt",
    "content",
    "attempts",
    "lastError",
    "platformPostId",
    "publishedAt",
    "createdAt",
    "updatedAt",
    "groupId",
)
LIST_PARAMS = frozenset({"status", "accountId", "dueAfter", "dueBefore", "cursor", "limit"})


@dataclass(frozen=True)
class ParsedCreate:
    single: bool  # the body was one post, not {"posts": [...]}
    requests: list[PostRequest]


def parse_create(body: Mapping[str, Any], header_key: str | None) -> ParsedCreate:
    """One post, or {"posts": [...]}; raise HttpError 400 naming every problem by item index."""
    single = "posts" not in body
    if not single and set(body) != {"posts"}:
        raise problems_error([ItemProblem(0, "posts", "a batch body has only the field posts")])
    items = [body] if single else body["posts"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise problems_error(
            [ItemProblem(0, "posts", f"posts is a list of 1 to {MAX_BATCH} posts")]
        )
    problems: list[ItemProblem] = []
    fingerprint = _fingerprint(body) if header_key is not None else None
    requests = []
    for index, item in enumerate(items):
        key = header_key if single or header_key is None else f"{header_key}#{index}"
        requests.append(_post_request(item, index, key, fingerprint, problems))
    if problems:
        raise problems_error(problems)
    return ParsedCreate(single, requests)


def _post_request(
    item: Any,
    index: int,
    header_key: str | None,
    fingerprint: str | None,
    problems: list[ItemProblem],
) -> PostRequest:
    if not isinstance(item, dict):
        problems.append(ItemProblem(index, "", "each post is a JSON object"))
        return PostRequest("", "")
    found = _field_problems(item, POST_FIELDS, ("accountId", "scheduledAt"))
    media = _media(item.get("media"), found)
    problems.extend(ItemProblem(index, field, message) for field, message in found)
    return PostRequest(
        account_id=_text(item, "accountId"),
        scheduled_at=_text(item, "scheduledAt"),
        time_zone=item.get("timeZone") if isinstance(item.get("timeZone"), str) else None,
        text=_text(item, "text"),
        link=item.get("link") if isinstance(item.get("link"), str) else None,
        media=media,
        idempotency_key=item.get("idempotencyKey", header_key),
        allow_late=item.get("allowLate") is True,
        request_hash=fingerprint,
        content_warning=_optional_text(item, "contentWarning"),
        visibility=_optional_text(item, "visibility"),
    )


def parse_changes(body: Mapping[str, Any]) -> PostChanges:
    found = _field_problems(body, CHANGE_FIELDS, ())
    if not set(body) & (CHANGE_FIELDS - {"allowLate"}):
        found.append(("", "give at least one of scheduledAt, text, link, media"))
    media = _media(body.get("media"), found) if "media" in body else None
    if found:
        raise problems_error([ItemProblem(0, field, message) for field, message in found])
    return PostChanges(
        text=body.get("text"),
        link=body.get("link"),
        media=media,
        scheduled_at=body.get("scheduledAt"),
        time_zone=body.get("timeZone"),
        allow_late=body.get("allowLate") is True,
    )


def parse_if_match(header: str | None) -> int:
    """The version in `If-Match: "3"` (the post's ETag); required for an edit."""
    if header is None:
        raise web.HttpError(428, 'If-Match is required: the post\'s ETag, e.g. "3"')
    raw = header.strip().removeprefix("W/").strip('"')
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise web.HttpError(400, 'If-Match must be a post version as its ETag shows it, e.g. "3"')
    return int(raw)


@dataclass(frozen=True)
class ConnectRequest:
    user_token: str
    pages: list[str] | None


MAX_USER_TOKEN = 4096


def parse_connect(body: Mapping[str, Any]) -> ConnectRequest:
    """`{"userToken": "...", "pages": ["<page id>", ...]}`; without pages, every Page."""
    found = [(name, "unknown field") for name in sorted(set(body) - {"userToken", "pages"})]
    token = body.get("userToken")
    if not isinstance(token, str) or not 0 < len(token) <= MAX_USER_TOKEN:
        found.append(("userToken", "userToken is the short-lived token of a Meta login"))
    pages = body.get("pages")
    if pages is not None and not (
        isinstance(pages, list) and pages and all(isinstance(p, str) and p for p in pages)
    ):
        found.append(("pages", "pages is a list of Page ids"))
    if found:
        raise problems_error([ItemProblem(0, field, message) for field, message in found])
    return ConnectRequest(str(token), pages)


@dataclass(frozen=True)
class ListQuery:
    where: posts.PostFilter
    after: tuple[datetime, ObjectId] | None
    limit: int


def parse_list_query(args: Mapping[str, str]) -> ListQuery:
    unknown = sorted(set(args) - LIST_PARAMS)
    if unknown:
        raise web.HttpError(400, f"Unknown query parameter(s): {', '.join(unknown)}"[:200])
    status = args.get("status")
    if status is not None and status not in model.STATUSES:
        raise web.HttpError(400, f"status must be one of {', '.join(model.STATUSES)}")
    where = posts.PostFilter(
        status=status,
        account_id=args.get("accountId"),
        due_after=_instant(args, "dueAfter"),
        due_before=_instant(args, "dueBefore"),
    )
    try:
        after = posts.parse_cursor(args["cursor"]) if "cursor" in args else None
    except ValueError as exc:
        raise web.HttpError(400, "cursor is not one this API gave") from exc
    return ListQuery(where, after, _limit(args.get("limit")))


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_PAGE):
        raise web.HttpError(400, f"limit is a whole number from 1 to {MAX_PAGE}")
    return int(raw)


def _instant(args: Mapping[str, str], name: str) -> datetime | None:
    raw = args.get(name)
    if raw is None:
        return None
    try:
        return require_aware(datetime.fromisoformat(raw), name)
    except (ValueError, TimeError) as exc:
        raise web.HttpError(400, f"{name} must be an RFC 3339 time with an offset") from exc


def post_json(doc: Doc) -> Doc:
    """A stored post as the API shows it: no lease, no idempotency internals."""
    shown = _SHOWN_POST_FIELDS
    answer: Doc = {"id": str(doc["_id"])}
    answer.update({name: doc[name] for name in shown if doc.get(name) is not None})
    if "lastError" in answer:
        answer["lastError"] = {k: answer["lastError"].get(k) for k in ("code", "message", "at")}
    if isinstance(answer.get("content"), dict) and answer["content"].get("media"):
        content = answer["content"]
        answer["content"] = {**content, "media": [_shown_media(m) for m in content["media"]]}
    return answer


def _shown_media(stored: Doc) -> Doc:
    """An uploaded item shows its id, never the bucket's object name."""
    if stored.get("mediaId"):
        return {k: stored[k] for k in ("mediaId", "type", "alt") if stored.get(k)}
    return stored


def account_json(account: Account) -> Doc:
    return {
        "id": account.id,
        "platform": account.platform,
        "externalId": account.external_id,
        "name": account.name,
        "status": account.status,
        "pausedUntil": account.paused_until,
        "tokenExpiresAt": account.token_expires_at,
    }


def _field_problems(
    item: Mapping[str, Any], known: frozenset[str], required: tuple[str, ...]
) -> list[tuple[str, str]]:
    found = [(name, "unknown field") for name in sorted(set(item) - known)]
    found += [(name, f"{name} is required") for name in required if name not in item]
    for name, value in item.items():
        if name in _TYPES and not isinstance(value, _TYPES[name]):
            found.append((name, f"{name} has the wrong type"))
    return found


def _media(raw: Any, found: list[tuple[str, str]]) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        return []
    items = []
    for index, entry in enumerate(raw):
        where = f"media[{index}]"
        item = _media_item(entry)
        if item is None:
            found.append((where, "media items have only url, type and alt, or mediaId and alt"))
            continue
        items.append(item)
    return items


def _media_item(entry: Any) -> dict[str, str] | None:
    """An uploaded item by id, or a URL; None when it is neither (or has other fields)."""
    if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
        return None
    if isinstance(entry.get("mediaId"), str):
        if set(entry) - UPLOADED_MEDIA_FIELDS:
            return None
        item = {"mediaId": entry["mediaId"]}
    elif isinstance(entry.get("url"), str) and not set(entry) - MEDIA_FIELDS:
        item = {"url": entry["url"], "type": entry.get("type", "image")}
    else:
        return None
    if entry.get("alt"):
        item["alt"] = entry["alt"]
    return item


def _optional_text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value if isinstance(value, str) else None


def _text(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    return value if isinstance(value, str) else ""


def _fingerprint(body: Mapping[str, Any]) -> str:
    # Key order and spacing do not make another request; any other difference does.
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def problems_error(problems: Sequence[ItemProblem]) -> web.HttpError:
    listed = [{"index": p.index, "field": p.field, "message": p.message} for p in problems]
    return web.HttpError(400, "Nothing was done; see problems", details={"problems": listed})
