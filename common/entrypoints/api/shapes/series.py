"""The series resource's shapes and routes: recurring posts created, listed, read, edited from
an occurrence on ("this and following") and ended."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from common.entrypoints.api.shapes.operation import Answer, Operation, Param
from common.entrypoints.api.shapes.posts import PostMedia
from common.schema import shape, spec

MAX_RULE = 500
MAX_LIST = 100

LOCAL_TIME = (
    "a local date and time without an offset (e.g. 2027-01-04T09:00:00) in the series' zone"
)


@shape
class NewSeries:
    """A post repeated by an RFC 5545 rule, at the same wall-clock time in `timeZone` across
    daylight-saving changes (an occurrence whose local time the clock skips or shows twice that
    day is not made, as a single post at that time is refused)."""

    account_id: str = spec(minLength=1)
    start: str = spec(description=f"the first occurrence: {LOCAL_TIME}")
    time_zone: str = spec(minLength=1, description="an IANA zone, e.g. Europe/Berlin")
    rule: str = spec(
        minLength=1,
        maxLength=MAX_RULE,
        description="an RFC 5545 RRULE without DTSTART, e.g. FREQ=WEEKLY;BYDAY=MO,WE;COUNT=20",
    )
    text: str = ""
    link: str | None = None
    media: tuple[PostMedia, ...] = ()


@shape
class Series:
    id: str
    account_id: str
    rule: str
    time_zone: str
    start: str = spec(description=LOCAL_TIME)
    text: str
    link: str | None
    media: tuple[PostMedia, ...]
    ended: bool
    made_until: str | None = spec(description="the last occurrence made into a post (local)")
    ends_before: str | None = spec(
        description="occurrences from here on belong to the successor (local)"
    )
    successor_id: str | None
    predecessor_id: str | None
    edit_pending: bool = spec(description="an edit the next run finishes")


@shape
class SeriesList:
    series: tuple[Series, ...]


@shape
class SeriesChanges:
    """Change the series from an occurrence on ("this and following"): the occurrences not yet
    on their way are made again from the new definition by a successor series (the next run
    does it); an occurrence edited on its own (PATCH /v1/posts/{id}) keeps its edit."""

    SCHEMA_EXTRA: ClassVar[Mapping[str, Any]] = {"minProperties": 1}
    since: str | None = spec(
        default=None,
        nullable=False,
        description=f"the first occurrence to change: {LOCAL_TIME}; default the next one",
    )
    text: str | None = spec(default=None, nullable=False)
    link: str | None = None
    media: tuple[PostMedia, ...] | None = spec(default=None, nullable=False)
    rule: str | None = spec(default=None, nullable=False, minLength=1, maxLength=MAX_RULE)
    start: str | None = spec(
        default=None,
        nullable=False,
        description=f"the successor's first occurrence ({LOCAL_TIME}); default `since`",
    )


@shape
class SeriesSplit:
    series_id: str
    successor_id: str
    since: str = spec(description="the first occurrence the successor makes (local)")


@shape
class SeriesEnded:
    series_id: str
    canceled: int = spec(minimum=0, description="unsent occurrences canceled")


A_SERIES = Answer(200, "The series as stored.", (Series,))


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "/v1/series",
        "POST",
        "create_series",
        "posts:write",
        "Repeat a post by a rule; its first occurrences become posts at once, the rest ahead "
        "of time in bounded batches on each run",
        (Answer(201, "The series; its first batch of occurrences is scheduled.", (Series,)),),
        body=(NewSeries,),
    ),
    Operation(
        "/v1/series",
        "GET",
        "list_series",
        "posts:read",
        "Series, newest first (those of the accounts a limited key may use)",
        (Answer(200, "The series.", (SeriesList,)),),
        params=(Param("accountId", "query", {"type": "string"}),),
    ),
    Operation("/v1/series/{id}", "GET", "get_series", "posts:read", "One series", (A_SERIES,)),
    Operation(
        "/v1/series/{id}",
        "PATCH",
        "edit_series",
        "posts:write",
        "Change this and the following occurrences",
        (Answer(200, "The split; the next run makes the occurrences again.", (SeriesSplit,)),),
        body=(SeriesChanges,),
    ),
    Operation(
        "/v1/series/{id}:end",
        "POST",
        "end_series",
        "posts:write",
        "End the series (and the successors its edits made): unsent occurrences are canceled",
        (Answer(200, "Ended.", (SeriesEnded,)),),
    ),
)
