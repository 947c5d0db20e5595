"""The shared HTTP layer's failure rule: a request that may have been applied is never called
retryable, whichever network client sent it."""

from __future__ import annotations

from datetime import UTC, datetime

from common.platforms.base import Ambiguous, Permanent, RateLimited, Retryable
from common.platforms.http import UNSENDABLE, NetworkSession, without_envelope
from devstack.processes import free_port

LATER = datetime(2030, 1, 1, tzinfo=UTC)


def test_an_answer_without_the_networks_envelope_is_classified_by_what_it_may_have_done() -> None:
    def seen(status: int, *, idempotent: bool) -> object:
        return without_envelope(status, "a Graph error", LATER, idempotent=idempotent)

    assert seen(429, idempotent=False) == RateLimited(LATER, "HTTP 429")
    assert seen(502, idempotent=True) == Retryable("HTTP 502 without a Graph error")
    assert seen(502, idempotent=False) == Ambiguous("HTTP 502 without a Graph error after the send")
    assert seen(302, idempotent=False) == Ambiguous("HTTP 302 without a Graph error after the send")
    assert seen(404, idempotent=False) == Permanent("http_404", "HTTP 404 without a Graph error")


def test_a_send_that_never_reached_a_server_is_retryable_not_ambiguous() -> None:
    session = NetworkSession("test", (2.0, 2.0), 1)
    try:
        # Nothing listens on a port just found free: the connection is refused.
        failed = session.send(
            "POST", f"http://127.0.0.1:{free_port()}/x", call="x", idempotent=False
        )
    finally:
        session.close()
    assert isinstance(failed, Retryable) and "ConnectionError" in failed.reason


def test_a_request_no_http_header_can_carry_is_permanent_and_never_sent() -> None:
    """A token with a character past Latin-1 or a line break fails before any byte goes out
    (even to a port where nothing listens): not a crash, and not worth another try."""
    session = NetworkSession("test", (2.0, 2.0), 1)
    url = f"http://127.0.0.1:{free_port()}/x"
    try:
        failed = [
            session.send("POST", url, call="x", idempotent=False, headers={"Authorization": auth})
            for auth in ("Bearer TH\u20ac", "Bearer TH\nX")
        ]
    finally:
        session.close()
    assert [(f.code, f.message) for f in failed if isinstance(f, Permanent)] == [
        ("unsendable", f"{UNSENDABLE} (UnicodeEncodeError)"),
        ("unsendable", f"{UNSENDABLE} (InvalidHeader)"),
    ]
