"""The deployment's own routes (the `admin` scope, not limited to accounts): the execution lock
and the API keys, through the same use cases as the CLI on the database."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Response

from common import apikeys, lock
from common.entrypoints import api_answers, api_body, web
from common.entrypoints.api.call import Call, RouteHandler, read_body, refuse_body
from common.entrypoints.api.shapes.admin import LockRelease, NewKey


def get_lock(call: Call) -> Response:
    held = lock.read_state(call.db).get("lock")
    return web.json_response(api_answers.lock_json(held, call.now), 200, call.rid)


def release_lock(call: Call) -> Response:
    """An expired lock, or with `force` a live one: the run that held it can no longer renew it
    or record itself as the holder."""
    asked = api_body.parse(LockRelease, read_body(call.request))
    released = lock.force_release(call.db, call.now, only_if_expired=not asked.force)
    call.audit("lock.release", ["force"] if asked.force else [], 200)
    return web.json_response({"released": released}, 200, call.rid)


def list_keys(call: Call) -> Response:
    keys = [api_answers.key_json(k) for k in apikeys.list_all(call.db)]
    return web.json_response({"keys": keys}, 200, call.rid)


def create_key(call: Call) -> Response:
    asked = api_body.parse(NewKey, read_body(call.request))
    accounts = None if asked.accounts is None else list(asked.accounts)
    try:
        made = apikeys.create(call.db, asked.name, list(asked.scopes), call.now, accounts)
    except ValueError as exc:  # a name of spaces only
        raise web.HttpError(400, str(exc)) from exc
    call.audit("keys.create", [made.key.id], 201)
    return web.json_response(api_answers.created_key_json(made), 201, call.rid)


def revoke_key(call: Call) -> Response:
    refuse_body(call.request)
    if not apikeys.revoke(call.db, call.path_id, call.now):
        raise web.HttpError(404, "No live key with this id")
    call.audit("keys.revoke", [call.path_id], 200)
    return web.json_response({"id": call.path_id, "revoked": True}, 200, call.rid)


HANDLERS: Mapping[str, RouteHandler] = {
    "get_lock": get_lock,
    "release_lock": release_lock,
    "list_keys": list_keys,
    "create_key": create_key,
    "revoke_key": revoke_key,
}
