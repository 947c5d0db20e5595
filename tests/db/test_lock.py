"""The execution lock: one holder, fencing, tick de-duplication, conditional renew and release."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from pymongo.database import Database

from common import lock
from common.db import Doc
from common.run_summary import RunCounts, RunSummary

TTL = timedelta(seconds=300)
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _record(at: datetime) -> RunSummary:
    return RunSummary(
        run_id="x",
        trigger="cli",
        finished_at=at,
        duration=1.0,
        counts=RunCounts(published=2, failed=1),
    )


def test_a_held_lock_is_not_acquired_again(db: Database[Doc]) -> None:
    first = lock.acquire(db, "run-a", T0, TTL)
    assert isinstance(first, lock.LockHandle) and first.fence == 1
    second = lock.acquire(db, "run-b", T0 + timedelta(seconds=10), TTL)
    assert second == lock.Held(holder="run-a", expires_at=T0 + TTL)


def test_an_expired_lock_is_taken_over_with_a_higher_fence(db: Database[Doc]) -> None:
    stale = lock.acquire(db, "run-a", T0, TTL)
    assert isinstance(stale, lock.LockHandle)
    later = T0 + TTL + timedelta(seconds=1)
    fresh = lock.acquire(db, "run-b", later, TTL)
    assert isinstance(fresh, lock.LockHandle) and fresh.fence == stale.fence + 1
    # The stale holder can neither renew nor release the new holder's lock.
    assert stale.renew(later) is False
    assert stale.release(_record(later)) is False
    state = lock.read_state(db)
    assert state["lock"]["holder"] == "run-b"
    assert state["lastRunStatus"] == "lock_lost"  # its statistics are still kept


def test_renew_and_release_by_the_holder(db: Database[Doc]) -> None:
    handle = lock.acquire(db, "run-a", T0, TTL)
    assert isinstance(handle, lock.LockHandle)
    assert handle.renew(T0 + timedelta(seconds=100)) is True
    assert lock.read_state(db)["lock"]["expiresAt"] == T0 + timedelta(seconds=100) + TTL
    assert handle.release(_record(T0 + timedelta(seconds=120))) is True
    state = lock.read_state(db)
    assert "lock" not in state
    assert (state["totalExecutions"], state["totalPostsPublished"], state["totalPostsFailed"]) == (
        1,
        2,
        1,
    )
    assert isinstance(lock.acquire(db, "run-b", T0 + timedelta(seconds=121), TTL), lock.LockHandle)


def test_a_tick_seen_before_is_a_duplicate_even_after_release(db: Database[Doc]) -> None:
    handle = lock.acquire(db, "run-a", T0, TTL, message_id="m-1")
    assert isinstance(handle, lock.LockHandle)
    handle.release(_record(T0))
    assert lock.acquire(db, "run-b", T0, TTL, message_id="m-1") == lock.DuplicateTick("m-1")
    assert isinstance(lock.acquire(db, "run-c", T0, TTL, message_id="m-2"), lock.LockHandle)


def test_sixteen_racing_acquirers_yield_exactly_one_holder(db: Database[Doc]) -> None:
    barrier = threading.Barrier(16)
    results: list[object] = []

    def contend(i: int) -> None:
        barrier.wait()
        results.append(lock.acquire(db, f"run-{i}", T0, TTL))

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    holders = [r for r in results if isinstance(r, lock.LockHandle)]
    assert len(holders) == 1
    assert sum(isinstance(r, lock.Held) for r in results) == 15
    assert lock.read_state(db)["lock"]["holder"] == holders[0].run_id


def test_force_release_refuses_a_live_lock_unless_forced(db: Database[Doc]) -> None:
    lock.acquire(db, "run-a", T0, TTL)
    assert lock.force_release(db, T0 + timedelta(seconds=1), only_if_expired=True) is False
    assert lock.force_release(db, T0 + timedelta(seconds=1), only_if_expired=False) is True
    assert "lock" not in lock.read_state(db)
