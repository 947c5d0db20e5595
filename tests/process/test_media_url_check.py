"""Media given as URLs are checked at the door: fetched (a ranged GET of the head) from the
sandbox's real loopback server, typed by their bytes, held to the network's limits; loopback
and private hosts refused unless PRIVATE_ADDRESSES_ALLOWED is on."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from bson import ObjectId
from pymongo.database import Database

from common.clock import utcnow
from common.db import Doc
from common.model import Content, Media
from common.operations import creating, csv_import, post_actions, scheduling, series, series_split
from common.operations.admission import Admission
from common.platforms.media_check import MAX_URLS, MediaUrlCheck
from devstack.sandbox.control import Sandbox
from tests.conftest import add_account

LATENESS = timedelta(hours=24)


@pytest.fixture
def check() -> Iterator[MediaUrlCheck]:
    checker = MediaUrlCheck(allow_private=True)
    yield checker
    checker.close()


def _problems(check: MediaUrlCheck, platform: str, *media: Media) -> list[tuple[str, str]]:
    (found,) = check.problems([(platform, Content(text="t", media=media))])
    return [(p.field, p.message) for p in found]


def _gone(sandbox: Sandbox, name: str) -> str:
    """A URL on the sandbox that answers 404."""
    return f"{sandbox.url}/_sandbox/nothing/{name}"


def _weekly_on_fb(db: Database[Doc], media_url: str) -> scheduling.PostRequest:
    """A weekly series' template for the Facebook account fb (added here), from 09:00 UTC in
    two days, with one media URL."""
    add_account(db, "fb")
    start = (utcnow() + timedelta(days=2)).strftime("%Y-%m-%dT09:00:00")
    return scheduling.PostRequest(
        "fb", start, time_zone="UTC", text="weekly", media=[{"url": media_url}]
    )


def test_a_jpeg_served_on_loopback_passes_for_instagram(
    sandbox: Sandbox, check: MediaUrlCheck
) -> None:
    assert _problems(check, "instagram", Media(sandbox.image_url("ok.jpg", size=40_000))) == []


def test_a_pdf_a_gif_a_404_and_an_untyped_mp4_are_each_refused_for_instagram(
    sandbox: Sandbox, check: MediaUrlCheck
) -> None:
    found = _problems(
        check,
        "instagram",
        Media(sandbox.image_url("doc.jpg", mime="application/pdf")),
        Media(sandbox.image_url("anim.gif", mime="image/gif")),
        Media(_gone(sandbox, "gone.jpg")),
        Media(sandbox.image_url("clip.mp4", mime="video/mp4")),  # the item says image
    )
    assert [field for field, _ in found] == ["media[0].url", "media[1]", "media[2].url", "media[3]"]
    assert "application/pdf" in found[0][1]
    assert "Instagram takes images as image/jpeg, not image/gif" in found[1][1]
    assert "HTTP 404" in found[2][1]
    assert "video/mp4, a video, but the item says image" in found[3][1]


def test_size_and_shape_are_held_to_the_network_limits(
    sandbox: Sandbox, check: MediaUrlCheck
) -> None:
    found = _problems(
        check,
        "bluesky",
        Media(sandbox.image_url("big.jpg", size=2_000_001)),
        Media(sandbox.image_url("fits.jpg", size=2_000_000)),
    )
    assert [field for field, _ in found] == ["media[0]"]
    assert "at most 2,000,000 bytes; this one has 2,000,001" in found[0][1]
    wide = _problems(
        check, "instagram", Media(sandbox.image_url("wide.jpg", width=3000, height=1000))
    )
    assert [field for field, _ in wide] == ["media[0]"]
    assert "3000x1000" in wide[0][1]


def test_loopback_and_private_hosts_are_refused_unless_allowed(sandbox: Sandbox) -> None:
    addresses = {"internal.example": ["10.0.0.7"], "metadata.example": ["169.254.169.254"]}
    strict = MediaUrlCheck(allow_private=False, resolver=lambda host: addresses.get(host, []))
    try:
        found = _problems(
            strict,
            "facebook",
            Media(sandbox.image_url("a.jpg").replace("http://", "https://")),
            Media("https://internal.example/a.jpg"),
            Media("https://metadata.example/computeMetadata/v1/"),
        )
    finally:
        strict.close()
    assert [field for field, _ in found] == ["media[0].url", "media[1].url", "media[2].url"]
    assert all("is not on the public internet" in message for _, message in found)


def test_one_request_checks_at_most_max_urls_distinct_urls(
    sandbox: Sandbox, check: MediaUrlCheck
) -> None:
    urls = [sandbox.image_url(f"{n}.jpg") for n in range(MAX_URLS + 2)]
    posts = [("facebook", Content(text="t", media=(Media(url),))) for url in urls]
    posts.append(("facebook", Content(text="again", media=(Media(urls[0]),))))
    found = check.problems(posts)
    assert [len(p) for p in found] == [0] * MAX_URLS + [1, 1, 0]
    assert "at most 50 distinct media URLs" in found[MAX_URLS][0].message


def test_schedule_batch_import_and_edit_refuse_an_unreachable_url_and_store_nothing(
    db: Database[Doc], sandbox: Sandbox, check: MediaUrlCheck
) -> None:
    add_account(db, "ig", "instagram")
    due = (utcnow() + timedelta(hours=1)).isoformat()
    gone = _gone(sandbox, "gone.jpg")
    good = sandbox.image_url("good.jpg")

    def request(url: str) -> scheduling.PostRequest:
        return scheduling.PostRequest("ig", due, text="hi", media=[{"url": url}])

    now = utcnow()
    admission = Admission(LATENESS, media_urls=check)
    single = creating.schedule_one(db, request(gone), now, admission)
    assert isinstance(single, scheduling.Invalid)
    assert [p.field for p in single.problems] == ["media[0].url"]
    batch = creating.schedule(db, [request(good), request(gone)], now, admission)
    assert isinstance(batch, creating.BatchRefused)
    assert [(p.index, p.field) for p in batch.problems] == [(1, "media[0].url")]
    csv = f"account,at,text,media\nig,{due},hi,{gone}\n"
    imported = csv_import.import_csv(db, io.StringIO(csv), now, admission)
    assert isinstance(imported, csv_import.ImportRefused)
    assert [(p.line, p.field) for p in imported.problems] == [(2, "media[0].url")]
    assert "HTTP 404" in imported.problems[0].message
    assert db["posts"].count_documents({}) == 0
    made = creating.schedule_one(db, request(good), now, admission)
    assert isinstance(made, scheduling.Scheduled)
    edit = post_actions.PostChanges(media=[{"url": good}, {"url": gone}])
    edited = post_actions.edit_post(db, made.post_id, edit, now, admission)
    assert isinstance(edited, scheduling.Invalid)
    assert [p.field for p in edited.problems] == ["media[1].url"]


def test_a_series_template_with_an_unreachable_url_is_refused(
    db: Database[Doc], sandbox: Sandbox, check: MediaUrlCheck
) -> None:
    template = _weekly_on_fb(db, _gone(sandbox, "a.jpg"))
    made = series.create_series(db, template, "FREQ=WEEKLY;COUNT=2", utcnow(), check)
    assert isinstance(made, scheduling.Invalid)
    assert [p.field for p in made.problems] == ["media[0].url"]
    assert db["series"].count_documents({}) == 0


def test_an_edit_from_an_occurrence_on_checks_the_urls_it_brings_and_not_the_series_own(
    db: Database[Doc], sandbox: Sandbox, check: MediaUrlCheck
) -> None:
    # Made before URLs were checked at the door: its URL is gone now, and not fetched again.
    gone = _gone(sandbox, "a.jpg")
    made = series.create_series(db, _weekly_on_fb(db, gone), "FREQ=WEEKLY;COUNT=4", utcnow())
    assert isinstance(made, ObjectId)
    brings = series_split.SeriesChanges(media=[{"url": gone}, {"url": _gone(sandbox, "b.jpg")}])
    found = series.get_series(db, made)
    assert found is not None
    refused = series_split.edit_following(db, found, brings, utcnow(), media_urls=check)
    assert isinstance(refused, scheduling.Invalid)
    assert [p.field for p in refused.problems] == ["media[1].url"]
    assert "HTTP 404" in refused.problems[0].message
    stored = db["series"].find_one({"_id": made})
    assert stored is not None
    assert (stored.get("successor"), stored["endsBefore"]) == (None, None)  # not split
    text_only = series_split.SeriesChanges(text="weekly, reworded")
    split = series_split.edit_following(db, found, text_only, utcnow(), media_urls=check)
    assert isinstance(split, series_split.Split)
