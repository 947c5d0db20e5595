"""Recurring posts (series): the list, and ending one (its unsent occurrences are canceled)."""

from __future__ import annotations

from bson import ObjectId
from flask import Response

from common import accounts
from common.entrypoints import web
from common.entrypoints.webapp.context import MAX_ACCOUNTS, Ctx, route
from common.operations import series as series_ops

LISTED = 100


@route("/series", ["GET"], "read")
def series_page(ctx: Ctx) -> Response:
    names = {a.id: a.name for a in accounts.list_all(ctx.db, MAX_ACCOUNTS)}
    found = series_ops.list_series(ctx.db, limit=LISTED)
    return ctx.page("series.html", series=found, names=names, cut=len(found) == LISTED)


@route("/series/<series_id>/end", ["POST"], "write")
def end_series(ctx: Ctx) -> Response:
    raw = ctx.args.get("series_id", "")
    if not ObjectId.is_valid(raw):
        raise web.HttpError(404, "No such series")
    canceled = series_ops.end_series(ctx.db, ObjectId(raw), ctx.now)
    if canceled is None:
        ctx.audit("series.end", [raw], 404)
        raise web.HttpError(404, "No such series")
    ctx.audit("series.end", [raw], 200)
    return ctx.redirect("/series")
