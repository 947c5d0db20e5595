"""How a post action (edit, cancel, retry, review) answers over HTTP, in the api and in the web
app alike: a post that is not there is 404, a stale version 412, any other state that does not
allow the action 409; every action, done or refused, goes to the audit trail."""

from __future__ import annotations

from bson import ObjectId

from common.entrypoints import web
from common.entrypoints.request_scope import RequestScope
from common.operations import post_actions
from common.transitions.starts import Refusal

_STATUS = {
    Refusal.NOT_FOUND: 404,
    Refusal.STALE: 412,
}


def refusal_status(refused: post_actions.Refused) -> int:
    return _STATUS.get(refused.reason, 409)


def refused_error(refused: post_actions.Refused) -> web.HttpError:
    details = {"status": refused.status} if refused.status else {}
    message = f"Refused: {refused.reason.value}"
    return web.HttpError(refusal_status(refused), message, details=details)


def audited(
    scope: RequestScope,
    action: str,
    post_id: ObjectId,
    result: post_actions.Done | post_actions.Refused,
) -> None:
    """Write the action to the audit trail; a refusal is then raised as its HTTP error."""
    if isinstance(result, post_actions.Refused):
        scope.audit(action, [str(post_id)], refusal_status(result))
        raise refused_error(result)
    scope.audit(action, [str(post_id)], 200)
