"""Posting slots keep their wall-clock time across daylight-saving changes and fill in order."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from common.slots import Slot, check, next_free, occurrences

SLOTS = [Slot.parse(s) for s in ("mon@09:00", "wed@02:30", "fri@18:00", "sun@01:30", "sun@09:00")]


def _local(instants: list[datetime], zone: str) -> list[str]:
    return [i.astimezone(ZoneInfo(zone)).strftime("%a %m-%d %H:%M %Z") for i in instants]


def test_a_week_across_the_spring_change_in_berlin_keeps_each_wall_clock_time() -> None:
    # Clocks moved forward on Sunday 2027-03-28 at 02:00 in Europe/Berlin.
    schedule = check("Europe/Berlin", SLOTS)
    after = datetime(2027, 3, 22, 0, 0, tzinfo=UTC)  # Monday

    week = occurrences(schedule, after, days=7)

    assert _local(week, "Europe/Berlin") == [
        "Mon 03-22 09:00 CET",
        "Wed 03-24 02:30 CET",
        "Fri 03-26 18:00 CET",
        "Sun 03-28 01:30 CET",
        "Sun 03-28 09:00 CEST",
        "Mon 03-29 09:00 CEST",
    ]


def test_a_week_across_the_autumn_change_in_new_york_skips_the_time_shown_twice() -> None:
    # Clocks moved back on Sunday 2027-11-07 at 02:00 in America/New_York: 01:30 happens twice.
    schedule = check("America/New_York", SLOTS)
    after = datetime(2027, 11, 1, 12, 0, tzinfo=UTC)  # Monday 08:00 in New York

    week = occurrences(schedule, after, days=7)

    assert _local(week, "America/New_York") == [
        "Mon 11-01 09:00 EDT",
        "Wed 11-03 02:30 EDT",
        "Fri 11-05 18:00 EDT",
        "Sun 11-07 09:00 EST",
        "Mon 11-08 09:00 EST",
    ]


def test_a_slot_skipped_by_the_spring_change_is_not_offered_that_day() -> None:
    # 2027-03-14: New York's clocks jump from 02:00 to 03:00.
    schedule = check("America/New_York", [Slot.parse("sun@02:30")])
    after = datetime(2027, 3, 8, tzinfo=UTC)

    assert _local(occurrences(schedule, after, days=14), "America/New_York") == [
        "Sun 03-21 02:30 EDT"
    ]


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
def test_filling_a_week_takes_each_free_slot_once_in_order_and_a_freed_slot_comes_back(
    zone: str,
) -> None:
    schedule = check(zone, SLOTS)
    after = datetime(2027, 3, 22, 0, 0, tzinfo=UTC)
    expected = occurrences(schedule, after, days=7)
    taken: list[datetime] = []
    for _ in expected:
        free = next_free(schedule, after, taken, days=7)
        assert free is not None
        taken.append(free)

    assert taken == expected and len(set(taken)) == len(expected)
    assert next_free(schedule, after, taken, days=7) is None
    taken.remove(expected[2])  # the post in the third slot was removed or moved
    assert next_free(schedule, after, taken, days=7) == expected[2]


def test_bad_slots_and_zones_are_refused() -> None:
    for text in ("monday@09:00", "mon@24:00", "mon@9:00", "mon 09:00"):
        with pytest.raises(ValueError, match="is not a slot"):
            Slot.parse(text)
    with pytest.raises(ValueError, match="unknown time zone"):
        check("Mars/Olympus", SLOTS)
    with pytest.raises(ValueError, match="give 1 to"):
        check("UTC", [])
