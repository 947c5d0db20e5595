"""A small HTTP client for the web function as a browser uses it: the session cookie (requests
keeps no Secure cookie over http://127.0.0.1, so it is carried by hand), the page's CSRF token,
and the Origin every browser sends with a form POST."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import requests
from flask import Request, Response
from pymongo.database import Database
from werkzeug.test import EnvironBuilder

from common.entrypoints.instance import Lazy
from common.entrypoints.webapp import app
from common.entrypoints.webapp.context import WebService
from tests.functions_fixtures import ROOT, function_env

WEB_SOURCE = ROOT / "functions" / "web" / "main.py"
TIMEOUT = 30
PAGE = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_COOKIE = re.compile(r"__Host-session=([^;]*);")


class Client:
    def __init__(self, url: str) -> None:
        self.url = url
        self.token: str | None = None
        self.csrf = ""

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": PAGE, **(extra or {})}
        if self.token:
            headers["Cookie"] = f"__Host-session={self.token}"
        return headers

    def get(self, path: str, **params: str) -> requests.Response:
        response = requests.get(
            self.url + path,
            params=params,
            headers=self.headers(),
            timeout=TIMEOUT,
            allow_redirects=False,
        )
        found = _CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(
        self,
        path: str,
        data: Mapping[str, str | list[str]] | None = None,
        *,
        csrf: bool = True,
        origin: str | None = None,
    ) -> requests.Response:
        form = dict(data or {})
        if csrf:
            form["csrf"] = self.csrf
        headers = self.headers({"Origin": origin or self.url})
        return requests.post(
            self.url + path, data=form, headers=headers, timeout=TIMEOUT, allow_redirects=False
        )

    def sign_in(self, key: str) -> requests.Response:
        response = self.post("/signin/key", {"key": key}, csrf=False)
        found = _COOKIE.search(response.headers.get("Set-Cookie", ""))
        if response.status_code == 303 and found:
            self.token = found.group(1)
            self.get("/calendar")  # its page carries the session's CSRF token
        return response


def stored(db: Database[Any], post_id: Any = None) -> dict[str, Any]:
    """The post with this id (or the only one) as the database has it."""
    doc: dict[str, Any] | None = db["posts"].find_one({} if post_id is None else {"_id": post_id})
    assert doc is not None
    return doc


def web_env(mongo_uri: str, db_name: str, **settings: str) -> dict[str, str]:
    return function_env(mongo_uri, db_name, **settings)


def page_in_process(
    service: WebService, path: str, token: str, form: Any = None, **query: str
) -> Response:
    """One GET (with `form`: a POST of it, which carries its own CSRF token) through the web
    app's whole flow in this process (no HTTP), as `token`'s session: for counting the
    database commands a page costs."""
    environ = EnvironBuilder(
        path=path,
        method="GET" if form is None else "POST",
        query_string=query,
        data=form,
        headers=[("Cookie", f"__Host-session={token}"), ("Accept", PAGE)],
    ).get_environ()
    return app.web_request(Request(environ), Lazy(lambda: service))


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_ACTION = re.compile(r'<form method="post" action="([^"]+)"')
_CONTINUE = re.compile(r'href="([^"]+)" id="continue"')


def network_page(leaving: requests.Response) -> str:
    """The network's page the app's "Continue to …" link leads to."""
    found = _CONTINUE.search(leaving.text)
    assert found is not None, leaving.text[:500]
    return html.unescape(found.group(1))


def consent(page_url: str, choose: str) -> requests.Response:
    """On a sandbox's consent page, continue as `choose` ("" declines): the network's
    redirect back to the app, unfollowed."""
    page = requests.get(page_url, timeout=TIMEOUT)
    assert page.status_code == 200, page.text[:500]
    action = _ACTION.search(page.text)
    assert action is not None
    fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
    return requests.post(
        urljoin(page_url, action.group(1)),
        data={**fields, "as": choose},
        timeout=TIMEOUT,
        allow_redirects=False,
    )


def back_path(redirect: requests.Response, site: str) -> str:
    """The path and query the network sends the browser back to on `site` (no fragment)."""
    location = redirect.headers["Location"].split("#", 1)[0]
    assert location.startswith(site + "/"), location
    return location[len(site) :]
