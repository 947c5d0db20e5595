"""The one Graph API client: a pooled session, pinned version, and errors mapped to the taxonomy.

Every call returns either a `GraphReply` or one failure outcome from `platforms.base`; nothing
raises for a platform or network problem. The token travels in the Authorization header (never
in a URL that could reach a log), and no error text ever contains it, in any encoding.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests

from common.clock import utcnow
from common.config import Settings
from common.platforms.base import (
    AuthExpired,
    Failure,
    LoginRefused,
    Permanent,
    RateLimited,
    Retryable,
)
from common.platforms.http import Method, NetworkClient, json_of, without_envelope
from common.redact import CREDENTIAL_PARAMS, redact

log = logging.getLogger(__name__)

# Throttling without a recovery estimate: back off this long (the reference suggests minutes up
# to an hour; a quarter of an hour keeps a whole page from stalling for long).
DEFAULT_THROTTLE_SECONDS = 900
# Meta's "temporarily blocked" (368) asks for hours, not minutes.
POLICY_BLOCK_SECONDS = 3600
# Media still processing on publish (9007/2207027): look again a minute later.
NOT_READY_SECONDS = 60
QUOTA_EXHAUSTED_SECONDS = 3600
USAGE_HEADERS = ("X-App-Usage", "X-Page-Usage", "X-Business-Use-Case-Usage")
MAX_MESSAGE = 300

_RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613}) | frozenset(range(80000, 80015))
_AUTH_CODES = frozenset({102, 190, 10}) | frozenset(range(200, 300))
_TRANSIENT_CODES = frozenset({1, 2, -1, -2})
# Instagram subcodes whose code alone would mislead.
_IG_QUOTA_USED_UP = 2207042
_IG_NOT_READY = 2207027
_IG_SPAM_FLAG = 2207051
_IG_ACCOUNT_RESTRICTED = 2207050
_IG_RETRY_SUBCODES = frozenset({2207001, 2207003, 2207006, 2207008, 2207020, 2207032, 2207052})
_IG_RETRY_SUBCODES |= frozenset({2207053})


@dataclass(frozen=True)
class Usage:
    """What the usage headers say: the highest percentage and when access returns."""

    max_percent: float = 0.0
    regain_seconds: int = 0


@dataclass(frozen=True)
class GraphReply:
    body: dict[str, Any]
    usage: Usage


@dataclass(frozen=True)
class GraphError:
    """Meta's error envelope, as far as it was present."""

    code: int | None
    subcode: int | None
    message: str
    is_transient: bool
    fbtrace_id: str | None


class GraphClient(NetworkClient):
    """Calls `{META_GRAPH_URL}/{META_API_VERSION}/{path}` on one reusable session, or another
    host of Meta's with the same envelopes (Threads' `graph.threads.net`: `host`, `version`;
    an empty version for Threads' unversioned token refresh)."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        *,
        host: str | None = None,
        version: str | None = None,
        sign: bool = True,
    ) -> None:
        base = (host or settings.meta_graph_url).rstrip("/")
        pinned = settings.meta_api_version if version is None else version
        self._base = f"{base}/{pinned}" if pinned else base
        # META_APP_SECRET signs calls to Meta's Graph API only; Threads apps have their own.
        self._app_secret = settings.meta_app_secret if sign else None
        timeout = (settings.meta_connect_timeout_seconds, settings.meta_read_timeout_seconds)
        super().__init__("graph", settings, clock, timeout)

    def call(
        self,
        method: Method,
        path: str,
        token: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotent: bool,
    ) -> GraphReply | Failure:
        """One request. `idempotent=False` marks the non-idempotent send (feed, media_publish):
        a timeout or broken answer after it went out is Ambiguous, not Retryable."""
        query, body = self._arguments(method, token, params or {})
        response = self._session.send(
            method,
            f"{self._base}/{path.lstrip('/')}",
            call=_shape(path),
            idempotent=idempotent,
            params=query,
            data=body,
            # The token exchange is the one call made without a token.
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )
        if not isinstance(response, requests.Response):
            return response
        secrets = self._secrets(token, params or {})
        return self._interpret(response, secrets, idempotent=idempotent)

    # --- building the request -------------------------------------------------------------

    def _arguments(
        self, method: Method, token: str, params: Mapping[str, Any]
    ) -> tuple[dict[str, str], dict[str, str] | None]:
        values = {key: _encode(value) for key, value in params.items() if value is not None}
        values.update(self._proof(token))
        return (values, None) if method == "GET" else ({}, values)

    def _proof(self, token: str) -> dict[str, str]:
        """The time-stamped appsecret_proof of Meta's current Login Security guide."""
        if not self._app_secret:
            return {}
        stamp = str(int(time.time()))
        digest = hmac.new(
            self._app_secret.encode(), f"{token}|{stamp}".encode(), hashlib.sha256
        ).hexdigest()
        return {"appsecret_proof": digest, "appsecret_time": stamp}

    def _secrets(self, token: str, params: Mapping[str, Any]) -> list[str]:
        """Everything this request carried that must never come back out in an error."""
        sent = [str(params[name]) for name in CREDENTIAL_PARAMS if params.get(name)]
        return [token, *sent, *([self._app_secret] if self._app_secret else [])]

    # --- reading the answer ---------------------------------------------------------------

    def _interpret(
        self, response: requests.Response, secrets: Iterable[str], *, idempotent: bool
    ) -> GraphReply | Failure:
        usage = parse_usage(response.headers)
        body = json_of(response)
        if response.ok and isinstance(body, dict) and "error" not in body:
            return GraphReply(body, usage)
        error = parse_error(body, secrets)
        if error is None:
            # A proxy or load balancer answered, not the Graph API.
            retry_at = self._clock() + timedelta(seconds=DEFAULT_THROTTLE_SECONDS)
            source = "a Graph error"
            return without_envelope(response.status_code, source, retry_at, idempotent=idempotent)
        log.warning(
            "graph error",
            extra={
                "status": response.status_code,
                "code": error.code,
                "subcode": error.subcode,
                "fbtraceId": error.fbtrace_id,
            },
        )
        outcome = classify(error, usage, self._clock())
        if not idempotent and isinstance(outcome, Retryable):
            # Meta can apply a write and still answer with a transient error (reference §7).
            return Retryable(outcome.reason, after_send=True)
        return outcome


def granted_token(reply: GraphReply | Failure, refused: str, empty: str) -> str | LoginRefused:
    """The `access_token` a token endpoint (Meta's or Threads') answered; its failure refuses
    the login with `refused` and the reason, an answer without a token with `empty`."""
    if not isinstance(reply, GraphReply):
        return LoginRefused.answered(refused, reply)
    token = str(reply.body.get("access_token") or "")
    return token or LoginRefused(empty)


def create_each(
    client: GraphClient, path: str, token: str, each: Iterable[Mapping[str, Any]]
) -> list[str] | Failure:
    """POSTs every `each` to `path` (unpublished photos, carousel items: invisible until a
    parent publishes them and expiring by themselves, so asking again is safe); the ids made, in
    order, or the first failure."""
    made = []
    for params in each:
        reply = client.call("POST", path, token, params, idempotent=True)
        if not isinstance(reply, GraphReply):
            return reply
        made.append(str(reply.body["id"]))
    return made


def classify(error: GraphError, usage: Usage, now: datetime) -> Failure:
    """Meta's error codes (shared/reference/meta-graph-api.md section 3) to the taxonomy."""
    code, sub = error.code, error.subcode
    label = f"({code}/{sub}) {error.message}" if sub else f"({code}) {error.message}"
    if sub == _IG_SPAM_FLAG:
        return Permanent(f"meta_{code}_{sub}", error.message)
    if sub == _IG_QUOTA_USED_UP:
        return RateLimited(now + timedelta(seconds=QUOTA_EXHAUSTED_SECONDS), label)
    if sub == _IG_NOT_READY:
        return RateLimited(now + timedelta(seconds=NOT_READY_SECONDS), label, account_wide=False)
    if code in _AUTH_CODES or sub == _IG_ACCOUNT_RESTRICTED:
        return AuthExpired(label)
    if code in _RATE_LIMIT_CODES:
        wait = usage.regain_seconds or DEFAULT_THROTTLE_SECONDS
        return RateLimited(now + timedelta(seconds=wait), label)
    if code == 368:
        return RateLimited(now + timedelta(seconds=POLICY_BLOCK_SECONDS), label)
    if error.is_transient or code in _TRANSIENT_CODES or sub in _IG_RETRY_SUBCODES:
        return Retryable(label)
    return Permanent(f"meta_{code}" + (f"_{sub}" if sub else ""), error.message)


def parse_error(body: object, secrets: Iterable[str]) -> GraphError | None:
    """Meta's error envelope; its message masked before it is cut (a cut could split a token
    so that it no longer matches) and before it reaches any outcome, store or log."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    raw: dict[str, Any] = body["error"]
    message = redact(str(raw.get("message", "")), secrets)[:MAX_MESSAGE]
    return GraphError(
        code=_int_or_none(raw.get("code")),
        subcode=_int_or_none(raw.get("error_subcode")),
        message=message,
        is_transient=raw.get("is_transient") is True,
        fbtrace_id=str(raw["fbtrace_id"]) if raw.get("fbtrace_id") else None,
    )


def parse_usage(headers: Mapping[str, str]) -> Usage:
    """Each header is JSON: percentages 0-100; `estimated_time_to_regain_access` in minutes."""
    highest, regain_minutes = 0.0, 0
    for name in USAGE_HEADERS:
        value = _json_header(headers.get(name))
        for entry in _usage_entries(value):
            for key in ("call_count", "total_cputime", "total_time"):
                highest = max(highest, _float(entry.get(key)))
            regain_minutes = max(
                regain_minutes, int(_float(entry.get("estimated_time_to_regain_access")))
            )
    return Usage(max_percent=highest, regain_seconds=regain_minutes * 60)


def _usage_entries(value: object) -> list[dict[str, Any]]:
    """X-App-Usage is one object; X-Business-Use-Case-Usage maps ids to lists of objects."""
    if not isinstance(value, dict):
        return []
    if any(key in value for key in ("call_count", "total_cputime", "total_time")):
        return [value]
    entries: list[dict[str, Any]] = []
    for per_object in value.values():
        if isinstance(per_object, list):
            entries.extend(e for e in per_object if isinstance(e, dict))
    return entries


def _json_header(raw: str | None) -> object:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return None


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _shape(path: str) -> str:
    """The path's edge only (ids are not secret, but logs need the kind of call)."""
    return path.rsplit("/", 1)[-1] if "/" in path else "node"
