"""What the Mastodon sandbox remembers: accounts, statuses, idempotency keys, media, faults.

Everything here runs under one lock held by the HTTP layer; methods raise `MastodonFault` with
the status and `error` text Mastodon answers with.
"""

from __future__ import annotations

import copy
import html
import itertools
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devstack.mastodon.oauth import App, Code

from devstack.sandbox.state import Faults

MAX_CHARACTERS = 500  # Mastodon's default status length
MAX_MEDIA = 4
DESCRIPTION_LIMIT = 1500  # alt text, `configuration.media_attachments.description_limit`
# What GET /api/v2/instance answers (entities/Instance.md, a default instance's values); the
# sandbox enforces the same numbers. A test sets others (POST /_sandbox/configuration) to stand
# for an instance whose admin changed them.
CONFIGURATION: dict[str, Any] = {
    "statuses": {
        "max_characters": MAX_CHARACTERS,
        "max_media_attachments": MAX_MEDIA,
        "characters_reserved_per_url": 23,
    },
    "media_attachments": {
        "supported_mime_types": [
            "image/jpeg",
            "image/png",
            "image/gif",
            "image/webp",
            "image/heic",
            "image/avif",
            "video/mp4",
            "video/quicktime",
            "video/webm",
        ],
        "image_size_limit": 16_777_216,
        "image_matrix_limit": 33_177_600,
        "video_size_limit": 103_809_024,
        "video_frame_rate_limit": 120,
        "video_matrix_limit": 8_294_400,
        "description_limit": DESCRIPTION_LIMIT,
    },
}
# The scopes of a token made as the README says; `read`/`write` cover all of theirs.
DEFAULT_SCOPES = frozenset({"write:statuses", "write:media", "read:statuses", "profile"})
IDEMPOTENCY_SECONDS = 3600  # Mastodon keeps idempotency keys for up to an hour
_URL = re.compile(r"https?://[^\s<]+")


class MastodonFault(Exception):  # noqa: N818 (an error answer, as Mastodon calls it)
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


@dataclass
class Account:
    id: str
    username: str
    token: str
    scopes: frozenset[str] = DEFAULT_SCOPES
    faults: Faults = field(default_factory=Faults)
    idempotency_seconds: float = IDEMPOTENCY_SECONDS
    media_processing_seconds: float = 0.0


@dataclass
class Media:
    id: str
    account: str
    mime: str
    size: int
    description: str
    created: float  # monotonic
    processing_seconds: float

    def processed(self) -> bool:
        return time.monotonic() - self.created >= self.processing_seconds

    def to_json(self, base: str) -> dict[str, Any]:
        url = f"{base}/_sandbox/files/{self.id}" if self.processed() else None
        kind = "video" if self.mime.startswith("video/") else "image"
        return {"id": self.id, "type": kind, "url": url, "description": self.description or None}


@dataclass
class Status:
    id: str
    account: str
    text: str
    spoiler_text: str
    visibility: str
    media: list[Media]
    created: datetime
    in_reply_to_id: str | None = None

    def to_json(self, base: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "in_reply_to_id": self.in_reply_to_id,
            "created_at": self.created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "content": _html(self.text),
            "spoiler_text": self.spoiler_text,
            "visibility": self.visibility,
            "media_attachments": [m.to_json(base) for m in self.media],
            "account": {"id": self.account},
        }


class MastodonState:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.statuses: dict[str, Status] = {}
        self.keys: dict[tuple[str, str], tuple[str, float]] = {}  # -> (status id, when)
        self.media: dict[str, Media] = {}
        self.requests: dict[str, int] = {}
        # OAuth (devstack.mastodon.oauth): registered apps and authorization codes.
        self.apps: dict[str, App] = {}
        self.codes: dict[str, Code] = {}
        self.configuration: dict[str, Any] = copy.deepcopy(CONFIGURATION)
        self._ids = itertools.count(109_000_000_000_000_001)

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change the instance's limits, section by section (`statuses`, `media_attachments`);
        a name the instance does not have is refused."""
        for section, values in changes.items():
            known = self.configuration[section]
            unknown = set(values) - set(known)
            if unknown:
                raise KeyError(f"no {section} setting {sorted(unknown)}")
            known.update(values)
        return self.configuration

    def next_id(self) -> str:
        return str(next(self._ids))

    def add_account(
        self, username: str, token: str, scopes: frozenset[str] = DEFAULT_SCOPES
    ) -> Account:
        # A username is unique on an instance: adding it again gives it the new token.
        same = next((a for a in self.accounts.values() if a.username == username), None)
        account = Account(same.id if same else self.next_id(), username, token, scopes)
        self.accounts[account.id] = account
        return account

    def by_token(self, token: str) -> Account:
        for account in self.accounts.values():
            if token and account.token == token:
                if account.faults.invalid_token:
                    break
                return account
        raise MastodonFault(401, "The access token is invalid")

    @staticmethod
    def require_scope(account: Account, *accepted: str) -> None:
        """403 unless the token holds one of `accepted` or the top-level scope covering it
        (`read` covers `read:statuses`), as Mastodon's Doorkeeper checks."""
        covering = {scope.split(":")[0] for scope in accepted if ":" in scope}
        if account.scopes.isdisjoint({*accepted, *covering}):
            raise MastodonFault(403, "This action is outside the authorized scopes")

    def by_name_or_id(self, name: str) -> Account | None:
        for account in self.accounts.values():
            if name in (account.id, account.username):
                return account
        return None

    def upload(self, account: Account, data: bytes, mime: str, description: str) -> Media:
        limits = self.configuration["media_attachments"]
        if mime not in limits["supported_mime_types"]:
            raise MastodonFault(422, "Validation failed: File content type is invalid")
        size_limit = limits["video_size_limit" if mime.startswith("video/") else "image_size_limit"]
        if len(data) > size_limit:
            raise MastodonFault(
                422, f"Validation failed: File file size must be less than {size_limit} Bytes"
            )
        if len(description) > limits["description_limit"]:
            raise MastodonFault(
                422,
                "Validation failed: Description is too long "
                f"(maximum is {limits['description_limit']} characters)",
            )
        media = Media(
            self.next_id(),
            account.id,
            mime,
            len(data),
            description,
            time.monotonic(),
            account.media_processing_seconds,
        )
        self.media[media.id] = media
        return media

    def post_status(self, account: Account, body: dict[str, Any], key: str | None) -> Status:
        if key:
            found = self.keys.get((account.id, key))
            if found and time.time() - found[1] < account.idempotency_seconds:
                return self.statuses[found[0]]  # the first request's status, not a new one
        status = self._new_status(account, body)
        if key:
            self.keys[(account.id, key)] = (status.id, time.time())
        return status

    def _new_status(self, account: Account, body: dict[str, Any]) -> Status:
        text = str(body.get("status") or "")
        media_ids = [str(m) for m in body.get("media_ids") or []]
        if not text.strip() and not media_ids:
            raise MastodonFault(422, "Validation failed: Text can't be blank")
        statuses = self.configuration["statuses"]
        if len(text) > statuses["max_characters"]:
            raise MastodonFault(
                422,
                f"Validation failed: Text character limit of {statuses['max_characters']} exceeded",
            )
        if len(media_ids) > statuses["max_media_attachments"]:
            raise MastodonFault(422, "Validation failed: Media attachments are too many")
        media = [self._attachable(account, m) for m in media_ids]
        visibility = str(body.get("visibility") or "public")
        if visibility not in ("public", "unlisted", "private", "direct"):
            raise MastodonFault(422, "Validation failed: Visibility is not included in the list")
        status = Status(
            self.next_id(),
            account.id,
            text,
            str(body.get("spoiler_text") or ""),
            visibility,
            media,
            datetime.now(UTC),
            self._thread(body.get("in_reply_to_id")),
        )
        self.statuses[status.id] = status
        return status

    def _thread(self, in_reply_to_id: object) -> str | None:
        """Mastodon's StatusesController finds the status replied to first and answers 404
        when there is none (statuses.errors.in_reply_not_found)."""
        if in_reply_to_id in (None, ""):
            return None
        if str(in_reply_to_id) not in self.statuses:
            raise MastodonFault(
                404, "The post you are trying to reply to does not appear to exist."
            )
        return str(in_reply_to_id)

    def _attachable(self, account: Account, media_id: str) -> Media:
        media = self.media.get(media_id)
        if media is None or media.account != account.id:
            raise MastodonFault(422, "Validation failed: Media attachments are invalid")
        if not media.processed():
            raise MastodonFault(
                422, "Cannot attach files that have not finished processing. Try again in a moment!"
            )
        return media

    def timeline(self, account_id: str, limit: int, max_id: str | None) -> list[Status]:
        mine = [s for s in reversed(self.statuses.values()) if s.account == account_id]
        if max_id is not None:
            mine = [s for s in mine if int(s.id) < int(max_id)]
        return mine[:limit]


def _html(text: str) -> str:
    """Mastodon's rendering: paragraphs, <br /> for line breaks, links split into spans."""
    paragraphs = []
    for block in text.split("\n\n"):
        escaped = html.escape(block, quote=False)
        linked = _URL.sub(_link, escaped)
        paragraphs.append("<p>" + linked.replace("\n", "<br />") + "</p>")
    return "".join(paragraphs)


def _link(match: re.Match[str]) -> str:
    url = match.group(0)
    scheme, rest = url.split("://", 1)
    return (
        f'<a href="{url}" rel="nofollow noopener" target="_blank">'
        f'<span class="invisible">{scheme}://</span><span class="ellipsis">{rest[:30]}</span>'
        f'<span class="invisible">{rest[30:]}</span></a>'
    )
