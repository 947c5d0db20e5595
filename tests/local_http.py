"""A small HTTP server of a test's own, served on a thread of the test process for a block."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# serve_forever notices a shutdown at its next poll: half a second by default, paid by every
# fixture that stops a server.
POLL_SECONDS = 0.01


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    """Serve until the block ends, then stop and close the server."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
