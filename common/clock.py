"""Instants: always timezone-aware UTC inside the system; wall-clock times only at the edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class TimeError(ValueError):
    """A time the system cannot turn into exactly one instant."""


@dataclass(frozen=True)
class ScheduledTime:
    """The instant a post is due, the operator's zone and the wall-clock time they meant."""

    instant: datetime  # aware, UTC
    time_zone: str
    local_time: str  # ISO-8601 with offset, as it reads in time_zone

    @classmethod
    def utc(cls, instant: datetime) -> ScheduledTime:
        """An instant meant in UTC (`instant` aware, in UTC)."""
        return cls(instant, "UTC", instant.isoformat())


def utcnow() -> datetime:
    return datetime.now(UTC)


def require_aware(value: datetime, what: str = "time") -> datetime:
    """Naive datetimes are rejected everywhere: they have no single meaning."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise TimeError(f"{what} has no time zone; give an offset such as +01:00 or Z")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+01:00 has no UTC equivalent
        raise TimeError(f"{what} is out of range") from exc


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin"
        ) from exc


def resolve(text: str, time_zone: str | None = None) -> ScheduledTime:
    """Turn operator input into a ScheduledTime.

    `text` is ISO-8601. With an offset it names one instant (the zone, default UTC, is kept for
    display). Without an offset it is a wall-clock time in `time_zone`; a time skipped by a
    daylight-saving change, or one that happens twice, is refused rather than guessed.
    """
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise TimeError(f"{text!r} is not an ISO-8601 date and time") from exc
    tz = zone(time_zone or "UTC")
    if parsed.tzinfo is not None:
        instant = require_aware(parsed)
    elif time_zone is None:
        raise TimeError(f"{text!r} has no offset; add one (e.g. +02:00) or give a time zone")
    else:
        instant = _local_to_utc(parsed, tz)
    try:
        local_time = instant.astimezone(tz).isoformat()
    except OverflowError as exc:
        raise TimeError(f"{text!r} is out of range") from exc
    return ScheduledTime(instant, tz.key, local_time)


def _local_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    early = local.replace(tzinfo=tz, fold=0)
    late = local.replace(tzinfo=tz, fold=1)
    try:
        offsets_differ = early.utcoffset() != late.utcoffset()
        early.astimezone(UTC)
    except OverflowError as exc:
        raise TimeError(f"{local.isoformat()} is out of range") from exc
    if offsets_differ:
        # Either the clock jumped over this time (a gap) or it shows it twice (a fold).
        round_trip = early.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        if round_trip != local:
            raise TimeError(
                f"{local.isoformat()} does not exist in {tz.key} (clocks moved forward)"
            )
        raise TimeError(
            f"{local.isoformat()} happens twice in {tz.key} (clocks moved back); "
            "give an explicit offset"
        )
    return early.astimezone(UTC)
