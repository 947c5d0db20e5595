"""The publish function's answers to Cloud Tasks: the per-task work returns a value and only
the transport picks the status code (any 2xx ends the task; 503 has it delivered again)."""

from __future__ import annotations

from common.dispatch.work import Done, InProgress, Stale, TaskResult
from common.entrypoints.publish_http import _status_code


def test_a_task_comes_again_only_while_its_post_is_in_progress_or_not_yet_due() -> None:
    answers: list[tuple[TaskResult, int]] = [
        (Done("published"), 200),
        (Done("deferred"), 200),
        (Done("lease_lost"), 200),
        (Stale(), 200),
        (InProgress("in_progress"), 503),
        (InProgress("not_yet"), 503),
    ]
    assert [(result.outcome, _status_code(result)) for result, _ in answers] == [
        (result.outcome, code) for result, code in answers
    ]
