"""The sandbox Graph API as a WSGI app: Meta's paths, parameters, envelopes and usage headers.

Graph routes live under `/vNN.N/`; the control surface for tests and people lives under
`/_sandbox/` (posts as JSON and HTML, request counts, accounts, fault injection, reset).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

from werkzeug.wrappers import Request, Response

from devstack.sandbox import oauth
from devstack.sandbox.fetch import fetch
from devstack.sandbox.params import refuse_undeclared
from devstack.sandbox.state import Account, GraphFault, Item, SandboxState, meta_time
from devstack.sandbox.surface import Failures, Route, StandIn, json_answer, json_object

VERSION = re.compile(r"^v\d+\.\d+$")
PROOF_MAX_AGE_SECONDS = 300  # Meta's time-stamped proofs expire after 5 minutes
WRITES = frozenset(
    {"feed", "photos", "media", "media_publish", "threads", "threads_publish", "comments"}
)
MAX_LIMIT = 100  # Meta caps `limit` on list edges
DEFAULT_LIMIT = 25
POST_ROUTES = frozenset({"reset", "accounts", "users", "faults", "apps"})  # under /_sandbox/
# The types each network takes from a URL it fetches (Meta's publishing guides): Instagram
# images are JPEG only; a Page photo may be JPEG, PNG, GIF, BMP or TIFF.
_MP4 = frozenset({"video/mp4", "video/quicktime"})
_FETCHED: dict[tuple[str, str], frozenset[str]] = {
    ("media", "image_url"): frozenset({"image/jpeg"}),
    ("media", "video_url"): _MP4,
    ("threads", "image_url"): frozenset({"image/jpeg", "image/png"}),
    ("threads", "video_url"): _MP4,
    ("photos", "url"): frozenset(
        {"image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff"}
    ),
}
# Meta's generic transient error; it has been seen as HTTP 500, sometimes after the write applied.
_UNEXPECTED_ERROR = GraphFault(
    2,
    "An unexpected error has occurred. Please retry your request later.",
    status=500,
    transient=True,
)


class SandboxApp(StandIn[SandboxState]):
    post_routes = POST_ROUTES

    def __init__(self, app_secret: str | None = None) -> None:
        super().__init__(SandboxState)
        self.app_secret = app_secret

    def serve(self, request: Request, parts: list[str]) -> Response:
        if parts == ["refresh_access_token"]:  # Threads' refresh is unversioned
            return self._refresh(request)
        if parts[:1] == ["oauth"] or parts == ["access_token"]:  # Threads' OAuth: unversioned
            return self._threads_oauth(request, parts)
        if not parts or not VERSION.match(parts[0]):
            return _envelope(GraphFault(2500, "Unknown path components: unversioned call"))
        if parts[1:2] == ["dialog"]:  # www.facebook.com's Login dialog
            return self._dialog(request, parts[2:], "facebook")
        return self._graph(request, parts[1:])

    # --- the browser flows (devstack.sandbox.oauth) -----------------------------------------

    def _dialog(self, request: Request, rest: list[str], kind: str) -> Response:
        args = {k: str(v) for k, v in _arguments(request).items()}
        try:
            with self.lock:
                if request.method == "GET" and rest in (["oauth"], ["authorize"]):
                    return oauth.dialog(self.state, args, kind)
                if request.method == "POST" and rest == ["confirm"]:
                    return oauth.confirm(self.state, args, kind)
        except oauth.DialogRefusal as refusal:
            return oauth.refusal_page(refusal)
        return _envelope(GraphFault(2500, "Unknown path components: /dialog"))

    def _threads_oauth(self, request: Request, parts: list[str]) -> Response:
        if parts[1:] in (["authorize"], ["confirm"]):
            return self._dialog(request, parts[1:], "threads")
        args = _arguments(request)
        edge = "/".join(parts)
        self.count(f"{request.method} {edge}")
        try:
            refuse_undeclared(request.method, f"threads:{edge}", args)
            with self.lock:
                if (request.method, edge) == ("POST", "oauth/access_token"):
                    return json_answer(oauth.threads_token(self.state, args))
                if (request.method, edge) == ("GET", "access_token"):
                    return json_answer(oauth.threads_long_lived(self.state, args))
        except GraphFault as fault:
            return _envelope(fault)
        return _envelope(GraphFault(2500, f"Unknown path components: /{edge}"))

    # --- the Graph API ----------------------------------------------------------------------

    def _graph(self, request: Request, parts: list[str]) -> Response:
        args = _arguments(request)
        token = _token(request, args)
        edge = parts[-1] if len(parts) > 1 else "node"
        self.count(f"{request.method} {edge}")
        try:
            self._check_proof(token, args)
            refuse_undeclared(request.method, _edge_name(parts), args)
            if parts == ["debug_token"]:
                with self.lock:
                    return json_answer(self.state.debug_token(str(args.get("input_token", ""))))
            if parts == ["oauth", "access_token"] and request.method == "GET":
                with self.lock:
                    if "code" in args:  # the Login dialog's code
                        return json_answer(oauth.facebook_token(self.state, args))
                    return json_answer(self.state.exchange_token(args, self.app_secret))
            if parts == ["me", "accounts"] and request.method == "GET":
                with self.lock:
                    pages = self.state.pages_of(token)
                return json_answer({"data": pages, "paging": {"cursors": {}}})
            with self.lock:
                account = self.state.acting_for(self.state.account_for_token(token), parts)
            if request.method == "POST":
                _fetch_media(parts[-1], args)
            return self._answer(request, parts, account, args)
        except GraphFault as fault:
            return _envelope(fault)

    def _refresh(self, request: Request) -> Response:
        args = _arguments(request)
        token = _token(request, args)
        self.count("GET refresh_access_token")
        try:
            refuse_undeclared("GET", "refresh_access_token", args)
            if args.get("grant_type") != "th_refresh_token":
                raise GraphFault(100, "(#100) grant_type must be th_refresh_token")
            with self.lock:
                return json_answer(self.state.refresh_threads_token(token or ""))
        except GraphFault as fault:
            return _envelope(fault)

    def _answer(
        self, request: Request, parts: list[str], account: Account, args: dict[str, Any]
    ) -> Response:
        method, edge = request.method, parts[-1]

        def answer() -> Response:
            body = self._route(method, parts, account, args)
            if isinstance(body, (Listing, Node)):
                body = body.to_json(request.base_url, args)
            return json_answer(body, _usage_headers(account, throttled=False))

        write = edge if method == "POST" and edge in WRITES else None
        failures = Failures(
            lambda: _rate_limited(account),
            lambda: _envelope(_UNEXPECTED_ERROR),
            lambda: _echo(account),
        )
        return self.faulted(account.faults, write, answer, failures)

    def _route(self, method: str, parts: list[str], account: Account, args: dict[str, Any]) -> Any:
        state = self.state
        if len(parts) == 1 and method == "GET":
            return self._node(account, parts[0])
        if len(parts) != 2:
            raise GraphFault(2500, "Unknown path components", kind="GraphMethodException")
        node, edge = parts
        if edge == "comments":
            return self._comments_route(method, node, account, args)
        kind = "page" if edge in ("feed", "photos", "published_posts") else "instagram"
        if edge.startswith("threads") or edge == "replies":
            state.owned(account, node, "threads")
            return self._threads_route(method, edge, account, args)
        state.owned(account, node, kind)
        since = int(args["since"]) if args.get("since") else None
        limit = min(int(args.get("limit") or DEFAULT_LIMIT), MAX_LIMIT)
        after = str(args["after"]) if args.get("after") else None
        if (method, edge) == ("POST", "feed"):
            return state.feed_post(account, args)
        if (method, edge) == ("POST", "photos"):
            return state.photo(account, args)
        if method == "GET" and edge in ("feed", "published_posts"):
            items, more = state.recent(node, "page_post", since, limit, after)
            return Listing([_page_post(i) for i in items], more)
        if (method, edge) == ("POST", "media"):
            return state.create_container(account, args)
        if (method, edge) == ("GET", "media"):
            items, more = state.recent(node, "ig_media", since, limit, after)
            return Listing([_ig_media(i) for i in items], more)
        if (method, edge) == ("POST", "media_publish"):
            return state.media_publish(account, args)
        if (method, edge) == ("GET", "content_publishing_limit"):
            return _publishing_limit(state, account)
        raise GraphFault(2500, f"Unknown path components: /{edge}", kind="GraphMethodException")

    def _comments_route(
        self, method: str, node: str, account: Account, args: dict[str, Any]
    ) -> Any:
        """`/{object-id}/comments` on a Page post or an Instagram media."""
        item = self.state.commented(account, node)
        if method == "POST":
            return self.state.comment(account, item, args)
        if args.get("order", "reverse_chronological") != "reverse_chronological":
            raise GraphFault(100, "(#100) The sandbox lists comments newest first only")
        limit = min(int(args.get("limit") or DEFAULT_LIMIT), MAX_LIMIT)
        after = str(args["after"]) if args.get("after") else None
        items, more = self.state.comments_of(item, limit, after)
        render = _page_comment if item.kind == "page_post" else _ig_comment
        return Listing([render(i) for i in items], more)

    def _node(self, account: Account, node: str) -> Any:
        """One object by id: Threads' `me`, a published post (its permalink), a container."""
        state = self.state
        if node == "me" and account.kind == "threads":
            return {"id": account.id, "username": account.name}
        if node in state.items:
            return Node(state.published_item(account, node))
        return state.container_status(account, node)

    def _threads_route(self, method: str, edge: str, account: Account, args: dict[str, Any]) -> Any:
        """graph.threads.net: the same envelopes, its own edges."""
        if method == "GET" and edge in ("threads", "replies"):
            since = int(args["since"]) if args.get("since") else None
            limit = min(int(args.get("limit") or DEFAULT_LIMIT), MAX_LIMIT)
            after = str(args["after"]) if args.get("after") else None
            kind = "threads_post" if edge == "threads" else "threads_reply"
            items, more = self.state.recent(account.id, kind, since, limit, after)
            return Listing([_thread(i) for i in items], more)
        if (method, edge) == ("POST", "threads"):
            return self.state.create_thread(account, args)
        if (method, edge) == ("POST", "threads_publish"):
            return self.state.threads_publish(account, args)
        if (method, edge) == ("GET", "threads_publishing_limit"):
            return _publishing_limit(self.state, account)
        raise GraphFault(2500, f"Unknown path components: /{edge}", kind="GraphMethodException")

    def _check_proof(self, token: str | None, args: dict[str, Any]) -> None:
        """Both the time-stamped proof (current docs) and the legacy one (the SDK's) pass."""
        proof = str(args.pop("appsecret_proof", ""))
        stamp = str(args.pop("appsecret_time", ""))
        if not self.app_secret:
            return
        key = self.app_secret.encode()
        token_text = token or ""
        if stamp.isdigit() and abs(time.time() - int(stamp)) <= PROOF_MAX_AGE_SECONDS:
            expected = hmac.new(key, f"{token_text}|{stamp}".encode(), hashlib.sha256).hexdigest()
        else:
            expected = hmac.new(key, token_text.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(proof, expected):
            raise GraphFault(
                100,
                "Invalid appsecret_proof provided in the API argument",
                kind="GraphMethodException",
            )

    # --- the control surface ----------------------------------------------------------------

    def control(self, request: Request, parts: list[str]) -> Response:
        if request.method == "GET" and parts[:1] == ["p"] and len(parts) == 2:
            with self.lock:
                item = self.state.items.get(parts[1])
                if item is None or not item.published:
                    return Response("No such post", 404, mimetype="text/plain")
                return Response(_html([item]), mimetype="text/html")
        return super().control(request, parts)

    def route(self, route: Route, request: Request) -> Response:
        state = self.state
        if route == ("GET", "containers"):  # what each container was asked to fetch
            return json_answer({"containers": {c.id: c.params for c in state.containers.values()}})
        if request.method == "GET":  # no body to read: an unknown page, as any server says
            return json_answer({"error": "no such sandbox route"}, status=404)
        body = json_object(request)
        if route == ("POST", "accounts"):
            page = body.get("page")
            account = state.add_account(
                str(body["id"]),
                str(body["kind"]),
                str(body["token"]),
                str(body.get("name", "")),
                None if page is None else str(page),
            )
            return json_answer({"id": account.id, "kind": account.kind})
        if route == ("POST", "apps"):  # an app's id, secret and Valid OAuth Redirect URIs
            app = oauth.register(state, body)
            return json_answer({"id": app.id, "kind": app.kind})
        if route == ("POST", "users"):
            user = state.add_user(str(body["token"]), [str(p) for p in body["pages"]])
            return json_answer({"pages": user.pages})
        if route == ("POST", "faults"):
            target = state.accounts[str(body.pop("account"))]
            if "token_age_seconds" in body:  # Threads: a token this old may be refreshed
                target.token_issued = time.time() - float(body.pop("token_age_seconds"))
            target.faults.update(body)
            return json_answer({"account": target.id, "faults": vars(target.faults)})
        return json_answer({"error": "no such sandbox route"}, status=404)

    def page(self) -> str:
        return _html(self._published())

    def posts(self) -> list[dict[str, Any]]:
        return [i.to_json() for i in self._published()]

    def _published(self) -> list[Item]:
        items = [i for i in self.state.items.values() if i.published and i.kind in _SHOWN]
        return sorted(items, key=lambda i: i.created)


# What the control surface lists as published: posts, replies and comments.
_SHOWN = ("page_post", "ig_media", "threads_post", "threads_reply", "fb_comment", "ig_comment")


def _fetch_media(edge: str, args: dict[str, Any]) -> None:
    """Meta fetches the media of a container or photo before answering the call; one it cannot
    fetch, or of a type it does not take, fails the call (the sandbox fetches images and videos
    alike at creation; Meta processes a video later and reports the failure in the container's
    status)."""
    for (fetching_edge, name), accepted in _FETCHED.items():
        url = args.get(name)
        if edge != fetching_edge or not url or fetch(str(url), accepted) is not None:
            continue
        if edge == "photos":
            raise GraphFault(324, "(#324) Missing or invalid image file")
        # Instagram's documented code; Threads answers its own variant of the same failure.
        raise GraphFault(
            9004,
            "Media download has failed. The media URI doesn't meet our requirements.",
            subcode=2207052,
        )


def _arguments(request: Request) -> dict[str, Any]:
    """Query, form and JSON bodies are all accepted, as Meta does."""
    args: dict[str, Any] = dict(request.args.items())
    args.update(request.form.items())
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            args.update(body)
    return args


def _token(request: Request, args: dict[str, Any]) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith(("Bearer ", "OAuth ")):
        return header.split(" ", 1)[1].strip()
    value = args.pop("access_token", None)
    return None if value is None else str(value)


@dataclass(frozen=True)
class Node:
    """A published Instagram media or Threads post read by id: the fields asked for, its
    `permalink` a page of this sandbox (the network's own post page, here)."""

    item: Item

    def to_json(self, base_url: str, args: dict[str, Any]) -> dict[str, Any]:
        root = "/".join(base_url.split("/")[:3])
        known = {
            "id": self.item.id,
            "permalink": f"{root}/_sandbox/p/{quote(self.item.id)}",
            "timestamp": meta_time(self.item.created),
            "caption" if self.item.kind == "ig_media" else "text": self.item.text,
        }
        asked = [f for f in str(args.get("fields") or "id").split(",") if f]
        return {name: known[name] for name in asked if name in known}


@dataclass(frozen=True)
class Listing:
    """One page of a list edge, newest first, with Meta's cursor paging."""

    data: list[dict[str, Any]]
    more: bool

    def to_json(self, base_url: str, args: dict[str, Any]) -> dict[str, Any]:
        if not self.data:
            return {"data": []}
        cursors = {"before": self.data[0]["id"], "after": self.data[-1]["id"]}
        paging: dict[str, Any] = {"cursors": cursors}
        if self.more:
            # Meta's next URL repeats the query with the new cursor (and the token: not here).
            paging["next"] = f"{base_url}?{urlencode({**args, 'after': cursors['after']})}"
        return {"data": self.data, "paging": paging}


def _publishing_limit(state: SandboxState, account: Account) -> dict[str, Any]:
    """content_publishing_limit (Instagram) and threads_publishing_limit answer alike."""
    usage, total = state.quota_usage(account), account.faults.quota_total
    config = {"quota_total": total, "quota_duration": 86400}
    return {"data": [{"quota_usage": usage, "config": config}]}


def _edge_name(parts: list[str]) -> str:
    """`debug_token`, `node` for a bare object id, else the edge after the object id."""
    if parts == ["debug_token"]:
        return "debug_token"
    return "node" if len(parts) == 1 else parts[-1]


def _echoing(token: str) -> GraphFault:
    """An error that quotes the request back with the token URL-encoded, as proxies and some
    Graph errors about URLs do: the client must not pass it on."""
    url = f"https://graph.facebook.com/v25.0/me?access_token={quote_plus(token)}"
    return GraphFault(100, f"(#100) Invalid parameter: could not fetch {url} ({quote(token)})")


def _usage_headers(account: Account, *, throttled: bool) -> dict[str, str]:
    percent = 100 if throttled else account.faults.usage_percent
    usage = {"call_count": percent, "total_cputime": percent, "total_time": percent}
    business = {
        **usage,
        "type": {"page": "pages", "threads": "threads"}.get(account.kind, "instagram"),
        "estimated_time_to_regain_access": account.faults.regain_minutes if throttled else 0,
    }
    headers = {
        "X-App-Usage": json.dumps(usage),
        "X-Business-Use-Case-Usage": json.dumps({account.id: [business]}),
    }
    if account.kind == "page":
        headers["X-Page-Usage"] = json.dumps(usage)
    return headers


def _rate_limited(account: Account) -> Response:
    if account.kind == "page":
        fault = GraphFault(32, "(#32) Page request limit reached", transient=True)
    elif account.kind == "threads":
        fault = GraphFault(4, "(#4) Application request limit reached", transient=True)
    else:
        fault = GraphFault(
            80002,
            "There have been too many calls to this Instagram account. Wait a bit and try again.",
            transient=True,
        )
    return _envelope(fault, _usage_headers(account, throttled=True))


def _echo(account: Account) -> Response | None:
    """`echo_token`: the next calls answer an error quoting the request URL with the token."""
    if account.faults.echo_token > 0:
        account.faults.echo_token -= 1
        return _envelope(_echoing(account.token))
    return None


def _envelope(fault: GraphFault, headers: dict[str, str] | None = None) -> Response:
    error: dict[str, Any] = {
        "message": fault.message,
        "type": fault.kind,
        "code": fault.code,
        "is_transient": fault.transient,
        "fbtrace_id": secrets.token_urlsafe(12),
    }
    if fault.subcode is not None:
        error["error_subcode"] = fault.subcode
    return json_answer({"error": error}, headers, status=fault.status)


def _page_post(item: Item) -> dict[str, Any]:
    return {"id": item.id, "message": item.text, "created_time": meta_time(item.created)}


def _thread(item: Item) -> dict[str, Any]:
    return {"id": item.id, "text": item.text, "timestamp": meta_time(item.created)}


def _page_comment(item: Item) -> dict[str, Any]:
    return {"id": item.id, "message": item.text, "created_time": meta_time(item.created)}


def _ig_comment(item: Item) -> dict[str, Any]:
    return {"id": item.id, "text": item.text, "timestamp": meta_time(item.created)}


def _ig_media(item: Item) -> dict[str, Any]:
    return {"id": item.id, "caption": item.text, "timestamp": meta_time(item.created)}


def _html(items: list[Item]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(i.created.isoformat())}</td><td>{html.escape(i.owner)}</td>"
        f"<td>{html.escape(i.kind)}</td><td>{html.escape(i.id)}</td>"
        f"<td>{html.escape(i.text)}</td><td>{len(i.media)}</td></tr>"
        for i in items
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Sandbox Graph API</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px}</style>"
        "</head><body><h1>Published in the sandbox</h1><table><tr><th>created</th>"
        "<th>account</th><th>kind</th><th>id</th><th>text</th><th>media</th></tr>"
        f"{rows}</table></body></html>"
    )
