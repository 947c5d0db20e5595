"""Media given as URLs, checked at the door (a post scheduled, edited, batched or imported):
the URL answers, its bytes are an image or a video by their content (not the name, not the
declared type), and the network's type, size and shape limits hold.

Bounded, so a request cannot be made slow or used to probe: one ranged GET per distinct URL
reading at most HEAD_BYTES, a short timeout, at most MAX_URLS distinct URLs per request, checked
WORKERS at a time. The address every hop resolves to must be public (no loopback, private,
link-local or reserved address: common.platforms.public_hosts) unless PRIVATE_ADDRESSES_ALLOWED
is on, as it is for the local stack, whose sandboxes serve media on loopback. The networks fetch
the URL from their own side anyway.

What a head cannot tell (a video's duration, codec and frame rate) is checked by the network
when it fetches the file; uploads (POST /v1/media) are checked in full.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from urllib.parse import urljoin

import requests

from common.media_probe import Unreadable, facts_from_head
from common.media_rules import LIMITS, MediaFacts, check_item
from common.model import Content, Media
from common.platforms import public_hosts
from common.platforms.base import failure_reason
from common.platforms.http import NetworkSession
from common.validation import Problem

HEAD_BYTES = 64 * 1024  # the type, and an image's size and orientation in nearly every file
MAX_URLS = 50
WORKERS = 8
TIMEOUT = (3.0, 5.0)  # connect, read: a door check, not a download
MAX_REDIRECTS = 3
# The rules a file's head can answer; duration, codec and frame rate need the whole file.
_HEAD_RULES = frozenset({"type", "size", "aspectRatio"})
_TOTAL = re.compile(r"bytes \d+-\d+/(\d+)")


@dataclass(frozen=True)
class Fetched:
    """What the URL's first bytes are; `size_known`: the server said the whole file's size."""

    facts: MediaFacts
    size_known: bool


class MediaUrlCheck:
    """Checks the URL media of the posts of one request; one instance serves every request."""

    def __init__(
        self, *, allow_private: bool, resolver: public_hosts.Resolver = public_hosts.resolve_host
    ) -> None:
        self._allow_private = allow_private
        self._resolve = resolver
        self._session = NetworkSession("media", TIMEOUT, WORKERS)

    def close(self) -> None:
        self._session.close()

    def problems(
        self, posts: Sequence[tuple[str, Content]], known: frozenset[str] = frozenset()
    ) -> list[list[Problem]]:
        """For each (platform, content), every problem of its URL media, naming `media[i]`;
        URLs in `known` were checked before and are not fetched again."""
        named = (m.url for _, c in posts for m in c.media if _by_url(m) and m.url not in known)
        urls = list(dict.fromkeys(named))
        if not urls:
            return [[] for _ in posts]  # no media by URL: no thread, no request
        checked, skipped = urls[:MAX_URLS], set(urls[MAX_URLS:])
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(checked))) as pool:
            fetched = dict(zip(checked, pool.map(self.fetch, checked), strict=True))
        return [_post_problems(platform, content, fetched, skipped) for platform, content in posts]

    def fetch(self, url: str) -> Fetched | Unreadable:
        """The facts of the file at `url`, following at most MAX_REDIRECTS redirects."""
        for _ in range(MAX_REDIRECTS + 1):
            refused = public_hosts.refusal(
                url, allow_private=self._allow_private, resolve=self._resolve
            )
            if refused:
                return Unreadable(refused)
            answer = self._session.send(
                "GET",
                url,
                call="media check",
                idempotent=True,
                headers={"Range": f"bytes=0-{HEAD_BYTES - 1}"},
                stream=True,
                allow_redirects=False,
            )
            if not isinstance(answer, requests.Response):
                return Unreadable(f"the URL could not be reached ({failure_reason(answer)})")
            with answer:
                if answer.is_redirect and answer.headers.get("Location"):
                    url = urljoin(url, answer.headers["Location"])
                    continue
                return _read(answer)
        return Unreadable(f"the URL redirects more than {MAX_REDIRECTS} times")


def _by_url(media: Media) -> bool:
    return not media.media_id and bool(media.url)


def _read(answer: requests.Response) -> Fetched | Unreadable:
    if answer.status_code not in (200, 206):
        return Unreadable(f"the URL answered HTTP {answer.status_code}")
    try:
        head = b""
        for chunk in answer.iter_content(chunk_size=HEAD_BYTES):
            head += chunk
            if len(head) >= HEAD_BYTES:
                break
    except requests.RequestException as exc:
        return Unreadable(f"the URL could not be read ({type(exc).__name__})")
    total = _total_size(answer, len(head))
    facts = facts_from_head(head[:HEAD_BYTES], total or len(head))
    if isinstance(facts, Unreadable):
        return facts
    return Fetched(facts, size_known=total is not None)


def _total_size(answer: requests.Response, read: int) -> int | None:
    """The whole file's size: from Content-Range for a ranged answer, Content-Length for a
    whole one, or what was read when the body ended before HEAD_BYTES."""
    if answer.status_code == 206:
        found = _TOTAL.fullmatch(answer.headers.get("Content-Range", "").strip())
        return int(found.group(1)) if found else None
    length = answer.headers.get("Content-Length", "")
    if length.isdigit():
        return int(length)
    return read if read < HEAD_BYTES else None


def _post_problems(
    platform: str, content: Content, fetched: dict[str, Fetched | Unreadable], skipped: set[str]
) -> list[Problem]:
    problems: list[Problem] = []
    for index, media in enumerate(content.media):
        if not _by_url(media) or not (media.url in fetched or media.url in skipped):
            continue  # an upload, or a URL known from before
        field = f"media[{index}]"
        if media.url in skipped:
            message = (
                f"not checked: one request may name at most {MAX_URLS} distinct media URLs; "
                "send fewer, or upload the files (POST /v1/media)"
            )
            problems.append(Problem(f"{field}.url", message))
            continue
        found = fetched[media.url]
        if isinstance(found, Unreadable):
            problems.append(Problem(f"{field}.url", found.reason))
            continue
        problems.extend(Problem(field, m) for m in _rule_messages(platform, media.type, found))
    return problems


def _rule_messages(platform: str, declared: str, found: Fetched) -> list[str]:
    facts = found.facts
    if facts.kind is not None and facts.kind != declared:
        return [f"the URL serves {facts.mime}, a {facts.kind}, but the item says {declared}"]
    if platform not in LIMITS:
        return []
    # A URL is sent as it is: no conversion to another type or a smaller size.
    limits = replace(LIMITS[platform], convertible_images=frozenset(), convert_over_bytes=False)
    rules = _HEAD_RULES if found.size_known else _HEAD_RULES - {"size"}
    return [p.message for p in check_item(limits, facts) if p.rule in rules]
