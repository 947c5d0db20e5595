"""The media resource's shapes and routes: an upload started, completed, read."""

from __future__ import annotations

from datetime import datetime

from common.entrypoints.api.shapes.operation import Answer, Operation
from common.media_records import MediaState
from common.media_types import MediaKind
from common.schema import shape, spec


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


@shape
class MediaSwept:
    """What one sweep did (each part is bounded; sweep again for more)."""

    expired_uploads: int = spec(minimum=0, description="uploads never completed, deleted")
    deleted: int = spec(minimum=0, description="items no unfinished post used, deleted")
    kept: int = spec(minimum=0, description="items a post still uses, kept another period")


OPERATIONS: tuple[Operation, ...] = (
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
        "/v1/media:sweep",
        "POST",
        "sweep_media",
        "admin",
        "Delete abandoned uploads and the items no unfinished post has used for the retention "
        "period (the daily sweep, now)",
        (Answer(200, "What was deleted and kept.", (MediaSwept,)),),
        description="Not on a key limited to accounts. Objects go first, then the record.",
    ),
)
