"""The review routes of a post: a draft submitted for approval, approved, or sent back."""

from __future__ import annotations

from common.entrypoints.api.shapes.operation import Operation
from common.entrypoints.api.shapes.posts import A_POST
from common.operations.planning import MAX_COMMENT
from common.schema import shape, spec


@shape
class SendBack:
    comment: str = spec(minLength=1, maxLength=MAX_COMMENT)


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "/v1/posts/{id}:submit",
        "POST",
        "submit_post",
        "posts:write",
        "Ask for a draft's approval",
        (A_POST,),
        refusals=(409,),
    ),
    Operation(
        "/v1/posts/{id}:approve",
        "POST",
        "approve_post",
        "posts:approve",
        "Approve a post awaiting approval: it goes out at its time (now, if that has passed "
        "within MAX_LATENESS_SECONDS; later than that is refused)",
        (A_POST,),
        refusals=(409,),
    ),
    Operation(
        "/v1/posts/{id}:sendBack",
        "POST",
        "send_back_post",
        "posts:approve",
        "Send a post awaiting approval back to draft, with a comment for its author",
        (A_POST,),
        body=(SendBack,),
        refusals=(409,),
    ),
)
