"""What the sandbox Graph API remembers: accounts, posts, containers, quotas and faults.

Everything here runs under one lock held by the HTTP layer; methods raise `GraphFault` with the
code, subcode and message Meta uses (shared/reference/meta-graph-api.md sections 2-3).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devstack.sandbox.oauth import Code, OAuthApp

DAY = timedelta(hours=24)
DEFAULT_QUOTA_TOTAL = 50  # Meta's own example value for content_publishing_limit
THREADS_QUOTA_TOTAL = 250  # Threads: 250 API-published posts per 24 hours per profile
THREADS_TOKEN_SECONDS = 60 * 86400  # long-lived Threads tokens last 60 days from a refresh


class GraphFault(Exception):  # noqa: N818 (it is Meta's name for the thing)
    """An error answer in Meta's envelope."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        status: int = 400,
        transient: bool = False,
        kind: str = "OAuthException",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.status = status
        self.transient = transient
        self.kind = kind
        self.message = message


@dataclass
class Faults:
    """Per-account fault injection, settable over HTTP (POST /_sandbox/faults)."""

    server_errors: int = 0  # next N calls answer 500 with code 2, is_transient
    bad_gateway: int = 0  # next N calls answer 502 with an HTML body (no envelope)
    applied_server_errors: int = 0  # next N writes are applied, then answered 500 / code 2
    timeouts: int = 0  # next N writes are applied, then answered after timeout_seconds
    timeout_seconds: float = 3.0
    timeout_edge: str = ""  # only writes to this edge (e.g. media_publish) time out; "" = any
    rate_limited: int = 0  # next N calls are throttled (32 for Pages, 80002 for Instagram)
    regain_minutes: int = 5  # estimated_time_to_regain_access sent with a throttle
    usage_percent: int = 1  # call_count reported in the usage headers
    invalid_token: bool = False  # every call answers 190/463 (session expired)
    stuck_in_progress: bool = False  # containers never finish processing
    processing_seconds: float = 0.0  # how long containers stay IN_PROGRESS
    quota_total: int = DEFAULT_QUOTA_TOTAL
    quota_used: int = 0  # publishes counted before any made here (e.g. quota used up)
    latency_seconds: float = 0.0  # every call waits this long before answering
    echo_token: int = 0  # next N calls answer (#100) quoting the request URL, token URL-encoded

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name: f.type for f in fields(self)}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}")
            current = getattr(self, name)
            setattr(self, name, type(current)(value))


@dataclass
class Account:
    id: str
    kind: str  # "page" | "instagram" | "threads"
    token: str
    name: str
    faults: Faults = field(default_factory=Faults)
    page: str | None = None  # an Instagram account's linked Page
    token_issued: float = field(default_factory=time.time)  # Threads: refreshable after 24 h


@dataclass
class User:
    """A Facebook user who logged in to the app: a short-lived token and the Pages they manage."""

    short_token: str
    pages: list[str]
    long_token: str | None = None


@dataclass
class Container:
    id: str
    owner: str
    params: dict[str, str]
    created: float  # monotonic
    carousel_item: bool
    published_media: str | None = None


@dataclass
class Item:
    """A published post (Page post, photo, IG media) or an unpublished Page photo."""

    id: str
    owner: str
    kind: str
    text: str
    created: datetime
    published: bool = True
    link: str | None = None
    media: list[str] = field(default_factory=list)
    reply_to: str | None = None  # a Threads reply's or a comment's parent

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created"] = meta_time(self.created)
        return data


def meta_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


class SandboxState:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.items: dict[str, Item] = {}
        self.containers: dict[str, Container] = {}
        self.requests: dict[str, int] = {}
        self.users: dict[str, User] = {}
        # The browser flows (devstack.sandbox.oauth): apps, codes, Threads' short-lived tokens.
        self.oauth_apps: dict[str, OAuthApp] = {}
        self.oauth_codes: dict[str, Code] = {}
        self.threads_short: dict[str, tuple[str, str]] = {}  # -> (account id, app id)
        self._ids = itertools.count(17841400000000001)

    # --- accounts and auth ------------------------------------------------------------------

    def add_account(
        self, account_id: str, kind: str, token: str, name: str, page: str | None = None
    ) -> Account:
        if kind not in ("page", "instagram", "threads"):
            raise ValueError("kind must be page, instagram or threads")
        account = Account(account_id, kind, token, name or account_id, page=page)
        if kind == "threads":
            account.faults.quota_total = THREADS_QUOTA_TOTAL
        self.accounts[account_id] = account
        return account

    def add_user(self, short_token: str, pages: list[str]) -> User:
        unknown = [p for p in pages if self.accounts.get(p, Account("", "", "", "")).kind != "page"]
        if unknown:
            raise ValueError(f"not sandbox Pages: {', '.join(unknown)}")
        user = User(short_token, list(pages))
        self.users[short_token] = user
        return user

    def exchange_token(self, args: dict[str, Any], app_secret: str | None) -> dict[str, Any]:
        """`GET /oauth/access_token?grant_type=fb_exchange_token`: a long-lived user token."""
        if args.get("grant_type") != "fb_exchange_token" or not args.get("client_id"):
            raise GraphFault(100, "Missing or invalid grant_type or client_id")
        if app_secret is not None and args.get("client_secret") != app_secret:
            raise GraphFault(1, "Error validating client secret.", kind="OAuthException")
        user = self.users.get(str(args.get("fb_exchange_token", "")))
        if user is None:
            raise GraphFault(190, "Invalid OAuth access token - Cannot parse access token")
        user.long_token = f"EAAL-{self.next_id()}"
        return {"access_token": user.long_token, "token_type": "bearer", "expires_in": 5183944}

    def pages_of(self, long_token: str | None) -> list[dict[str, Any]]:
        """`GET /me/accounts`: the user's Pages with their tokens and linked IG accounts."""
        user = next((u for u in self.users.values() if u.long_token == long_token), None)
        if user is None or not long_token:
            raise GraphFault(190, "Invalid OAuth access token - Cannot parse access token")
        return [self._page_entry(self.accounts[page]) for page in user.pages]

    def _page_entry(self, page: Account) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": page.id,
            "name": page.name,
            "access_token": page.token,
            "tasks": ["MANAGE", "CREATE_CONTENT"],
        }
        linked = [a for a in self.accounts.values() if a.kind == "instagram" and a.page == page.id]
        if linked:
            entry["instagram_business_account"] = {"id": linked[0].id}
        return entry

    def account_for_token(self, token: str | None) -> Account:
        for account in self.accounts.values():
            if token and account.token == token:
                if account.faults.invalid_token:
                    raise GraphFault(
                        190,
                        "Error validating access token: Session has expired.",
                        subcode=463,
                    )
                return account
        raise GraphFault(190, "Invalid OAuth access token - Cannot parse access token", subcode=467)

    def acting_for(self, account: Account, parts: list[str]) -> Account:
        """Who a call acts for: an Instagram professional account publishes with its linked
        Page's token (Meta's Instagram Platform with Facebook Login), so a Page token acting
        on its Instagram account (or that account's containers) acts as that account; any
        other call acts as the token's own account."""
        node = parts[0] if parts else ""
        target = self.accounts.get(node)
        if target is None and node in self.containers:
            target = self.accounts.get(self.containers[node].owner)
        if target is None and node in self.items:  # a comment on a published item
            target = self.accounts.get(self.items[node].owner)
        if target is not None and target.kind == "instagram" and target.page == account.id:
            return target
        return account

    def owned(self, account: Account, node: str, kind: str) -> None:
        if node not in self.accounts:
            raise GraphFault(
                100,
                f"Unsupported request - Object with ID '{node}' does not exist",
                subcode=33,
                kind="GraphMethodException",
            )
        if node != account.id or self.accounts[node].kind != kind:
            raise GraphFault(200, "(#200) Permissions error")

    def next_id(self) -> str:
        return str(next(self._ids))

    # --- Facebook Pages ---------------------------------------------------------------------

    def feed_post(self, page: Account, args: dict[str, Any]) -> dict[str, str]:
        message = str(args.get("message") or "")
        link = args.get("link")
        attached = _attached_media(args)
        if not (message or link or attached):
            raise GraphFault(
                100, "(#100) Requires one of the params: message, link, attached_media"
            )
        photos = [self._unpublished_photo(page, fbid) for fbid in attached]
        last = self._latest(page.id)
        if last is not None and message and last.text == message and not photos:
            raise GraphFault(506, "(#506) Duplicate status message")
        post = self._store(page, "page_post", message, link=link, media=[p.id for p in photos])
        for photo in photos:
            photo.published = True
        return {"id": post.id}

    def photo(self, page: Account, args: dict[str, Any]) -> dict[str, str]:
        url = str(args.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise GraphFault(324, "(#324) Requires upload file")
        caption = str(args.get("caption") or "")
        if str(args.get("published", "true")).lower() == "false":
            photo = Item(self.next_id(), page.id, "photo", caption, _now(), published=False)
            photo.media = [url]
            self.items[photo.id] = photo
            return {"id": photo.id}
        photo = Item(self.next_id(), page.id, "photo", caption, _now(), media=[url])
        self.items[photo.id] = photo
        post = self._store(page, "page_post", caption, media=[photo.id])
        return {"id": photo.id, "post_id": post.id}

    def _unpublished_photo(self, page: Account, fbid: str) -> Item:
        photo = self.items.get(fbid)
        if photo is None or photo.owner != page.id or photo.kind != "photo":
            raise GraphFault(100, f"(#100) param attached_media has invalid media_fbid {fbid}")
        return photo

    def _store(
        self,
        owner: Account,
        kind: str,
        text: str,
        link: str | None = None,
        media: list[str] | None = None,
        reply_to: str | None = None,
    ) -> Item:
        raw = self.next_id()
        item_id = f"{owner.id}_{raw}" if kind == "page_post" else raw
        item = Item(
            item_id, owner.id, kind, text, _now(), link=link, media=media or [], reply_to=reply_to
        )
        self.items[item_id] = item
        return item

    # --- comments (Page posts and Instagram media) -------------------------------------------

    def commented(self, account: Account, node: str) -> Item:
        """The published Page post or Instagram media a comment call names, if the caller
        may comment on it (the Page itself, or the Instagram account acting by its Page)."""
        item = self.items.get(node)
        if item is None or not item.published or item.kind not in ("page_post", "ig_media"):
            raise GraphFault(
                100,
                f"Unsupported post request. Object with ID '{node}' does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation",
                subcode=33,
                kind="GraphMethodException",
            )
        if item.owner != account.id:
            raise GraphFault(200, "(#200) Permissions error")
        return item

    def comment(self, account: Account, item: Item, args: dict[str, Any]) -> dict[str, str]:
        message = str(args.get("message") or "")
        if not message and not args.get("attachment_url"):
            raise GraphFault(100, "(#100) Missing message or attachment")
        kind = "fb_comment" if item.kind == "page_post" else "ig_comment"
        comment = self._store(account, kind, message, reply_to=item.id)
        return {"id": comment.id}

    def comments_of(self, item: Item, limit: int, after: str | None) -> tuple[list[Item], bool]:
        """One page of an item's comments, newest first."""
        chosen = [i for i in reversed(self.items.values()) if i.reply_to == item.id]
        return _page_after(chosen, limit, after)

    def _latest(self, owner: str) -> Item | None:
        posts = [i for i in self.items.values() if i.owner == owner and i.kind == "page_post"]
        return max(posts, key=lambda i: i.created) if posts else None

    def recent(
        self, owner: str, kind: str, since: int | None, limit: int, after: str | None
    ) -> tuple[list[Item], bool]:
        """One page of an account's published items, newest first, after the cursor (the id
        of the last item of the previous page), and whether more follow."""
        # Items are stored in creation order: reversed, newest first, ties kept stable.
        chosen = [
            i
            for i in reversed(self.items.values())
            if i.owner == owner
            and i.kind == kind
            and i.published
            and (since is None or i.created.timestamp() >= since)
        ]
        return _page_after(chosen, limit, after)

    # --- Instagram --------------------------------------------------------------------------

    def create_container(self, ig: Account, args: dict[str, Any]) -> dict[str, str]:
        media_type = str(args.get("media_type") or "")
        carousel_item = str(args.get("is_carousel_item", "false")).lower() == "true"
        if media_type == "CAROUSEL":
            self._check_children(ig, str(args.get("children") or ""))
        elif not (args.get("image_url") or args.get("video_url")):
            raise GraphFault(100, "(#100) The parameter image_url or video_url is required")
        if carousel_item and args.get("caption"):
            raise GraphFault(100, "(#100) Carousel items cannot have a caption")
        params = {k: str(v) for k, v in args.items() if k != "access_token"}
        container = Container(self.next_id(), ig.id, params, time.monotonic(), carousel_item)
        self.containers[container.id] = container
        return {"id": container.id}

    def _check_children(self, ig: Account, raw: str, maximum: int = 10) -> None:
        children = [c for c in raw.split(",") if c]
        if not 2 <= len(children) <= maximum:
            raise GraphFault(100, f"(#100) A carousel needs between 2 and {maximum} children")
        for child in children:
            found = self.containers.get(child)
            if found is None or found.owner != ig.id or not found.carousel_item:
                raise GraphFault(100, f"(#100) Invalid child container {child}")

    def published_item(self, account: Account, item_id: str) -> Item:
        """An Instagram media or Threads post by its id, for its owner (the token's account)."""
        item = self.items[item_id]
        if item.owner != account.id or item.kind not in ("ig_media", "threads_post"):
            raise GraphFault(200, "(#200) Permissions error")
        return item

    def container_status(self, account: Account, container_id: str) -> dict[str, str]:
        container = self.containers.get(container_id)
        if container is None:
            raise GraphFault(
                100,
                f"Unsupported get request. Object with ID '{container_id}' does not exist",
                subcode=33,
                kind="GraphMethodException",
            )
        if container.owner != account.id:
            raise GraphFault(200, "(#200) Permissions error")
        status = self._status_code(container, account.faults)
        if account.kind == "threads":  # Threads names the field `status`
            return {"status": status, "id": container.id}
        return {"status_code": status, "status": status.title(), "id": container.id}

    def _status_code(self, container: Container, faults: Faults) -> str:
        if container.published_media is not None:
            return "PUBLISHED"
        if faults.stuck_in_progress:
            return "IN_PROGRESS"
        if time.monotonic() - container.created < faults.processing_seconds:
            return "IN_PROGRESS"
        return "FINISHED"

    def media_publish(self, ig: Account, args: dict[str, Any]) -> dict[str, str]:
        container = self.containers.get(str(args.get("creation_id") or ""))
        if container is None or container.owner != ig.id or container.carousel_item:
            raise GraphFault(100, "(#100) Invalid parameter creation_id", subcode=2207008)
        if container.published_media is not None:
            raise GraphFault(100, "(#100) This media has already been published", subcode=2207008)
        if self._status_code(container, ig.faults) != "FINISHED":
            raise GraphFault(
                9007, "Media ID is not available", subcode=2207027, kind="OAuthException"
            )
        if self.quota_usage(ig) >= ig.faults.quota_total:
            raise GraphFault(
                9,
                "Application request limit reached: the maximum number of posts has been published",
                subcode=2207042,
            )
        media = self._store(
            ig, "ig_media", container.params.get("caption", ""), media=[container.id]
        )
        container.published_media = media.id
        return {"id": media.id}

    def quota_usage(self, ig: Account) -> int:
        day_ago = _now() - DAY
        kind = "threads_post" if ig.kind == "threads" else "ig_media"
        made = sum(
            1
            for i in self.items.values()
            if i.owner == ig.id and i.kind == kind and i.created >= day_ago
        )
        return made + ig.faults.quota_used

    # --- Threads ----------------------------------------------------------------------------

    def create_thread(self, profile: Account, args: dict[str, Any]) -> dict[str, str]:
        media_type = str(args.get("media_type") or "")
        carousel_item = str(args.get("is_carousel_item", "false")).lower() == "true"
        if media_type not in ("TEXT", "IMAGE", "VIDEO", "CAROUSEL"):
            raise GraphFault(100, "(#100) The parameter media_type is required")
        if media_type == "CAROUSEL":
            self._check_children(profile, str(args.get("children") or ""), maximum=20)
        elif media_type == "IMAGE" and not args.get("image_url"):
            raise GraphFault(100, "(#100) The parameter image_url is required")
        elif media_type == "VIDEO" and not args.get("video_url"):
            raise GraphFault(100, "(#100) The parameter video_url is required")
        elif media_type == "TEXT" and not args.get("text"):
            raise GraphFault(100, "(#100) The parameter text is required")
        replied = args.get("reply_to_id")
        if replied is not None and not self._repliable(profile, str(replied)):
            raise GraphFault(100, "(#100) Param reply_to_id must be a valid Threads media id")
        if len(str(args.get("text") or "")) > 500:
            raise GraphFault(100, "(#100) The text is longer than 500 characters")
        params = {k: str(v) for k, v in args.items() if k != "access_token"}
        container = Container(self.next_id(), profile.id, params, time.monotonic(), carousel_item)
        self.containers[container.id] = container
        return {"id": container.id}

    def threads_publish(self, profile: Account, args: dict[str, Any]) -> dict[str, str]:
        container = self.containers.get(str(args.get("creation_id") or ""))
        if container is None or container.owner != profile.id or container.carousel_item:
            raise GraphFault(100, "(#100) Invalid parameter creation_id")
        if container.published_media is not None:
            raise GraphFault(100, "(#100) This media has already been published")
        if self._status_code(container, profile.faults) != "FINISHED":
            # Instagram's documented "not ready" error; Threads' own is not in the stored docs.
            raise GraphFault(9007, "Media ID is not available", subcode=2207027)
        if self.quota_usage(profile) >= profile.faults.quota_total:
            raise GraphFault(9, "Publishing limit reached", subcode=2207042)
        text, replied = container.params.get("text", ""), container.params.get("reply_to_id")
        # A reply is not among the profile's threads: it is listed on its `replies` edge.
        kind = "threads_post" if replied is None else "threads_reply"
        media = self._store(profile, kind, text, media=[container.id], reply_to=replied)
        container.published_media = media.id
        return {"id": media.id}

    def _repliable(self, profile: Account, media_id: str) -> bool:
        """A published thread or reply (this sandbox's profiles answer their own)."""
        item = self.items.get(media_id)
        return item is not None and item.kind in ("threads_post", "threads_reply")

    def refresh_threads_token(self, token: str) -> dict[str, Any]:
        """th_refresh_token: a long-lived token at least 24 hours old and not expired."""
        for account in self.accounts.values():
            if account.kind == "threads" and account.token == token:
                if account.faults.invalid_token:
                    raise GraphFault(190, "Error validating access token", subcode=463)
                if time.time() - account.token_issued < 86400:
                    raise GraphFault(190, "The token must be at least 24 hours old to refresh")
                account.token = "TH-" + str(next(self._ids))
                account.token_issued = time.time()
                return {
                    "access_token": account.token,
                    "token_type": "bearer",
                    "expires_in": THREADS_TOKEN_SECONDS,
                }
        raise GraphFault(190, "Invalid OAuth access token - Cannot parse access token", subcode=467)

    # --- tokens -----------------------------------------------------------------------------

    def debug_token(self, token: str) -> dict[str, Any]:
        for account in self.accounts.values():
            if account.token == token:
                valid = not account.faults.invalid_token
                data: dict[str, Any] = {
                    "app_id": "sandbox-app",
                    "type": "PAGE" if account.kind == "page" else "USER",
                    "issued_at": int(account.token_issued),
                    "application": "sandbox",
                    "is_valid": valid,
                    "expires_at": 0,
                    "scopes": ["pages_manage_posts", "instagram_content_publish"],
                    "profile_id": account.id,
                }
                if not valid:
                    data["error"] = {"code": 190, "subcode": 463, "message": "Session has expired"}
                return {"data": data}
        return {
            "data": {
                "is_valid": False,
                "error": {"code": 190, "subcode": 467, "message": "Invalid OAuth access token"},
            }
        }


def _attached_media(args: dict[str, Any]) -> list[str]:
    """Both the documented indexed form fields and a JSON array are accepted, like Meta."""
    raw_items: list[Any] = []
    if "attached_media" in args:
        value = args["attached_media"]
        raw_items.extend(json.loads(value) if isinstance(value, str) else value)
    indexed = sorted(
        (k for k in args if k.startswith("attached_media[")),
        key=lambda k: int(k[len("attached_media[") : -1]),
    )
    for key in indexed:
        value = args[key]
        raw_items.append(json.loads(value) if isinstance(value, str) else value)
    return [str(item["media_fbid"]) for item in raw_items]


def _now() -> datetime:
    return datetime.now(UTC)


def _page_after(chosen: list[Item], limit: int, after: str | None) -> tuple[list[Item], bool]:
    """Up to `limit` of `chosen` after the cursor (the id of the last item of the previous
    page), and whether more follow; a cursor naming no item is refused, as Graph does."""
    start = 0
    if after is not None:
        ids = [i.id for i in chosen]
        if after not in ids:
            raise GraphFault(100, "(#100) The after cursor is not valid")
        start = ids.index(after) + 1
    return chosen[start : start + limit], start + limit < len(chosen)
