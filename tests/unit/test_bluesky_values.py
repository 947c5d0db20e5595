"""Pure pieces of the Bluesky adapter and its rules at the door: record keys, facets, graphemes."""

from __future__ import annotations

import re

from bson import ObjectId

from common.platforms.bluesky.record_key import record_key
from common.platforms.bluesky.richtext import facets, link_spans, mention_spans
from common.validation import check_post

TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
WHEN = "2030-01-01T10:00:00Z"


def test_the_record_key_is_a_tid_fixed_by_the_post_id() -> None:
    ids = [ObjectId() for _ in range(1000)]
    keys = [record_key(i) for i in ids]
    assert all(TID.match(k) for k in keys)
    assert len(set(keys)) == 1000
    assert [record_key(ObjectId(str(i))) for i in ids] == keys  # the same post, the same key


def test_the_record_keys_time_is_the_posts_creation_second() -> None:
    post_id = ObjectId.from_datetime(ObjectId().generation_time)
    value = 0
    for char in record_key(post_id):
        value = value * 32 + "234567abcdefghijklmnopqrstuvwxyz".index(char)
    seconds = (value >> 10) // 1_000_000
    assert seconds == int(post_id.generation_time.timestamp())


def test_facets_count_utf8_bytes_not_characters() -> None:
    text = "é 🦋 https://a.example/x, @b.example!"
    (link,) = link_spans(text)
    (mention,) = mention_spans(text)
    raw = text.encode()
    assert raw[link.byte_start : link.byte_end] == b"https://a.example/x"
    assert raw[mention.byte_start : mention.byte_end] == b"@b.example"
    assert (link.byte_start, mention.value) == (len("é 🦋 ".encode()), "b.example")


def test_an_email_address_is_not_a_mention_and_unresolved_handles_get_no_facet() -> None:
    assert mention_spans("write to someone@mail.example") == []
    found = facets("hi @known.example and @unknown.example", {"known.example": "did:plc:k"}.get)
    assert [f["features"][0] for f in found] == [
        {"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:k"}
    ]


def test_bluesky_counts_its_300_limit_in_graphemes() -> None:
    flag = "🇫🇷"  # two code points, one grapheme, 8 bytes
    assert check_post("bluesky", text=flag * 300, scheduled_at=WHEN).ok
    too_long = check_post("bluesky", text="a" * 301, scheduled_at=WHEN)
    assert [p.field for p in too_long.problems] == ["text"]
    assert too_long.problems[0].message == "the text has 301 graphemes, Bluesky allows 300"


def test_bluesky_also_limits_the_text_to_3000_utf8_bytes() -> None:
    """300 graphemes can still be refused: the lexicon's maxLength counts UTF-8 bytes."""
    family = "👩‍👩‍👧"  # five code points, one grapheme, 18 bytes
    (problem,) = check_post("bluesky", text=family * 300, scheduled_at=WHEN).problems
    assert problem.field == "text"
    assert problem.message.startswith("the text has 5,400 bytes in UTF-8, Bluesky allows 3,000")
    assert check_post("bluesky", text=family * 166, scheduled_at=WHEN).ok  # 2,988 bytes


def test_a_link_keeps_its_closing_parenthesis_when_it_has_an_opening_one() -> None:
    """As Bluesky's own detector: Wikipedia-style links keep the ")", a bracketed link not."""
    spans = link_spans("https://en.example/A_(b) and (see https://c.example/d).")
    assert [s.value for s in spans] == ["https://en.example/A_(b)", "https://c.example/d"]


def test_bluesky_takes_up_to_four_images_and_no_video_or_card_with_them() -> None:
    image = {"url": "https://img.example/a.jpg", "type": "image", "alt": "a cat"}
    checked = check_post("bluesky", text="", media=[image] * 4, scheduled_at=WHEN)
    assert checked.ok and checked.content.media[0].alt == "a cat"
    problems = check_post(
        "bluesky",
        text="x",
        link="https://example.com",
        media=[image] * 5 + [{"url": "https://v.example/a.mp4", "type": "video"}],
        scheduled_at=WHEN,
    ).problems
    assert sorted(p.field for p in problems) == ["link", "media", "media"]


def test_an_empty_bluesky_post_is_refused() -> None:
    (problem,) = check_post("bluesky", text="  ", scheduled_at=WHEN).problems
    assert problem.field == "text"
