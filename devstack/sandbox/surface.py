"""What the control surfaces of every sandbox share (Graph API, Bluesky, Mastodon): the test
media they serve and the answer to a known route asked with the wrong method."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

GET_ROUTES = frozenset({"", "posts", "stats"})  # under /_sandbox/


def serve_media(request: Request) -> Response:
    """`/_sandbox/media/<name>?bytes=N&type=image/png`: N bytes served with that type."""
    size = int(request.args.get("bytes", "1024"))
    mime = request.args.get("type", "image/jpeg")
    return Response(b"\xff" * size, mimetype=mime)


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
