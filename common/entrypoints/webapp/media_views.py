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
    return api_media.upload_answer(made, ctx)


@route("/media/<media_id>/complete", ["POST"], "write")
def complete_upload(ctx: Ctx) -> Response:
    bucket = api_media.require_bucket(media_bucket(ctx.settings))
    done = media.complete_upload(ctx.db, bucket, ctx.args["media_id"], ctx.now)
    return api_media.completed_answer(done, ctx)
