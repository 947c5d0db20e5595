"""The one XRPC client for Bluesky: a pooled session, and every answer mapped to the taxonomy.

Each call goes to the account's own PDS (`{service}/xrpc/{nsid}`) and returns an `XrpcReply`,
an `XrpcError` (the PDS answered with its `{"error", "message"}` envelope) or a failure outcome
from `platforms.base` for answers that carry nothing more (network errors, proxies). Nothing
raises for a platform or network problem, and no error text carries a credential.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from common.clock import utcnow
from common.config import Settings
from common.platforms.base import AuthExpired, Failure, Permanent, RateLimited, Retryable
from common.platforms.http import Method, NetworkClient, json_of, without_envelope
from common.redact import redact

log = logging.getLogger(__name__)

# A 429 without a usable `ratelimit-reset` header: wait this long.
DEFAULT_THROTTLE_SECONDS = 900
MAX_MESSAGE = 300
# Errors that say the credential itself no longer works (revoked app password, taken-down or
# deactivated account); ExpiredToken is only the short-lived access JWT and is refreshed first.
_AUTH_ERRORS = frozenset(
    {"AuthenticationRequired", "InvalidToken", "AccountTakedown", "AccountDeactivated"}
)
EXPIRED_TOKEN = "ExpiredToken"  # noqa: S105 (an error name, not a secret)


@dataclass(frozen=True)
class XrpcReply:
    body: dict[str, Any]


@dataclass(frozen=True)
class XrpcError:
    """The PDS's error envelope, as far as it was present; the message already redacted."""

    status: int
    error: str
    message: str
    reset_at: datetime | None  # from `ratelimit-reset`, when the answer carried it


class XrpcClient(NetworkClient):
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__("xrpc", settings, clock)

    def call(
        self,
        method: Method,
        service: str,
        nsid: str,
        *,
        bearer: str | None = None,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        data: bytes | None = None,
        content_type: str | None = None,
        secrets: Iterable[str] = (),
        idempotent: bool,
    ) -> XrpcReply | XrpcError | Failure:
        """One request. `idempotent=False` marks the send (createRecord): an answer lost after
        it went out is Ambiguous, so the caller looks before anything is sent again."""
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        if content_type:
            headers["Content-Type"] = content_type
        response = self._session.send(
            method,
            f"{service.rstrip('/')}/xrpc/{nsid}",
            call=nsid,
            idempotent=idempotent,
            params=params,
            json=body,
            data=data,
            headers=headers,
        )
        if not isinstance(response, requests.Response):
            return response
        return self._interpret(response, [bearer or "", *secrets], idempotent=idempotent)

    def _interpret(
        self, response: requests.Response, secrets: list[str], *, idempotent: bool
    ) -> XrpcReply | XrpcError | Failure:
        body = json_of(response)
        if response.ok and isinstance(body, dict):
            return XrpcReply(body)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            message = redact(str(body.get("message") or ""), [s for s in secrets if s])
            error = XrpcError(
                response.status_code,
                body["error"],
                message[:MAX_MESSAGE],
                _reset_at(response.headers),
            )
            log.warning("xrpc error", extra={"status": error.status, "error": error.error})
            return error
        # A proxy or load balancer answered, not the PDS.
        retry_at = _reset_at(response.headers) or self._default_wait()
        source = "an XRPC error"
        return without_envelope(response.status_code, source, retry_at, idempotent=idempotent)

    def _default_wait(self) -> datetime:
        return self._clock() + timedelta(seconds=DEFAULT_THROTTLE_SECONDS)

    def classify(self, error: XrpcError, *, idempotent: bool) -> Failure:
        """An XRPC error to the taxonomy. A 5xx answered to the send is `after_send`: the PDS
        answers a repeated record key with 500 too, so the caller looks before deciding."""
        label = f"{error.error}: {error.message}" if error.message else error.error
        if error.status == 429 or error.error == "RateLimitExceeded":
            return RateLimited(error.reset_at or self._default_wait(), label)
        if error.error in _AUTH_ERRORS or error.error == EXPIRED_TOKEN or error.status == 401:
            return AuthExpired(label)
        if error.status >= 500:
            return Retryable(label, after_send=not idempotent)
        return Permanent(f"bluesky_{error.error}", error.message or error.error)


def _reset_at(headers: Mapping[str, str]) -> datetime | None:
    """`ratelimit-reset` is the Unix time (seconds) at which the window reopens."""
    raw = headers.get("ratelimit-reset") or headers.get("RateLimit-Reset")
    try:
        return datetime.fromtimestamp(int(raw or ""), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
