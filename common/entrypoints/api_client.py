"""A small client of the api function, for the CLI in remote mode (SOCIALSCHED_API_URL and
SOCIALSCHED_API_KEY): the operator's laptop holds an API key, not the database URI or the
token-encryption key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

TIMEOUT_SECONDS = (5.0, 60.0)  # connect, read: a batch of 1,000 posts takes a few seconds
# A run lasts up to the run function's timeout (Cloud Run's HTTP limit is 3600 s).
RUN_TIMEOUT_SECONDS = (5.0, 3600.0)


class ApiRefusal(Exception):  # noqa: N818 (a refusal is an answer, not a crash)
    """The API answered 4xx/5xx: its status, reason and any problems by item (or, for an
    import, by line)."""

    def __init__(
        self,
        status: int,
        message: str,
        problems: list[dict[str, Any]],
        rows: list[dict[str, Any]] | None = None,
        *,
        from_app: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems
        self.rows = rows or []
        # False: no JSON reason, so not our function's answer (e.g. Cloud Run's invoker check).
        self.from_app = from_app


class ApiUnreachable(Exception):  # noqa: N818
    """No answer from the API (network, DNS, timeout)."""


class ApiClient:
    """`headers`: more sent on every request (an ID token for Cloud Run's invoker check)."""

    def __init__(
        self,
        url: str,
        key: str,
        headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] = TIMEOUT_SECONDS,
    ) -> None:
        self._base = url.rstrip("/")
        self._timeout = timeout
        self._session = requests.Session()
        self._session.headers.update(headers or {})
        self._session.headers["Authorization"] = f"Bearer {key}"

    def close(self) -> None:
        self._session.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._call("GET", path, params=params)

    def post(self, path: str, body: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        return self._call("POST", path, json=body, headers=headers)

    def patch(self, path: str, body: Any, headers: Mapping[str, str]) -> Any:
        return self._call("PATCH", path, json=body, headers=headers)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            # No redirect is followed: requests would carry the ID token header (not
            # Authorization) to whatever host the Location names.
            response = self._session.request(
                method, self._base + path, timeout=self._timeout, allow_redirects=False, **kwargs
            )
        except requests.RequestException as exc:
            # The exception's text can carry the URL; its type is enough to act on.
            raise ApiUnreachable(f"the API did not answer: {type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.is_redirect:
            moved = f"HTTP {response.status_code}: a redirect, not followed (give its own URL)"
            raise ApiRefusal(response.status_code, moved, [], from_app=False)
        if response.status_code >= 400:
            message = body.get("error") if isinstance(body, dict) else None
            problems = body.get("problems") if isinstance(body, dict) else None
            rows = body.get("rows") if isinstance(body, dict) else None
            raise ApiRefusal(
                response.status_code,
                str(message or f"HTTP {response.status_code}"),
                list(problems or []),
                list(rows or []),
                from_app=bool(message),
            )
        return body


def fetch_status(url: str) -> Any:
    """The status function's JSON report. Public, so no key is sent; a 503 still carries a
    report (the database is unavailable), so both answers are the report."""
    try:
        response = requests.get(
            url, headers={"Accept": "application/json"}, timeout=TIMEOUT_SECONDS
        )
        body = response.json()
    except requests.RequestException as exc:
        raise ApiUnreachable(f"the status URL did not answer: {type(exc).__name__}") from exc
    except ValueError:
        body = None
    if response.status_code not in (200, 503) or not isinstance(body, dict):
        raise ApiRefusal(response.status_code, f"HTTP {response.status_code}", [])
    return body
