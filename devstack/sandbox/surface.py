"""What every sandbox (Graph API, Bluesky, Mastodon) shares: the WSGI frame, the request
counts and the control surface with the routes all have (StandIn), the test media they serve,
the page of published posts and JSON answers."""

from __future__ import annotations

import abc
import functools
import html
import io
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from werkzeug.wrappers import Request, Response

from devstack.sandbox.state import Faults

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

GET_ROUTES = frozenset({"", "posts", "stats"})  # under /_sandbox/
Route = tuple[str, str]  # (method, path under /_sandbox/)


class Counted(Protocol):
    """A sandbox's state: whatever it holds, with the requests it was asked, per call."""

    requests: dict[str, int]


State = TypeVar("State", bound=Counted)


class StandIn(abc.ABC, Generic[State]):
    """A sandbox as a WSGI app: the network's own paths (`serve`) and, under `/_sandbox/`, the
    control surface for tests and people: test media, a 405 for a known route asked with the
    wrong method, the routes every sandbox has (`` the published posts as a page, `posts` the
    same as JSON, `stats` the requests counted per call, POST `reset` to a `fresh` state), then
    the sandbox's own `route`; all under its lock. A malformed body or an unknown account
    answers 400 with the reason."""

    post_routes: frozenset[str]  # the control surface's POST routes, beside GET_ROUTES

    def __init__(self, fresh: Callable[[], State]) -> None:
        self._fresh = fresh
        self.state = fresh()
        self.lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        parts = [p for p in request.path.split("/") if p]
        if parts[:1] == ["_sandbox"]:
            return self.control(request, parts[1:])(environ, start_response)
        return self.serve(request, parts)(environ, start_response)

    def count(self, call: str) -> None:
        """One more request to `call` (what `stats` shows)."""
        with self.lock:
            self.state.requests[call] = self.state.requests.get(call, 0) + 1

    def faulted(
        self,
        faults: Faults,
        write: str | None,
        answer: Callable[[], Response],
        failures: Failures,
    ) -> Response:
        """The answer to an account's call with the account's faults applied: its latency
        first; then, under the lock, a failure they ask for instead of the call, or `answer`.
        A write (`write` names its call; None for a read) may be applied and yet answered too
        late (`timeouts`, on `timeout_edge` or on any write) or as a server error
        (`applied_server_errors`)."""
        if faults.latency_seconds:
            time.sleep(faults.latency_seconds)
        with self.lock:
            injected = failures.injected(faults)
            if injected is not None:
                return injected
            response = answer()
            hang = 0.0
            if write is not None and faults.timeout_edge in ("", write) and faults.timeouts > 0:
                faults.timeouts -= 1
                hang = faults.timeout_seconds  # applied, but the answer comes too late
            if write is not None and faults.applied_server_errors > 0:
                faults.applied_server_errors -= 1
                return failures.server_error()  # applied, yet answered as a failure
        if hang:
            time.sleep(hang)
        return response

    def control(self, request: Request, parts: list[str]) -> Response:
        if request.method == "GET" and parts[:1] == ["media"]:
            return serve_media(request)
        route = (request.method, "/".join(parts))
        refused = wrong_method(request.method, route[1], self.post_routes)
        if refused is not None:
            return refused
        try:
            with self.lock:
                shared = self._shared(route)
                return shared if shared is not None else self.route(route, request)
        except (ValueError, KeyError, TypeError) as exc:
            return json_answer({"error": f"bad request: {exc}"}, status=400)

    def _shared(self, route: Route) -> Response | None:
        if route == ("GET", ""):
            return Response(self.page(), mimetype="text/html")
        if route == ("GET", "posts"):
            return json_answer({"posts": self.posts()})
        if route == ("GET", "stats"):
            requests = self.state.requests
            return json_answer({"requests": dict(requests), "total": sum(requests.values())})
        if route == ("POST", "reset"):
            self.state = self._fresh()
            return json_answer({"ok": True})
        return None

    @abc.abstractmethod
    def serve(self, request: Request, parts: list[str]) -> Response:
        """The network's own paths (`parts`: the path's segments)."""

    @abc.abstractmethod
    def page(self) -> str:
        """The published posts, as a page for people."""

    @abc.abstractmethod
    def posts(self) -> list[dict[str, Any]]:
        """The published posts, oldest first."""

    @abc.abstractmethod
    def route(self, route: Route, request: Request) -> Response:
        """The sandbox's own control routes."""


@dataclass(frozen=True)
class Failures:
    """A network's own answers to the failures a test injects: throttled, a server error, and
    (`more`) the faults only this network has, after the shared ones."""

    rate_limited: Callable[[], Response]
    server_error: Callable[[], Response]
    more: Callable[[], Response | None] = lambda: None

    def injected(self, faults: Faults) -> Response | None:
        """The failure `faults` ask for next, each switch counting down; None for none."""
        if faults.rate_limited > 0:
            faults.rate_limited -= 1
            return self.rate_limited()
        if faults.server_errors > 0:
            faults.server_errors -= 1
            return self.server_error()
        if faults.bad_gateway > 0:  # a front's HTML page, not the network's JSON
            faults.bad_gateway -= 1
            return Response("<html><body>502 Bad Gateway</body></html>", 502, mimetype="text/html")
        return self.more()


def json_object(request: Request) -> dict[str, Any]:
    """A control request's JSON body, which must be an object."""
    body = request.get_json(force=True)
    if not isinstance(body, dict):
        raise ValueError("a JSON object is required")
    return body


def json_answer(body: Any, headers: Mapping[str, str] | None = None, status: int = 200) -> Response:
    return Response(json.dumps(body), status, headers=headers, mimetype="application/json")


def posts_page(network: str, columns: Sequence[str], posts: list[dict[str, Any]]) -> str:
    """Bluesky's and Mastodon's published posts (`created`, `owner`, `id`, `text`, `media`) as
    a table under `columns`."""
    rows = "".join(
        f"<tr><td>{html.escape(p['created'])}</td><td>{html.escape(p['owner'])}</td>"
        f"<td>{html.escape(p['id'])}</td><td>{html.escape(p['text'])}</td>"
        f"<td>{len(p['media'])}</td></tr>"
        for p in posts
    )
    heads = "".join(f"<th>{name}</th>" for name in columns)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Sandbox {network}</title>"
        f"</head><body><h1>Published in the {network} sandbox</h1><table><tr>{heads}</tr>"
        f"{rows}</table></body></html>"
    )


def serve_media(request: Request) -> Response:
    """`/_sandbox/media/<name>?bytes=N&type=image/png&width=W&height=H`: N bytes served with
    that type, which they are by content (a real image of W x H, default 1080 x 1080, or a
    video's or a PDF's first bytes), padded with zeros; ranged GETs answered as a CDN does."""
    size = int(request.args.get("bytes", "1024"))
    mime = request.args.get("type", "image/jpeg")
    width = int(request.args.get("width", "1080"))
    height = int(request.args.get("height", "1080"))
    head = media_head(mime, width, height)
    response = Response(head[:size] + bytes(max(0, size - len(head))), mimetype=mime)
    return response.make_conditional(request, accept_ranges=True)


_HEADS = {
    "video/mp4": b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",
    "video/quicktime": b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ",
    "video/webm": b"\x1a\x45\xdf\xa3",
    "application/pdf": b"%PDF-1.4\n",
}
_PILLOW_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}


@functools.lru_cache(maxsize=32)
def media_head(mime: str, width: int, height: int) -> bytes:
    """The bytes a file of `mime` starts with: a whole small image for an image type."""
    if mime in _PILLOW_FORMATS:
        from PIL import Image  # noqa: PLC0415 (only media requests pay for it)

        out = io.BytesIO()
        Image.new("RGB", (width, height), (40, 120, 200)).save(out, _PILLOW_FORMATS[mime])
        return out.getvalue()
    return _HEADS.get(mime, b"")


def wrong_method(method: str, route: str, post_routes: frozenset[str]) -> Response | None:
    """405 with `Allow` for a known route asked with another method, as the real services
    answer (not a 500 from reading a body a GET does not have); None otherwise."""
    allowed = "POST" if route in post_routes else "GET" if route in GET_ROUTES else None
    if allowed is None or method == allowed:
        return None
    return Response(
        '{"error": "method not allowed"}',
        405,
        headers={"Allow": allowed},
        mimetype="application/json",
    )
