"""Where a published post can be seen on its network, derived from what the network returned.

Pure. Facebook ids read `<page id>_<post id>`; a Bluesky post is its at:// record URI; a
Mastodon status lives on the account's instance under the account's name. Instagram and
Threads give a post's `permalink` only when asked for it (common.operations.permalinks reads
and stores it): a post that stored one shows it, and otherwise there is none to show rather
than a guessed one. A stored link is https, or http on this machine (the local sandboxes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

BSKY_APP = "https://bsky.app"
FACEBOOK = "https://www.facebook.com"
_STORED_PREFIXES = ("https://", "http://127.0.0.1:", "http://localhost:")


def permalink(
    post: Mapping[str, Any], account_name: str = "", service_url: str | None = None
) -> str | None:
    if post.get("status") != "published":
        return None
    stored = post.get("permalink")
    if isinstance(stored, str) and stored.startswith(_STORED_PREFIXES):
        return stored
    remote_id = str(post.get("platformPostId") or "")
    if not remote_id:
        return None
    platform = post.get("platform")
    if platform == "facebook":
        page, _, story = remote_id.partition("_")
        return f"{FACEBOOK}/{quote(page)}/posts/{quote(story)}" if story else None
    if platform == "bluesky":
        return _bluesky(remote_id)
    if platform == "mastodon" and service_url and account_name:
        return f"{service_url.rstrip('/')}/@{quote(account_name)}/{quote(remote_id)}"
    return None


def _bluesky(uri: str) -> str | None:
    # at://<did>/app.bsky.feed.post/<rkey>
    parts = uri.removeprefix("at://").split("/")
    if not uri.startswith("at://") or len(parts) != 3 or parts[1] != "app.bsky.feed.post":
        return None
    return f"{BSKY_APP}/profile/{quote(parts[0], safe=':')}/post/{quote(parts[2])}"
