"""The composer's per-network preview: the text each network will show, where its limit falls
in its own unit, which URLs it links, its link card, and what it does with each image."""

from __future__ import annotations

from common.entrypoints.webapp.preview import Attached, Preview, preview
from common.media_rules import MediaFacts, limits_for
from common.model import Content
from common.validation import measure_text


def shown(platform: str, content: Content, media: tuple[Attached, ...] = ()) -> Preview:
    return preview(platform, content, media, measure_text(platform, content), limits_for(platform))


def test_bluesky_marks_what_lies_beyond_300_graphemes_and_links_urls() -> None:
    flag = "\U0001f1eb\U0001f1f7"  # one grapheme, two code points
    content = Content(text="see https://example.org/a. " + flag * 300)
    made = shown("bluesky", content)
    kinds = [(p.kind, p.text) for p in made.pieces]
    assert kinds[0] == ("text", "see ") and kinds[1] == ("link", "https://example.org/a")
    over = [p.text for p in made.pieces if p.kind == "over"]
    assert over == [flag * 27]  # 27 graphemes come before the flags: the last 27 flags
    assert made.limit == "327 / 300 graphemes"


def test_instagram_links_nothing_and_makes_no_card_while_facebook_does() -> None:
    content = Content(text="menu at https://example.org", link="https://shop.example.org/x")
    insta, facebook = shown("instagram", content), shown("facebook", content)
    assert [p.kind for p in insta.pieces] == ["text"] and insta.card is None
    assert [p.kind for p in facebook.pieces] == ["text", "link"]
    assert facebook.card == "shop.example.org"


def test_threads_and_mastodon_put_the_link_at_the_end_and_mastodon_shows_the_warning() -> None:
    content = Content(text="Open today", link="https://example.org", content_warning="food")
    masto = shown("mastodon", content)
    assert "".join(p.text for p in masto.pieces) == "Open today\n\nhttps://example.org"
    assert masto.warning == "food" and shown("threads", content).warning is None


def test_each_image_is_judged_by_the_networks_rules() -> None:
    wide = Attached("wide.jpg", MediaFacts("image/jpeg", 50_000, 3000, 1000))
    square = Attached("square.png", MediaFacts("image/png", 50_000, 800, 800))
    insta = shown("instagram", Content(text="x"), (wide, square))
    verdicts = [(n.label, n.refused) for n in insta.media]
    assert verdicts == [("wide.jpg", True), ("square.png", False)]
    assert "ratio" in insta.media[0].verdict and "JPEG" in insta.media[1].verdict
    assert insta.media[0].box == (60, 20) and insta.media[1].box == (40, 40)
    five = tuple(Attached(f"{n}.jpg", MediaFacts("image/jpeg", 1000, 10, 10)) for n in range(5))
    bluesky = shown("bluesky", Content(text="x", link="https://example.org"), five)
    assert [n.refused for n in bluesky.media] == [False] * 4 + [True]
    assert bluesky.card is None  # images go instead of the link card
