"""The api's media routes: POST /v1/media, POST /v1/media/{id}:complete, GET /v1/media/{id}.

Parsing and shaping only; the use cases are common.operations.media. A caller sees an item only
when it may use every account the item was uploaded for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common import schema
from common.db import Doc
from common.entrypoints import api_body, web
from common.entrypoints.api.shapes import media as media_shapes
from common.entrypoints.auth import Caller
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
