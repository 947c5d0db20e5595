"""The posts package's Mongo filters and the table read in Python agree: for every action, the
filter built from starts.ALLOWED matches exactly the posts `allows` lets it start from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from pymongo.database import Database

from common.db import POSTS, Doc
from common.model import STATUSES, Post
from common.posts.states import starting_filter
from common.transitions.starts import ALLOWED, Action, allows

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
LEASES = {
    "no lease": None,
    "live lease": NOW + timedelta(minutes=5),
    "expired lease": NOW - timedelta(seconds=1),
}


def _every_state() -> list[Doc]:
    docs = []
    for status, sent, lease in product(STATUSES, (False, True), LEASES):
        doc: Doc = {
            "accountId": "acct",
            "platform": "facebook",
            "content": {"text": "hello"},
            "scheduledAt": NOW,
            "timeZone": "UTC",
            "dueAt": NOW,
            "status": status,
            "version": 1,
            "sendStartedAt": NOW - timedelta(minutes=1) if sent else None,
            "state": f"{status}, {'sent' if sent else 'unsent'}, {lease}",
        }
        if LEASES[lease] is not None:
            doc["lease"] = {"runId": "run-1", "fence": 1, "expiresAt": LEASES[lease]}
        docs.append(doc)
    return docs


@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_the_filter_matches_exactly_the_states_the_table_allows(
    db: Database[Doc], action: Action
) -> None:
    db[POSTS].insert_many(_every_state())
    stored = list(db[POSTS].find())
    expected = sorted(d["state"] for d in stored if allows(action, Post.from_doc(d), NOW))
    matched = sorted(d["state"] for d in db[POSTS].find(starting_filter(action, NOW)))
    assert len(stored) == len(STATUSES) * 2 * len(LEASES)
    assert expected  # every action starts from some state
    assert matched == expected
