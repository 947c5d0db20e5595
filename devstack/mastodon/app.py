"""The Mastodon sandbox as a WSGI app: Mastodon's paths under /api/, the control surface under
/_sandbox/ (the same as the Meta sandbox's), and test media under /_sandbox/media/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

from devstack.mastodon import oauth
from devstack.mastodon.state import (
    DEFAULT_SCOPES,
    Account,
    MastodonFault,
    MastodonState,
)
from devstack.sandbox.surface import Failures, Route, StandIn, json_answer, json_object, posts_page

WRITES = frozenset({"POST v1/statuses", "POST v2/media"})
RATE_LIMIT = 300
POST_ROUTES = frozenset({"reset", "accounts", "faults", "configuration"})  # under /_sandbox/
# The scopes each method needs (docs.joinmastodon.org/methods): one of them, or the top-level
# scope above it. An account's statuses are public (read:statuses only adds private ones).
_SCOPES: dict[str, tuple[str, ...]] = {
    "GET v1/accounts/verify_credentials": ("profile", "read:accounts"),
    "POST v1/statuses": ("write:statuses",),
    "POST v2/media": ("write:media",),
    "GET v1/media/:id": ("write:media",),
}
_SERVER_ERROR = MastodonFault(500, "We're sorry, but something went wrong on our end.")


class MastodonApp(StandIn[MastodonState]):
    post_routes = POST_ROUTES

    def __init__(self) -> None:
        super().__init__(MastodonState)

    def serve(self, request: Request, parts: list[str]) -> Response:
        if parts[:1] == ["oauth"]:
            return self._oauth(request, parts[1:])
        if parts[:1] != ["api"]:
            return _error(MastodonFault(404, "Record not found"))
        route = _route_name(request.method, parts[1:])
        self.count(route)
        try:
            return self._api(request, parts[1:], route)
        except MastodonFault as fault:
            return _error(fault)

    # --- the API ----------------------------------------------------------------------------

    def _oauth(self, request: Request, parts: list[str]) -> Response:
        route = f"{request.method} oauth/{'/'.join(parts)}"
        self.count(route)
        with self.lock:
            try:
                if route == "GET oauth/authorize":
                    return oauth.authorize_page(self.state, dict(request.args.items()))
                if route == "POST oauth/authorize":
                    return oauth.decide(self.state, dict(request.form.items()))
                if route == "POST oauth/token":
                    return json_answer(oauth.token(self.state, _body(request)))
            except oauth.PageRefusal as refusal:
                return oauth.refusal_page(refusal)
            except oauth.OAuthError as exc:
                body = {"error": exc.error, "error_description": exc.description}
                return json_answer(body, status=exc.status)
        return _error(MastodonFault(404, "Record not found"))

    def _api(self, request: Request, parts: list[str], route: str) -> Response:
        if route == "GET v2/instance":  # public: no token needed
            with self.lock:
                configuration = self.state.configuration
                return json_answer({"domain": request.host, "configuration": configuration})
        if route == "POST v1/apps":  # registering an app needs no token
            with self.lock:
                return json_answer(oauth.register(self.state, _body(request)))
        header = request.headers.get("Authorization", "")
        token = header.split(" ", 1)[1] if header.startswith("Bearer ") else ""
        with self.lock:
            account = self.state.by_token(token)

        def answer() -> Response:
            status, body = self._answer(request, parts, route, account)
            return json_answer(body, status=status, headers=_rate_headers(RATE_LIMIT - 1))

        write = route if route in WRITES else None
        failures = Failures(lambda: _rate_limited(account), lambda: _error(_SERVER_ERROR))
        return self.faulted(account.faults, write, answer, failures)

    def _answer(
        self, request: Request, parts: list[str], route: str, account: Account
    ) -> tuple[int, Any]:
        state, base = self.state, request.host_url.rstrip("/")
        required = _SCOPES.get(route)
        if required is not None:
            state.require_scope(account, *required)
        if route == "GET v1/accounts/verify_credentials":
            return 200, {"id": account.id, "username": account.username, "acct": account.username}
        if route == "POST v1/statuses":
            body = _body(request)
            key = request.headers.get("Idempotency-Key")
            return 200, state.post_status(account, body, key).to_json(base)
        if route == "POST v2/media":
            upload = request.files.get("file")
            if upload is None:
                raise MastodonFault(422, "Validation failed: File can't be blank")
            description = request.form.get("description", "")
            media = state.upload(account, upload.read(), upload.mimetype, description)
            return (200 if media.processed() else 202), media.to_json(base)
        if route == "GET v1/media/:id":
            found = state.media.get(parts[2])
            if found is None or found.account != account.id:
                raise MastodonFault(404, "Record not found")
            return (200 if found.processed() else 206), found.to_json(base)
        if route == "GET v1/accounts/:id/statuses":
            limit = min(int(request.args.get("limit", "20")), 40)
            statuses = state.timeline(parts[2], limit, request.args.get("max_id"))
            return 200, [s.to_json(base) for s in statuses]
        raise MastodonFault(404, "Record not found")

    # --- the control surface ----------------------------------------------------------------

    def route(self, route: Route, request: Request) -> Response:
        state = self.state
        body = json_object(request)
        if route == ("POST", "accounts"):
            scopes = body.get("scopes")
            account = state.add_account(
                str(body["username"]),
                str(body["token"]),
                DEFAULT_SCOPES if scopes is None else frozenset(str(s) for s in scopes),
            )
            return json_answer({"id": account.id, "username": account.username})
        if route == ("POST", "configuration"):
            return json_answer({"configuration": state.configure(body)})
        target = state.by_name_or_id(str(body.pop("account")))
        if target is None:
            raise KeyError("no such account")
        if route == ("POST", "faults"):
            for name in ("idempotency_seconds", "media_processing_seconds"):
                if name in body:
                    setattr(target, name, float(body.pop(name)))
            target.faults.update(body)
            return json_answer({"account": target.id, "faults": vars(target.faults)})
        return json_answer({"error": "no such sandbox route"}, status=404)

    def page(self) -> str:
        columns = ("created", "account", "id", "text", "media")
        return posts_page("Mastodon", columns, self.posts())

    def posts(self) -> list[dict[str, Any]]:
        return [
            {
                "id": s.id,
                "owner": s.account,
                "kind": "mastodon_status",
                "text": s.text,
                "spoiler_text": s.spoiler_text,
                "visibility": s.visibility,
                "media": [m.description for m in s.media],
                "created": s.created.isoformat(),
                "replyTo": s.in_reply_to_id,
            }
            for s in sorted(self.state.statuses.values(), key=lambda s: int(s.id))
        ]


def _route_name(method: str, parts: list[str]) -> str:
    """`GET v1/media/:id`: ids replaced, so requests are counted per method."""
    named = [":id" if p.isdigit() else p for p in parts]
    return f"{method} {'/'.join(named)}"


def _rate_limited(account: Account) -> Response:
    reset = datetime.now(UTC) + timedelta(minutes=account.faults.regain_minutes)
    return _error(MastodonFault(429, "Too many requests"), _rate_headers(0, reset))


def _rate_headers(remaining: int, reset: datetime | None = None) -> dict[str, str]:
    when = reset or datetime.now(UTC) + timedelta(minutes=5)
    return {
        "X-RateLimit-Limit": str(RATE_LIMIT),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": when.isoformat(timespec="microseconds").replace("+00:00", "Z"),
    }


def _body(request: Request) -> dict[str, Any]:
    """JSON or form bodies, as Mastodon takes both (`media_ids[]` in a form)."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise MastodonFault(422, "Validation failed: invalid JSON")
        return body
    form: dict[str, Any] = dict(request.form.items())
    form["media_ids"] = request.form.getlist("media_ids[]")
    return form


def _error(fault: MastodonFault, headers: dict[str, str] | None = None) -> Response:
    return json_answer({"error": fault.error}, headers, status=fault.status)
