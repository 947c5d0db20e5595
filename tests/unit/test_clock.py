"""Times: UTC instants inside, the operator's zone kept beside them, naive input refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.clock import TimeError, require_aware, resolve


def test_wall_clock_time_in_berlin_lands_on_the_right_instant_across_dst() -> None:
    # The last Sunday of March 2027 Berlin moves from +01:00 to +02:00 at 02:00 local time.
    before = resolve("2027-03-27T09:00", "Europe/Berlin")
    after = resolve("2027-03-28T09:00", "Europe/Berlin")
    assert before.instant == datetime(2027, 3, 27, 8, 0, tzinfo=UTC)
    assert after.instant == datetime(2027, 3, 28, 7, 0, tzinfo=UTC)
    assert after.instant - before.instant == timedelta(hours=23)  # the short day
    assert after.time_zone == "Europe/Berlin"
    assert after.local_time == "2027-03-28T09:00:00+02:00"


def test_autumn_change_uses_winter_offset_after_it() -> None:
    assert resolve("2027-10-31T09:00", "Europe/Berlin").instant == datetime(
        2027, 10, 31, 8, 0, tzinfo=UTC
    )


def test_a_time_skipped_by_the_spring_change_is_refused() -> None:
    with pytest.raises(TimeError, match="does not exist"):
        resolve("2027-03-28T02:30", "Europe/Berlin")


def test_a_time_that_happens_twice_is_refused_unless_an_offset_says_which() -> None:
    with pytest.raises(TimeError, match="happens twice"):
        resolve("2027-10-31T02:30", "Europe/Berlin")
    second = resolve("2027-10-31T02:30+01:00", "Europe/Berlin")
    assert second.instant == datetime(2027, 10, 31, 1, 30, tzinfo=UTC)


def test_an_explicit_offset_wins_and_the_zone_is_kept_for_display() -> None:
    when = resolve("2027-06-01T12:00:00-04:00", "Europe/Berlin")
    assert when.instant == datetime(2027, 6, 1, 16, 0, tzinfo=UTC)
    assert when.local_time == "2027-06-01T18:00:00+02:00"


@pytest.mark.parametrize(
    ("text", "zone_name"),
    [
        ("0001-01-01T00:00:00+01:00", None),
        ("9999-12-31T23:59:59-01:00", None),
        ("0001-01-01T00:30", "Europe/Berlin"),
    ],
)
def test_times_without_a_utc_equivalent_are_refused_not_crashed(
    text: str, zone_name: str | None
) -> None:
    with pytest.raises(TimeError, match="out of range"):
        resolve(text, zone_name)


@pytest.mark.parametrize("text", ["2027-06-01T12:00", "tomorrow", ""])
def test_times_without_a_zone_or_unparsable_are_refused(text: str) -> None:
    with pytest.raises(TimeError):
        resolve(text)


def test_unknown_zones_are_refused() -> None:
    with pytest.raises(TimeError, match="unknown time zone"):
        resolve("2027-06-01T12:00", "Mars/Olympus")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(TimeError):
        require_aware(datetime(2027, 1, 1))
