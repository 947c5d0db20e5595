"""Accounts (list, health, connect) and the scheduler's status, inside the app."""

from __future__ import annotations

from datetime import timedelta

from flask import Response

from common import accounts, status
from common.entrypoints import web
from common.entrypoints.status_page import chart_svg, plain_state
from common.entrypoints.webapp.context import MAX_ACCOUNTS, Ctx, route
from common.operations import accounts as account_ops

# A token that expires within this is shown with a warning, in time to re-authenticate.
EXPIRY_WARNING = timedelta(days=7)


@route("/accounts", ["GET"], "read")
def accounts_page(ctx: Ctx) -> Response:
    listed = accounts.list_all(ctx.db, MAX_ACCOUNTS)
    soon = ctx.now + EXPIRY_WARNING
    expiring = {
        a.id for a in listed if a.token_expires_at is not None and a.token_expires_at <= soon
    }
    return ctx.page("accounts.html", accounts=listed, expiring=expiring, health=None)


@route("/accounts/<account_id>/check", ["POST"], "write")
def check_account(ctx: Ctx) -> Response:
    account_id = ctx.args["account_id"]
    if accounts.get(ctx.db, account_id) is None:
        raise web.HttpError(404, "No such account")
    health = account_ops.check_tokens(ctx.db, ctx.settings, ctx.now, only=[account_id])[0]
    ctx.audit("accounts.check", [account_id], 200)
    listed = accounts.list_all(ctx.db, MAX_ACCOUNTS)
    return ctx.page("accounts.html", accounts=listed, expiring=set(), health=health)


@route("/status", ["GET"], "read")
def status_page(ctx: Ctx) -> Response:
    report = status.report(ctx.settings, ctx.db, ctx.now)
    return ctx.page(
        "status.html", report=report, state=plain_state(report), chart=chart_svg(report.history_24h)
    )
