"""The api's media routes: POST /v1/media, POST /v1/media/{id}:complete, GET /v1/media/{id},
and the web app's composer uploads (the same requests and answers).

Parsing and shaping only; the use cases are common.operations.media. A caller sees an item only
when it may use every account the item was uploaded for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response

from common import schema
from common.db import Doc
from common.entrypoints import api_body, web
from common.entrypoints.api.shapes import media as media_shapes
from common.entrypoints.auth import Caller
from common.entrypoints.request_scope import RequestScope
from common.media_records import MediaItem, Variant
from common.operations import media
from common.storage import MediaBucket

_STATUS = {"invalid": 422, "not_found": 404, "forbidden": 403, "not_uploaded": 409}


def parse_upload(body: Mapping[str, Any]) -> media.UploadRequest:
    asked = api_body.parse(media_shapes.MediaUpload, body)
    return media.UploadRequest(
        account_ids=asked.account_ids,
        media_type=asked.media_type,
        size=asked.size,
        sha256=asked.sha256.lower(),
        filename=asked.filename,
    )


def refusal(refused: media.MediaRefused) -> web.HttpError:
    return web.HttpError(_STATUS[refused.kind], refused.reason)


def upload_answer(made: media.Upload | media.MediaRefused, scope: RequestScope) -> Response:
    """201 with the resumable session to PUT the bytes to, or 200 with the item that already
    holds the same bytes for the same accounts; audited."""
    if isinstance(made, media.MediaRefused):
        raise refusal(made)
    status = 201 if made.upload_url else 200
    scope.audit("media.create", [made.item.id], status)
    answer = {"media": media_json(made.item), "uploadUrl": made.upload_url}
    return web.json_response(answer, status, scope.rid)


def completed_answer(done: MediaItem | media.MediaRefused, scope: RequestScope) -> Response:
    """The item settled by its completion (ready or rejected, with its problems); audited."""
    if isinstance(done, media.MediaRefused):
        raise refusal(done)
    scope.audit("media.complete", [done.id], 200)
    return web.json_response({"media": media_json(done)}, 200, scope.rid)


def visible(item: MediaItem | None, caller: Caller) -> MediaItem:
    if item is None or not all(caller.may_use(a) for a in item.account_ids):
        raise web.HttpError(404, "No such media")
    return item


def require_bucket(bucket: MediaBucket | None) -> MediaBucket:
    if bucket is None:
        raise web.HttpError(503, "Media uploads are not configured on this deployment")
    return bucket


def media_json(item: MediaItem) -> Doc:
    facts = item.facts
    shown = media_shapes.Media(
        id=item.id,
        state=item.state,
        account_ids=item.account_ids,
        sha256=item.sha256,
        filename=item.filename,
        media_type=facts.mime if facts else item.declared_type,
        kind=facts.kind if facts else None,
        bytes=facts.bytes if facts else item.declared_bytes,
        width=facts.width if facts else None,
        height=facts.height if facts else None,
        duration_seconds=facts.duration_seconds if facts else None,
        codec=facts.codec if facts else None,
        fps=facts.fps if facts else None,
        problems=tuple(
            media_shapes.MediaProblem(rule=p.rule, message=p.message) for p in item.problems
        ),
        variants={purpose: _variant(v) for purpose, v in item.variants.items()},
        created_at=item.created_at,
    )
    return schema.dump(shown)


def _variant(variant: Variant) -> media_shapes.MediaVariant:
    facts = variant.facts
    return media_shapes.MediaVariant(
        media_type=facts.mime,
        bytes=facts.bytes,
        quality=variant.quality,
        width=facts.width,
        height=facts.height,
        duration_seconds=facts.duration_seconds,
        codec=facts.codec,
        fps=facts.fps,
    )
