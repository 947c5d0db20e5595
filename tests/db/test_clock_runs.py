"""A post typed in a zone's wall-clock time is published at that instant, through a real run."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.database import Database

from common import model
from common.clock import resolve
from common.config import Settings
from common.db import Doc
from common.engine import Trigger, execute_once
from common.posts import store
from tests.conftest import add_account
from tests.recording import registry_for


def test_a_post_scheduled_in_berlin_after_the_change_is_due_at_that_instant(
    db: Database[Doc],
    settings: Settings,
) -> None:
    add_account(db, "a")
    when = resolve("2027-03-28T09:00", "Europe/Berlin")
    pid = store.create(
        db,
        account_id="a",
        platform="facebook",
        content=model.Content("hi"),
        when=when,
        now=datetime(2027, 3, 1, tzinfo=UTC),
    )
    registry = registry_for(db)
    one_second_early = lambda: datetime(2027, 3, 28, 6, 59, 59, tzinfo=UTC)  # noqa: E731
    execute_once(settings, Trigger("cli"), registry, clock=one_second_early)
    assert store.get(db, pid).status == "scheduled"  # type: ignore[union-attr]
    on_time = lambda: datetime(2027, 3, 28, 7, 0, 0, tzinfo=UTC)  # noqa: E731
    execute_once(settings, Trigger("cli"), registry, clock=on_time)
    stored = db["posts"].find_one({"_id": pid})
    assert stored is not None and stored["status"] == "published"
    assert (stored["timeZone"], stored["localTime"]) == (
        "Europe/Berlin",
        "2027-03-28T09:00:00+02:00",
    )
