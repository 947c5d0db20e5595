"""The posts resource's shapes and routes: create (one or a batch), list, read, edit, cancel
and retry."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

from common.entrypoints.api.shapes.accounts import Platform
from common.entrypoints.api.shapes.operation import Answer, Operation, Param
from common.media_types import MediaKind
from common.model import STATUSES, FollowUpKind, PostStatus, Stage, Visibility
from common.operations.scheduling import MAX_KEY_LENGTH
from common.schema import shape, spec
from common.validation import MAX_THREAD_PARTS

MAX_BATCH = 1000


MAX_PAGE = 1000


DEFAULT_PAGE = 100


# The header and the body field are the same key, with the use case's limit.
MAX_IDEMPOTENCY_KEY = MAX_KEY_LENGTH


IDEMPOTENCY_HEADER = "Idempotency-Key"


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
    first_comment: str | None = spec(
        default=None,
        nullable=False,
        minLength=1,
        description="Published once the post is out: a comment on Facebook and Instagram, a "
        "reply on Threads, Bluesky and Mastodon. Single posts only.",
    )
    thread: tuple[str, ...] = spec(
        default=(),
        maxItems=MAX_THREAD_PARTS,
        description="The thread's further parts (text), each published once the part before it "
        "is out, as a reply to it. Threads, Bluesky and Mastodon only; single posts only.",
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
class FollowUpPlace:
    """Where a first comment or a thread part sits."""

    kind: FollowUpKind
    part: int = spec(description="a thread part's place after the post (1 = the first reply)")
    parent_id: str = spec(description="the post or part it answers")
    thread_root_id: str


@shape
class FollowUpShown:
    """A follow-up as its post shows it: `waiting` until the part before it is out; a part
    after a failed or canceled one ends `failed`/`canceled` with lastError parent_failed or
    parent_canceled."""

    id: str
    kind: FollowUpKind
    part: int
    status: PostStatus
    platform_post_id: str | None = None
    last_error: LastError | None = None


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
    follow_up: FollowUpPlace | None = spec(
        default=None, description="set on a first comment or thread part"
    )
    follow_ups: tuple[FollowUpShown, ...] | None = spec(
        default=None,
        description="one post read by id: the follow-ups below it, in order (not in lists)",
    )


@shape
class PostPage:
    posts: tuple[Post, ...]
    next: str | None = spec(description="the cursor of the next page; null on the last one")


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


OPERATIONS: tuple[Operation, ...] = (
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
)
