"""A post's review: a draft submitted, approved, or sent back to draft."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bson import ObjectId
from flask import Response
from pymongo.database import Database

from common.db import Doc
from common.entrypoints import api_body
from common.entrypoints.api.call import Call, RouteHandler, read_body
from common.entrypoints.api.posts import ActionResult, action_answer, owned_post, post_action
from common.entrypoints.api.shapes.review import SendBack
from common.operations import planning


def submit_post(call: Call) -> Response:
    return post_action(planning.submit_post, "posts.submit")(call)


def approve_post(call: Call) -> Response:
    """Approve: the lateness rule is the run's (MAX_LATENESS_SECONDS)."""
    admission = call.service.admission

    def approve(db: Database[Doc], post_id: ObjectId, now: datetime) -> ActionResult:
        return planning.approve_post(db, post_id, now, admission)

    return post_action(approve, "posts.approve")(call)


def send_back_post(call: Call) -> Response:
    post_id = owned_post(call)
    asked = api_body.parse(SendBack, read_body(call.request))
    result = planning.send_back_post(call.db, post_id, asked.comment, call.now)
    return action_answer(call, post_id, result, "posts.send_back")


HANDLERS: Mapping[str, RouteHandler] = {
    "submit_post": submit_post,
    "approve_post": approve_post,
    "send_back_post": send_back_post,
}
