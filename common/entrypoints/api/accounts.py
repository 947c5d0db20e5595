"""The accounts resource: list, connect a login, check a credential, set posting slots."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Response

from common import accounts
from common.entrypoints import api_answers, api_body, web
from common.entrypoints.api.call import Call, RouteHandler, read_body, refuse_body, token_key
from common.entrypoints.api.shapes.accounts import PostingSlots
from common.operations import accounts as account_ops
from common.operations import planning, scheduling
from common.platforms.base import LoginRefused


def list_accounts(call: Call) -> Response:
    rows = [
        api_answers.account_json(a) for a in accounts.list_all(call.db) if call.caller.may_use(a.id)
    ]
    return web.json_response({"accounts": rows}, 200, call.rid)


def check_account(call: Call) -> Response:
    account_id = call.path_id
    if not call.caller.may_use(account_id) or accounts.get(call.db, account_id) is None:
        raise web.HttpError(404, "No such account")
    refuse_body(call.request)
    with token_key():
        service = call.service
        health = account_ops.check_tokens(
            call.db, service.cipher, service.registry, call.now, only=[account_id]
        )
    call.audit("accounts.check", [account_id], 200)
    return web.json_response(api_answers.health_json(health[0]), 200, call.rid)


def set_slots(call: Call) -> Response:
    account_id = call.path_id
    if not call.caller.may_use(account_id):
        raise web.HttpError(404, "No such account")
    asked = api_body.parse(PostingSlots, read_body(call.request))
    result = planning.set_posting_slots(call.db, account_id, asked.time_zone, asked.slots, call.now)
    if isinstance(result, scheduling.NoSuchAccount):
        raise web.HttpError(404, "No such account")
    if isinstance(result, scheduling.Invalid):
        raise web.HttpError(400, "; ".join(p.message for p in result.problems))
    call.audit("accounts.set_slots", [account_id], 200)
    return web.json_response(planning.slots_json(result), 200, call.rid)


def connect_accounts(call: Call) -> Response:
    """A login of any network: the accounts it grants are added, or re-authenticated (their
    held posts released), credentials stored encrypted; a refused login stores nothing."""
    if call.caller.accounts is not None:
        raise web.HttpError(403, "A key limited to accounts cannot connect new ones")
    asked = api_body.parse_connect(read_body(call.request))
    service = call.service
    with token_key():
        connector = service.registry.connector(asked.network)
        assert connector is not None  # parse_connect takes only the networks registered
        result = account_ops.connect(
            call.db, service.cipher, connector, asked.login, call.now, asked.account_id
        )
    if isinstance(result, LoginRefused):
        status = 503 if result.unavailable else 422
        call.audit("accounts.connect", [], status)
        raise web.HttpError(status, result.reason[:300])
    call.audit("accounts.connect", [a.account_id for a in result.accounts], 200)
    return web.json_response(api_answers.connected_json(result), 200, call.rid)


HANDLERS: Mapping[str, RouteHandler] = {
    "list_accounts": list_accounts,
    "connect_accounts": connect_accounts,
    "check_account": check_account,
    "set_slots": set_slots,
}
