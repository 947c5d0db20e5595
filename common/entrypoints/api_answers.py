"""The api's answers: stored documents and use-case results written in the shapes of
common.entrypoints.api.shapes (the CLI prints the same shapes in both modes)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from common import schema
from common.apikeys import ApiKey, Created
from common.db import Doc
from common.entrypoints.api.shapes import accounts as account_shapes
from common.entrypoints.api.shapes import admin as admin_shapes
from common.entrypoints.api.shapes import bulk as bulk_shapes
from common.entrypoints.api.shapes import posts as post_shapes
from common.entrypoints.api.shapes import series as series_shapes
from common.model import Account
from common.operations.accounts import Connected
from common.operations.csv_import import Imported, RowPost
from common.operations.reconcile import ReconcileReport
from common.platforms.base import TokenHealth


def series_json(doc: Doc) -> Doc:
    """A stored series as the API shows it."""
    template = doc["template"]
    shown = series_shapes.Series(
        id=str(doc["_id"]),
        account_id=doc["accountId"],
        rule=doc["rule"],
        time_zone=doc["timeZone"],
        start=doc["start"],
        text=template.get("text") or "",
        link=template.get("link"),
        media=tuple(_template_media(m) for m in template.get("media") or ()),
        ended=bool(doc.get("ended")),
        made_until=doc.get("cursor"),
        ends_before=doc.get("endsBefore"),
        successor_id=_optional_id(doc.get("successorId")),
        predecessor_id=_optional_id(doc.get("predecessorId")),
        edit_pending=doc.get("successor") is not None,
    )
    return schema.dump(shown)


def _template_media(stored: Doc) -> post_shapes.PostMedia:
    alt = stored.get("alt") or None
    if stored.get("mediaId"):
        return post_shapes.MediaRef(media_id=stored["mediaId"], alt=alt)
    return post_shapes.MediaUrl(url=stored["url"], type=stored.get("type") or "image", alt=alt)


def _optional_id(value: object) -> str | None:
    return None if value is None else str(value)


def post_json(doc: Doc, follow_ups: Sequence[Doc] | None = None) -> Doc:
    """A stored post as the API shows it: no lease, no idempotency internals; `follow_ups`:
    the posts below it (one post read by id)."""
    content = doc.get("content") or {}
    error = doc.get("lastError")
    post = post_shapes.Post(
        id=str(doc["_id"]),
        account_id=doc["accountId"],
        platform=doc["platform"],
        status=doc["status"],
        version=int(doc.get("version", 1)),
        scheduled_at=doc["scheduledAt"],
        due_at=doc["dueAt"],
        content=post_shapes.PostContent(
            text=content.get("text") or "",
            link=content.get("link"),
            media=tuple(_shown_media(m) for m in content.get("media") or ()),
            content_warning=content.get("contentWarning"),
            visibility=content.get("visibility"),
        ),
        time_zone=doc.get("timeZone"),
        local_time=doc.get("localTime"),
        attempts=doc.get("attempts"),
        last_error=None if error is None else _last_error(error),
        platform_post_id=doc.get("platformPostId"),
        published_at=doc.get("publishedAt"),
        created_at=doc.get("createdAt"),
        updated_at=doc.get("updatedAt"),
        group_id=None if doc.get("groupId") is None else str(doc["groupId"]),
        review_comment=doc.get("reviewComment"),
        follow_up=_place(doc),
        follow_ups=None if follow_ups is None else tuple(_follow_up(d) for d in follow_ups),
    )
    return schema.dump(post)


def _place(doc: Doc) -> post_shapes.FollowUpPlace | None:
    if doc.get("parentId") is None:
        return None
    return post_shapes.FollowUpPlace(
        kind=doc.get("followUp", "thread"),
        part=int(doc.get("part", 1)),
        parent_id=str(doc["parentId"]),
        thread_root_id=str(doc["threadRootId"]),
    )


def _follow_up(doc: Doc) -> post_shapes.FollowUpShown:
    error = doc.get("lastError")
    return post_shapes.FollowUpShown(
        id=str(doc["_id"]),
        kind=doc.get("followUp", "thread"),
        part=int(doc.get("part", 1)),
        status=doc["status"],
        platform_post_id=doc.get("platformPostId"),
        last_error=None if error is None else _last_error(error),
    )


def _last_error(error: Doc) -> post_shapes.LastError:
    # Only these three fields leave the process; an older record may lack `at`.
    return post_shapes.LastError(
        code=error.get("code", ""), message=error.get("message", ""), at=error.get("at")
    )


def _shown_media(stored: Doc) -> post_shapes.MediaUrl | post_shapes.MediaRefShown:
    """An uploaded item shows its id, never the bucket's object name."""
    alt = stored.get("alt") or None
    if stored.get("mediaId"):
        return post_shapes.MediaRefShown(
            media_id=stored["mediaId"], type=stored.get("type"), alt=alt
        )
    return post_shapes.MediaUrl(url=stored["url"], type=stored.get("type", "image"), alt=alt)


def account_json(account: Account) -> Doc:
    shown = account_shapes.Account(
        id=account.id,
        platform=account.platform,  # type: ignore[arg-type]
        external_id=account.external_id,
        name=account.name,
        status=account.status,
        paused_until=account.paused_until,
        token_expires_at=account.token_expires_at,
    )
    return schema.dump(shown)


def health_json(health: TokenHealth) -> Doc:
    shown = account_shapes.TokenHealth(
        account_id=health.account_id,
        platform=health.platform,  # type: ignore[arg-type]
        valid=health.valid,
        expires_at=health.expires_at,
        problem=None if health.problem is None else health.problem.message,
    )
    return schema.dump(shown)


def reconcile_json(report: ReconcileReport) -> Doc:
    return schema.dump(bulk_shapes.ReconcileReport(**dataclasses.asdict(report)))


def connected_json(connected: Connected) -> Doc:
    rows = tuple(
        account_shapes.ConnectedAccount(
            id=a.account_id,
            platform=a.platform,  # type: ignore[arg-type]
            external_id=a.external_id,
            name=a.name,
            added=a.added,
            posts_released=a.posts_released,
        )
        for a in connected.accounts
    )
    return schema.dump(account_shapes.Connected(accounts=rows))


def import_json(result: Imported) -> Doc:
    """What an import did, row by row (the CLI prints the same shape in both modes)."""
    shown = bulk_shapes.Imported(
        imported=result.count,
        created=_rows(result.created),
        already_scheduled=_rows(result.already),
        updated=_rows(result.updated),
        warnings=tuple(
            bulk_shapes.RowWarning(line=w.line, id=str(w.post_id), message=w.message)
            for w in result.warnings
        ),
        not_changed=tuple(
            bulk_shapes.RowProblem(line=p.line, field=p.field, message=p.message)
            for p in result.not_changed
        ),
    )
    dumped: Doc = schema.dump(shown)
    return dumped


def _rows(found: Sequence[RowPost]) -> tuple[bulk_shapes.RowPost, ...]:
    return tuple(bulk_shapes.RowPost(line=r.line, id=str(r.post_id)) for r in found)


def lock_json(held: Doc | None, now: datetime) -> Doc:
    """The execution lock (scheduler_state's `lock`, or None when free) as the API shows it."""
    if not held:
        return schema.dump(admin_shapes.LockState(held=False))
    shown = admin_shapes.LockState(
        held=True,
        holder=held.get("holder"),
        acquired_at=held.get("acquiredAt"),
        expires_at=held["expiresAt"],
        expired=held["expiresAt"] < now,
    )
    return schema.dump(shown)


def key_json(key: ApiKey) -> Doc:
    """A key as it is kept: never its secret nor the secret's hash."""
    return schema.dump(admin_shapes.ApiKey(**_key_fields(key)))


def created_key_json(made: Created) -> Doc:
    """A new key with its secret: the one time it is shown."""
    warnings = tuple(
        f"no account {a} (yet): the key reaches it once it is connected"
        for a in made.unknown_accounts
    )
    return schema.dump(
        admin_shapes.CreatedKey(**_key_fields(made.key), key=made.secret, warnings=warnings)
    )


def _key_fields(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "scopes": tuple(sorted(key.scopes)),
        "accounts": key.accounts,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }
