"""The one table of where each action on a post may start (starts.ALLOWED), read in Python:
`allows` and the refusal an operator is told. Each row: an action, the post's state written
short (status, `+sent` once its send began, `+expired` once its runner's lease ran out), and the
expected answer: `ok` or the refusal's name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from common.model import Content, Lease, Post
from common.transitions.starts import ALLOWED, Action, Refusal, allows, refusal

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def post_in(state: str, version: int = 1) -> Post:
    status, *marks = state.split("+")
    lease = None
    if status == "publishing":
        expires = NOW - timedelta(seconds=1) if "expired" in marks else NOW + timedelta(minutes=5)
        lease = Lease("run-1", 1, expires)
    return Post(
        id=ObjectId(),
        account_id="acct",
        platform="facebook",
        content=Content(text="hello"),
        scheduled_at=NOW,
        time_zone="UTC",
        due_at=NOW,
        status=status,  # type: ignore[arg-type]
        version=version,
        lease=lease,
        send_started_at=NOW - timedelta(minutes=1) if "sent" in marks else None,
    )


ROWS: list[tuple[Action, str, str]] = [
    ("edit", "scheduled", "ok"),
    ("edit", "publishing", "ok"),
    ("edit", "publishing+sent", "SEND_BEGUN"),
    ("edit", "failed", "NOT_EDITABLE"),
    ("edit", "published", "NOT_EDITABLE"),
    ("cancel", "scheduled", "ok"),
    ("cancel", "failed", "ok"),
    ("cancel", "unknown", "ok"),
    ("cancel", "publishing", "ok"),
    ("cancel", "publishing+sent", "SEND_BEGUN"),
    ("cancel", "published", "FINISHED"),
    ("cancel", "canceled", "FINISHED"),
    ("retry", "failed", "ok"),
    ("retry", "unknown", "ok"),
    ("retry", "scheduled", "NOT_RETRYABLE"),
    ("retry", "publishing+sent", "SEND_BEGUN"),
    ("retry", "published", "NOT_RETRYABLE"),
    ("claim", "scheduled", "ok"),
    ("claim", "publishing+expired", "TAKEN"),
    ("claim", "importing", "TAKEN"),
    ("take_over", "publishing+expired", "ok"),
    ("take_over", "publishing+sent+expired", "ok"),
    ("take_over", "publishing", "TAKEN"),
    ("claim_for_task", "scheduled", "ok"),
    ("claim_for_task", "publishing+expired", "ok"),
    ("claim_for_task", "publishing", "TAKEN"),
    ("claim_for_task", "published", "TAKEN"),
    ("hold", "publishing+sent", "ok"),
    ("hold", "scheduled", "TAKEN"),
    ("release_unsent", "publishing", "ok"),
    ("release_unsent", "publishing+sent", "SEND_BEGUN"),
    ("mark_found", "unknown", "ok"),
    ("mark_found", "failed", "TAKEN"),
    ("activate_import", "importing", "ok"),
    ("activate_import", "scheduled", "TAKEN"),
    ("release_held", "scheduled", "ok"),
    ("release_held", "failed", "TAKEN"),
    ("edit", "draft", "ok"),
    ("edit", "pending_approval", "NOT_EDITABLE"),
    ("cancel", "draft", "ok"),
    ("cancel", "pending_approval", "ok"),
    ("submit", "draft", "ok"),
    ("submit", "pending_approval", "NOT_DRAFT"),
    ("submit", "scheduled", "NOT_DRAFT"),
    ("approve", "pending_approval", "ok"),
    ("approve", "draft", "NOT_PENDING"),
    ("approve", "scheduled", "NOT_PENDING"),
    ("approve", "canceled", "NOT_PENDING"),
    ("send_back", "pending_approval", "ok"),
    ("send_back", "draft", "NOT_PENDING"),
    ("send_back", "publishing+sent", "SEND_BEGUN"),
    ("claim", "draft", "TAKEN"),
    ("claim", "pending_approval", "TAKEN"),
    ("claim_for_task", "draft", "TAKEN"),
    ("take_over", "draft", "TAKEN"),
    ("end_series", "scheduled", "ok"),
    ("end_series", "pending_approval", "ok"),
    ("end_series", "publishing", "ok"),
    ("end_series", "publishing+sent", "SEND_BEGUN"),
    ("end_series", "failed", "FINISHED"),
    ("end_series", "published", "FINISHED"),
    ("cancel", "waiting", "ok"),
    ("edit", "waiting", "NOT_EDITABLE"),
    ("retry", "waiting", "NOT_RETRYABLE"),
    ("claim", "waiting", "TAKEN"),
    ("claim_for_task", "waiting", "TAKEN"),
    ("end_series", "waiting", "FINISHED"),
    ("release_follow_up", "waiting", "ok"),
    ("release_follow_up", "scheduled", "TAKEN"),
    ("release_follow_up", "canceled", "TAKEN"),
    ("stop_follow_up", "waiting", "ok"),
    ("stop_follow_up", "scheduled", "TAKEN"),
    ("stop_follow_up", "publishing+sent", "SEND_BEGUN"),
    ("revive_follow_up", "failed", "ok"),
    ("revive_follow_up", "canceled", "TAKEN"),
    ("revive_follow_up", "published", "TAKEN"),
]


@pytest.mark.parametrize(("action", "state", "expected"), ROWS)
def test_the_table_allows_or_explains_each_starting_state(
    action: Action, state: str, expected: str
) -> None:
    post = post_in(state)
    why = refusal(action, post, NOW)
    assert allows(action, post, NOW) is (expected == "ok")
    assert (why.name if why is not None else "ok") == expected


def test_every_action_of_the_table_has_a_row() -> None:
    assert {action for action, _, _ in ROWS} == set(ALLOWED) - {"discard_import", "record_task"}


def test_a_post_that_does_not_exist_is_not_found() -> None:
    assert refusal("cancel", None, NOW) is Refusal.NOT_FOUND


def test_a_version_changed_since_it_was_read_is_stale_until_its_send_begins() -> None:
    assert refusal("edit", post_in("scheduled", version=2), NOW, version=1) is Refusal.STALE
    assert refusal("edit", post_in("published", version=2), NOW, version=1) is Refusal.STALE
    assert (
        refusal("edit", post_in("publishing+sent", version=2), NOW, version=1) is Refusal.SEND_BEGUN
    )
    assert refusal("edit", post_in("scheduled", version=2), NOW, version=2) is None
