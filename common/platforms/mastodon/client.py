"""The one Mastodon REST client: a pooled session, and every answer mapped to the taxonomy.

Each call goes to the account's instance (`{instance}/api/...`) with its access token in the
Authorization header and returns a `MastodonReply` or one failure outcome from
`platforms.base`. Mastodon's errors are `{"error": "..."}`; the HTTP status says which kind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests

from common.clock import utcnow
from common.config import Settings
from common.platforms.base import AuthExpired, Failure, Permanent, RateLimited, Retryable
from common.platforms.http import Method, NetworkClient, json_of
from common.redact import redact

log = logging.getLogger(__name__)
DEFAULT_THROTTLE_SECONDS = 300  # Mastodon's default window is five minutes
MAX_MESSAGE = 300


@dataclass(frozen=True)
class MastodonReply:
    status: int
    body: Any  # an object for most methods, a list for timelines


class MastodonClient(NetworkClient):
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__("mastodon", settings, clock)

    def call(
        self,
        method: Method,
        instance: str,
        path: str,
        token: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool,
        under_api: bool = True,
    ) -> MastodonReply | Failure:
        """One request; `idempotent=False` marks the status POST, whose lost answer is
        Ambiguous. `under_api=False`: the instance's OAuth paths (`/oauth/token`); an empty
        `token`: a call made without one (registering an app, exchanging a code)."""
        prefix = "/api/" if under_api else "/"
        authorization = {"Authorization": f"Bearer {token}"} if token else {}
        response = self._session.send(
            method,
            f"{instance.rstrip('/')}{prefix}{path.lstrip('/')}",
            call=path,
            idempotent=idempotent,
            params=params,
            json=body if files is None else None,
            data=body if files is not None else None,
            files=files,
            headers={**authorization, **(headers or {})},
        )
        if not isinstance(response, requests.Response):
            return response
        return self._interpret(response, token, idempotent=idempotent)

    def _interpret(
        self, response: requests.Response, token: str, *, idempotent: bool
    ) -> MastodonReply | Failure:
        body = json_of(response)
        status = response.status_code
        if response.ok and body is not None:
            return MastodonReply(status, body)
        message = ""
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            # OAuth errors name a code (`invalid_grant`) and say why in error_description.
            said = " ".join(str(body[k]) for k in ("error", "error_description") if body.get(k))
            message = redact(said, [token] if token else [])[:MAX_MESSAGE]
        log.warning("mastodon error", extra={"status": status})
        return self._classify(status, message, response.headers, idempotent=idempotent)

    def _classify(
        self, status: int, message: str, headers: Mapping[str, str], *, idempotent: bool
    ) -> Failure:
        label = f"HTTP {status}: {message}" if message else f"HTTP {status}"
        if status == 429:
            reset = _reset_at(headers) or self._clock() + timedelta(
                seconds=DEFAULT_THROTTLE_SECONDS
            )
            return RateLimited(reset, label)
        if status in (401, 403):
            return AuthExpired(label)  # revoked or invalid token, missing scope, suspended
        if status >= 500 or status < 400:
            if idempotent:
                return Retryable(label)
            # A 5xx from Mastodon itself may follow an applied write; a gateway's may not
            # have reached it at all. Either way the post must be looked for first.
            return Retryable(label, after_send=True)
        return Permanent(f"mastodon_{status}", message or f"HTTP {status}")


def _reset_at(headers: Mapping[str, str]) -> datetime | None:
    """`X-RateLimit-Reset` is an ISO 8601 timestamp."""
    raw = headers.get("X-RateLimit-Reset")
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
