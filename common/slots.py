"""Posting slots: an account's weekly times (weekday and wall-clock time in its zone) and the
next free one, pure (no I/O, no clock: the caller passes `after` and the times taken).

A slot is a wall-clock time, so 09:00 stays 09:00 across daylight-saving changes. A slot the
clock skips that day (02:30 on a spring-forward day) or shows twice (a fall-back day) is not
offered that day: single posts refuse those local times too (clock.resolve), for the same reason.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from common.clock import TimeError, resolve, zone

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far ahead a free slot is looked for: a full queue says so instead of scanning forever.
HORIZON_DAYS = 366
MAX_SLOTS = 7 * 24
_SLOT = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)@([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, order=True)
class Slot:
    weekday: int  # 0 = Monday, as datetime.weekday()
    at: time

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]}@{self.at.strftime('%H:%M')}"

    @classmethod
    def parse(cls, text: str) -> Slot:
        """`mon@09:00`: a weekday and a 24-hour local time."""
        found = _SLOT.match(text.strip().lower())
        if found is None:
            raise ValueError(f"{text!r} is not a slot such as mon@09:00")
        day, hour, minute = found.groups()
        return cls(WEEKDAYS.index(day), time(int(hour), int(minute)))


@dataclass(frozen=True)
class Schedule:
    """An account's slots in its zone (an IANA name)."""

    time_zone: str
    slots: tuple[Slot, ...]


def check(time_zone: str, slots: Sequence[Slot]) -> Schedule:
    zone(time_zone)  # raises TimeError for an unknown zone
    if not slots or len(slots) > MAX_SLOTS:
        raise ValueError(f"give 1 to {MAX_SLOTS} slots")
    return Schedule(time_zone, tuple(sorted(set(slots))))


def occurrences(schedule: Schedule, after: datetime, days: int) -> list[datetime]:
    """The slots' instants (UTC) strictly after `after`, in order, over `days` local days."""
    return list(_instants(schedule, after, days))


def _instants(schedule: Schedule, after: datetime, days: int) -> Iterator[datetime]:
    tz = zone(schedule.time_zone)
    first_day = after.astimezone(tz).date()
    for offset in range(days + 1):
        day = first_day + timedelta(days=offset)
        for slot in schedule.slots:
            if slot.weekday != day.weekday():
                continue
            local = datetime.combine(day, slot.at).isoformat()
            try:
                instant = resolve(local, schedule.time_zone).instant
            except TimeError:
                continue  # skipped or shown twice by a daylight-saving change
            if instant > after:
                yield instant


def next_free(
    schedule: Schedule, after: datetime, taken: Collection[datetime], days: int = HORIZON_DAYS
) -> datetime | None:
    """The first slot after `after` that no post holds; None when every slot is held."""
    # Lazily: the first free slot is mostly days ahead, and a year of 21 weekly slots is
    # 1,100 zone conversions (a queued post's main cost).
    return next((at for at in _instants(schedule, after, days) if at not in taken), None)
