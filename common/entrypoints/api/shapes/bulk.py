"""The posts collection's bulk routes: a CSV import and the reconcile of unknown posts."""

from __future__ import annotations

from common.entrypoints.api.shapes.operation import Answer, Operation
from common.schema import shape, spec

MAX_RECONCILE = 1000


@shape
class ImportRequest:
    """A CSV file, every row scheduled or none (README, "Importing many posts")."""

    csv: str = spec(
        minLength=1,
        description="the file's text: a header row with account and at, and optionally tz, "
        "text, link, media, media_type, key",
    )
    time_zone: str | None = spec(
        default=None,
        nullable=False,
        description="for rows whose time has no offset and no tz column",
    )
    allow_late: bool = False


@shape
class RowPost:
    line: int
    id: str


@shape
class RowWarning:
    line: int
    id: str
    message: str


@shape
class RowProblem:
    line: int = spec(description="the line in the file (the header is line 1)")
    field: str = spec(description="the CSV column")
    message: str


@shape
class Imported:
    imported: int = spec(description="new posts")
    created: tuple[RowPost, ...]
    already_scheduled: tuple[RowPost, ...] = spec(description="rows an earlier import made")
    updated: tuple[RowPost, ...] = spec(description="keyed rows that changed their post")
    warnings: tuple[RowWarning, ...]
    not_changed: tuple[RowProblem, ...] = spec(
        description="keyed rows whose post was claimed for publishing before it could change"
    )


@shape
class ReconcileRequest:
    limit: int | None = spec(default=None, nullable=False, minimum=1, maximum=MAX_RECONCILE)


@shape
class ReconcileReport:
    checked: int = spec(minimum=0)
    published: int = spec(minimum=0)
    rescheduled: int = spec(minimum=0)
    still_unknown: int = spec(minimum=0)
    errors: int = spec(minimum=0)


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "/v1/posts:import",
        "POST",
        "import_posts",
        "posts:write",
        "Schedule every row of a CSV file or none; a row with a `key` edits its post by re-import",
        (
            Answer(
                200, "What each row did; importing the same file again makes nothing.", (Imported,)
            ),
        ),
        body=(ImportRequest,),
        description="One request for the whole file (the body may hold up to 2 MiB, about "
        "10,000 rows): every row is checked before anything is stored. Rows without a `key` "
        "are named by their account, time and content; a row with a `key` names its post across "
        "imports, so a changed row edits that post while it is still scheduled.",
    ),
    Operation(
        "/v1/posts:reconcile",
        "POST",
        "reconcile_posts",
        "posts:write",
        "Look for unknown posts on their network (oldest first) and settle what is found",
        (Answer(200, "What was looked at and what became of it.", (ReconcileReport,)),),
        body=(ReconcileRequest,),
        body_required=False,
    ),
)
