"""The post state machine, pure: no I/O, no clock, no database driver (an import contract).

`policy`: `decide(event, post, account, rules, now)`, what happens to a claimed post next.
`starts`: the one table of the states every action on a post may start from (ALLOWED), the
filters of common.posts and the refusals explained to operators both read from it.
Callers use `common.transitions.<name>`; each name loads with its module when first used
(common.lazy_names), so the posts' filters, which read the table, do not load the policy.
"""

from typing import TYPE_CHECKING

from common.lazy_names import lazy_names

if TYPE_CHECKING:
    from common.transitions.policy import (
        CATCH_UP_AFTER,
        AccountEffect,
        AccountHold,
        AccountSeen,
        Decision,
        Due,
        Event,
        Fail,
        Kind,
        Look,
        Looked,
        MarkPublished,
        MarkUnknown,
        NeedsReauth,
        PauseAccount,
        Reschedule,
        Rules,
        Send,
        Skip,
        Step,
        Transition,
        decide,
        kind_of,
        too_late,
    )
    from common.transitions.starts import (
        ALLOWED,
        Action,
        Allowed,
        From,
        Refusal,
        allows,
        refusal,
    )

__all__ = [
    "ALLOWED",
    "CATCH_UP_AFTER",
    "AccountEffect",
    "AccountHold",
    "AccountSeen",
    "Action",
    "Allowed",
    "Decision",
    "Due",
    "Event",
    "Fail",
    "From",
    "Kind",
    "Look",
    "Looked",
    "MarkPublished",
    "MarkUnknown",
    "NeedsReauth",
    "PauseAccount",
    "Refusal",
    "Reschedule",
    "Rules",
    "Send",
    "Skip",
    "Step",
    "Transition",
    "allows",
    "decide",
    "kind_of",
    "refusal",
    "too_late",
]

# Under `not TYPE_CHECKING`: mypy reads the imports above, so a misspelt name stays an error.
if not TYPE_CHECKING:
    __getattr__ = lazy_names(
        __name__,
        {
            "policy": (
                "CATCH_UP_AFTER",
                "AccountEffect",
                "AccountHold",
                "AccountSeen",
                "Decision",
                "Due",
                "Event",
                "Fail",
                "Kind",
                "Look",
                "Looked",
                "MarkPublished",
                "MarkUnknown",
                "NeedsReauth",
                "PauseAccount",
                "Reschedule",
                "Rules",
                "Send",
                "Skip",
                "Step",
                "Transition",
                "decide",
                "kind_of",
                "too_late",
            ),
            "starts": ("ALLOWED", "Action", "Allowed", "From", "Refusal", "allows", "refusal"),
        },
    )
