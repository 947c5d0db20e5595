"""The parameters Meta declares for each edge the sandbox serves; any other is refused.

Meta answers an undeclared parameter with `(#100) Param <name> is not a valid parameter`, so a
misspelt or invented parameter (`since` on a Page's `published_posts`) fails here as it would
in production. The lists come from the official Python business SDK's `param_types`
(`adobjects/page.py`, `iguser.py`) and shared/reference/meta-graph-api.md; for the two write
edges with long lists (the feed and photo POSTs) only the documented subset is kept. The token
and the appsecret proof are accepted everywhere; reads also take `fields` and cursor paging.
"""

from __future__ import annotations

from collections.abc import Iterable

from devstack.sandbox.state import GraphFault

_READ = frozenset({"fields", "limit", "after", "before"})
_SCHEDULING = frozenset({"published", "scheduled_publish_time", "unpublished_content_type"})

DECLARED: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "debug_token"): frozenset({"input_token"}),
    # The long-lived exchange, and the Login dialog's code exchange (manual-flow guide).
    ("GET", "access_token"): frozenset(
        {"grant_type", "client_id", "client_secret", "fb_exchange_token", "redirect_uri", "code"}
    ),
    # Threads' OAuth on graph.threads.net (unversioned; named `threads:` and the whole path).
    ("POST", "threads:oauth/access_token"): frozenset(
        {"client_id", "client_secret", "code", "grant_type", "redirect_uri"}
    ),
    ("GET", "threads:access_token"): frozenset({"grant_type", "client_secret", "access_token"}),
    ("GET", "accounts"): _READ,
    ("GET", "node"): frozenset({"fields"}),  # a container's status; Threads' /me
    ("POST", "feed"): _SCHEDULING
    | {"message", "link", "attached_media", "targeting", "feed_targeting", "place", "tags"},
    ("POST", "photos"): _SCHEDULING
    | {"url", "caption", "message", "alt_text_custom", "temporary", "no_story", "place"},
    ("GET", "feed"): _READ | {"include_hidden", "show_expired", "with"},
    ("GET", "published_posts"): _READ | {"include_hidden", "show_expired", "with"},
    ("POST", "media"): frozenset(
        {
            "alt_text",
            "audio_configuration",
            "audio_name",
            "branded_content_sponsor_ids",
            "caption",
            "children",
            "collaborators",
            "cover_url",
            "image_url",
            "is_carousel_item",
            "is_paid_partnership",
            "location_id",
            "media_type",
            "product_tags",
            "share_to_feed",
            "thumb_offset",
            "trial_params",
            "upload_type",
            "user_tags",
            "video_url",
        }
    ),
    ("GET", "media"): _READ | {"since", "until"},
    ("POST", "media_publish"): frozenset({"creation_id"}),
    ("GET", "content_publishing_limit"): frozenset({"fields", "since"}),
    # Threads (graph.threads.net), from developers.facebook.com/docs/threads/posts.
    ("POST", "threads"): frozenset(
        {
            "media_type",
            "text",
            "image_url",
            "video_url",
            "is_carousel_item",
            "children",
            "reply_to_id",
            "reply_control",
            "alt_text",
            "link_attachment",
        }
    ),
    ("GET", "threads"): _READ | {"since", "until"},
    ("GET", "replies"): _READ | {"since", "until"},
    # A Page post's or an Instagram media's comments (Graph's Comment and IG Comment edges).
    ("POST", "comments"): frozenset({"message", "attachment_url", "attachment_id"}),
    ("GET", "comments"): _READ | {"filter", "order", "summary", "since"},
    ("POST", "threads_publish"): frozenset({"creation_id"}),
    ("GET", "threads_publishing_limit"): frozenset({"fields"}),
    ("GET", "refresh_access_token"): frozenset({"grant_type"}),
}


def refuse_undeclared(method: str, edge: str, names: Iterable[str]) -> None:
    """Raise Meta's (#100) for the first parameter the edge does not declare.

    An edge the sandbox does not serve is left to the router, which answers it as unknown."""
    declared = DECLARED.get((method, edge))
    if declared is None:
        return
    for name in names:
        base = name.split("[", 1)[0]  # attached_media[0] is the indexed form of attached_media
        if base not in declared:
            raise GraphFault(100, f"(#100) Param {name} is not a valid parameter")
