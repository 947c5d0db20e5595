"""What each network accepts as media, in one table, and the checks that read it.

Pure: facts about a file come in (`MediaFacts`, read from its bytes by common.media_probe or from
the first bytes of a URL), problems go out, each naming the rule and the network's own limit.
The sources of every number are in docs/media-limits.md; a number changes there and here together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from common.media_types import MediaKind, kind_of


@dataclass(frozen=True)
class MediaFacts:
    """What the bytes are: read from the content, never taken from the client's word."""

    mime: str
    bytes: int
    width: int | None = None  # as displayed (EXIF orientation applied)
    height: int | None = None
    duration_seconds: float | None = None
    codec: str | None = None
    fps: float | None = None

    @property
    def kind(self) -> MediaKind | None:
        return kind_of(self.mime)

    @property
    def aspect(self) -> float | None:
        if not self.width or not self.height:
            return None
        return self.width / self.height


@dataclass(frozen=True)
class NetworkLimits:
    """One network's media rules. None: the network sets no such limit (or none we know)."""

    network: str
    image_types: frozenset[str]
    video_types: frozenset[str] = frozenset()
    max_image_bytes: int | None = None
    max_video_bytes: int | None = None
    image_aspect: tuple[float, float] | None = None  # width / height, inclusive
    video_aspect: tuple[float, float] | None = None
    video_seconds: tuple[float, float] | None = None
    video_codecs: frozenset[str] = frozenset()  # empty: any
    video_fps: tuple[float, float] | None = None
    max_items: int = 1
    alt_max: int | None = None  # alt text characters; None: the network carries no alt text
    # Types the scheduler converts for this network instead of refusing (common.media_convert).
    convertible_images: frozenset[str] = frozenset()
    convert_over_bytes: bool = False  # images over max_image_bytes are re-encoded to fit


_STILLS = frozenset({"image/png", "image/heic", "image/heif", "image/webp"})
_MP4 = frozenset({"video/mp4", "video/quicktime"})
_H26X = frozenset({"h264", "hevc"})
MB = 1024 * 1024

LIMITS: Mapping[str, NetworkLimits] = {
    "instagram": NetworkLimits(
        network="Instagram",
        image_types=frozenset({"image/jpeg"}),
        video_types=_MP4,
        max_image_bytes=8 * MB,
        max_video_bytes=300 * MB,
        image_aspect=(4 / 5, 1.91),
        video_aspect=(0.01, 10.0),
        video_seconds=(3.0, 15 * 60.0),
        video_codecs=_H26X,
        video_fps=(23.0, 60.0),
        max_items=10,
        alt_max=1000,
        convertible_images=_STILLS,
    ),
    "threads": NetworkLimits(
        network="Threads",
        image_types=frozenset({"image/jpeg", "image/png"}),
        video_types=_MP4,
        max_image_bytes=8 * MB,
        max_video_bytes=1024 * MB,
        image_aspect=(0.1, 10.0),
        video_aspect=(0.01, 10.0),
        video_seconds=(0.0, 300.0),
        video_codecs=_H26X,
        video_fps=(23.0, 60.0),
        max_items=20,
        convertible_images=frozenset({"image/heic", "image/heif", "image/webp"}),
    ),
    "facebook": NetworkLimits(
        network="Facebook",
        image_types=frozenset({"image/jpeg", "image/png", "image/gif"}),
        max_image_bytes=10 * MB,
        max_items=10,
        convertible_images=frozenset({"image/heic", "image/heif", "image/webp"}),
    ),
    "bluesky": NetworkLimits(
        network="Bluesky",
        image_types=frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"}),
        max_image_bytes=2_000_000,
        max_items=4,
        alt_max=2000,
        convertible_images=frozenset({"image/heic", "image/heif"}),
        convert_over_bytes=True,
    ),
    "mastodon": NetworkLimits(
        network="Mastodon",
        image_types=frozenset(
            {"image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/avif"}
        ),
        video_types=frozenset({"video/mp4", "video/quicktime", "video/webm"}),
        max_image_bytes=16 * MB,
        max_video_bytes=99 * MB,
        max_items=4,
        alt_max=1500,
    ),
}


@dataclass(frozen=True)
class MastodonInstanceLimits:
    """An instance's own limits (`GET /api/v2/instance`, its `configuration`), read when the
    account connects and again when a check finds them older than INSTANCE_LIMITS_MAX_AGE."""

    max_characters: int
    max_media_attachments: int
    image_size_limit: int
    video_size_limit: int
    description_limit: int
    supported_mime_types: frozenset[str]
    read_at: datetime

    @classmethod
    def from_configuration(
        cls, configuration: Mapping[str, Any], read_at: datetime
    ) -> MastodonInstanceLimits | None:
        """From the API's `configuration` object; None when it lacks a number (an older or
        other server): the defaults then apply. `description_limit` came in Mastodon 4.4;
        before it the limit was the default's 1,500."""
        try:
            statuses = configuration["statuses"]
            media = configuration["media_attachments"]
            return cls(
                max_characters=_positive(statuses["max_characters"]),
                max_media_attachments=_positive(statuses["max_media_attachments"]),
                image_size_limit=_positive(media["image_size_limit"]),
                video_size_limit=_positive(media["video_size_limit"]),
                description_limit=_positive(media.get("description_limit", DESCRIPTION_DEFAULT)),
                supported_mime_types=frozenset(str(t) for t in media["supported_mime_types"]),
                read_at=read_at,
            )
        except (KeyError, TypeError, ValueError):
            return None

    def to_doc(self) -> dict[str, Any]:
        return {
            "maxCharacters": self.max_characters,
            "maxMediaAttachments": self.max_media_attachments,
            "imageSizeLimit": self.image_size_limit,
            "videoSizeLimit": self.video_size_limit,
            "descriptionLimit": self.description_limit,
            "supportedMimeTypes": sorted(self.supported_mime_types),
            "readAt": self.read_at,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> MastodonInstanceLimits:
        return cls(
            max_characters=int(doc["maxCharacters"]),
            max_media_attachments=int(doc["maxMediaAttachments"]),
            image_size_limit=int(doc["imageSizeLimit"]),
            video_size_limit=int(doc["videoSizeLimit"]),
            description_limit=int(doc["descriptionLimit"]),
            supported_mime_types=frozenset(doc["supportedMimeTypes"]),
            read_at=doc["readAt"],
        )


DESCRIPTION_DEFAULT = 1500  # Mastodon's alt-text limit before instances could state theirs
INSTANCE_LIMITS_MAX_AGE = timedelta(days=1)  # an account check reads them again after this


def _positive(value: Any) -> int:
    number = int(value)
    if isinstance(value, bool) or number <= 0:
        raise ValueError(value)
    return number


def limits_for(platform: str, instance: MastodonInstanceLimits | None = None) -> NetworkLimits:
    limits = LIMITS[platform]
    if platform != "mastodon" or instance is None:
        return limits
    types = instance.supported_mime_types
    return replace(
        limits,
        image_types=frozenset(t for t in types if t.startswith("image/")) or limits.image_types,
        video_types=frozenset(t for t in types if t.startswith("video/")) or limits.video_types,
        max_image_bytes=instance.image_size_limit,
        max_video_bytes=instance.video_size_limit,
        max_items=instance.max_media_attachments,
        alt_max=instance.description_limit,
    )


@dataclass(frozen=True)
class MediaProblem:
    """One refusal: which rule, in words that name the network's limit."""

    rule: str
    message: str


def check_item(limits: NetworkLimits, facts: MediaFacts, alt: str = "") -> list[MediaProblem]:
    """Every rule of `limits` this one item breaks (empty: the network takes it as it is,
    or after the conversion the table allows)."""
    kind = facts.kind
    if kind == "image":
        return _image(limits, facts) + _alt(limits, alt)
    if kind == "video":
        return _video(limits, facts) + _alt(limits, alt)
    return [MediaProblem("type", f"{facts.mime} is not an image or a video")]


def needs_conversion(limits: NetworkLimits, facts: MediaFacts) -> bool:
    """True when the network takes this image only as the converted variant."""
    if facts.kind != "image":
        return False
    if facts.mime not in limits.image_types and facts.mime in limits.convertible_images:
        return True
    over = limits.max_image_bytes is not None and facts.bytes > limits.max_image_bytes
    return over and limits.convert_over_bytes


def _image(limits: NetworkLimits, facts: MediaFacts) -> list[MediaProblem]:
    problems: list[MediaProblem] = []
    accepted = facts.mime in limits.image_types or facts.mime in limits.convertible_images
    if not accepted:
        names = ", ".join(sorted(limits.image_types))
        problems.append(
            MediaProblem("type", f"{limits.network} takes images as {names}, not {facts.mime}")
        )
    big = limits.max_image_bytes is not None and facts.bytes > limits.max_image_bytes
    if big and not limits.convert_over_bytes:
        problems.append(
            MediaProblem(
                "size",
                f"{limits.network} takes images of at most {limits.max_image_bytes:,} bytes; "
                f"this one has {facts.bytes:,}",
            )
        )
    problems.extend(_aspect(limits.network, "image", limits.image_aspect, facts))
    return problems


def _video(limits: NetworkLimits, facts: MediaFacts) -> list[MediaProblem]:
    if not limits.video_types:
        return [MediaProblem("type", f"{limits.network} posts here carry images only, not video")]
    problems: list[MediaProblem] = []
    if facts.mime not in limits.video_types:
        names = ", ".join(sorted(limits.video_types))
        problems.append(
            MediaProblem("type", f"{limits.network} takes video as {names}, not {facts.mime}")
        )
    if limits.max_video_bytes is not None and facts.bytes > limits.max_video_bytes:
        problems.append(
            MediaProblem(
                "size",
                f"{limits.network} takes videos of at most {limits.max_video_bytes:,} bytes; "
                f"this one has {facts.bytes:,}",
            )
        )
    problems.extend(_aspect(limits.network, "video", limits.video_aspect, facts))
    problems.extend(_duration(limits, facts))
    if limits.video_codecs and facts.codec not in limits.video_codecs:
        names = " or ".join(sorted(limits.video_codecs))
        problems.append(
            MediaProblem(
                "codec",
                f"{limits.network} takes {names} video, not {facts.codec or 'an unknown codec'} "
                "(video is not transcoded here: re-encode it before uploading)",
            )
        )
    if limits.video_fps and facts.fps is not None:
        low, high = limits.video_fps
        if not low <= facts.fps <= high:
            problems.append(
                MediaProblem(
                    "frameRate",
                    f"{limits.network} takes {low:g} to {high:g} frames per second, "
                    f"not {facts.fps:g}",
                )
            )
    return problems


def _duration(limits: NetworkLimits, facts: MediaFacts) -> list[MediaProblem]:
    if limits.video_seconds is None:
        return []
    if facts.duration_seconds is None:
        return [MediaProblem("duration", "the video's duration could not be read")]
    low, high = limits.video_seconds
    if low <= facts.duration_seconds <= high and facts.duration_seconds > 0:
        return []
    return [
        MediaProblem(
            "duration",
            f"{limits.network} takes videos of {low:g} to {high:g} seconds; "
            f"this one lasts {facts.duration_seconds:.1f}",
        )
    ]


def _aspect(
    network: str, kind: str, bounds: tuple[float, float] | None, facts: MediaFacts
) -> list[MediaProblem]:
    aspect = facts.aspect
    if bounds is None or aspect is None:
        return []
    low, high = bounds
    # A pixel of rounding (1080 x 1350 is exactly 4:5) must not refuse an exact ratio.
    if low - 1e-3 <= aspect <= high + 1e-3:
        return []
    return [
        MediaProblem(
            "aspectRatio",
            f"{network} takes {kind}s with a width/height ratio of {low:.2f} to {high:.2f}; "
            f"this one is {facts.width}x{facts.height} ({aspect:.2f})",
        )
    ]


def _alt(limits: NetworkLimits, alt: str) -> list[MediaProblem]:
    if limits.alt_max is None or len(alt) <= limits.alt_max:
        return []
    return [
        MediaProblem(
            "altText",
            f"{limits.network} takes alt text of at most {limits.alt_max} characters; "
            f"this one has {len(alt)}",
        )
    ]


def check_all(
    platform: str,
    items: Sequence[tuple[MediaFacts, str]],
    instance: MastodonInstanceLimits | None = None,
) -> list[tuple[int, MediaProblem]]:
    """Every problem of a post's media for `platform`, each with its item's index. (How many
    items a post may carry is checked with the text, in common.validation, from this table.)"""
    limits = limits_for(platform, instance)
    return [
        (index, problem)
        for index, (facts, alt) in enumerate(items)
        for problem in check_item(limits, facts, alt)
    ]
