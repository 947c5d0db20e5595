"""A front for the Cloud Storage emulator that answers browsers as Cloud Storage does for
resumable upload sessions (the emulator answers no CORS at all).

Cloud Storage lets a browser PUT to a resumable session URI from another origin only when the
session was created with that `Origin` (the server that creates the session passes the web
app's origin); the preflight and the PUT are then answered with `Access-Control-Allow-Origin`
for that origin, and for no other. Everything else (the server-side client's JSON API calls)
passes through unchanged; the session URIs the emulator hands out are rewritten to this front.

    python -m devstack.storage_cors --port P --emulator http://127.0.0.1:E
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from werkzeug.wrappers import Request, Response

from devstack.loopback import serve_until_interrupted
from devstack.processes import free_port, listening

_HOP_BY_HOP = {"connection", "transfer-encoding", "content-length", "host", "content-encoding"}
ALLOWED_HEADERS = "Content-Type, Content-Range, X-Upload-Content-Type, X-Upload-Content-Length"
TIMEOUT = 120


class UploadFront:
    def __init__(self, emulator: str, own: str) -> None:
        self._emulator = emulator.rstrip("/")
        self._own = own.rstrip("/")
        self._origins: dict[str, str] = {}  # upload_id -> the origin it was created for
        self._guard = threading.Lock()
        self._http = requests.Session()

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        return self._serve(request)(environ, start_response)

    def _serve(self, request: Request) -> Response:
        upload_id = request.args.get("upload_id")
        allowed = self._allowed(upload_id, request.headers.get("Origin"))
        if request.method == "OPTIONS":
            # A preflight for a session of another origin (or none) gets no CORS headers.
            response = Response("", 200)
            if allowed:
                response.headers["Access-Control-Allow-Methods"] = "PUT, POST, OPTIONS"
                response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
                response.headers["Access-Control-Max-Age"] = "3600"
        else:
            response = self._forward(request)
        if allowed:
            response.headers["Access-Control-Allow-Origin"] = allowed
            response.headers["Access-Control-Expose-Headers"] = "Location, Range"
            response.headers["Vary"] = "Origin"
        return response

    def _allowed(self, upload_id: str | None, origin: str | None) -> str | None:
        if upload_id is None or origin is None:
            return None
        with self._guard:
            return origin if self._origins.get(upload_id) == origin else None

    def _forward(self, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        answer = self._http.request(
            request.method,
            self._emulator + request.full_path.rstrip("?"),
            data=request.get_data(),
            headers=headers,
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        passed = [(k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP]
        response = Response(answer.content, answer.status_code, headers=passed)
        location = answer.headers.get("Location", "")
        if location.startswith(self._emulator):
            response.headers["Location"] = self._own + location[len(self._emulator) :]
            self._remember(location, request.headers.get("Origin"))
        return response

    def _remember(self, session: str, origin: str | None) -> None:
        found = parse_qs(urlsplit(session).query).get("upload_id")
        if found and origin:
            with self._guard:
                self._origins[found[0]] = origin


def command(port: int, emulator_url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "devstack.storage_cors",
        *("--port", str(port), "--emulator", emulator_url),
    ]


@contextlib.contextmanager
def running(emulator_url: str) -> Iterator[str]:
    """The front on a free loopback port for the block; yields its URL (STORAGE_EMULATOR_HOST
    for the web app's tests)."""
    port = free_port()
    with listening(command(port, emulator_url), port, "storage CORS front") as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--emulator", required=True)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in make run
    own = f"http://127.0.0.1:{args.port}"
    serve_until_interrupted(UploadFront(args.emulator, own), args.port)


if __name__ == "__main__":
    main()
