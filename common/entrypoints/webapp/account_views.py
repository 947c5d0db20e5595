"""Accounts (list, health, connect) and the scheduler's status, inside the app."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Response

from common import accounts, status, web_sessions
from common.connect_flows import Flow
from common.entrypoints import web
from common.entrypoints.status_page import chart_svg, plain_state, tone
from common.entrypoints.webapp.context import MAX_ACCOUNTS, Ctx, authorizers, networks, route
from common.entrypoints.webapp.signin import our_origin
from common.operations import accounts as account_ops
from common.operations import authorization
from common.platforms.base import Login, LoginRefused
from common.platforms.oauth import Authorizer
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
    return _connected(ctx, network, result)


# --- connecting in the browser: the network's own page, then back with a code ---------------

NETWORK_NAMES = {"meta": "Facebook and Instagram", "threads": "Threads", "mastodon": "Mastodon"}


@route("/accounts/oauth/<network>/start", ["POST"], "write")
def oauth_start(ctx: Ctx) -> Response:
    """Keep the flow and show the network's page to continue to. A page with a link, not a
    redirect: the Content-Security-Policy's form-action 'self' also binds a form's redirects."""
    network, authorizer = _authorizer(ctx)
    form = ctx.request.form
    if any(len(v) > MAX_FIELD for v in form.values()):
        raise web.HttpError(413, "A field is too long")
    server = form.get("server", "").strip().rstrip("/") or None
    if authorizer.registers and server is None:
        return _accounts(ctx, 422, refused={network: "give the instance's URL"})
    pages = tuple(p.strip() for p in form.get("pages", "").split(",") if p.strip()) or None
    flow = Flow(
        network,
        _session(ctx),
        _redirect_uri(ctx, network),
        server,
        form.get("accountId", "").strip() or None,
        pages,
    )
    begun = authorization.begin(ctx.db, _cipher(ctx), authorizer, flow, ctx.now)
    if isinstance(begun, LoginRefused):
        ctx.audit("accounts.connect", [], 503 if begun.unavailable else 422)
        return _accounts(ctx, 503 if begun.unavailable else 422, refused={network: begun.reason})
    host = urlsplit(begun.url).netloc
    return ctx.page("leaving.html", url=begun.url, host=host, network_name=NETWORK_NAMES[network])


@route("/accounts/oauth/<network>/callback", ["GET"], "write")
def oauth_callback(ctx: Ctx) -> Response:
    """The network sends the person back: the flow is taken once, for this member, and the
    code exchanged with the same redirect URI; then the generic connect use case."""
    network, authorizer = _authorizer(ctx)
    args = ctx.request.args
    state = args.get("state", "")
    if args.get("error") or not args.get("code"):
        authorization.refuse(ctx.db, network, _session(ctx), state, ctx.now)
        said = args.get("error_description") or args.get("error") or "no code came back"
        ctx.audit("accounts.connect", [], 422)
        return _accounts(ctx, 422, refused={network: f"not connected: {said[:200]}"})
    connector = networks(ctx.settings).connector(network)
    if connector is None:
        raise web.HttpError(503, f"{network} is not available on this deployment")
    result = authorization.finish(
        ctx.db, _cipher(ctx), authorizer, connector, _session(ctx), state, args["code"], ctx.now
    )
    return _connected(ctx, network, result)


def _session(ctx: Ctx) -> str:
    """The browser session a flow belongs to (its token's hash, as common.web_sessions keeps)."""
    return web_sessions.digest(ctx.member.token)


def _authorizer(ctx: Ctx) -> tuple[str, Authorizer]:
    network = ctx.args.get("network", "")
    authorizer = authorizers(ctx.settings).get(network)
    if authorizer is None:
        raise web.HttpError(404, "No browser sign-in for this network")
    return network, authorizer


def _redirect_uri(ctx: Ctx, network: str) -> str:
    """Exact, and the same at the start and at the exchange: this site's callback path."""
    return f"{our_origin(ctx.request, ctx.settings)}/accounts/oauth/{network}/callback"


def _connected(ctx: Ctx, network: str, result: account_ops.Connected | LoginRefused) -> Response:
    if isinstance(result, LoginRefused):
        code = 503 if result.unavailable else 422
        ctx.audit("accounts.connect", [], code)
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
