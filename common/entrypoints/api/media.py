"""The media resource: an upload started, completed, read."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Response

from common.entrypoints import api_media, web
from common.entrypoints.api.call import Call, RouteHandler, read_body, refuse_body
from common.operations import media


def create_media(call: Call) -> Response:
    """An upload: 201 with the resumable session to PUT the bytes to, or 200 with the item that
    already holds the same bytes for the same accounts."""
    request = api_media.parse_upload(read_body(call.request))
    forbidden = sorted(a for a in request.account_ids if not call.caller.may_use(a))
    if forbidden:
        raise web.HttpError(403, f"This credential may not use {', '.join(forbidden)}"[:200])
    bucket = api_media.require_bucket(call.service.bucket)
    origin = call.request.headers.get("Origin")
    made = media.create_upload(call.db, bucket, request, call.caller.who, call.now, origin)
    return api_media.upload_answer(made, call)


def complete_media(call: Call) -> Response:
    item = api_media.visible(media.get_media(call.db, call.path_id), call.caller)
    refuse_body(call.request)
    bucket = api_media.require_bucket(call.service.bucket)
    done = media.complete_upload(call.db, bucket, item, call.now)
    return api_media.completed_answer(done, call)


def get_media(call: Call) -> Response:
    item = api_media.visible(media.get_media(call.db, call.path_id), call.caller)
    return web.json_response({"media": api_media.media_json(item)}, 200, call.rid)


def sweep_media(call: Call) -> Response:
    """The daily sweep, now (the CLI's `media sweep`, remotely)."""
    refuse_body(call.request)
    bucket = api_media.require_bucket(call.service.bucket)
    report = media.sweep_as_configured(call.db, bucket, call.settings, call.now)
    call.audit("media.sweep", [], 200)
    return web.json_response(report.to_json(), 200, call.rid)


HANDLERS: Mapping[str, RouteHandler] = {
    "create_media": create_media,
    "get_media": get_media,
    "complete_media": complete_media,
    "sweep_media": sweep_media,
}
