"""The api's media routes: POST /v1/media, POST /v1/media/{id}:complete, GET /v1/media/{id}.

Parsing and shaping only; the use cases are common.operations.media. A caller sees an item only
when it may use every account the item was uploaded for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.db import Doc
from common.entrypoints import web
from common.entrypoints.auth import Caller
from common.media_records import MediaItem
from common.media_rules import MediaFacts
from common.operations import media
from common.storage import MediaBucket

CREATE_FIELDS = frozenset({"accountIds", "mediaType", "size", "sha256", "filename"})
_STATUS = {"invalid": 422, "not_found": 404, "forbidden": 403, "not_uploaded": 409}


def parse_upload(body: Mapping[str, Any]) -> media.UploadRequest:
    problems = [f"{name}: unknown field" for name in sorted(set(body) - CREATE_FIELDS)]
    ids = body.get("accountIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        problems.append("accountIds: a non-empty list of account ids")
        ids = []
    media_type, size, sha256 = body.get("mediaType"), body.get("size"), body.get("sha256")
    if not isinstance(media_type, str):
        problems.append("mediaType: required, e.g. image/jpeg")
    if not isinstance(size, int) or isinstance(size, bool):
        problems.append("size: required, the file's length in bytes")
    if not isinstance(sha256, str):
        problems.append("sha256: required, the file's SHA-256 in hex")
    filename = body.get("filename")
    if filename is not None and not isinstance(filename, str):
        problems.append("filename: a string")
    if problems:
        raise web.HttpError(422, "; ".join(problems)[:500])
    return media.UploadRequest(
        account_ids=tuple(ids),
        media_type=str(media_type),
        size=int(str(size)),
        sha256=str(sha256).lower(),
        filename=filename,
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
    answer: Doc = {
        "id": item.id,
        "state": item.state,
        "accountIds": list(item.account_ids),
        "sha256": item.sha256,
        "filename": item.filename,
        "mediaType": facts.mime if facts else item.declared_type,
        "kind": facts.kind if facts else None,
        "bytes": facts.bytes if facts else item.declared_bytes,
        **_facts_json(facts),
        "problems": [{"rule": p.rule, "message": p.message} for p in item.problems],
        "variants": {
            purpose: {"mediaType": v.facts.mime, "bytes": v.facts.bytes, "quality": v.quality}
            | _facts_json(v.facts)
            for purpose, v in item.variants.items()
        },
        "createdAt": item.created_at,
    }
    return answer


def _facts_json(facts: MediaFacts | None) -> Doc:
    if facts is None:
        return {"width": None, "height": None, "durationSeconds": None, "codec": None}
    return {
        "width": facts.width,
        "height": facts.height,
        "durationSeconds": facts.duration_seconds,
        "codec": facts.codec,
        "fps": facts.fps,
    }
