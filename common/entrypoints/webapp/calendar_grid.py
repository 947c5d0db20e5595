"""The calendar's periods and cells: pure date arithmetic in the viewer's time zone.

A month is shown as whole weeks (Monday first) around it; a week is seven days; the list is the
month's posts in order. Every period is one UTC range, so one indexed query fills it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from common.model import ACCOUNT_INACTIVE, AUTH_EXPIRED

View = Literal["month", "week", "list"]
VIEWS: tuple[View, ...] = ("month", "week", "list")
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Period:
    view: View
    anchor: date  # the day the visitor asked for
    first: date  # first day shown
    last: date  # last day shown (inclusive)
    zone: ZoneInfo

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.first, time(), self.zone).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        next_day = self.last + timedelta(days=1)
        return datetime.combine(next_day, time(), self.zone).astimezone(UTC)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def weeks(self) -> list[list[date]]:
        days = self.days
        return [days[i : i + 7] for i in range(0, len(days), 7)]

    @property
    def previous(self) -> date:
        if self.view == "week":
            return self.anchor - WEEK
        return (self.anchor.replace(day=1) - timedelta(days=1)).replace(day=1)

    @property
    def following(self) -> date:
        if self.view == "week":
            return self.anchor + WEEK
        return (self.anchor.replace(day=28) + timedelta(days=4)).replace(day=1)

    @property
    def title(self) -> str:
        if self.view == "week":
            return f"Week of {self.first:%d %B %Y}"
        return f"{self.anchor:%B %Y}"


def period(view: View, anchor: date, zone: ZoneInfo) -> Period:
    if view == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        return Period(view, anchor, monday, monday + timedelta(days=6), zone)
    first = anchor.replace(day=1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if view == "list":
        return Period(view, anchor, first, last, zone)
    grid_first = first - timedelta(days=first.weekday())
    grid_last = last + timedelta(days=6 - last.weekday())
    return Period(view, anchor, grid_first, grid_last, zone)


# What the visitor sees at a glance: the stored status, with the waits named.
def shown_status(doc: Mapping[str, Any]) -> str:
    status = str(doc.get("status", ""))
    code = (doc.get("lastError") or {}).get("code")
    if status == "scheduled" and code in (AUTH_EXPIRED, ACCOUNT_INACTIVE):
        return "held"
    if status == "publishing":
        return "sending"
    return status


STATUS_WORDS = {
    "scheduled": "scheduled",
    "sending": "sending",
    "published": "published",
    "failed": "failed",
    "unknown": "unknown: look again",
    "held": "held for re-authentication",
    "canceled": "canceled",
    "importing": "importing",
    "draft": "draft",
    "pending_approval": "awaiting approval",
    "waiting": "waits for the part before it",
}


@dataclass(frozen=True)
class Chip:
    """One post as the calendar shows it."""

    id: str
    account_id: str
    platform: str
    status: str
    local: datetime  # in the viewer's zone
    post_local: str  # the wall-clock time in the post's own zone, for moves (YYYY-MM-DDTHH:MM)
    time_zone: str
    version: int
    text: str
    # A retry (or a release after re-authentication) is due later than planned: the chip sits
    # on the day it will go out, the one the calendar's dueAt range finds, and names the
    # planned time (in the viewer's zone) so the move is visible.
    planned: datetime | None = None


SNIPPET = 60


def chips(docs: Iterable[Mapping[str, Any]], zone: ZoneInfo) -> list[Chip]:
    made = []
    for doc in docs:
        own_zone = ZoneInfo(str(doc.get("timeZone") or "UTC"))
        scheduled: datetime = doc["scheduledAt"]
        text = str((doc.get("content") or {}).get("text") or "")
        made.append(
            Chip(
                id=str(doc["_id"]),
                account_id=str(doc["accountId"]),
                platform=str(doc["platform"]),
                status=shown_status(doc),
                local=doc["dueAt"].astimezone(zone),
                post_local=scheduled.astimezone(own_zone).strftime("%Y-%m-%dT%H:%M"),
                time_zone=own_zone.key,
                version=int(doc.get("version", 1)),
                text=text[:SNIPPET] + ("…" if len(text) > SNIPPET else ""),
                planned=None if doc["dueAt"] == scheduled else scheduled.astimezone(zone),
            )
        )
    return made


def by_day(items: Iterable[Chip]) -> dict[date, list[Chip]]:
    days: dict[date, list[Chip]] = {}
    for chip in items:
        days.setdefault(chip.local.date(), []).append(chip)
    return days
