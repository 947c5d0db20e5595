"""The one HTTP layer under every network client (Graph API, XRPC, Mastodon): a pooled session
with the deployment's timeouts, and failures classified by whether the request may have been
applied.

No request is ever retried silently (urllib3's retries are off): a repeated POST could publish
twice, so only the caller, who knows which call is the send, decides. A request that got no
answer is `Retryable` when no byte of it can have reached the server or when it was a read, and
`Ambiguous` when it was the non-idempotent send: the caller looks before anything is sent again.
The same holds for an answer without the network's own error envelope (a proxy's 502).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import requests
from requests.adapters import HTTPAdapter
from requests.exceptions import InvalidHeader
from urllib3.exceptions import MaxRetryError, NewConnectionError

from common.clock import utcnow
from common.config import Settings
from common.platforms.base import Ambiguous, Failure, Permanent, RateLimited, Retryable

log = logging.getLogger(__name__)

Method = Literal["GET", "POST"]
UNSENDABLE = "cannot be sent: a header has characters HTTP does not carry"


class NetworkSession:
    """One client's connections: as many pooled per host as the engine has publishing workers.

    `network` names the client in logs; `timeout` is (connect, read) in seconds."""

    def __init__(self, network: str, timeout: tuple[float, float], pool_size: int) -> None:
        self._network = network
        self._timeout = timeout
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def close(self) -> None:
        self._session.close()

    def send(
        self, method: Method, url: str, *, call: str, idempotent: bool, **request: Any
    ) -> requests.Response | Retryable | Ambiguous | Permanent:
        """One request (`request`: requests' own arguments); `call` names it in logs, never
        with ids or a query. `idempotent=False` marks the send. A request that cannot be put on
        the wire at all is Permanent."""
        try:
            return self._session.request(method, url, timeout=self._timeout, **request)
        except (InvalidHeader, UnicodeEncodeError) as exc:
            # Refused before a byte went out (a token with a line break or a character past
            # Latin-1, which no network issues): sending it again cannot help.
            log.warning("request not sendable", extra={"network": self._network, "call": call})
            return Permanent("unsendable", f"{UNSENDABLE} ({type(exc).__name__})")
        except requests.RequestException as exc:
            return self._no_answer(exc, call, idempotent=idempotent)

    def _no_answer(
        self, exc: requests.RequestException, call: str, *, idempotent: bool
    ) -> Retryable | Ambiguous:
        kind = type(exc).__name__  # never str(exc): it can carry the URL and its query
        where = {"network": self._network, "call": call, "error": kind}
        if _never_reached_server(exc) or idempotent:
            log.warning("network request failed", extra=where)
            return Retryable(f"network error before an answer: {kind}")
        log.warning("network send outcome unknown", extra=where)
        return Ambiguous(f"no answer after the request was sent: {kind}")


class NetworkClient:
    """What every network client shares: its session, sized for the engine's publishing
    workers, with NETWORK_*_TIMEOUT_SECONDS unless the network has its own (`timeout`)."""

    def __init__(
        self,
        network: str,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        timeout: tuple[float, float] | None = None,
    ) -> None:
        timeout = timeout or (
            settings.network_connect_timeout_seconds,
            settings.network_read_timeout_seconds,
        )
        self._session = NetworkSession(network, timeout, settings.publish_workers)
        self._clock = clock

    def close(self) -> None:
        self._session.close()


def json_of(response: requests.Response) -> Any:
    """The answer's JSON, or None when it is not JSON (a proxy's HTML page)."""
    try:
        return response.json()
    except ValueError:
        return None


def without_envelope(status: int, source: str, retry_at: datetime, *, idempotent: bool) -> Failure:
    """An error answer that lacks the network's envelope: a proxy or load balancer answered, so
    nothing says the send did not land. `source` names the missing envelope in the reason."""
    if status == 429:
        return RateLimited(retry_at, "HTTP 429")
    if status >= 500 or status < 400:
        if idempotent:
            return Retryable(f"HTTP {status} without {source}")
        return Ambiguous(f"HTTP {status} without {source} after the send")
    return Permanent(f"http_{status}", f"HTTP {status} without {source}")


def _never_reached_server(exc: requests.RequestException) -> bool:
    """True only when no byte of the request can have reached the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args:
        reason = exc.args[0]
        if isinstance(reason, MaxRetryError):
            return isinstance(reason.reason, NewConnectionError)
    return False
