"""Accounts (list, health, connect) and the scheduler's status, inside the app."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Response

from common import accounts, status
from common.entrypoints import web
from common.entrypoints.status_page import chart_svg, plain_state, tone
from common.entrypoints.webapp.context import MAX_ACCOUNTS, Ctx, networks, route
from common.operations import accounts as account_ops
from common.platforms.base import Login, LoginRefused
from common.tokens import TokenCipher, TokenKeyError

# A token that expires within this is shown with a warning, in time to re-authenticate.
EXPIRY_WARNING = timedelta(days=7)


@route("/accounts", ["GET"], "read")
def accounts_page(ctx: Ctx) -> Response:
    return _accounts(ctx, 200)


@route("/accounts/<account_id>/check", ["POST"], "write")
def check_account(ctx: Ctx) -> Response:
    account_id = ctx.args["account_id"]
    if accounts.get(ctx.db, account_id) is None:
        raise web.HttpError(404, "No such account")
    cipher, registry = _cipher(ctx), networks(ctx.settings)
    health = account_ops.check_tokens(ctx.db, cipher, registry, ctx.now, only=[account_id])[0]
    ctx.audit("accounts.check", [account_id], 200)
    return _accounts(ctx, 200, health=health)


NETWORKS = ("meta", "threads", "mastodon", "bluesky")
MAX_FIELD = 4096


@route("/accounts/connect", ["POST"], "write")
def connect(ctx: Ctx) -> Response:
    """Connect (or re-authenticate) the accounts a login grants, through the network's own
    connector; a refusal is shown beside the network's form, the secret never echoed."""
    form = ctx.request.form
    network = form.get("network", "")
    if network not in NETWORKS:
        raise web.HttpError(400, f"network is one of {', '.join(NETWORKS)}")
    if any(len(v) > MAX_FIELD for v in form.values()):
        raise web.HttpError(413, "A field is too long")
    connector = networks(ctx.settings).connector(network)
    if connector is None:
        raise web.HttpError(503, f"{network} is not available on this deployment")
    login = Login(
        secret=form.get("secret", "").strip(),
        handle=form.get("handle", "").strip() or None,
        server=form.get("server", "").strip() or None,
        choose=tuple(p.strip() for p in form.get("pages", "").split(",") if p.strip()) or None,
    )
    wanted = form.get("accountId", "").strip() or None
    result = account_ops.connect(ctx.db, _cipher(ctx), connector, login, ctx.now, wanted)
    if isinstance(result, LoginRefused):
        ctx.audit("accounts.connect", [], 503 if result.unavailable else 422)
        code = 503 if result.unavailable else 422
        return _accounts(ctx, code, refused={network: result.reason})
    ids = [a.account_id for a in result.accounts]
    ctx.audit("accounts.connect", ids, 200)
    return _accounts(ctx, 200, connected=result.accounts)


def _cipher(ctx: Ctx) -> TokenCipher:
    try:
        return TokenCipher.from_settings(ctx.settings)
    except TokenKeyError as exc:
        raise web.HttpError(503, "Token encryption is not configured on the server") from exc


def _accounts(ctx: Ctx, code: int, **shown: Any) -> Response:
    listed = accounts.list_all(ctx.db, MAX_ACCOUNTS)
    soon = ctx.now + EXPIRY_WARNING
    expiring = {
        a.id for a in listed if a.token_expires_at is not None and a.token_expires_at <= soon
    }
    values: dict[str, Any] = {"health": None, "refused": {}, "connected": (), **shown}
    return ctx.page("accounts.html", code, accounts=listed, expiring=expiring, **values)


@route("/status", ["GET"], "read")
def status_page(ctx: Ctx) -> Response:
    report = status.report(ctx.settings, ctx.db, ctx.now, name_accounts=True)
    state = plain_state(report.to_dict())
    return ctx.page(
        "status.html",
        report=report,
        state=state,
        tone=tone(state),
        chart=chart_svg(report.history_24h),
    )
