"""Every request and answer shape of the HTTP functions, and the api's operations, declared
once: the api reads bodies with them and writes answers from them (common.schema), its router
is built from `API_OPERATIONS`, and docs/openapi.yaml is generated from both
(`make openapi`; a test keeps the committed file equal)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, Literal, NamedTuple

from common.media_records import MediaState
from common.media_rules import MediaKind
from common.model import STATUSES, AccountStatus, PostStatus, Stage, Visibility
from common.operations.planning import MAX_COMMENT
from common.operations.scheduling import MAX_KEY_LENGTH
from common.schema import shape, spec
from common.slots import MAX_SLOTS

MAX_BATCH = 1000
MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_LOGIN_FIELD = 4096
MAX_RECONCILE = 1000
MAX_RUN_LIMIT = 10_000
# The header and the body field are the same key, with the use case's limit.
MAX_IDEMPOTENCY_KEY = MAX_KEY_LENGTH
IDEMPOTENCY_HEADER = "Idempotency-Key"

# accounts.PLATFORMS as a type (a test keeps them equal).
Platform = Literal["facebook", "instagram", "threads", "bluesky", "mastodon"]
Network = Literal["meta", "threads", "bluesky", "mastodon"]


# --- posts ----------------------------------------------------------------------------------


@shape
class MediaUrl:
    """A picture or video the network (or the scheduler) fetches from an https URL."""

    url: str
    type: Literal["image", "video"] = "image"
    alt: str | None = spec(
        default=None, nullable=False, description="alt text (Threads, Bluesky, Mastodon)"
    )


@shape
class MediaRef:
    """An item uploaded with POST /v1/media, checked for the post's network when it is made."""

    media_id: str
    alt: str | None = spec(default=None, nullable=False)


@shape
class MediaRefShown:
    """An uploaded item as a post shows it (never the bucket's object name)."""

    media_id: str
    type: MediaKind | None = None
    alt: str | None = None


PostMedia = MediaUrl | MediaRef


@shape
class NewPost:
    account_id: str = spec(minLength=1)
    scheduled_at: str = spec(
        description="RFC 3339 with an offset, a local time with `timeZone`, `now`, or `queue` "
        "(the account's next free posting slot). A time "
        "in the past is refused unless `allowLate` is true."
    )
    time_zone: str | None = spec(default=None, description="an IANA zone, e.g. Europe/Berlin")
    text: str = ""
    link: str | None = None
    media: tuple[PostMedia, ...] = ()
    idempotency_key: str | None = spec(
        default=None,
        nullable=False,
        minLength=1,
        maxLength=MAX_IDEMPOTENCY_KEY,
        description="Without one, the account, the time and the content name the post.",
    )
    allow_late: bool = False
    content_warning: str | None = spec(default=None, description="Mastodon only")
    visibility: Visibility | None = spec(default=None, description="Mastodon only")
    stage: Stage = spec(
        default="scheduled",
        description="`draft`: never published until submitted and approved; "
        "`pending_approval`: published at its time once an approver approves it. "
        "Single posts only.",
    )


@shape
class NewPosts:
    posts: tuple[NewPost, ...] = spec(minItems=1, maxItems=MAX_BATCH)


@shape
class PostWarning:
    """Something to look at; nothing was refused."""

    code: Literal["looks_like"] = spec(
        description="looks_like: a scheduled post of the same account within a minute says "
        "much the same (a corrected copy made twice?)"
    )
    post_id: str = spec(description="the other post")
    message: str


@shape
class Created:
    id: str
    already_scheduled: bool
    warnings: tuple[PostWarning, ...] = ()


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
class CreatedBatch:
    posts: tuple[Created, ...]


@shape
class PostChanges:
    SCHEMA_EXTRA: ClassVar[Mapping[str, Any]] = {"minProperties": 1}
    scheduled_at: str | None = spec(default=None, nullable=False)
    time_zone: str | None = None
    text: str | None = spec(default=None, nullable=False)
    link: str | None = None
    media: tuple[PostMedia, ...] | None = spec(default=None, nullable=False)
    allow_late: bool = False


@shape
class PostContent:
    text: str = ""
    link: str | None = None
    media: tuple[MediaUrl | MediaRefShown, ...] = ()
    content_warning: str | None = None
    visibility: Visibility | None = None


@shape
class LastError:
    code: str
    message: str
    at: datetime | None


@shape
class Post:
    """A post as stored, without its lease and idempotency internals."""

    id: str
    account_id: str
    platform: Platform
    status: PostStatus
    version: int
    scheduled_at: datetime
    due_at: datetime
    content: PostContent
    time_zone: str | None = None
    local_time: str | None = None
    attempts: int | None = None
    last_error: LastError | None = None
    platform_post_id: str | None = None
    published_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    group_id: str | None = spec(default=None, description="the posts made from one cross-post")
    review_comment: str | None = spec(
        default=None, description="the approver's comment when it was sent back to draft"
    )


@shape
class SendBack:
    comment: str = spec(minLength=1, maxLength=MAX_COMMENT)


@shape
class PostPage:
    posts: tuple[Post, ...]
    next: str | None = spec(description="the cursor of the next page; null on the last one")


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


# --- accounts -------------------------------------------------------------------------------


@shape
class PostingSlots:
    """An account's weekly posting slots: `"queue"` as a post's `scheduledAt` takes the next
    free one. A slot the clock skips or shows twice that day is not offered that day."""

    time_zone: str = spec(minLength=1, description="an IANA zone, e.g. Europe/Berlin")
    slots: tuple[str, ...] = spec(
        minItems=1, maxItems=MAX_SLOTS, description="weekday@HH:MM, e.g. mon@09:00"
    )


@shape
class Account:
    id: str
    platform: Platform
    external_id: str
    name: str
    status: AccountStatus
    paused_until: datetime | None
    token_expires_at: datetime | None


@shape
class AccountList:
    accounts: tuple[Account, ...]


# Every field of a login: text, left out rather than null.
LOGIN_FIELD = spec(default=None, nullable=False, minLength=1, maxLength=MAX_LOGIN_FIELD)


@shape
class ConnectRequest:
    """A login of one network, with that network's fields (`LOGIN_FIELDS`): meta `userToken`
    (a login's short-lived token; the app secret exchanges it server side) and `pages` (some of
    its Pages; every Page without); threads `accessToken` (a long-lived token); bluesky
    `handle`, `appPassword` and `pds` (default https://bsky.social); mastodon `instance` and
    `accessToken`. `accountId` names the account of a login that grants one."""

    network: Network = "meta"
    account_id: str | None = spec(
        default=None, nullable=False, minLength=1, maxLength=MAX_LOGIN_FIELD
    )
    user_token: str | None = spec(
        default=None, nullable=False, minLength=1, maxLength=MAX_LOGIN_FIELD
    )
    pages: tuple[str, ...] | None = spec(default=None, nullable=False, minItems=1)
    access_token: str | None = spec(
        default=None, nullable=False, minLength=1, maxLength=MAX_LOGIN_FIELD
    )
    instance: str | None = spec(
        default=None, nullable=False, minLength=1, maxLength=MAX_LOGIN_FIELD
    )
    handle: str | None = LOGIN_FIELD
    app_password: str | None = spec(
        default=None, nullable=False, minLength=1, maxLength=MAX_LOGIN_FIELD
    )
    pds: str | None = LOGIN_FIELD


# network: the field that carries its secret (required), and the other login fields it takes.
LOGIN_FIELDS: Mapping[str, tuple[str, frozenset[str]]] = {
    "meta": ("userToken", frozenset({"pages"})),
    "threads": ("accessToken", frozenset()),
    "mastodon": ("accessToken", frozenset({"instance"})),
    "bluesky": ("appPassword", frozenset({"handle", "pds"})),
}


@shape
class ConnectedAccount:
    id: str
    platform: Platform
    external_id: str
    name: str
    added: bool = spec(description="false: an existing account got the new credential")
    posts_released: int = spec(minimum=0, description="its held posts, due again now")


@shape
class Connected:
    accounts: tuple[ConnectedAccount, ...]


@shape
class TokenHealth:
    account_id: str
    platform: Platform
    valid: bool
    expires_at: datetime | None
    problem: str | None


# --- media ----------------------------------------------------------------------------------


@shape
class MediaUpload:
    """What is about to be uploaded, and for which accounts (its checks follow their networks)."""

    account_ids: tuple[str, ...] = spec(minItems=1)
    media_type: str = spec(minLength=1, description="as the client believes, e.g. image/jpeg")
    size: int = spec(minimum=1, description="the file's length in bytes")
    sha256: str = spec(pattern="^[0-9a-fA-F]{64}$", description="the file's SHA-256 in hex")
    filename: str | None = spec(default=None, nullable=False, maxLength=255)


@shape
class MediaProblem:
    rule: str
    message: str


@shape
class MediaVariant:
    """A converted copy (for one network, or `clean`: orientation applied, metadata dropped)."""

    media_type: str
    bytes: int
    quality: int | None
    width: int | None
    height: int | None
    duration_seconds: float | None
    codec: str | None
    fps: float | None = None


@shape
class Media:
    """An uploaded item: `uploading` until completed, then `ready` or `rejected` (with its
    problems); the facts are read from the bytes, never taken from the client's word."""

    id: str
    state: MediaState
    account_ids: tuple[str, ...]
    sha256: str
    filename: str | None
    media_type: str
    kind: MediaKind | None
    bytes: int
    width: int | None
    height: int | None
    duration_seconds: float | None
    codec: str | None
    fps: float | None = None
    problems: tuple[MediaProblem, ...]
    variants: dict[str, MediaVariant]
    created_at: datetime


@shape
class MediaCreated:
    media: Media
    upload_url: str | None = spec(
        description="the resumable upload session to PUT the bytes to; null when the same "
        "bytes are there already"
    )


@shape
class MediaAnswer:
    media: Media


# --- errors ---------------------------------------------------------------------------------


@shape
class ItemProblem:
    index: int = spec(description="the item in a batch (0 for one post)")
    field: str
    message: str


@shape
class ApiError:
    error: str
    request_id: str
    status: str | None = spec(
        default=None, description="the post's status when an action was refused"
    )
    problems: tuple[ItemProblem, ...] | None = None
    rows: tuple[RowProblem, ...] | None = spec(
        default=None, description="an import's problems by line"
    )


@shape
class Error:
    error: str
    request_id: str


# --- run_http and status (their functions write these answers) ------------------------------


@shape
class RunRequest:
    dry_run: bool = spec(default=False, description="Report what is due without taking the lock.")
    limit: int | None = spec(
        default=None,
        nullable=False,
        minimum=1,
        maximum=MAX_RUN_LIMIT,
        description="The most posts this run takes.",
    )


@shape
class NextPost:
    platform: str | None
    scheduled_at: datetime


@shape
class RunResult:
    run_id: str
    skipped: bool
    duplicate: bool
    stale: bool
    posts_processed: int = spec(minimum=0)
    posts_published: int = spec(minimum=0)
    posts_failed: int = spec(minimum=0)
    posts_deferred: int = spec(minimum=0)
    posts_unknown: int = spec(minimum=0)
    duration: float = spec(minimum=0)
    next_scheduled_post: NextPost | None
    lock_lost: bool
    dry_run: bool
    posts_due: int = spec(minimum=0)


@shape
class RunResponse:
    CLOSED: ClassVar[bool] = False
    success: Literal[True]
    result: RunResult


@shape
class PlatformFigures:
    connected: int = spec(minimum=0)
    needs_reauth: int = spec(minimum=0)
    reauth_accounts: tuple[str, ...] = spec(
        default=(),
        maxItems=20,
        description="Ids of the accounts that need re-authentication: only in reports for "
        "signed-in readers; the public status endpoint never names an account.",
    )


@shape
class PlatformsFigures:
    facebook: PlatformFigures
    instagram: PlatformFigures
    threads: PlatformFigures
    bluesky: PlatformFigures
    mastodon: PlatformFigures


@shape
class ExecutionLock:
    held: bool
    expires_at: datetime | None


@shape
class SchedulerFigures:
    last_run_at: datetime | None
    last_run_duration: float | None
    last_run_status: str | None
    total_executions: int = spec(minimum=0)
    total_posts_published: int = spec(minimum=0)
    total_posts_failed: int = spec(minimum=0)
    execution_lock: ExecutionLock
    next_scheduled_post: NextPost | None


@shape
class QueueFigures:
    due: int = spec(minimum=0)
    scheduled: int = spec(minimum=0)
    failed: int = spec(minimum=0)
    unknown: int = spec(minimum=0)


@shape
class HealthFigures:
    lag_seconds: float | None = spec(
        description="Age of the oldest due post not yet published (0 when none waits)."
    )
    last_run_age_seconds: float | None
    on_time_rate_24h: float | None = spec(
        minimum=0,
        maximum=1,
        description="Of the posts finished (published or failed) in the last 24 clock hours, "
        "the share published within two minutes of their scheduled time.",
    )


@shape
class History:
    """Posts published and failed per clock hour (UTC) over the last 24 hours, oldest first
    (the last entry is the current hour)."""

    published: tuple[int, ...] = spec(minItems=24, maxItems=24)
    failed: tuple[int, ...] = spec(minItems=24, maxItems=24)


@shape
class Status:
    CLOSED: ClassVar[bool] = False
    serverless: Literal[True]
    version: str
    operational: bool = spec(
        description="Database reachable, a platform connected and a run within three tick "
        "intervals."
    )
    database_available: bool
    meta_connected: bool = spec(
        description="At least one active account on any network (the name is kept from the "
        "design this replaces)."
    )
    platforms: PlatformsFigures
    scheduler: SchedulerFigures
    queue: QueueFigures
    health: HealthFigures
    history_24h: History
    endpoints: dict[str, Any]
    checked_at: datetime | None


# --- the api's operations -------------------------------------------------------------------


class Param(NamedTuple):
    name: str
    where: Literal["path", "query", "header"]
    schema: Mapping[str, Any]
    description: str | None = None
    required: bool = False


class Answer(NamedTuple):
    status: int
    description: str
    shape: tuple[type, ...] = ()  # several: oneOf
    headers: Mapping[str, Mapping[str, Any]] = MappingProxyType({})


class Operation(NamedTuple):
    """One route of the api: its path (OpenAPI template), method, scope and shapes."""

    path: str
    method: str
    operation_id: str
    scope: str
    summary: str
    answers: tuple[Answer, ...]
    body: tuple[type, ...] = ()  # several: oneOf
    body_required: bool = True
    params: tuple[Param, ...] = ()
    refusals: tuple[int, ...] = ()  # statuses beyond those every route may answer
    description: str | None = None


POST_ID = Param("id", "path", {"type": "string"}, required=True)
ETAG = {"ETag": {"schema": {"type": "string"}}}
A_POST = Answer(200, "The post as stored; its version is the ETag.", (Post,), ETAG)
LIST_PARAMS = (
    Param("status", "query", {"type": "string", "enum": list(STATUSES)}),
    Param("accountId", "query", {"type": "string"}),
    Param(
        "dueAfter",
        "query",
        {"type": "string", "format": "date-time"},
        "due at or after (RFC 3339 with an offset)",
    ),
    Param(
        "dueBefore",
        "query",
        {"type": "string", "format": "date-time"},
        "due before (RFC 3339 with an offset)",
    ),
    Param("cursor", "query", {"type": "string"}, "`next` of the previous page"),
    Param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
    ),
)
IDEMPOTENCY_KEY = Param(
    IDEMPOTENCY_HEADER,
    "header",
    {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
    "The caller's key for this request body (single or batch): the same key and body answer the "
    "first answer (with `Idempotent-Replayed: true`) and create nothing; the same key with "
    "another body is refused (422). Kept as long as the posts it made (POST_RETENTION_DAYS).",
)
IF_MATCH = Param(
    "If-Match", "header", {"type": "string"}, 'The post\'s ETag (its version), e.g. `"3"`.', True
)
CREATED = (Created, CreatedBatch)

API_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "/v1/posts",
        "POST",
        "create_posts",
        "posts:write",
        "Schedule one post or a batch of up to 1,000 (all or nothing)",
        (
            Answer(201, "Scheduled (or the replay of a request that was).", CREATED),
            Answer(200, "Nothing new; an earlier identical request scheduled it.", CREATED),
        ),
        body=(NewPost, NewPosts),
        params=(IDEMPOTENCY_KEY,),
        refusals=(422,),
    ),
    Operation(
        "/v1/posts",
        "GET",
        "list_posts",
        "posts:read",
        "Posts in due order, a page at a time",
        (Answer(200, "A page; `next` is null on the last one.", (PostPage,)),),
        params=LIST_PARAMS,
    ),
    Operation("/v1/posts/{id}", "GET", "get_post", "posts:read", "One post", (A_POST,)),
    Operation(
        "/v1/posts/{id}",
        "PATCH",
        "edit_post",
        "posts:write",
        "Change a scheduled post's content or time, at the version read",
        (A_POST,),
        body=(PostChanges,),
        params=(IF_MATCH,),
        refusals=(409, 412, 428),
    ),
    Operation(
        "/v1/posts/{id}:cancel",
        "POST",
        "cancel_post",
        "posts:write",
        "Cancel a post unless its send has begun",
        (A_POST,),
        refusals=(409,),
    ),
    Operation(
        "/v1/posts/{id}:retry",
        "POST",
        "retry_post",
        "posts:write",
        "Schedule a failed or unknown post again, due now",
        (A_POST,),
        refusals=(409,),
    ),
    Operation(
        "/v1/posts/{id}:submit",
        "POST",
        "submit_post",
        "posts:write",
        "Ask for a draft's approval",
        (A_POST,),
        refusals=(409,),
    ),
    Operation(
        "/v1/posts/{id}:approve",
        "POST",
        "approve_post",
        "posts:approve",
        "Approve a post awaiting approval: it goes out at its time (now, if that has passed "
        "within MAX_LATENESS_SECONDS; later than that is refused)",
        (A_POST,),
        refusals=(409,),
    ),
    Operation(
        "/v1/posts/{id}:sendBack",
        "POST",
        "send_back_post",
        "posts:approve",
        "Send a post awaiting approval back to draft, with a comment for its author",
        (A_POST,),
        body=(SendBack,),
        refusals=(409,),
    ),
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
    Operation(
        "/v1/media",
        "POST",
        "create_media",
        "posts:write",
        "Start an upload (or find the item that holds the same bytes for the same accounts)",
        (
            Answer(
                201, "Created: PUT the bytes to `uploadUrl`, then complete it.", (MediaCreated,)
            ),
            Answer(200, "The same bytes for the same accounts are there already.", (MediaCreated,)),
        ),
        body=(MediaUpload,),
        refusals=(422,),
    ),
    Operation(
        "/v1/media/{id}",
        "GET",
        "get_media",
        "posts:read",
        "One uploaded item",
        (Answer(200, "The item.", (MediaAnswer,)),),
    ),
    Operation(
        "/v1/media/{id}:complete",
        "POST",
        "complete_media",
        "posts:write",
        "Check the uploaded bytes (and convert them for the networks that need it)",
        (Answer(200, "The item, ready or rejected with its problems.", (MediaAnswer,)),),
        refusals=(409, 422),
    ),
    Operation(
        "/v1/accounts",
        "GET",
        "list_accounts",
        "posts:read",
        "Connected accounts (those a limited key may use)",
        (Answer(200, "The accounts.", (AccountList,)),),
    ),
    Operation(
        "/v1/accounts:connect",
        "POST",
        "connect_accounts",
        "accounts:write",
        "Connect the accounts a login grants, or re-authenticate them",
        (Answer(200, "The accounts stored.", (Connected,)),),
        body=(ConnectRequest,),
        refusals=(422,),
        description="On a key not limited to accounts. The login is checked with its network "
        "before anything is stored. Meta grants `fb-<page id>` and `ig-<instagram id>` "
        "accounts. An existing account with the same identity gets the new credential and its "
        "held posts are due again (`postsReleased`); an existing id with another identity "
        "refuses the login. A login the network refuses: 422; one it could not judge (network "
        "unreachable, app not configured): 503.",
    ),
    Operation(
        "/v1/accounts/{id}:check",
        "POST",
        "check_account",
        "accounts:write",
        "Ask the account's network whether its credential still works (Threads tokens are "
        "refreshed when due)",
        (Answer(200, "The credential's health.", (TokenHealth,)),),
    ),
    Operation(
        "/v1/accounts/{id}:setSlots",
        "POST",
        "set_slots",
        "accounts:write",
        "Replace the account's posting slots (posts already in a slot stay where they are)",
        (Answer(200, "The slots as stored.", (PostingSlots,)),),
        body=(PostingSlots,),
    ),
)
