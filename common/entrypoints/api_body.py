"""The api function's bodies: JSON bodies and query strings read with the shapes of
common.entrypoints.api.shapes into use-case requests (unknown fields refused, every problem
named), and the refusals that name those problems (common.entrypoints.api_answers writes the
answers)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from common import model, schema
from common.clock import TimeError, require_aware
from common.entrypoints import web
from common.entrypoints.api.shapes import accounts as account_shapes
from common.entrypoints.api.shapes import posts as post_shapes
from common.entrypoints.api.shapes import series as series_shapes
from common.operations.creating import ItemProblem
from common.operations.csv_import import ImportRefused
from common.operations.post_actions import PostChanges
from common.operations.scheduling import Invalid, PostRequest
from common.operations.series_split import SeriesChanges
from common.platforms.base import Login
from common.posts import listing
from common.schema import S

LIST_PARAMS = frozenset(p.name for p in post_shapes.LIST_PARAMS)


@dataclass(frozen=True)
class ParsedCreate:
    single: bool  # the body was one post, not {"posts": [...]}
    requests: list[PostRequest]


def parse_create(body: Mapping[str, Any], header_key: str | None, owner: str) -> ParsedCreate:
    """One post, or {"posts": [...]}; raise HttpError 400 naming every problem by item index.

    `owner` is the caller: their Idempotency-Key names this whole body (each item at its place),
    so the same key with another body, single or batch, meets what it made and is refused."""
    single = "posts" not in body
    if not single and set(body) != {"posts"}:
        raise problems_error([ItemProblem(0, "posts", "a batch body has only the field posts")])
    items = [body] if single else body["posts"]
    if not isinstance(items, list) or not 1 <= len(items) <= post_shapes.MAX_BATCH:
        raise problems_error(
            [ItemProblem(0, "posts", f"posts is a list of 1 to {post_shapes.MAX_BATCH} posts")]
        )
    problems: list[ItemProblem] = []
    fingerprint = _fingerprint(body) if header_key is not None else None
    requests = []
    for index, item in enumerate(items):
        post, found = schema.read(post_shapes.NewPost, item)
        problems.extend(ItemProblem(index, field, message) for field, message in found)
        if post is not None:
            requests.append(_post_request(post, header_key, fingerprint, owner, index))
    if problems:
        raise problems_error(problems)
    return ParsedCreate(single, requests)


def _post_request(
    post: post_shapes.NewPost,
    header_key: str | None,
    fingerprint: str | None,
    owner: str,
    index: int,
) -> PostRequest:
    # An item's own key names that item alone; the header's names the body, item by item.
    own_key = post.idempotency_key is not None
    return PostRequest(
        account_id=post.account_id,
        scheduled_at=post.scheduled_at,
        time_zone=post.time_zone,
        text=post.text,
        link=post.link,
        media=_media(post.media),
        idempotency_key=post.idempotency_key or header_key,
        allow_late=post.allow_late,
        request_hash=fingerprint,
        owner=owner,
        item=0 if own_key else index,
        content_warning=post.content_warning,
        visibility=post.visibility,
        stage=post.stage,
        first_comment=post.first_comment,
        thread=post.thread,
    )


def parse_changes(body: Mapping[str, Any]) -> PostChanges:
    changes, found = schema.read(post_shapes.PostChanges, body)
    if not set(body) & {"scheduledAt", "text", "link", "media"}:
        found.append(("", "give at least one of scheduledAt, text, link, media"))
    if changes is None or found:
        raise problems_error([ItemProblem(0, field, message) for field, message in found])
    return PostChanges(
        text=changes.text,
        link=changes.link,
        media=None if changes.media is None else _media(changes.media),
        scheduled_at=changes.scheduled_at,
        time_zone=changes.time_zone,
        allow_late=changes.allow_late,
    )


def parse_series(body: Mapping[str, Any]) -> tuple[PostRequest, str]:
    """A new series: its template as a post request (at its first local time) and its rule."""
    asked = parse(series_shapes.NewSeries, body)
    template = PostRequest(
        account_id=asked.account_id,
        scheduled_at=asked.start,
        time_zone=asked.time_zone,
        text=asked.text,
        link=asked.link,
        media=_media(asked.media),
    )
    return template, asked.rule


def parse_series_changes(body: Mapping[str, Any]) -> tuple[SeriesChanges, str | None]:
    """What "this and following" changes, and from which occurrence (None: the next)."""
    changes, found = schema.read(series_shapes.SeriesChanges, body)
    if not set(body) & {"text", "link", "media", "rule", "start"}:
        found.append(("", "give at least one of text, link, media, rule, start"))
    if changes is None or found:
        raise problems_error([ItemProblem(0, field, message) for field, message in found])
    asked = SeriesChanges(
        text=changes.text,
        link=changes.link,
        media=None if changes.media is None else _media(changes.media),
        rule=changes.rule,
        start=changes.start,
    )
    return asked, changes.since


def _media(items: Sequence[post_shapes.PostMedia]) -> list[dict[str, str]]:
    return [_media_item(m) for m in items]


def _media_item(item: post_shapes.PostMedia) -> dict[str, str]:
    # alt is kept only when given: networks without alt text never see the field.
    alt = {"alt": item.alt} if item.alt else {}
    if isinstance(item, post_shapes.MediaRef):
        return {"mediaId": item.media_id, **alt}
    return {"url": item.url, "type": item.type, **alt}


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
    network: str
    login: Login
    account_id: str | None


def parse_connect(body: Mapping[str, Any]) -> ConnectRequest:
    """A login of one network with that network's own fields (shapes.accounts.LOGIN_FIELDS); each
    Connector judges the login itself."""
    asked = parse(account_shapes.ConnectRequest, body)
    secret_field, others = account_shapes.LOGIN_FIELDS[asked.network]
    taken = {"network", "accountId", secret_field, *others}
    found = [
        ItemProblem(0, name, f"{name} is not a field of a {asked.network} login")
        for name in sorted(set(body) - taken)
    ]
    if secret_field not in body:
        found.append(ItemProblem(0, secret_field, f"{secret_field} is required"))
    if found:
        raise problems_error(found)
    login = Login(
        secret=body[secret_field],
        handle=asked.handle,
        server=asked.instance or asked.pds,
        choose=asked.pages,
    )
    return ConnectRequest(asked.network, login, asked.account_id)


def parse(shape: type[S], body: Mapping[str, Any]) -> S:
    """`body` as `shape`, or HttpError 400 naming every problem."""
    value, found = schema.read(shape, body)
    if value is None:
        raise problems_error([ItemProblem(0, field, message) for field, message in found])
    return value


@dataclass(frozen=True)
class ListQuery:
    where: listing.PostFilter
    after: tuple[datetime, ObjectId] | None
    limit: int


def parse_list_query(args: Mapping[str, str]) -> ListQuery:
    unknown = sorted(set(args) - LIST_PARAMS)
    if unknown:
        raise web.HttpError(400, f"Unknown query parameter(s): {', '.join(unknown)}"[:200])
    status = args.get("status")
    if status is not None and status not in model.STATUSES:
        raise web.HttpError(400, f"status must be one of {', '.join(model.STATUSES)}")
    where = listing.PostFilter(
        status=status,
        account_id=args.get("accountId"),
        due_after=_instant(args, "dueAfter"),
        due_before=_instant(args, "dueBefore"),
    )
    try:
        after = listing.parse_cursor(args["cursor"]) if "cursor" in args else None
    except ValueError as exc:
        raise web.HttpError(400, "cursor is not one this API gave") from exc
    return ListQuery(where, after, _limit(args.get("limit")))


def _limit(raw: str | None) -> int:
    if raw is None:
        return post_shapes.DEFAULT_PAGE
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= post_shapes.MAX_PAGE):
        raise web.HttpError(400, f"limit is a whole number from 1 to {post_shapes.MAX_PAGE}")
    return int(raw)


def _instant(args: Mapping[str, str], name: str) -> datetime | None:
    raw = args.get(name)
    if raw is None:
        return None
    try:
        return require_aware(datetime.fromisoformat(raw), name)
    except (ValueError, TimeError) as exc:
        raise web.HttpError(400, f"{name} must be an RFC 3339 time with an offset") from exc


def _fingerprint(body: Mapping[str, Any]) -> str:
    # Key order and spacing do not make another request; any other difference does.
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def invalid_error(invalid: Invalid) -> web.HttpError:
    """A use case's refusal of one post's fields."""
    return problems_error([ItemProblem(0, p.field, p.message) for p in invalid.problems])


def problems_error(problems: Sequence[ItemProblem]) -> web.HttpError:
    listed = [{"index": p.index, "field": p.field, "message": p.message} for p in problems]
    return web.HttpError(400, "Nothing was done; see problems", details={"problems": listed})


def rows_error(refused: ImportRefused) -> web.HttpError:
    """Nothing was imported: every problem, by line and CSV column."""
    listed = [{"line": p.line, "field": p.field, "message": p.message} for p in refused.problems]
    return web.HttpError(400, "Nothing was imported; see rows", details={"rows": listed})
