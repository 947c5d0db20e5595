"""The web app's pure parts: calendar periods, status at a glance, permalinks, the proof."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from common.entrypoints.webapp import calendar_grid, proof
from common.model import STATUSES
from common.permalinks import permalink

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_month_is_whole_weeks_from_monday_in_the_viewers_zone() -> None:
    span = calendar_grid.period("month", date(2026, 3, 18), BERLIN)
    assert (span.first, span.last) == (date(2026, 2, 23), date(2026, 4, 5))
    assert len(span.weeks) == 6 and all(len(w) == 7 for w in span.weeks)
    # Midnight in Berlin: UTC+1 before the 29 March change, UTC+2 after it.
    assert span.start_utc == datetime(2026, 2, 22, 23, tzinfo=UTC)
    assert span.end_utc == datetime(2026, 4, 5, 22, tzinfo=UTC)
    assert (span.previous, span.following) == (date(2026, 2, 1), date(2026, 4, 1))


def test_a_week_starts_on_monday_and_steps_by_seven_days() -> None:
    span = calendar_grid.period("week", date(2026, 12, 3), ZoneInfo("UTC"))
    assert (span.first, span.last) == (date(2026, 11, 30), date(2026, 12, 6))
    assert (span.previous, span.following) == (date(2026, 11, 26), date(2026, 12, 10))


def test_a_retried_post_sits_on_the_day_it_goes_out_and_names_its_planned_time() -> None:
    planned = datetime(2026, 3, 18, 23, 30, tzinfo=UTC)
    retry = datetime(2026, 3, 19, 0, 10, tzinfo=UTC)
    doc = {
        "_id": "p1",
        "accountId": "fb-1",
        "platform": "facebook",
        "status": "scheduled",
        "scheduledAt": planned,
        "dueAt": retry,
        "timeZone": "UTC",
        "content": {"text": "hi"},
    }
    on_time = {**doc, "_id": "p2", "dueAt": planned}
    retried, plain = calendar_grid.chips([doc, on_time], BERLIN)
    assert retried.local.date() == date(2026, 3, 19) and plain.local.date() == date(2026, 3, 19)
    assert retried.planned == planned.astimezone(BERLIN) and plain.planned is None
    utc_days = calendar_grid.by_day(calendar_grid.chips([doc, on_time], ZoneInfo("UTC")))
    assert [c.id for c in utc_days[date(2026, 3, 19)]] == ["p1"]
    assert [c.id for c in utc_days[date(2026, 3, 18)]] == ["p2"]


def test_the_status_at_a_glance_names_the_waits() -> None:
    held = {"status": "scheduled", "lastError": {"code": "auth_expired"}}
    assert calendar_grid.shown_status(held) == "held"
    assert calendar_grid.shown_status({"status": "publishing"}) == "sending"
    assert calendar_grid.shown_status({"status": "scheduled"}) == "scheduled"


def test_permalinks_are_derived_per_network_or_not_guessed() -> None:
    published = {"status": "published"}
    facebook = {**published, "platform": "facebook", "platformPostId": "12_34"}
    assert permalink(facebook) == "https://www.facebook.com/12/posts/34"
    bluesky = {
        **published,
        "platform": "bluesky",
        "platformPostId": "at://did:plc:abc/app.bsky.feed.post/3k2",
    }
    assert permalink(bluesky) == "https://bsky.app/profile/did:plc:abc/post/3k2"
    mastodon = {**published, "platform": "mastodon", "platformPostId": "1099"}
    assert (
        permalink(mastodon, "ana", "https://social.example/") == "https://social.example/@ana/1099"
    )
    instagram = {**published, "platform": "instagram", "platformPostId": "1789"}
    assert permalink(instagram) is None
    stored = {**instagram, "permalink": "https://www.instagram.com/p/Cx1/"}
    assert permalink(stored) == "https://www.instagram.com/p/Cx1/"
    assert permalink({**facebook, "status": "unknown"}) is None


def test_the_timeline_puts_people_and_the_network_in_time_order() -> None:
    at = [datetime(2026, 12, 1, h, tzinfo=UTC) for h in range(5)]
    post = {
        "createdAt": at[0],
        "status": "published",
        "publishedAt": at[3],
        "platformPostId": "1_2",
    }
    trail = [
        {"at": at[1], "action": "posts.move", "who": "member:ana@example.test", "status": 200},
        {"at": at[2], "action": "posts.cancel", "who": "admin_key", "status": 409},
    ]
    events = proof.timeline(post, trail)
    assert [e.what for e in events] == ["created", "moved", "canceled (refused, 409)", "published"]
    assert events[1].detail == "by member:ana@example.test"
    assert "read-back" in proof.how_established({**post, "establishedBy": "readback"})


def test_every_stored_status_has_words_on_the_page() -> None:
    # The templates are strict: a status without words would fail the page that shows it.
    assert set(STATUSES) - {"publishing"} <= set(calendar_grid.STATUS_WORDS)
