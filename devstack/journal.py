"""Sandbox accounts that survive a restart of the local stack: the control surface's account
requests (`POST /_sandbox/accounts` and `/users`) are kept, one JSON line each, in a file under
.data/ and sent again, in order, when the sandbox starts. Posts and fault switches are not kept:
they belong to one session, as the networks' own test data would not."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

KEPT = ("accounts", "users")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def replay(app: WsgiApp, path: Path) -> int:
    """Send the kept requests to a fresh sandbox; the number sent."""
    if not path.exists():
        return 0
    client = Client(app)
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for entry in lines:
        answer = client.post(f"/_sandbox/{entry['route']}", json=entry["body"])
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: a kept request was refused: {answer.get_data(True)}")
    return len(lines)


def journaled(app: WsgiApp, path: Path) -> WsgiApp:
    """The app, keeping each account request it accepts (and forgetting all on a reset)."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        route = request.path.removeprefix("/_sandbox/")
        if request.method != "POST" or route not in (*KEPT, "reset"):
            return app(environ, start_response)
        body = request.get_data()
        environ["wsgi.input"] = io.BytesIO(body)  # the app reads the same bytes again
        response = Response.from_app(app, environ)
        if response.status_code == 200 and route == "reset":
            path.unlink(missing_ok=True)
        elif response.status_code == 200:
            with path.open("a") as journal:
                journal.write(json.dumps({"route": route, "body": json.loads(body)}) + "\n")
        return response(environ, start_response)

    return wsgi


def keep(app: WsgiApp, path: Path | None) -> WsgiApp:
    """`--state-file`: replay what the file kept, then keep what comes."""
    if path is None:
        return app
    replay(app, path)
    return journaled(app, path)
