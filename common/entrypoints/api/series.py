"""The series resource: recurring posts created (their first batch made at once), listed, read,
edited from an occurrence on, and ended."""

from __future__ import annotations

from collections.abc import Mapping

from bson import ObjectId
from bson.errors import InvalidId
from flask import Response

from common.db import Doc
from common.entrypoints import api_answers, api_body, web
from common.entrypoints.api.call import Call, RouteHandler, read_body, refuse_body
from common.entrypoints.api.shapes.series import MAX_LIST
from common.operations import scheduling, series_materialise, series_split
from common.operations import series as series_ops
from common.validation import Problem


def create_series(call: Call) -> Response:
    template, rule = api_body.parse_series(read_body(call.request))
    if not call.caller.may_use(template.account_id):
        raise web.HttpError(403, "This credential may not post for that account")
    made = series_ops.create_series(
        call.db, template, rule, call.now, call.service.admission.media_urls
    )
    if isinstance(made, scheduling.NoSuchAccount):
        raise api_body.invalid_error(no_account(made))
    if isinstance(made, scheduling.Invalid):
        raise api_body.invalid_error(made)
    series_materialise.materialise(call.db, made, call.now, max_lateness=call.settings.max_lateness)
    call.audit("series.create", [str(made)], 201)
    return web.json_response(api_answers.series_json(_stored(call, made)), 201, call.rid)


def no_account(missing: scheduling.NoSuchAccount) -> scheduling.Invalid:
    return scheduling.Invalid((Problem("accountId", f"no account {missing.account_id!r}"),))


def list_series(call: Call) -> Response:
    unknown = sorted(set(call.request.args) - {"accountId"})
    if unknown:
        raise web.HttpError(400, f"Unknown query parameter {unknown[0]!r}"[:200])
    account_id = call.request.args.get("accountId")
    if account_id is not None and not call.caller.may_use(account_id):
        raise web.HttpError(403, "This credential may not read that account's series")
    found = series_ops.list_series(call.db, account_id, MAX_LIST)
    shown = [api_answers.series_json(d) for d in found if call.caller.may_use(d["accountId"])]
    return web.json_response({"series": shown}, 200, call.rid)


def get_series(call: Call) -> Response:
    return web.json_response(api_answers.series_json(_owned(call)), 200, call.rid)


def edit_series(call: Call) -> Response:
    doc = _owned(call)
    changes, since = api_body.parse_series_changes(read_body(call.request))
    media_urls = call.service.admission.media_urls
    result = series_split.edit_following(
        call.db, doc, changes, call.now, since=since, media_urls=media_urls
    )
    if isinstance(result, series_ops.NoSuchSeries):
        raise web.HttpError(409, "The series has ended")
    if isinstance(result, scheduling.NoSuchAccount):
        raise web.HttpError(409, "The series' account is gone")
    if isinstance(result, scheduling.Invalid):
        raise api_body.invalid_error(result)
    call.audit("series.edit", [str(doc["_id"]), str(result.successor)], 200)
    split = {
        "seriesId": str(doc["_id"]),
        "successorId": str(result.successor),
        "since": result.at.isoformat(),
    }
    return web.json_response(split, 200, call.rid)


def end_series(call: Call) -> Response:
    doc = _owned(call)
    refuse_body(call.request)
    canceled = series_ops.end_series(call.db, doc["_id"], call.now)
    call.audit("series.end", [str(doc["_id"])], 200)
    body = {"seriesId": str(doc["_id"]), "canceled": canceled or 0}
    return web.json_response(body, 200, call.rid)


def _owned(call: Call) -> Doc:
    """The path's series, if this caller may see it (otherwise it does not exist for them)."""
    try:
        series_id = ObjectId(call.path_id)
    except InvalidId as exc:
        raise web.HttpError(404, "No such series") from exc
    doc = series_ops.get_series(call.db, series_id)
    if doc is None or not call.caller.may_use(doc["accountId"]):
        raise web.HttpError(404, "No such series")
    return doc


def _stored(call: Call, series_id: ObjectId) -> Doc:
    doc = series_ops.get_series(call.db, series_id)
    assert doc is not None  # just made; series are never deleted
    return doc


HANDLERS: Mapping[str, RouteHandler] = {
    "create_series": create_series,
    "list_series": list_series,
    "get_series": get_series,
    "edit_series": edit_series,
    "end_series": end_series,
}
