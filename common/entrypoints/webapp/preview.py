"""How one composed post will look on each network: pure, from the same rules the publishers and
the checks apply.

The text is what the publisher sends (Threads and Mastodon put the link at the end of the text;
Mastodon shows the content warning first); what lies beyond the network's limit, counted in its
own unit (measure_text: graphemes for Bluesky, characters elsewhere), is marked: the network
refuses it, so the composer says where it stops. URLs become links where the network makes them
(Bluesky's link facets; Instagram captions link nothing); a link card is shown where the network
makes one from the post's link. Each media item is judged by the network's rules
(common.media_rules: types, sizes, aspect ratio, count), and its shape drawn at its ratio.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from common.media_rules import MediaFacts, NetworkLimits, check_item, needs_conversion
from common.model import Content
from common.platforms.bluesky.richtext import link_spans
from common.validation import TextMeasure

# Networks that turn a URL in the text into a link; Instagram captions link nothing.
LINKS_IN_TEXT = frozenset({"facebook", "threads", "mastodon", "bluesky"})
# Networks that show a card for the post's link (Facebook's link post, Threads' link preview,
# Mastodon's preview card of the first link, Bluesky's external embed when no image is sent).
LINK_CARDS = frozenset({"facebook", "threads", "mastodon", "bluesky"})
# The link goes into the text on these networks (their publishers append it).
LINK_APPENDED = frozenset({"threads", "mastodon"})


@dataclass(frozen=True)
class Piece:
    text: str
    kind: str  # "text", "link" or "over" (beyond the network's limit)


@dataclass(frozen=True)
class MediaNote:
    label: str
    ratio: float | None  # width / height, to draw its shape
    verdict: str  # what the network does with it
    refused: bool

    @property
    def box(self) -> tuple[int, int] | None:
        """Its shape in at most 60 x 40 pixels."""
        if not self.ratio:
            return None
        if self.ratio >= 1.5:
            return 60, max(1, round(60 / self.ratio))
        return max(1, round(40 * self.ratio)), 40


@dataclass(frozen=True)
class Preview:
    platform: str
    warning: str | None
    pieces: tuple[Piece, ...]
    card: str | None  # the link card's host
    media: tuple[MediaNote, ...]
    limit: str  # "302 / 300 graphemes"


@dataclass(frozen=True)
class Attached:
    """One media row of the composer: an uploaded item's facts (None: a URL, not yet read)."""

    label: str
    facts: MediaFacts | None
    alt: str = ""


def preview(
    platform: str,
    content: Content,
    media: Sequence[Attached],
    measure: TextMeasure,
    limits: NetworkLimits,
) -> Preview:
    """`measure` and `limits`: the text's count and the media rules of the strictest chosen
    account of the network (a Mastodon instance states its own)."""
    shown = _shown_text(platform, content)
    cut = _cut_at(shown, platform, measure.limit) if measure.over else len(shown)
    pieces = _linked(shown[:cut], platform) + (
        (Piece(shown[cut:], "over"),) if cut < len(shown) else ()
    )
    card = None
    if content.link and platform in LINK_CARDS and not (platform == "bluesky" and media):
        card = urlsplit(content.link).hostname or content.link
    warning = content.content_warning if platform == "mastodon" else None
    return Preview(
        platform,
        warning,
        pieces,
        card,
        _media_notes(platform, media, limits),
        f"{measure.used} / {measure.limit} {measure.unit}",
    )


def _shown_text(platform: str, content: Content) -> str:
    text, link = content.text, content.link
    if platform in LINK_APPENDED and link and link not in text:
        return f"{text}\n\n{link}" if text else link
    return text


def _cut_at(text: str, platform: str, limit: int) -> int:
    """Where the network's limit falls, as an index into `text`."""
    if platform != "bluesky":
        return min(limit, len(text))
    import regex  # noqa: PLC0415 (as common.validation: the door alone counts graphemes)

    clusters = regex.findall(r"\X", text)
    return len("".join(clusters[:limit]))


def _linked(text: str, platform: str) -> tuple[Piece, ...]:
    if platform not in LINKS_IN_TEXT or not text:
        return (Piece(text, "text"),) if text else ()
    pieces: list[Piece] = []
    at = 0
    for start, end in _url_ranges(text):
        if start > at:
            pieces.append(Piece(text[at:start], "text"))
        pieces.append(Piece(text[start:end], "link"))
        at = end
    if at < len(text):
        pieces.append(Piece(text[at:], "text"))
    return tuple(pieces)


def _url_ranges(text: str) -> list[tuple[int, int]]:
    """Character ranges of the URLs the networks link (Bluesky's detector, in characters)."""
    ranges = []
    for span in link_spans(text):
        start = len(text.encode()[: span.byte_start].decode())
        ranges.append((start, start + len(span.value)))
    return ranges


def _media_notes(
    platform: str, media: Sequence[Attached], limits: NetworkLimits
) -> tuple[MediaNote, ...]:
    notes = []
    for index, item in enumerate(media):
        if index >= limits.max_items:
            verdict = f"not sent: {platform} takes at most {limits.max_items}"
            notes.append(MediaNote(item.label, None, verdict, True))
            continue
        facts = item.facts
        if facts is None:
            notes.append(
                MediaNote(item.label, None, "read by the network when it fetches it", False)
            )
            continue
        problems = check_item(limits, facts, item.alt)
        if problems:
            notes.append(MediaNote(item.label, facts.aspect, problems[0].message, True))
            continue
        size = f"{facts.width} x {facts.height}" if facts.width and facts.height else facts.mime
        verdict = f"shown whole, {size}"
        if needs_conversion(limits, facts):
            verdict += " (sent as a JPEG copy, as this network needs)"
        notes.append(MediaNote(item.label, facts.aspect, verdict, False))
    return tuple(notes)


_SPACES = re.compile(r"\s+")


def label_of(filename: str | None, fallback: str) -> str:
    return _SPACES.sub(" ", filename or fallback)[:60]
