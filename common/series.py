"""Recurring posts, pure: the occurrences of an RFC 5545 rule (dateutil's rrule) in a named
zone, as wall-clock times, so 09:00 stays 09:00 across daylight-saving changes.

An occurrence whose local time the clock skips or shows twice that day is not made: single
posts refuse those times (clock.resolve), and a series follows the same rule (it is reported
as skipped). Occurrences are produced in bounded batches after a cursor (the last local time
handled), never all at once: a rule without COUNT or UNTIL is endless.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from dateutil.rrule import rrule, rrulestr

from common.clock import TimeError, resolve, zone

_COUNT = re.compile(r"\bCOUNT=(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Occurrence:
    local: datetime  # naive wall-clock time in the series' zone; names the occurrence
    instant: datetime | None  # None: skipped (the local time does not exist or is doubled)


def parse_rule(rule: str, start: datetime) -> rrule:
    """The rule from `start` (naive local). ValueError when it is not an RFC 5545 RRULE."""
    if "DTSTART" in rule.upper():
        raise ValueError("give the start separately, not as DTSTART")
    parsed = rrulestr(rule, dtstart=start)
    if not isinstance(parsed, rrule):
        raise ValueError("give one RRULE")
    return parsed


def batch(
    rule: str,
    time_zone: str,
    start: datetime,
    after: datetime | None,
    until: datetime,
    limit: int,
    ends_before: datetime | None = None,
) -> list[Occurrence]:
    """At most `limit` occurrences strictly after `after` (None: from `start`, inclusive) and
    at or before the instant `until`, in order; none at or after the local `ends_before` (the
    point where a later definition took over, see `successor_rule`)."""
    tz = zone(time_zone)
    recurrence = parse_rule(rule, start)
    local_until = until.astimezone(tz).replace(tzinfo=None)
    found: list[Occurrence] = []
    for local in recurrence.xafter(after or start, count=limit, inc=after is None):
        if local > local_until or (ends_before is not None and local >= ends_before):
            break
        try:
            instant: datetime | None = resolve(local.isoformat(), time_zone).instant
        except TimeError:
            instant = None
        found.append(Occurrence(local, instant))
    return found


def following(
    rule: str, start: datetime, after: datetime | None, ends_before: datetime | None
) -> datetime | None:
    """The first local occurrence after `after` (None: from `start`, inclusive), before
    `ends_before`; None when the rule has no more."""
    found = parse_rule(rule, start).after(after or start, inc=after is None)
    if found is None or (ends_before is not None and found >= ends_before):
        return None
    return found


def approximate_instant(local: datetime, time_zone: str) -> datetime:
    """An instant for a local time even on a daylight-saving change (the earlier reading): for
    planning when to look again, never for a post's time."""
    return local.replace(tzinfo=zone(time_zone)).astimezone(UTC)


def successor_rule(rule: str, start: datetime, split_at: datetime) -> str:
    """The same rule for a series that takes over at the occurrence `split_at`: a COUNT keeps
    only the occurrences still to come (UNTIL and the rest read the same from any start)."""
    count = _COUNT.search(rule)
    if count is None:
        return rule
    before = len(parse_rule(rule, start).between(start, split_at, inc=True)) - 1  # split_at is one
    left = int(count.group(1)) - before
    return f"{rule[: count.start(1)]}{left}{rule[count.end(1) :]}"
