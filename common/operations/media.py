"""Media use cases: an upload created (a resumable Cloud Storage session for the client),
completed (the bytes checked by content, converted for the networks that need it, the item made
`ready` or `rejected` with reasons), read; and a post's uploaded items checked at the door.

The api calls these for HTTP clients and the CLI's remote mode; the web app calls them directly.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pymongo.database import Database

from common import accounts, media_convert, media_reading, media_records
from common.config import Settings
from common.db import Doc
from common.media_probe import Unreadable, probe
from common.media_records import MediaItem, Variant
from common.media_rules import (
    LIMITS,
    MediaFacts,
    MediaProblem,
    NetworkLimits,
    check_item,
    limits_for,
    needs_conversion,
)
from common.media_types import kind_of
from common.model import Account, Content, Media
from common.posts import store
from common.storage import MediaBucket
from common.validation import Problem

# The largest file any network here takes for what this scheduler publishes (an Instagram reel,
# 300 MB); the check streams it and keeps a bounded part on disk (common.media_reading).
MAX_UPLOAD_BYTES = 300 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")

RefusalKind = Literal["invalid", "not_found", "forbidden", "not_uploaded"]


@dataclass(frozen=True)
class MediaRefused:
    kind: RefusalKind
    reason: str


@dataclass(frozen=True)
class UploadRequest:
    account_ids: tuple[str, ...]
    media_type: str
    size: int
    sha256: str
    filename: str | None = None


@dataclass(frozen=True)
class Upload:
    """The item, and where to PUT the bytes (None: the same bytes are there already)."""

    item: MediaItem
    upload_url: str | None
    created: bool


def create_upload(
    db: Database[Doc],
    bucket: MediaBucket,
    request: UploadRequest,
    owner: str,
    now: datetime,
    origin: str | None = None,
) -> Upload | MediaRefused:
    problem = _request_problem(request)
    if problem:
        return MediaRefused("invalid", problem)
    known = accounts.load_many(db, request.account_ids)
    missing = sorted(set(request.account_ids) - set(known))
    if missing:
        return MediaRefused("invalid", f"no account {', '.join(map(repr, missing))}")
    item, created = media_records.find_or_create(
        db,
        owner=owner,
        account_ids=request.account_ids,
        platforms=sorted({a.platform for a in known.values()}),
        sha256=request.sha256,
        declared_type=request.media_type,
        declared_bytes=request.size,
        filename=request.filename,
        now=now,
    )
    if item.state != "uploading":
        return Upload(item, None, created)
    # A new item, or one whose upload never finished: a (new) session for the same object.
    url = bucket.upload_session(item.object_name, request.media_type, request.size, origin)
    return Upload(item, url, created)


def _request_problem(request: UploadRequest) -> str | None:
    if not request.account_ids:
        return "accountIds names the accounts the media is for"
    if kind_of(request.media_type) is None:
        return "mediaType must be an image/ or video/ type"
    if not 0 < request.size <= MAX_UPLOAD_BYTES:
        return f"size must be 1 to {MAX_UPLOAD_BYTES} bytes"
    if not _SHA256.fullmatch(request.sha256):
        return "sha256 must be the file's SHA-256 as 64 lowercase hex digits"
    return None


def get_media(db: Database[Doc], media_id: str) -> MediaItem | None:
    return media_records.get(db, media_id)


def complete_upload(
    db: Database[Doc], bucket: MediaBucket, media: str | MediaItem, now: datetime
) -> MediaItem | MediaRefused:
    """Check the uploaded bytes and settle the item; a completed item is answered as it is.

    `media` is the id, or the item a caller has just read (to check who may see it)."""
    item = media_records.get(db, media) if isinstance(media, str) else media
    media_id = media if isinstance(media, str) else media.id
    if item is None:
        return MediaRefused("not_found", f"no media {media_id!r}")
    if item.state != "uploading":
        return item
    stored = bucket.stat(item.object_name)
    if stored is None:
        return MediaRefused(
            "not_uploaded", "the upload is not finished: PUT every byte to uploadUrl first"
        )
    limits = _limits_of(db, item)
    with tempfile.TemporaryDirectory(prefix="media-") as work:
        facts, problems, variants = _check(bucket, item, stored.size, limits, Path(work))
    settled = media_records.settle_upload(
        db, item.id, facts=facts, problems=problems, variants=variants, now=now
    )
    # None: a concurrent complete settled it first; its answer is the one that counts.
    return settled or media_records.get(db, media_id) or item


def _limits_of(db: Database[Doc], item: MediaItem) -> dict[str, list[NetworkLimits]]:
    """Each platform's limits for the item's accounts: a Mastodon account's are its instance's
    own when they were read (two instances may differ; the item must suit both)."""
    limits: dict[str, list[NetworkLimits]] = {p: [LIMITS[p]] for p in item.platforms}
    if "mastodon" not in limits:
        return limits
    instances = [
        a.instance_limits
        for a in accounts.load_many(db, item.account_ids).values()
        if a.platform == "mastodon" and a.instance_limits is not None
    ]
    if instances:
        limits["mastodon"] = list(dict.fromkeys(limits_for("mastodon", i) for i in instances))
    return limits


def _check(
    bucket: MediaBucket,
    item: MediaItem,
    size: int,
    limits_by_platform: dict[str, list[NetworkLimits]],
    work: Path,
) -> tuple[MediaFacts | None, list[MediaProblem], dict[str, Variant]]:
    copy = media_reading.read_for_check(
        bucket, item.object_name, size, item.sha256, work / "original"
    )
    if isinstance(copy, MediaProblem):
        return None, [copy], {}
    path = copy.path
    facts = probe(path)
    if isinstance(facts, Unreadable):
        return None, [MediaProblem("type", facts.reason)], {}
    variants: dict[str, Variant] = {}
    base_path, base = path, facts
    if facts.kind == "image" and media_convert.needs_cleaning(path):
        cleaned = media_convert.clean(path, work / "clean")
        variants["clean"] = _store(bucket, item, "clean", cleaned)
        base_path, base = cleaned.path, variants["clean"].facts
    problems: list[MediaProblem] = []
    for platform, limits in _each(limits_by_platform):
        problems.extend(check_item(limits, base))
        if needs_conversion(limits, base) and platform not in variants:
            converted = _convert(limits, base_path, base, work / platform)
            if converted is None:
                problems.append(_cannot_fit(limits, base))
            else:
                variants[platform] = _store(bucket, item, platform, converted)
    return facts, problems, variants


def _each(limits_by_platform: dict[str, list[NetworkLimits]]) -> list[tuple[str, NetworkLimits]]:
    return [(p, limits) for p, each in limits_by_platform.items() for limits in each]


def _convert(
    limits: NetworkLimits, path: Path, facts: MediaFacts, target: Path
) -> media_convert.Converted | None:
    converted: media_convert.Converted | None = None
    if facts.mime not in limits.image_types:
        converted = media_convert.to_jpeg(path, target.with_suffix(".jpg"))
        path = converted.path
    size = path.stat().st_size
    if limits.convert_over_bytes and limits.max_image_bytes and size > limits.max_image_bytes:
        converted = media_convert.fit_bytes(
            path, target.with_suffix(".fit"), limits.max_image_bytes
        )
    return converted


def _cannot_fit(limits: NetworkLimits, facts: MediaFacts) -> MediaProblem:
    return MediaProblem(
        "size",
        f"{limits.network} takes images of at most {limits.max_image_bytes:,} bytes and this "
        f"one ({facts.bytes:,}) could not be re-encoded under it",
    )


def _store(
    bucket: MediaBucket, item: MediaItem, purpose: str, converted: media_convert.Converted
) -> Variant:
    name = media_records.object_name(item.id, purpose)
    bucket.put_file(name, converted.path, converted.mime)
    facts = MediaFacts(
        converted.mime, converted.path.stat().st_size, converted.width, converted.height
    )
    return Variant(name, facts, converted.quality)


# --- a post's uploaded media, at the door -----------------------------------------------------


def admit(
    db: Database[Doc], account: Account, content: Content, now: datetime
) -> Content | list[Problem]:
    """The content with each uploaded item resolved to the object the account's network gets,
    or every problem, each naming the item (`media[i]`) and the rule."""
    wanted = [m.media_id for m in content.media if m.media_id]
    if not wanted:
        return content
    items = media_records.get_many(db, wanted)
    problems: list[Problem] = []
    resolved: list[Media] = []
    for index, media in enumerate(content.media):
        if not media.media_id:
            resolved.append(media)
            continue
        found = _resolve(items.get(media.media_id), media, account)
        if isinstance(found, Media):
            resolved.append(found)
        else:
            problems.extend(Problem(f"media[{index}]", message) for message in found)
    if problems:
        return problems
    media_records.mark_used(db, wanted, now)
    return replace(content, media=tuple(resolved))


def _resolve(item: MediaItem | None, media: Media, account: Account) -> Media | Sequence[str]:
    if item is None or account.id not in item.account_ids:
        # One answer for both: an id of another account's media reveals nothing.
        return [f"no media {media.media_id!r} uploaded for account {account.id!r}"]
    if item.state == "uploading":
        return [f"media {item.id!r} is still uploading: complete the upload first"]
    if item.state == "rejected":
        reasons = "; ".join(p.message for p in item.problems)
        return [f"media {item.id!r} was rejected: {reasons}"]
    platform = account.platform
    variant = item.object_for(platform)
    if variant is None or platform not in LIMITS:
        return [f"media {item.id!r} has no copy for {platform}"]
    broken = check_item(limits_for(platform, account.instance_limits), variant.facts, media.alt)
    if broken:
        return [f"{p.rule}: {p.message}" for p in broken]
    kind = variant.facts.kind or "image"
    return replace(media, object_name=variant.object_name, type=kind, url="")


# --- lifecycle ----------------------------------------------------------------------------------

SWEEP_LIMIT = 100  # items looked at per sweep: a tick's cost never grows with the library


@dataclass(frozen=True)
class SweepReport:
    expired_uploads: int  # never completed within MEDIA_UPLOAD_EXPIRY_HOURS
    deleted: int  # unused by any unfinished post for MEDIA_RETENTION_DAYS
    kept: int  # still used: looked at again after another retention period

    def to_json(self) -> Doc:
        return {"expiredUploads": self.expired_uploads, "deleted": self.deleted, "kept": self.kept}


def sweep_as_configured(
    db: Database[Doc], bucket: MediaBucket, settings: Settings, now: datetime
) -> SweepReport:
    """The sweep with the deployment's periods (the CLI's `media sweep`, the daily job)."""
    return sweep(
        db,
        bucket,
        now,
        retention=timedelta(days=settings.media_retention_days),
        upload_expiry=timedelta(hours=settings.media_upload_expiry_hours),
    )


def sweep(
    db: Database[Doc],
    bucket: MediaBucket,
    now: datetime,
    *,
    retention: timedelta,
    upload_expiry: timedelta,
    limit: int = SWEEP_LIMIT,
) -> SweepReport:
    """Delete abandoned uploads and items no unfinished post has used for `retention` (objects
    first, then the record, so a crash between them leaves a record the next sweep finishes)."""
    expired = media_records.abandoned(db, now - upload_expiry, limit)
    for item in expired:
        _delete(db, bucket, item)
    deleted = kept = 0
    for item in media_records.unused_since(db, now - retention, limit):
        if store.uses_media(db, item.id):
            media_records.touch(db, item.id, now)
            kept += 1
        else:
            _delete(db, bucket, item)
            deleted += 1
    return SweepReport(len(expired), deleted, kept)


def _delete(db: Database[Doc], bucket: MediaBucket, item: MediaItem) -> None:
    for name in media_records.all_objects(item):
        bucket.delete(name)
    media_records.remove(db, item.id)
