"""Recurring posts, pure: the occurrences of an RFC 5545 rule (dateutil's rrule) in a named
zone, as wall-clock times, so 09:00 stays 09:00 across daylight-saving changes.

An occurrence whose local time the clock skips or shows twice that day is not made: single
posts refuse those times (clock.resolve), and a series follows the same rule (it is reported
as skipped). Occurrences are produced in bounded batches after a cursor (the last local time
handled), never all at once: a rule without COUNT or UNTIL is endless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dateutil.rrule import rrule, rrulestr

from common.clock import TimeError, resolve, zone


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
) -> list[Occurrence]:
    """At most `limit` occurrences strictly after `after` (None: from `start`, inclusive) and
    at or before the instant `until`, in order."""
    tz = zone(time_zone)
    recurrence = parse_rule(rule, start)
    local_until = until.astimezone(tz).replace(tzinfo=None)
    found: list[Occurrence] = []
    for local in recurrence.xafter(after or start, count=limit, inc=after is None):
        if local > local_until:
            break
        try:
            instant: datetime | None = resolve(local.isoformat(), time_zone).instant
        except TimeError:
            instant = None
        found.append(Occurrence(local, instant))
    return found
