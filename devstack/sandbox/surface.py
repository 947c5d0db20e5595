"""What the control surfaces of every sandbox share (Graph API, Bluesky, Mastodon): the test
media they serve and the answer to a known route asked with the wrong method."""

from __future__ import annotations

import functools
import io

from werkzeug.wrappers import Request, Response

GET_ROUTES = frozenset({"", "posts", "stats"})  # under /_sandbox/


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
