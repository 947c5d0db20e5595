"""The schedule as lists: the calendar (month, week, list) and the posts awaiting approval."""

from __future__ import annotations

from datetime import date

from flask import Response

from common import accounts, model
from common.clock import TimeError, zone
from common.entrypoints import web
from common.entrypoints.webapp import calendar_grid
from common.entrypoints.webapp.context import MAX_ACCOUNTS, Ctx, route
from common.posts import listing

# A month of a busy schedule; more in one view is cut, and the page says so.
MONTH_LIMIT = 1000


@route("/", ["GET"], "read")
def home(ctx: Ctx) -> Response:
    return ctx.redirect("/calendar")


@route("/calendar", ["GET"], "read")
def calendar(ctx: Ctx) -> Response:
    args = ctx.request.args
    view = args.get("view", "month")
    if view not in calendar_grid.VIEWS:
        raise web.HttpError(400, "view is month, week or list")
    try:
        shown_zone = zone(args.get("tz") or ctx.settings.web_time_zone)
    except TimeError as exc:
        raise web.HttpError(400, str(exc)) from exc
    anchor = _day(args.get("at")) or ctx.now.astimezone(shown_zone).date()
    status = args.get("status") or None
    if status is not None and status not in model.STATUSES:
        raise web.HttpError(400, f"status is one of {', '.join(model.STATUSES)}")
    account = args.get("account") or None
    span = calendar_grid.period(view, anchor, shown_zone)
    where = listing.PostFilter(status, account, None, span.start_utc, span.end_utc)
    page = listing.list_page(ctx.db, where, None, MONTH_LIMIT)
    chips = calendar_grid.chips(page.rows, shown_zone)
    return ctx.page(
        "calendar.html",
        span=span,
        chips=chips,
        days=calendar_grid.by_day(chips),
        cut=page.after is not None,
        accounts=accounts.list_all(ctx.db, MAX_ACCOUNTS),
        statuses=model.STATUSES,
        words=calendar_grid.STATUS_WORDS,
        filters={"status": status or "", "account": account or "", "tz": shown_zone.key},
        today=ctx.now.astimezone(shown_zone).date(),
    )


def _day(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise web.HttpError(400, "at is a date, YYYY-MM-DD") from exc


# Posts awaiting approval, oldest due first: one page (status_dueAt_id serves it).
APPROVALS_LIMIT = 200


@route("/approvals", ["GET"], "read")
def approvals(ctx: Ctx) -> Response:
    where = listing.PostFilter(status="pending_approval")
    page = listing.list_page(ctx.db, where, None, APPROVALS_LIMIT)
    names = {a.id: a.name for a in accounts.list_all(ctx.db, MAX_ACCOUNTS)}
    return ctx.page(
        "approvals.html",
        waiting=page.rows,
        cut=page.after is not None,
        names=names,
        late={str(d["_id"]) for d in page.rows if d["dueAt"] < ctx.now},
    )
