"""Checks a post must pass before it is accepted: one function for the CLI and any later API.

Every problem is reported at once, each naming the field and what to change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from common.clock import ScheduledTime, TimeError, resolve
from common.media_rules import LIMITS, MastodonInstanceLimits
from common.model import PLATFORMS, VISIBILITIES, Content, Media, Visibility

# Facebook's post limit is the widely quoted 63,206 characters (not in Meta's stored docs).
FACEBOOK_TEXT_LIMIT = 63_206
INSTAGRAM_CAPTION_LIMIT = 2_200
INSTAGRAM_MAX_HASHTAGS = 30
INSTAGRAM_MAX_MENTIONS = 20
CAROUSEL_MIN, CAROUSEL_MAX = 2, LIMITS["instagram"].max_items
FACEBOOK_MAX_PHOTOS = LIMITS["facebook"].max_items  # Meta documents none; 10 verified by others
# app.bsky.feed.post: text of at most 300 graphemes and 3,000 UTF-8 bytes (the lexicon's
# maxLength counts bytes); app.bsky.embed.images: at most 4 images.
BLUESKY_TEXT_GRAPHEMES = 300
BLUESKY_TEXT_BYTES = 3000
BLUESKY_MAX_IMAGES = LIMITS["bluesky"].max_items
# Threads: 500 characters; a carousel has 2 to 20 items.
THREADS_TEXT_LIMIT = 500
THREADS_CAROUSEL_MAX = LIMITS["threads"].max_items
# Mastodon's defaults, for an instance whose own limits were not read (they are read from its
# /api/v2/instance at connect: common.platforms.mastodon.connector): 500 characters, 4
# attachments, alt text of 1,500 characters (`configuration.media_attachments.description_limit`).
MASTODON_TEXT_LIMIT = 500
MASTODON_MAX_MEDIA = LIMITS["mastodon"].max_items
MASTODON_ALT_LIMIT = 1500
MEDIA_TYPES = ("image", "video")
# https, or plain http on this machine: the local stack's sandboxes serve (and fetch) media on
# loopback; a network cannot fetch such a URL, so it fails at publishing as "media fetch failed".
_MEDIA_URL_PREFIXES = ("https://", "http://127.0.0.1:", "http://localhost:")
_HASHTAG = re.compile(r"(?<!\w)#\w+")
_MENTION = re.compile(r"(?<!\w)@[\w.]+")


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


@dataclass(frozen=True)
class TextMeasure:
    """How much of a network's text limit a post uses, in that network's own unit."""

    used: int
    limit: int
    unit: str  # "characters" or "graphemes"

    @property
    def over(self) -> bool:
        return self.used > self.limit


def measure_text(
    platform: str, content: Content, instance: MastodonInstanceLimits | None = None
) -> TextMeasure:
    """The one count every door applies (the API, the CLI, the web composer's counters);
    `instance`: a Mastodon account's own instance limits, when read."""
    if platform == "bluesky":
        return TextMeasure(graphemes(content.text), BLUESKY_TEXT_GRAPHEMES, "graphemes")
    if platform == "facebook":
        return TextMeasure(len(content.text), FACEBOOK_TEXT_LIMIT, "characters")
    if platform == "instagram":
        return TextMeasure(len(content.text), INSTAGRAM_CAPTION_LIMIT, "characters")
    # Threads and Mastodon: the link goes out at the end of the text, so it counts; Mastodon
    # counts the content warning too.
    used = len(content.text) + (len(content.link) + 2 if content.link else 0)
    if platform == "mastodon":
        limit = instance.max_characters if instance else MASTODON_TEXT_LIMIT
        return TextMeasure(used + len(content.content_warning or ""), limit, "characters")
    return TextMeasure(used, THREADS_TEXT_LIMIT, "characters")


@dataclass(frozen=True)
class CheckedPost:
    """The parsed post when `problems` is empty."""

    content: Content
    when: ScheduledTime | None
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_post(
    platform: str,
    *,
    text: str = "",
    link: str | None = None,
    media: Sequence[Mapping[str, str]] = (),
    scheduled_at: str,
    time_zone: str | None = None,
    content_warning: str | None = None,
    visibility: str | None = None,
    instance: MastodonInstanceLimits | None = None,
) -> CheckedPost:
    """`instance`: the account's Mastodon instance limits, when read (else the defaults)."""
    problems: list[Problem] = []
    items = _media(media, problems)
    content = Content(
        text=text,
        link=link or None,
        media=tuple(items),
        content_warning=content_warning or None,
        visibility=_visibility(visibility, problems),
    )
    if platform != "mastodon" and (content.content_warning or content.visibility):
        problems.append(
            Problem("contentWarning", "only Mastodon posts take a content warning or visibility")
        )
    if platform not in PLATFORMS:
        problems.append(Problem("platform", f"platform must be one of {', '.join(PLATFORMS)}"))
    elif platform == "mastodon":
        _mastodon(content, problems, instance)
    else:
        _RULES[platform](content, problems)
    if link and not link.startswith(("https://", "http://")):
        problems.append(Problem("link", "link must be an http(s) URL"))
    when = _when(scheduled_at, time_zone, problems)
    return CheckedPost(content, when, tuple(problems))


# Follow-ups (common.posts.follow_ups): a first comment on every network; threads of several
# parts where a post's replies read as one thread. Parts carry text only, each under the same
# limit as a post's text on its network; a thread is bounded, so is the work it makes.
THREAD_NETWORKS = ("threads", "bluesky", "mastodon")
MAX_THREAD_PARTS = 25


@dataclass(frozen=True)
class CheckedFollowUps:
    """The follow-ups' texts, when `problems` is empty: a thread's parts in order, and the
    first comment."""

    thread: tuple[Content, ...]
    first_comment: Content | None
    problems: tuple[Problem, ...]


def check_follow_ups(
    platform: str, *, first_comment: str | None = None, thread: Sequence[str] = ()
) -> CheckedFollowUps:
    problems: list[Problem] = []
    if thread and platform not in THREAD_NETWORKS:
        problems.append(
            Problem("thread", f"threads are published on {', '.join(THREAD_NETWORKS)} only")
        )
    if len(thread) > MAX_THREAD_PARTS:
        problems.append(Problem("thread", f"a thread has at most {MAX_THREAD_PARTS} parts"))
    parts = tuple(Content(text=t) for t in thread)
    for index, part in enumerate(parts):
        _follow_up_text(platform, part, f"thread[{index}]", problems)
    comment = None if first_comment is None else Content(text=first_comment)
    if comment is not None:
        _follow_up_text(platform, comment, "firstComment", problems)
    return CheckedFollowUps(parts, comment, tuple(problems))


def _follow_up_text(platform: str, content: Content, field: str, problems: list[Problem]) -> None:
    if not content.text.strip():
        problems.append(Problem(field, "a follow-up needs text"))
        return
    if platform not in PLATFORMS:
        return  # check_post names the platform
    measured = measure_text(platform, content)
    if measured.over:
        problems.append(
            Problem(field, f"{measured.used} {measured.unit}; the limit is {measured.limit}")
        )


def _media(raw: Sequence[Mapping[str, str]], problems: list[Problem]) -> list[Media]:
    items: list[Media] = []
    for index, entry in enumerate(raw):
        if entry.get("mediaId"):
            items.append(_uploaded(entry))
            continue
        url = str(entry.get("url", ""))
        kind = str(entry.get("type", "image"))
        if not url.startswith(_MEDIA_URL_PREFIXES):
            problems.append(
                Problem(
                    f"media[{index}].url",
                    "media URLs must be https (they are fetched from there)",
                )
            )
        if kind not in MEDIA_TYPES:
            problems.append(Problem(f"media[{index}].type", "media type must be image or video"))
            continue
        alt = str(entry.get("alt") or "")
        items.append(Media(url=url, type="video" if kind == "video" else "image", alt=alt))
    return items


def _uploaded(entry: Mapping[str, str]) -> Media:
    """An uploaded item: its type, copy and limits come from its record when the post is
    admitted (common.operations.media.admit), not from the request."""
    return Media(
        url="",
        type="video" if entry.get("type") == "video" else "image",
        alt=str(entry.get("alt") or ""),
        media_id=str(entry["mediaId"]),
        object_name=entry.get("object") or None,
    )


# What each network counts toward its text limit, in the words of a length problem.
_COUNTED = {
    "facebook": ("the text", "Facebook"),
    "instagram": ("the caption", "Instagram"),
    "bluesky": ("the text", "Bluesky"),
    "threads": ("the text with the link", "Threads"),
    "mastodon": ("the text with the link and the content warning", "Mastodon"),
}


def _length(
    platform: str,
    content: Content,
    problems: list[Problem],
    instance: MastodonInstanceLimits | None = None,
) -> None:
    """'312 graphemes, Bluesky allows 300': the count and the limit, in the network's unit."""
    measure = measure_text(platform, content, instance)
    if measure.over:
        what, network = _COUNTED[platform]
        allows = f"{network} allows {measure.limit:,}{_on(instance)}"
        problems.append(Problem("text", f"{what} has {measure.used:,} {measure.unit}, {allows}"))


def _facebook(content: Content, problems: list[Problem]) -> None:
    _length("facebook", content, problems)
    not_both = "a Facebook post carries either a link or photos, not both"
    _pictures_post(content, problems, ("Facebook", "photos", FACEBOOK_MAX_PHOTOS), not_both)


def _pictures_post(
    content: Content, problems: list[Problem], kind: tuple[str, str, int], not_both: str
) -> None:
    """What Facebook and Bluesky posts share (`kind`: the network, what it calls its
    pictures, how many one post carries): something to show, pictures only, not too many, and
    a link or pictures (`not_both` says which wins)."""
    network, pictures, most = kind
    if not (content.text.strip() or content.link or content.media):
        problems.append(Problem("text", f"a {network} post needs text, a link or {pictures}"))
    if any(m.type == "video" for m in content.media):
        problems.append(Problem("media", f"{network} posts here carry {pictures} only, not video"))
    if len(content.media) > most:
        problems.append(Problem("media", f"at most {most} {pictures} in one {network} post"))
    if content.link and content.media:
        problems.append(Problem("link", not_both))


def _instagram(content: Content, problems: list[Problem]) -> None:
    text = content.text
    _length("instagram", content, problems)
    if len(_HASHTAG.findall(text)) > INSTAGRAM_MAX_HASHTAGS:
        problems.append(Problem("text", f"at most {INSTAGRAM_MAX_HASHTAGS} hashtags on Instagram"))
    if len(_MENTION.findall(text)) > INSTAGRAM_MAX_MENTIONS:
        problems.append(
            Problem("text", f"at most {INSTAGRAM_MAX_MENTIONS} @-mentions on Instagram")
        )
    if content.link:
        problems.append(Problem("link", "Instagram posts cannot carry a link"))
    count = len(content.media)
    if count == 0:
        problems.append(Problem("media", "Instagram posts need an image or a video"))
    elif count > 1 and not CAROUSEL_MIN <= count <= CAROUSEL_MAX:
        problems.append(
            Problem("media", f"a carousel has {CAROUSEL_MIN} to {CAROUSEL_MAX} items, got {count}")
        )


def _bluesky(content: Content, problems: list[Problem]) -> None:
    _length("bluesky", content, problems)
    size = len(content.text.encode("utf-8"))
    if size > BLUESKY_TEXT_BYTES:
        problems.append(
            Problem(
                "text",
                f"the text has {size:,} bytes in UTF-8, Bluesky allows {BLUESKY_TEXT_BYTES:,} "
                "(emoji and accented letters take several)",
            )
        )
    not_both = "a Bluesky post carries either images or a link card, not both"
    _pictures_post(content, problems, ("Bluesky", "images", BLUESKY_MAX_IMAGES), not_both)


def graphemes(text: str) -> int:
    """User-perceived characters (an emoji with skin tone or a flag is one), as Bluesky counts."""
    # Imported here: only the door (CLI, API) counts graphemes, and the run function's
    # archive does not ship the `regex` package.
    import regex  # noqa: PLC0415

    return len(regex.findall(r"\X", text))


def _threads(content: Content, problems: list[Problem]) -> None:
    _length("threads", content, problems)
    if not (content.text.strip() or content.link or content.media):
        problems.append(Problem("text", "a Threads post needs text, a link or media"))
    if len(content.media) > THREADS_CAROUSEL_MAX:
        problems.append(
            Problem("media", f"a Threads carousel has at most {THREADS_CAROUSEL_MAX} items")
        )


def _mastodon(
    content: Content, problems: list[Problem], instance: MastodonInstanceLimits | None
) -> None:
    _length("mastodon", content, problems, instance)
    if not (content.text.strip() or content.link or content.media):
        problems.append(Problem("text", "a Mastodon post needs text, a link or media"))
    most = instance.max_media_attachments if instance else MASTODON_MAX_MEDIA
    if len(content.media) > most:
        problems.append(Problem("media", f"at most {most} media in one post{_on(instance)}"))
    alt_limit = instance.description_limit if instance else MASTODON_ALT_LIMIT
    if any(len(m.alt) > alt_limit for m in content.media):
        problems.append(
            Problem(
                "media", f"Mastodon alt text is limited to {alt_limit} characters{_on(instance)}"
            )
        )


def _on(instance: MastodonInstanceLimits | None) -> str:
    return " on this instance" if instance else ""


def _visibility(raw: str | None, problems: list[Problem]) -> Visibility | None:
    if not raw:
        return None
    for known in VISIBILITIES:
        if raw == known:
            return known
    problems.append(Problem("visibility", f"visibility must be one of {', '.join(VISIBILITIES)}"))
    return None


_RULES = {
    "facebook": _facebook,
    "instagram": _instagram,
    "threads": _threads,
    "bluesky": _bluesky,
}


def _when(
    scheduled_at: str, time_zone: str | None, problems: list[Problem]
) -> ScheduledTime | None:
    if not scheduled_at.strip():
        problems.append(Problem("scheduledAt", "scheduledAt is required"))
        return None
    try:
        return resolve(scheduled_at, time_zone)
    except TimeError as exc:
        problems.append(Problem("scheduledAt", str(exc)))
        return None
