"""What every view works with: the per-instance service, one request's context, and the route
table the views register themselves in (each route names the power it needs)."""

from __future__ import annotations

import functools
import gzip
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Request, Response
from jinja2 import Environment
from pymongo.database import Database
from werkzeug.routing import Map, Rule

from common.config import Settings
from common.db import Doc
from common.entrypoints import web
from common.entrypoints.request_scope import RequestScope
from common.entrypoints.webapp.assets import Assets
from common.entrypoints.webapp.oidc import Oidc
from common.entrypoints.webapp.signin import Visitor
from common.members import Power
from common.operations.admission import Admission
from common.platforms.base import Registry
from common.platforms.oauth import Authorizer
from common.platforms.registry import default_authorizers, default_registry, permalink_reader
from common.storage import MediaBucket, storage_config

if TYPE_CHECKING:  # the network modules load on first use (cold start)
    from common.platforms.meta.permalink import PermalinkReader

MAX_ACCOUNTS = 500  # one page lists them all; a deployment has tens


@functools.cache
def media_bucket(settings: Settings) -> MediaBucket | None:
    """The media bucket's client, made on the instance's first upload; None without one."""
    config = storage_config(settings)
    return MediaBucket(config) if config else None


@functools.cache
def networks(settings: Settings) -> Registry:
    """The instance's clients of every network, made on first use and kept.

    Raises TokenKeyError when TOKEN_ENCRYPTION_KEY holds a malformed key."""
    return default_registry(settings)


@functools.cache
def authorizers(settings: Settings) -> Mapping[str, Authorizer]:
    """The browser flows that connect accounts, by network, made on first use and kept."""
    return default_authorizers(settings)


@functools.cache
def permalinks(settings: Settings) -> PermalinkReader:
    """Instagram's and Threads' permalink reads, made on first use and kept.

    Raises TokenKeyError when TOKEN_ENCRYPTION_KEY holds a malformed key."""
    return permalink_reader(settings)


@dataclass(frozen=True)
class WebService:
    settings: Settings
    pages: Environment
    assets: Assets
    db: Database[Doc]
    oidc: Oidc | None  # None: Google Sign-In is not configured
    policy: str  # the Content-Security-Policy of every answer
    admission: Admission  # how posts are let in (lateness, media URLs, tasks for posts due soon)


@dataclass
class Ctx(RequestScope):
    """One request as a view sees it."""

    request: Request
    rid: str
    service: WebService
    now: datetime
    visitor: Visitor | None
    args: Mapping[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)  # Set-Cookie values to send

    @property
    def who(self) -> str:
        return self.visitor.who if self.visitor else "anonymous"

    @property
    def member(self) -> Visitor:
        assert self.visitor is not None  # the route needs a power, so require() found one
        return self.visitor

    def page(self, template: str, code: int = 200, **values: Any) -> Response:
        html = self.service.pages.get_template(template).render(
            visitor=self.visitor,
            csrf=self.visitor.session.csrf if self.visitor else "",
            oidc=self.settings.oidc_enabled,
            path=self.request.path,
            **values,
        )
        return self._finish(web.html_response(html, code, self.rid))

    def redirect(self, location: str) -> Response:
        response = web.html_response("", 303, self.rid, headers={"Location": location})
        return self._finish(response)

    def _finish(self, response: Response) -> Response:
        for cookie in self.cookies:
            response.headers.add("Set-Cookie", cookie)
        return _compressed(self.request, response)


View = Callable[[Ctx], Response]


@dataclass(frozen=True)
class Route:
    view: View
    power: Power | None  # None: open to anyone (sign-in)


ROUTES: dict[str, Route] = {}
URLS = Map(strict_slashes=False)


def route(path: str, methods: Sequence[str], power: Power | None) -> Callable[[View], View]:
    """Register a view under `path`; the endpoint is the view's module and name."""

    def register(view: View) -> View:
        endpoint = f"{view.__module__}.{view.__name__}"
        ROUTES[endpoint] = Route(view, power)
        URLS.add(Rule(path, endpoint=endpoint, methods=list(methods)))
        return view

    return register


# Pages repeat their markup (a busy month has hundreds of posts): gzip makes them a tenth.
COMPRESS_FROM_BYTES = 1400


def _compressed(request: Request, response: Response) -> Response:
    body = response.get_data()
    if len(body) < COMPRESS_FROM_BYTES or "gzip" not in request.headers.get("Accept-Encoding", ""):
        return response
    response.set_data(gzip.compress(body, compresslevel=6, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    return response
