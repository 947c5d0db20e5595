"""Uploads from the composer: the browser asks for an upload (POST /media, JSON), PUTs the
bytes straight to the resumable Cloud Storage session it is given, then completes it
(POST /media/<id>/complete); the same use cases as the api's /v1/media, called directly."""

from __future__ import annotations

from flask import Response

from common.entrypoints import api_media, web
from common.entrypoints.webapp import signin
from common.entrypoints.webapp.context import Ctx, media_bucket, route
from common.operations import media

MAX_BODY_BYTES = 4096


@route("/media", ["POST"], "write")
def create_upload(ctx: Ctx) -> Response:
    body = web.read_json_object(ctx.request, MAX_BODY_BYTES) or {}
    request = api_media.parse_upload(body)
    bucket = api_media.require_bucket(media_bucket(ctx.settings))
    # The session admits the browser's PUT from this app's origin only (Cloud Storage's CORS).
    origin = signin.our_origin(ctx.request, ctx.settings)
    made = media.create_upload(ctx.db, bucket, request, ctx.member.who, ctx.now, origin)
    if isinstance(made, media.MediaRefused):
        raise api_media.refusal(made)
    status = 201 if made.upload_url else 200
    ctx.audit("media.create", [made.item.id], status)
    answer = {"media": api_media.media_json(made.item), "uploadUrl": made.upload_url}
    return web.json_response(answer, status, ctx.rid)


@route("/media/<media_id>/complete", ["POST"], "write")
def complete_upload(ctx: Ctx) -> Response:
    bucket = api_media.require_bucket(media_bucket(ctx.settings))
    done = media.complete_upload(ctx.db, bucket, ctx.args["media_id"], ctx.now)
    if isinstance(done, media.MediaRefused):
        raise api_media.refusal(done)
    ctx.audit("media.complete", [done.id], 200)
    return web.json_response({"media": api_media.media_json(done)}, 200, ctx.rid)
