"""The posts resource: create (one or a batch), list, read, edit, cancel, retry."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime

from bson import ObjectId
from flask import Response
from pymongo.database import Database

from common.db import Doc
from common.entrypoints import api_answers, api_body, post_refusals, web
from common.entrypoints.api.call import Call, RouteHandler, read_body, refuse_body
from common.entrypoints.api.shapes.posts import IDEMPOTENCY_HEADER
from common.operations import creating, post_actions, scheduling
from common.posts import listing, store

REPLAYED_HEADER = "Idempotent-Replayed"


def create_posts(call: Call) -> Response:
    """One post or a batch, all or nothing; an Idempotency-Key makes a retry answer the same."""
    body = read_body(call.request)
    key = call.request.headers.get(IDEMPOTENCY_HEADER)
    parsed = api_body.parse_create(body, key, call.caller.who)
    forbidden = sorted(
        {r.account_id for r in parsed.requests if not call.caller.may_use(r.account_id)}
    )
    if forbidden:
        raise web.HttpError(403, f"This credential may not post for {', '.join(forbidden)}"[:200])
    made = creating.schedule(call.db, parsed.requests, call.now, call.service.admission)
    results = _results(made)
    created = [r for r in results if isinstance(r, scheduling.Scheduled)]
    status = 201 if created or key is not None else 200
    call.audit("posts.create", [str(r.post_id) for r in created], status)
    replayed = key is not None and not created
    items = [_created_item(r, replayed_with_key=key is not None) for r in results]
    answer = items[0] if parsed.single else {"posts": items}
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    return web.json_response(answer, status, call.rid, headers=headers)


def _results(
    result: creating.BatchScheduled | creating.BatchRefused | scheduling.KeyReused,
) -> list[scheduling.Scheduled | scheduling.AlreadyScheduled]:
    if isinstance(result, creating.BatchRefused):
        raise api_body.problems_error(list(result.problems))
    if isinstance(result, scheduling.KeyReused):
        raise _key_reused()
    return list(result.results)


def _key_reused() -> web.HttpError:
    return web.HttpError(422, f"This {IDEMPOTENCY_HEADER} was used with a different request")


def _created_item(
    result: scheduling.Scheduled | scheduling.AlreadyScheduled, *, replayed_with_key: bool
) -> Doc:
    # A replay under an Idempotency-Key answers what the first request was answered.
    already = isinstance(result, scheduling.AlreadyScheduled) and not replayed_with_key
    looks_like = result.looks_like if isinstance(result, scheduling.Scheduled) else ()
    warnings = [
        {"code": "looks_like", "postId": str(n.other_id), "message": n.message()}
        for n in looks_like
    ]
    return {"id": str(result.post_id), "alreadyScheduled": already, "warnings": warnings}


def get_post(call: Call) -> Response:
    doc = listing.get_document(call.db, _post_id(call.path_id))
    if doc is None or not call.caller.may_use(str(doc["accountId"])):
        raise web.HttpError(404, "No such post")
    below = listing.follow_ups_of(call.db, doc["_id"]) if doc.get("hasFollowUps") else None
    return post_response(doc, call.rid, below)


def list_posts(call: Call) -> Response:
    query = api_body.parse_list_query(call.request.args)
    if query.where.account_id is not None and not call.caller.may_use(query.where.account_id):
        raise web.HttpError(403, "This credential may not read that account's posts")
    where = query.where
    if call.caller.accounts is not None:
        where = dataclasses.replace(where, accounts_allowed=call.caller.accounts)
    page = listing.list_page(call.db, where, query.after, query.limit)
    body = {"posts": [api_answers.post_json(d) for d in page.rows], "next": page.cursor}
    return web.json_response(body, 200, call.rid)


def edit_post(call: Call) -> Response:
    post_id = owned_post(call)
    version = api_body.parse_if_match(call.request.headers.get("If-Match"))
    changes = api_body.parse_changes(read_body(call.request))
    result = post_actions.edit_post(
        call.db,
        post_id,
        changes,
        call.now,
        call.service.admission,
        version=version,
    )
    if isinstance(result, scheduling.Invalid):
        raise api_body.invalid_error(result)
    return action_answer(call, post_id, result, "posts.edit")


ActionResult = post_actions.Done | post_actions.Refused


def post_action(
    action: Callable[[Database[Doc], ObjectId, datetime], ActionResult],
    name: str,
) -> RouteHandler:
    def handler(call: Call) -> Response:
        post_id = owned_post(call)
        refuse_body(call.request)
        return action_answer(call, post_id, action(call.db, post_id, call.now), name)

    return handler


def action_answer(call: Call, post_id: ObjectId, result: ActionResult, name: str) -> Response:
    """Every action, done or refused, is written to the audit log; done, it answers the post."""
    post_refusals.audited(call, name, post_id, result)
    doc = listing.get_document(call.db, post_id)
    assert doc is not None  # it was just acted on; posts are never deleted
    return post_response(doc, call.rid)


def owned_post(call: Call) -> ObjectId:
    """The path's post id, if this caller may touch it (otherwise it does not exist for them)."""
    post_id = _post_id(call.path_id)
    if call.caller.accounts is not None:
        post = store.get(call.db, post_id)
        if post is None or not call.caller.may_use(post.account_id):
            raise web.HttpError(404, "No such post")
    return post_id


def post_response(doc: Doc, rid: str, follow_ups: list[Doc] | None = None) -> Response:
    etag = {"ETag": f'"{int(doc.get("version", 1))}"'}
    return web.json_response(api_answers.post_json(doc, follow_ups), 200, rid, headers=etag)


def _post_id(raw: str) -> ObjectId:
    if not ObjectId.is_valid(raw):
        raise web.HttpError(404, "No such post")
    return ObjectId(raw)


HANDLERS: Mapping[str, RouteHandler] = {
    "create_posts": create_posts,
    "list_posts": list_posts,
    "get_post": get_post,
    "edit_post": edit_post,
    "cancel_post": post_action(post_actions.cancel_post, "posts.cancel"),
    "retry_post": post_action(post_actions.retry_post, "posts.retry"),
}
