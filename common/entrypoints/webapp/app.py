"""The web function's flow: static files, routing, the signed-in visitor, pages and refusals.

Every page carries a strict Content-Security-Policy (scripts and styles only from this origin,
no inline script), and every route names the power it needs (read, write, manage), checked
here, on the server, before its view runs; a change also passes the CSRF check.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from flask import Request, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pymongo.database import Database
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from common.clock import utcnow
from common.config import Settings, load_settings
from common.db import Doc, ensure_indexes, get_database
from common.entrypoints import web
from common.entrypoints.instance import Lazy
from common.entrypoints.serve import serve
from common.entrypoints.webapp import (  # the views register their routes on import
    account_views,  # noqa: F401
    assets,
    calendar_views,  # noqa: F401
    compose_views,  # noqa: F401
    media_views,  # noqa: F401
    people_views,  # noqa: F401
    post_views,  # noqa: F401
    series_views,  # noqa: F401
    signin,
)
from common.entrypoints.webapp.assets import Assets
from common.entrypoints.webapp.context import ROUTES, URLS, Ctx, WebService
from common.entrypoints.webapp.oidc import Oidc
from common.entrypoints.webapp.signin import SignInNeededError
from common.operations.admission import deployment_admission
from common.storage import GOOGLE_STORAGE_ENDPOINT

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_BODY_BYTES = 256 * 1024  # a composed post with its media list; uploads go to the bucket
SECURITY_HEADERS = {
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Strict-Transport-Security": "max-age=31536000",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def build_service(settings: Settings, db: Database[Doc] | None = None) -> WebService:
    """The instance's service; `db` defaults to the process-wide client's database."""
    pages = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    loaded = assets.load()
    pages.globals["asset"] = loaded.url
    database = get_database(settings) if db is None else db
    sign_in = Oidc(settings) if settings.oidc_enabled else None
    policy = content_security_policy(settings)
    admission = deployment_admission(settings)
    return WebService(settings, pages, loaded, database, sign_in, policy, admission)


def lazy_service() -> Lazy[WebService]:
    def build() -> WebService:
        service = build_service(load_settings())
        ensure_indexes(service.db)
        return service

    return Lazy(build)


def web_request(request: Request, service: Lazy[WebService]) -> Response:
    return serve(request, _handle, service)


def content_security_policy(settings: Settings) -> str:
    """Scripts, styles and requests from this origin only, and (to PUT uploads) the bucket's."""
    upload = ""
    if settings.media_bucket:
        host = settings.storage_emulator_host or GOOGLE_STORAGE_ENDPOINT
        upload = " " + "/".join(host.split("/")[:3])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
        f"connect-src 'self'{upload}; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    )


def _handle(request: Request, rid: str, service: WebService) -> Response:
    response = _answer(request, rid, service)
    response.headers.setdefault("Content-Security-Policy", service.policy)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _answer(request: Request, rid: str, service: WebService) -> Response:
    if request.path.startswith("/assets/"):
        return _static(request, rid, service.assets)
    now = utcnow()
    ctx = Ctx(request, rid, service, now, None)
    try:
        endpoint, args = URLS.bind_to_environ(request.environ).match()
        chosen = ROUTES[str(endpoint)]
        db = service.db
        if chosen.power is None:
            ctx.visitor = signin.current(request, db, now)
        else:
            ctx.visitor = signin.require(request, db, service.settings, now, chosen.power)
        ctx.args = {k: str(v) for k, v in args.items()}
        return chosen.view(ctx)
    except SignInNeededError:
        if request.method in signin.SAFE_METHODS:
            return ctx.redirect("/signin")
        return _refusal(ctx, 401, "Sign in first (your session ended)")
    except web.HttpError as exc:
        return _refusal(ctx, exc.status, exc.message, exc.headers)
    except (NotFound, MethodNotAllowed) as exc:
        return _refusal(ctx, exc.code or 404, exc.name)
    except HTTPException as exc:
        if exc.code is not None and exc.code < 500:
            return _refusal(ctx, exc.code, exc.name)
        raise


def _refusal(
    ctx: Ctx, status: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A refusal as a page for people (JSON for programs), never with internals."""
    if not web.wants_html(ctx.request):
        return web.error_response(status, message, ctx.rid, headers)
    response = ctx.page("error.html", status, status=status, message=message)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _static(request: Request, rid: str, loaded: Assets) -> Response:
    asset = loaded.by_path.get(request.path)
    if asset is None:
        raise web.HttpError(404, "No such file")
    if request.method not in signin.SAFE_METHODS:
        raise web.HttpError(405, "Method not allowed", {"Allow": "GET, HEAD"})
    body = asset.body
    headers = {"Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        body, headers["Content-Encoding"] = asset.gzipped, "gzip"
    response = Response(body, 200, mimetype=asset.mimetype, headers=headers)
    response.headers["Cache-Control"] = assets.LONG_CACHE
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers[web.REQUEST_ID_HEADER] = rid
    return response
