"""Validation before a post is accepted: every problem at once, each with a clear message."""

from __future__ import annotations

from common.validation import MAX_THREAD_PARTS, THREAD_NETWORKS, check_follow_ups, check_post

IMG = {"url": "https://cdn.example/a.jpg", "type": "image"}


def fields(result: object) -> list[str]:
    return [p.field for p in result.problems]  # type: ignore[attr-defined]


def test_a_good_facebook_post_passes_and_is_parsed() -> None:
    result = check_post(
        "facebook", text="hi", scheduled_at="2026-12-01T09:00", time_zone="Europe/Berlin"
    )
    assert result.ok
    assert (
        result.when is not None and result.when.instant.isoformat() == "2026-12-01T08:00:00+00:00"
    )


def test_instagram_needs_media_and_no_link() -> None:
    result = check_post(
        "instagram", text="x", link="https://a.example", scheduled_at="2026-12-01T09:00Z"
    )
    assert fields(result) == ["link", "media"]


def test_every_problem_is_reported_at_once() -> None:
    media = [{"url": "http://cdn.example/a.jpg"}] + [IMG] * 10
    result = check_post(
        "instagram", text="#a " * 31 + "x" * 2200, media=media, scheduled_at="2026-12-01T09:00"
    )
    assert fields(result) == ["media[0].url", "text", "text", "media", "scheduledAt"]
    assert "has no offset" in result.problems[-1].message


def test_facebook_rejects_video_and_link_with_photos() -> None:
    video = {"url": "https://cdn.example/a.mp4", "type": "video"}
    result = check_post(
        "facebook", link="https://a.example", media=[IMG, video], scheduled_at="2026-12-01T09:00Z"
    )
    assert fields(result) == ["media", "link"]


def test_an_unknown_platform_and_an_empty_post() -> None:
    assert fields(check_post("myspace", scheduled_at="2026-12-01T09:00Z")) == ["platform"]
    assert fields(check_post("facebook", scheduled_at="")) == ["text", "scheduledAt"]


def test_mastodon_alt_text_is_limited_to_the_default_description_limit() -> None:
    """An instance's default `description_limit` is 1,500: it answers 422 to longer alt text."""
    fits = {**IMG, "alt": "a" * 1500}
    too_long = {**IMG, "alt": "a" * 1501}
    assert check_post("mastodon", text="x", media=[fits], scheduled_at="2026-12-01T09:00Z").ok
    result = check_post("mastodon", text="x", media=[too_long], scheduled_at="2026-12-01T09:00Z")
    assert fields(result) == ["media"] and "1500" in result.problems[0].message


def test_media_may_be_plain_http_only_on_this_machine() -> None:
    local = {"url": "http://127.0.0.1:8089/_sandbox/media/a.jpg", "type": "image"}
    remote = {"url": "http://cdn.example/a.jpg", "type": "image"}
    assert check_post("instagram", media=[local], scheduled_at="2026-12-01T09:00Z").ok
    result = check_post("instagram", media=[remote], scheduled_at="2026-12-01T09:00Z")
    assert fields(result) == ["media[0].url"]


def test_threads_are_refused_where_replies_do_not_read_as_one_thread() -> None:
    for platform in ("facebook", "instagram"):
        checked = check_follow_ups(platform, first_comment="first!", thread=["two", "three"])
        assert [p.field for p in checked.problems] == ["thread"]
    for platform in THREAD_NETWORKS:
        checked = check_follow_ups(platform, first_comment="first!", thread=["two", "three"])
        assert checked.problems == ()
        assert [c.text for c in checked.thread] == ["two", "three"]
        assert checked.first_comment is not None and checked.first_comment.text == "first!"


def test_each_follow_up_is_held_to_its_networks_text_limit_and_needs_text() -> None:
    checked = check_follow_ups("bluesky", first_comment=" ", thread=["ok", "x" * 301])
    assert [(p.field, p.message) for p in checked.problems] == [
        ("thread[1]", "301 graphemes; the limit is 300"),
        ("firstComment", "a follow-up needs text"),
    ]
    many = check_follow_ups("mastodon", thread=["part"] * (MAX_THREAD_PARTS + 1))
    assert [p.field for p in many.problems] == ["thread"]
