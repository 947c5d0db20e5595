"""The Bluesky sandbox as a WSGI app: XRPC methods under /xrpc/, the control surface under
/_sandbox/ (the same as the Meta sandbox's: posts as JSON and HTML, stats, accounts, faults,
reset), and test images under /_sandbox/media/ (Bluesky stores blobs; the adapter fetches them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from devstack.bluesky.state import Account, BlueskyState, XrpcFault
from devstack.sandbox.surface import Failures, Route, StandIn, json_answer, json_object, posts_page

WRITES = frozenset({"com.atproto.repo.createRecord", "com.atproto.repo.uploadBlob"})
RATE_LIMIT_WINDOW_SECONDS = 300
POST_ROUTES = frozenset({"reset", "accounts", "faults", "expire"})  # under /_sandbox/
_SERVER_ERROR = XrpcFault(500, "InternalServerError", "Internal Server Error")


class BlueskyApp(StandIn[BlueskyState]):
    post_routes = POST_ROUTES

    def __init__(self) -> None:
        super().__init__(BlueskyState)

    def serve(self, request: Request, parts: list[str]) -> Response:
        if len(parts) != 2 or parts[0] != "xrpc":
            return _error(XrpcFault(404, "MethodNotImplemented", "Method Not Implemented"))
        nsid = parts[1]
        self.count(f"{request.method} {nsid}")
        try:
            return self._xrpc(request, nsid)
        except XrpcFault as fault:
            return _error(fault)

    # --- XRPC -------------------------------------------------------------------------------

    def _xrpc(self, request: Request, nsid: str) -> Response:
        handler = _METHODS.get((request.method, nsid))
        if handler is None:
            raise XrpcFault(501, "MethodNotImplemented", f"Method Not Implemented: {nsid}")
        with self.lock:
            account, answer = handler(self.state, request)
        if account is None:
            return json_answer(answer())
        return self._with_faults(account, nsid, answer)

    def _with_faults(
        self, account: Account, nsid: str, answer: Callable[[], dict[str, Any]]
    ) -> Response:
        write = nsid if nsid in WRITES else None
        failures = Failures(lambda: _rate_limited(account), lambda: _error(_SERVER_ERROR))
        return self.faulted(account.faults, write, lambda: json_answer(answer()), failures)

    # --- the control surface ----------------------------------------------------------------

    def route(self, route: Route, request: Request) -> Response:
        state = self.state
        body = json_object(request)
        if route == ("POST", "accounts"):
            account = state.add_account(str(body["handle"]), str(body["password"]))
            return json_answer({"did": account.did, "handle": account.handle})
        target = state.by_identifier(str(body.pop("account")))
        if target is None:
            raise KeyError("no such account")
        if route == ("POST", "faults"):
            if "access_ttl_seconds" in body:
                target.access_ttl_seconds = float(body.pop("access_ttl_seconds"))
            target.faults.update(body)
            return json_answer({"account": target.did, "faults": vars(target.faults)})
        if route == ("POST", "expire"):
            state.expire_sessions(target.did)
            return json_answer({"account": target.did})
        return json_answer({"error": "no such sandbox route"}, status=404)

    def page(self) -> str:
        return posts_page("Bluesky", ("created", "repo", "uri", "text", "images"), self.posts())

    def posts(self) -> list[dict[str, Any]]:
        records = sorted(self.state.records.values(), key=lambda r: r.created)
        return [r.to_json() for r in records]


# --- the XRPC methods: each finds the account (for faults) and returns how to answer -------

Answer = tuple[Account | None, Callable[[], dict[str, Any]]]


def _create_session(state: BlueskyState, request: Request) -> Answer:
    body = _body(request)
    identifier, password = str(body.get("identifier", "")), str(body.get("password", ""))
    return state.by_identifier(identifier), lambda: state.create_session(identifier, password)


def _refresh_session(state: BlueskyState, request: Request) -> Answer:
    token = _bearer(request)
    did = state.refresh.get(token)
    return (state.accounts.get(did) if did else None), lambda: state.refresh_session(token)


def _get_session(state: BlueskyState, request: Request) -> Answer:
    account = state.authorized(_bearer(request))
    return account, lambda: {"did": account.did, "handle": account.handle, "active": True}


def _create_record(state: BlueskyState, request: Request) -> Answer:
    account = state.authorized(_bearer(request))
    body = _body(request)
    return account, lambda: state.create_record(account, body)


def _upload_blob(state: BlueskyState, request: Request) -> Answer:
    account = state.authorized(_bearer(request))
    data, mime = request.get_data(), request.headers.get("Content-Type", "")
    if not mime:
        raise XrpcFault(400, "InvalidRequest", "Content-Type is required")
    return account, lambda: state.upload_blob(data, mime)


def _get_record(state: BlueskyState, request: Request) -> Answer:
    args = request.args
    repo, collection, rkey = args.get("repo", ""), args.get("collection", ""), args.get("rkey", "")
    if not (repo and collection and rkey):
        raise XrpcFault(400, "InvalidRequest", "repo, collection and rkey are required")
    return state.by_identifier(repo), lambda: state.get_record(repo, collection, rkey)


def _resolve_handle(state: BlueskyState, request: Request) -> Answer:
    handle = request.args.get("handle", "")
    return None, lambda: state.resolve_handle(handle)


_METHODS: dict[tuple[str, str], Callable[[BlueskyState, Request], Answer]] = {
    ("POST", "com.atproto.server.createSession"): _create_session,
    ("POST", "com.atproto.server.refreshSession"): _refresh_session,
    ("GET", "com.atproto.server.getSession"): _get_session,
    ("POST", "com.atproto.repo.createRecord"): _create_record,
    ("POST", "com.atproto.repo.uploadBlob"): _upload_blob,
    ("GET", "com.atproto.repo.getRecord"): _get_record,
    ("GET", "com.atproto.identity.resolveHandle"): _resolve_handle,
}


def _rate_limited(account: Account) -> Response:
    reset = int(time.time()) + account.faults.regain_minutes * 60
    headers = {
        "ratelimit-limit": "3000",
        "ratelimit-remaining": "0",
        "ratelimit-reset": str(reset),
        "ratelimit-policy": f"3000;w={RATE_LIMIT_WINDOW_SECONDS}",
    }
    return _error(XrpcFault(429, "RateLimitExceeded", "Rate Limit Exceeded"), headers)


def _bearer(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    return header.split(" ", 1)[1].strip() if header.startswith("Bearer ") else ""


def _body(request: Request) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise XrpcFault(400, "InvalidRequest", "A JSON body is required")
    return body


def _error(fault: XrpcFault, headers: dict[str, str] | None = None) -> Response:
    return json_answer(
        {"error": fault.error, "message": fault.message}, headers, status=fault.status
    )
