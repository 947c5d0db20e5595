"""The Mongo filter for "the post is in a state this action may start from", built from the one
table of starting states (common.transitions.starts.ALLOWED), so the writes here and the refusals
explained from that table never disagree."""

from __future__ import annotations

from datetime import datetime

from common.db import Doc
from common.transitions.starts import ALLOWED, Action, From

# A post in one of these holds its posting slot; a canceled, failed or unknown one has freed it.
HOLDS_SLOT = ["draft", "pending_approval", "importing", "scheduled", "publishing", "published"]


def _clause(start: From, now: datetime | None) -> Doc:
    clause: Doc = {"status": start.status}
    if start.unsent:
        clause["sendStartedAt"] = None
    if start.lease_expired:
        if now is None:
            raise ValueError("a lease's expiry needs the time it is judged at")
        clause["lease.expiresAt"] = {"$lt": now}
    return clause


def starting_filter(action: Action, now: datetime | None) -> Doc:
    """Plain statuses become one `status` condition; narrowed ones their own `$or` branch.
    Every branch leads with `status`, so the status-led indexes serve it. `now` judges lease
    expiry; None for an action whose starting states name no lease."""
    starts = ALLOWED[action].starts
    plain = [s.status for s in starts if not (s.unsent or s.lease_expired)]
    clauses: list[Doc] = []
    if plain:
        clauses.append({"status": plain[0] if len(plain) == 1 else {"$in": plain}})
    clauses.extend(_clause(s, now) for s in starts if s.unsent or s.lease_expired)
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}
