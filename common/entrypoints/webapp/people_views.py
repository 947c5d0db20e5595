"""Signing in and out, and the members admins manage."""

from __future__ import annotations

from flask import Response

from common import members, web_sessions
from common.entrypoints import web
from common.entrypoints.webapp import oidc, signin
from common.entrypoints.webapp.context import Ctx, route

MAX_EMAIL = 254


@route("/signin", ["GET"], None)
def signin_page(ctx: Ctx) -> Response:
    if ctx.visitor is not None:
        return ctx.redirect("/calendar")
    return ctx.page("signin.html", problem=None)


@route("/signin/key", ["POST"], None)
def key_signin(ctx: Ctx) -> Response:
    """The API-key sign-in: the admin key (the first admin) or an API key (its scopes' role)."""
    signin.check_origin(ctx.request, ctx.settings, required=True)
    signin.throttle(ctx.request, ctx.db, ctx.settings, ctx.now)
    found = signin.key_identity(ctx.db, ctx.settings, ctx.request.form.get("key", ""), ctx.now)
    if found is None:
        ctx.audit("web.signin", [], 401)
        return ctx.page("signin.html", 401, problem="That key is not valid.")
    who, role = found
    token, session = signin.open_session(ctx.db, ctx.settings, who, role, ctx.now)
    ctx.visitor = signin.Visitor(token, session)
    ctx.audit("web.signin", [], 200)
    ctx.cookies.append(signin.session_cookie(token, ctx.settings.web_session_hours * 3600))
    return ctx.redirect("/calendar")


@route("/signin/oidc", ["GET"], None)
def oidc_begin(ctx: Ctx) -> Response:
    """Off to the provider (Google), with this sign-in's secrets kept server-side."""
    if ctx.service.oidc is None:
        raise web.HttpError(404, "Google Sign-In is not configured here")
    signin.throttle(ctx.request, ctx.db, ctx.settings, ctx.now)
    url, token = ctx.service.oidc.begin(ctx.db, ctx.now)
    ctx.cookies.append(oidc.flow_cookie(token, int(oidc.FLOW_LIFETIME.total_seconds())))
    return ctx.redirect(url)


@route(oidc.CALLBACK_PATH, ["GET"], None)
def oidc_callback(ctx: Ctx) -> Response:
    if ctx.service.oidc is None:
        raise web.HttpError(404, "Google Sign-In is not configured here")
    flow = ctx.request.cookies.get(oidc.FLOW_COOKIE, "")
    ctx.cookies.append(oidc.flow_cookie("", 0))
    result = ctx.service.oidc.finish(ctx.db, flow, ctx.request.args, ctx.now)
    if isinstance(result, oidc.Refused):
        ctx.audit("web.signin", [], 401)
        return ctx.page("signin.html", 401, problem=f"Not signed in: {result.reason}.")
    member = members.get(ctx.db, result.email)
    if member is None:
        ctx.audit("web.signin", [f"member:{members.normalise(result.email)}"], 403)
        problem = f"{result.email} is not a member here; ask an admin to add you."
        return ctx.page("signin.html", 403, problem=problem)
    who = f"member:{member.email}"
    token, session = signin.open_session(ctx.db, ctx.settings, who, member.role, ctx.now)
    ctx.visitor = signin.Visitor(token, session)
    ctx.audit("web.signin", [who], 200)
    ctx.cookies.append(signin.session_cookie(token, ctx.settings.web_session_hours * 3600))
    return ctx.redirect("/calendar")


@route("/signout", ["POST"], "read")
def signout(ctx: Ctx) -> Response:
    web_sessions.end(ctx.db, ctx.member.token)
    ctx.audit("web.signout", [], 200)
    ctx.cookies.append(signin.cleared_cookie())
    return ctx.redirect("/signin")


@route("/members", ["GET"], "manage")
def members_page(ctx: Ctx) -> Response:
    return ctx.page("members.html", people=members.list_all(ctx.db), roles=members.ROLES)


@route("/members", ["POST"], "manage")
def put_member(ctx: Ctx) -> Response:
    email = members.normalise(ctx.request.form.get("email", ""))
    role = members.parse_role(ctx.request.form.get("role", ""))
    if not 3 <= len(email) <= MAX_EMAIL or "@" not in email:
        raise web.HttpError(400, "Give the member's e-mail address")
    if role is None:
        raise web.HttpError(400, f"The role is one of {', '.join(members.ROLES)}")
    members.put(ctx.db, email, role, ctx.member.who, ctx.now)
    # A changed role takes effect now: the member signs in again with it.
    web_sessions.end_all_of(ctx.db, f"member:{email}")
    ctx.audit("members.put", [f"member:{email}"], 200)
    return ctx.redirect("/members")


@route("/members/remove", ["POST"], "manage")
def remove_member(ctx: Ctx) -> Response:
    email = members.normalise(ctx.request.form.get("email", ""))
    if not members.remove(ctx.db, email):
        raise web.HttpError(404, "No such member")
    web_sessions.end_all_of(ctx.db, f"member:{email}")
    ctx.audit("members.remove", [f"member:{email}"], 200)
    return ctx.redirect("/members")
