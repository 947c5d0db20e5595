"""The CLI's client sends credentials only to the URL it was given: a redirect is refused, not
followed. requests drops Authorization when a redirect changes host, but not the other headers,
so a followed redirect would hand the Google ID token of SOCIALSCHED_RUN_ID_TOKEN (an hour's
access to every Cloud Run service its account may invoke) to whatever host the Location names.
The two servers are small HTTP servers in this process."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from common.entrypoints.api_client import ApiClient, ApiRefusal
from tests.local_http import serving

ID_TOKEN = "header.claims.signature"


class Recorder(ThreadingHTTPServer):
    """Answers `{}` to anything, after keeping the request's headers."""

    seen: list[dict[str, str]]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Record(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:
        self.server.seen.append(dict(self.headers.items()))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        del format, args


class _Redirect(BaseHTTPRequestHandler):
    """Sends every POST on to `target`, method and body kept (307)."""

    target = ""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(307)
        self.send_header("Location", self.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[Recorder]:
    server = Recorder(("127.0.0.1", 0), _Record)
    server.seen = []
    with serving(server):
        yield server


@pytest.fixture(scope="module")
def redirecting(elsewhere: Recorder) -> Iterator[str]:
    handler = type(
        "ToElsewhere", (_Redirect,), {"target": elsewhere.url.replace("127.0.0.1", "localhost")}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with serving(server):
        yield f"http://127.0.0.1:{server.server_address[1]}"


def test_a_redirect_is_refused_and_no_credential_reaches_its_target(
    redirecting: str, elsewhere: Recorder
) -> None:
    serverless = {"X-Serverless-Authorization": f"Bearer {ID_TOKEN}"}
    client = ApiClient(redirecting, "sk_0123456789abcdef_secret", serverless)
    with pytest.raises(ApiRefusal) as refused:
        client.post("", {"limit": 1})
    client.close()
    assert refused.value.status == 307 and not refused.value.from_app
    assert "redirect, not followed" in refused.value.message
    assert elsewhere.seen == []  # was: the ID token, sent on to the other host
