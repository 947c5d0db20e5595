"""The web function served by functions-framework, driven over HTTP as a browser drives it:
sign-in, sessions, CSRF, roles checked on the server, the calendar, the composer and moves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from bson import ObjectId
from pymongo.database import Database

from common import apikeys, web_sessions
from common.clock import utcnow
from common.operations import planning
from tests.conftest import add_account, add_post
from tests.functions_fixtures import ADMIN_KEY, Served, serve
from tests.web_support import TIMEOUT, WEB_SOURCE, Client, stored, web_env

LATER = (utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)
LATER_LOCAL = LATER.strftime("%Y-%m-%dT%H:%M")  # as the composer's date-time box sends it


@pytest.fixture(scope="module")
def web_fn(mongo_uri: str, fn_db_name: str, fn_workdir: Path) -> Iterator[Served]:
    env = web_env(mongo_uri, fn_db_name, WEB_SIGNIN_PER_MINUTE="5")
    with serve("web", WEB_SOURCE, env, fn_workdir) as served:
        yield served


def admin(web_fn: Served) -> Client:
    client = Client(web_fn.url)
    assert client.sign_in(ADMIN_KEY).status_code == 303
    return client


def composer(web_fn: Served, db: Database[Any]) -> Client:
    """An admin on the composer, with a Facebook Page fb-1 and a Bluesky account bsky-1."""
    add_account(db, "fb-1")
    add_account(db, "bsky-1", platform="bluesky")
    client = admin(web_fn)
    client.get("/compose")
    return client


def both_accounts_form(**fields: str | list[str]) -> dict[str, str | list[str]]:
    """The composer's form for fb-1 and bsky-1 at LATER (UTC), with these fields."""
    return {"accounts": ["fb-1", "bsky-1"], "scheduledAt": LATER_LOCAL, "timeZone": "UTC", **fields}


def key_client(web_fn: Served, db: Database[Any], *scopes: str) -> Client:
    made = apikeys.create(db, "web test", list(scopes), utcnow())
    client = Client(web_fn.url)
    assert client.sign_in(made.secret).status_code == 303
    return client


def test_the_admin_key_signs_in_with_a_secure_http_only_lax_session_cookie(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    client = Client(web_fn.url)
    answer = client.sign_in(ADMIN_KEY)
    cookie = answer.headers["Set-Cookie"]
    assert answer.status_code == 303 and answer.headers["Location"] == "/calendar"
    for attribute in ("__Host-session=", "Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert attribute in cookie
    assert client.token is not None and client.token not in str(
        list(fresh_db["web_sessions"].find())
    )
    page = client.get("/calendar")
    assert page.status_code == 200 and "admin_key · admin" in page.text
    assert [e["action"] for e in fresh_db["audit"].find()] == ["web.signin"]


def test_every_page_has_a_strict_policy_without_inline_script(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    client = admin(web_fn)
    for path in (
        "/calendar",
        "/compose",
        "/approvals",
        "/series",
        "/accounts",
        "/status",
        "/members",
        "/signin",
    ):
        page = client.get(path)
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy, path
        assert "<script>" not in page.text and " on" + "click=" not in page.text, path


def test_a_wrong_key_is_refused_and_sign_in_attempts_are_limited(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    client = Client(web_fn.url)
    codes = [client.sign_in("not-the-key-" + "x" * 30).status_code for _ in range(6)]
    # WEB_SIGNIN_PER_MINUTE=5: a minute boundary may reset the window once, never twice.
    assert codes[:5].count(401) >= 4 and codes.count(429) >= 1
    assert client.token is None


def test_a_sign_in_posted_from_another_site_is_refused(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    client = Client(web_fn.url)
    refused = client.post("/signin/key", {"key": ADMIN_KEY}, csrf=False, origin="https://evil.test")
    assert refused.status_code == 403 and "Set-Cookie" not in refused.headers


def test_pages_need_a_session_and_changes_need_the_csrf_token(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    anonymous = Client(web_fn.url)
    assert anonymous.get("/calendar").headers["Location"] == "/signin"
    add_account(fresh_db, "fb-1")
    post_id = add_post(fresh_db, "fb-1", LATER)
    assert anonymous.post(f"/posts/{post_id}/cancel", csrf=False).status_code == 401
    client = admin(web_fn)
    good_csrf = client.csrf
    client.csrf = "forged"
    assert client.post(f"/posts/{post_id}/cancel").status_code == 403
    client.csrf = good_csrf
    assert client.post(f"/posts/{post_id}/cancel", origin="https://evil.test").status_code == 403
    assert stored(fresh_db, post_id)["status"] == "scheduled"
    assert client.post(f"/posts/{post_id}/cancel").status_code == 303
    assert stored(fresh_db, post_id)["status"] == "canceled"


def test_an_expired_or_ended_session_is_refused(web_fn: Served, fresh_db: Database[Any]) -> None:
    client = admin(web_fn)
    assert client.token is not None
    fresh_db["web_sessions"].update_one(
        {"_id": web_sessions.digest(client.token)},
        {"$set": {"expiresAt": utcnow() - timedelta(seconds=1)}},
    )
    assert client.get("/calendar").headers["Location"] == "/signin"
    again = admin(web_fn)
    assert again.post("/signout").status_code == 303
    assert again.get("/calendar").headers["Location"] == "/signin"


# Every state-changing route, with a body that would pass if the role allowed it.
def _writes(post_id: ObjectId) -> list[tuple[str, dict[str, str]]]:
    return [
        ("/compose", {"accounts": "fb-1", "text": "hi", "scheduledAt": "2030-01-01T10:00"}),
        ("/compose/counters", {"text": "hi"}),
        (f"/posts/{post_id}/move", {"version": "1", "scheduledAt": "2030-01-01T10:00"}),
        (f"/posts/{post_id}/cancel", {}),
        (f"/posts/{post_id}/retry", {}),
        (f"/posts/{post_id}/submit", {}),
        (f"/posts/{post_id}/approve", {}),
        (f"/posts/{post_id}/send-back", {"comment": "shorter, please"}),
        (f"/series/{post_id}/end", {}),
        ("/accounts/fb-1/check", {}),
        ("/members", {"email": "a@example.test", "role": "admin"}),
        ("/members/remove", {"email": "a@example.test"}),
    ]


def test_a_viewer_is_refused_every_change_on_the_server(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb-1")
    post_id = add_post(fresh_db, "fb-1", LATER)
    viewer = key_client(web_fn, fresh_db, "posts:read")
    assert "· viewer" in viewer.get("/calendar").text
    codes = {path: viewer.post(path, body).status_code for path, body in _writes(post_id)}
    assert set(codes.values()) == {403}, codes
    assert viewer.get("/members").status_code == 403
    assert stored(fresh_db, post_id)["version"] == 1
    assert fresh_db["members"].count_documents({}) == 0


def test_an_editor_changes_posts_but_not_members(web_fn: Served, fresh_db: Database[Any]) -> None:
    add_account(fresh_db, "fb-1")
    post_id = add_post(fresh_db, "fb-1", LATER)
    editor = key_client(web_fn, fresh_db, "posts:read", "posts:write")
    codes = {path: editor.post(path, body).status_code for path, body in _writes(post_id)}
    assert codes["/members"] == 403 and codes["/members/remove"] == 403
    assert codes[f"/posts/{post_id}/approve"] == 403
    assert codes[f"/posts/{post_id}/send-back"] == 403
    assert codes[f"/posts/{post_id}/cancel"] == 303


def _draft(client: Client, account_id: str, text: str, action: str = "draft") -> ObjectId:
    client.get("/compose")
    form = {"accounts": account_id, "text": text, "scheduledAt": LATER_LOCAL, "timeZone": "UTC"}
    answer = client.post("/compose", {**form, "action": action})
    assert answer.status_code == 303, answer.text
    return ObjectId(answer.headers["Location"].rsplit("/", 1)[-1])


def test_an_editor_submits_a_draft_and_only_an_approver_approves_or_sends_it_back(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb-1")
    editor = key_client(web_fn, fresh_db, "posts:read", "posts:write")
    approver = key_client(web_fn, fresh_db, "posts:read", "posts:write", "posts:approve")
    viewer = key_client(web_fn, fresh_db, "posts:read")
    first = _draft(editor, "fb-1", "First try")
    assert stored(fresh_db, first)["status"] == "draft"
    assert viewer.post(f"/posts/{first}/submit").status_code == 403
    assert editor.post(f"/posts/{first}/approve").status_code == 403  # not yet submitted, either
    assert editor.post(f"/posts/{first}/submit").status_code == 303
    assert stored(fresh_db, first)["status"] == "pending_approval"
    assert editor.post(f"/posts/{first}/approve").status_code == 403
    assert viewer.post(f"/posts/{first}/approve").status_code == 403
    queue = approver.get("/approvals")
    assert f'id="approve-{first}"' in queue.text and "First try" in queue.text
    assert f'id="approve-{first}"' not in editor.get("/approvals").text
    assert approver.post(f"/posts/{first}/send-back", {"comment": " "}).status_code == 422
    back = approver.post(f"/posts/{first}/send-back", {"comment": "Say when", "next": "/approvals"})
    assert back.status_code == 303 and back.headers["Location"] == "/approvals"
    sent_back = stored(fresh_db, first)
    assert (sent_back["status"], sent_back["reviewComment"]) == ("draft", "Say when")
    assert "Say when" in editor.get(f"/posts/{first}").text
    assert editor.post(f"/posts/{first}/submit").status_code == 303
    assert approver.post(f"/posts/{first}/approve").status_code == 303
    assert stored(fresh_db, first)["status"] == "scheduled"
    assert approver.post(f"/posts/{first}/approve").status_code == 409  # approved once only
    trail = [e["action"] for e in fresh_db["audit"].find({"targets": str(first)}).sort("at", 1)]
    assert trail == [
        "posts.create",
        "posts.submit",
        "posts.send_back",
        "posts.submit",
        "posts.approve",
        "posts.approve",
    ]


def test_the_composer_submits_for_approval_and_adds_to_each_accounts_queue(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb-1")
    add_account(fresh_db, "bsky-1", platform="bluesky")
    editor = key_client(web_fn, fresh_db, "posts:read", "posts:write")
    waiting = _draft(editor, "fb-1", "Please check", action="submit")
    assert stored(fresh_db, waiting)["status"] == "pending_approval"
    editor.get("/compose")
    refused = editor.post(
        "/compose", {"accounts": ["fb-1", "bsky-1"], "text": "Queued", "action": "queue"}
    )
    assert refused.status_code == 422 and "the account has no posting slots" in refused.text
    now = utcnow()
    for account_id in ("fb-1", "bsky-1"):
        assert planning.set_posting_slots(fresh_db, account_id, "UTC", ["mon@09:00"], now)
    queued = editor.post(
        "/compose", {"accounts": ["fb-1", "bsky-1"], "text": "Queued", "action": "queue"}
    )
    assert queued.status_code == 303
    made = list(fresh_db["posts"].find({"content.text": "Queued"}))
    assert len(made) == 2 and {p["status"] for p in made} == {"scheduled"}
    for post in made:
        assert post["scheduledAt"].weekday() == 0 and post["scheduledAt"].hour == 9
        assert now < post["scheduledAt"] <= now + timedelta(days=7)


def test_the_composer_schedules_one_group_and_shows_refusals_by_field(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    client = composer(web_fn, fresh_db)
    too_long = client.post("/compose", both_accounts_form(text="é" * 301))
    assert too_long.status_code == 422
    assert (
        'data-field="text">bsky-1: the text has 301 graphemes, Bluesky allows 300' in too_long.text
    )
    assert fresh_db["posts"].count_documents({}) == 0
    launch = both_accounts_form(text="Launch", formKey="k1")
    made = client.post("/compose", launch)
    assert made.status_code == 303
    stored = list(fresh_db["posts"].find())
    assert sorted(p["accountId"] for p in stored) == ["bsky-1", "fb-1"]
    assert {p["scheduledAt"] for p in stored} == {LATER}
    assert {p["groupId"] for p in stored} == {"web-k1"}
    again = client.post("/compose", launch)
    assert again.status_code == 303 and fresh_db["posts"].count_documents({}) == 2


def test_one_form_for_two_accounts_gives_each_post_its_first_comment_once(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    client = composer(web_fn, fresh_db)
    form = both_accounts_form(
        text="Launch day",
        firstComment="Tickets: see our site",
        thread=["", "", ""],  # the part boxes a page without JavaScript sends, left empty
        formKey="k2",
    )
    for _ in range(2):  # sent twice: nothing new the second time
        answer = client.post("/compose", form)
        assert answer.status_code == 303 and answer.headers["Location"] == "/calendar"
        assert fresh_db["posts"].count_documents({}) == 4
    made = {p["accountId"]: p for p in fresh_db["posts"].find({"parentId": {"$exists": False}})}
    assert sorted(made) == ["bsky-1", "fb-1"]
    assert {(p["status"], p["scheduledAt"], p["groupId"]) for p in made.values()} == {
        ("scheduled", LATER, "web-k2")
    }
    comments = list(fresh_db["posts"].find({"followUp": "comment"}))
    assert sorted((c["accountId"], c["status"]) for c in comments) == [
        ("bsky-1", "waiting"),
        ("fb-1", "waiting"),
    ]
    for comment in comments:
        assert comment["parentId"] == made[comment["accountId"]]["_id"]
        assert comment["content"]["text"] == "Tickets: see our site"
    assert fresh_db["posts"].count_documents({"followUp": "thread"}) == 0


def test_a_thread_for_a_facebook_page_is_refused_by_field_and_nothing_is_stored(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    client = composer(web_fn, fresh_db)
    answer = client.post("/compose", both_accounts_form(text="Launch day", thread=["", "é" * 301]))
    assert answer.status_code == 422
    only = "threads are published on threads, bluesky, mastodon only"
    assert f'data-field="thread">fb-1: {only}</p>' in answer.text
    # The part is shown again in the first box, its refusal under it.
    assert f'name="thread" rows="2">{"é" * 301}</textarea>' in answer.text
    assert 'data-field="thread[0]">bsky-1: 301 graphemes; the limit is 300</p>' in answer.text
    assert fresh_db["posts"].count_documents({}) == 0


def test_each_follow_up_box_has_its_own_counter_sent_out_of_band(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    client = composer(web_fn, fresh_db)
    answer = client.post(
        "/compose/counters",
        {"accounts": ["fb-1", "bsky-1"], "firstComment": "Hi", "thread": ["abc", ""]},
    )
    found = re.findall(
        r'<ul class="counters" id="counters-(\w+)"[^>]*hx-swap-oob="true">', answer.text
    )
    assert found == ["firstComment", "thread0", "thread1"]
    assert 'data-platform="facebook">facebook: 2 / 63206 characters' in answer.text
    assert 'data-platform="bluesky">bluesky: 3 / 300 graphemes' in answer.text
    # A Facebook page publishes no thread: its parts count on Bluesky only.
    assert answer.text.count('data-platform="facebook"') == 2  # the post and the comment


def test_the_counters_count_in_each_networks_unit(web_fn: Served, fresh_db: Database[Any]) -> None:
    add_account(fresh_db, "bsky-1", platform="bluesky")
    add_account(fresh_db, "masto-1", platform="mastodon")
    client = admin(web_fn)
    flag = "\U0001f1eb\U0001f1f7"  # one grapheme, two code points
    answer = client.post(
        "/compose/counters",
        {"accounts": ["bsky-1", "masto-1"], "text": flag * 3, "contentWarning": "cw"},
    )
    assert 'data-platform="bluesky">bluesky: 3 / 300 graphemes' in answer.text
    assert 'data-platform="mastodon">mastodon: 8 / 500 characters' in answer.text
    roomy: dict[str, object] = {"maxCharacters": 5000, "maxMediaAttachments": 4}
    roomy |= {"imageSizeLimit": 1, "videoSizeLimit": 1, "descriptionLimit": 1500}
    roomy |= {"supportedMimeTypes": []}
    fresh_db.accounts.update_one(
        {"_id": "masto-1"}, {"$set": {"instanceLimits": {**roomy, "readAt": LATER}}}
    )
    answer = client.post("/compose/counters", {"accounts": ["masto-1"], "text": "x" * 600})
    assert 'data-platform="mastodon">mastodon: 600 / 5000 characters' in answer.text


def test_a_repeating_post_becomes_a_series_listed_and_ended_from_the_app(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb-1")
    add_account(fresh_db, "fb-2")
    client = admin(web_fn)
    client.get("/compose")
    form = {
        "accounts": "fb-1",
        "text": "Weekly special",
        "scheduledAt": LATER_LOCAL,
        "timeZone": "UTC",
    }
    two = client.post("/compose", {**form, "accounts": ["fb-1", "fb-2"], "action": "repeat"})
    assert two.status_code == 422 and "one account at a time" in two.text
    bad = client.post("/compose", {**form, "action": "repeat", "rule": "FREQ=SOMETIMES"})
    assert bad.status_code == 422 and 'data-field="rule"' in bad.text
    daily = {**form, "action": "repeat", "rule": "FREQ=DAILY;COUNT=3"}
    commented = client.post("/compose", {**daily, "firstComment": "Ask in store"})
    assert commented.status_code == 422 and "a repeating post has no follow-ups" in commented.text
    assert fresh_db["series"].count_documents({}) == 0
    made = client.post("/compose", {**form, "action": "repeat", "rule": "FREQ=DAILY;COUNT=3"})
    assert made.status_code == 303 and made.headers["Location"] == "/series"
    occurrences = list(fresh_db["posts"].find().sort("scheduledAt", 1))
    assert [p["scheduledAt"] for p in occurrences] == [LATER + timedelta(days=n) for n in range(3)]
    [series] = list(fresh_db["series"].find())
    listed = client.get("/series")
    assert "FREQ=DAILY;COUNT=3" in listed.text and f'id="end-{series["_id"]}"' in listed.text
    assert client.post(f"/series/{series['_id']}/end").status_code == 303
    assert {p["status"] for p in fresh_db["posts"].find()} == {"canceled"}
    assert "ended" in client.get("/series").text


def test_the_preview_shows_each_chosen_network_its_own_way(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "bsky-1", platform="bluesky")
    add_account(fresh_db, "ig-1", platform="instagram")
    client = admin(web_fn)
    answer = client.post(
        "/compose/preview",
        {"accounts": ["bsky-1", "ig-1"], "text": "New <b>menu</b> https://example.org"},
    )
    assert answer.status_code == 200
    assert answer.text.count('<article class="preview"') == 2
    bluesky, instagram = answer.text.split('data-platform="instagram"')
    assert '<u class="link">https://example.org</u>' in bluesky
    assert "&lt;b&gt;menu&lt;/b&gt;" in instagram and 'class="link"' not in instagram


def test_the_calendar_shows_the_month_and_a_move_is_version_checked(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb-1")
    post_id = add_post(fresh_db, "fb-1", LATER, text="Quarterly results")
    client = admin(web_fn)
    month = client.get("/calendar", at=LATER.date().isoformat())
    assert f'id="post-{post_id}"' in month.text and "Quarterly results" in month.text
    assert f'data-day="{LATER.date()}"' in month.text
    week = client.get("/calendar", view="week", at=LATER.date().isoformat())
    assert f'id="post-{post_id}"' in week.text
    elsewhere = client.get("/calendar", at=(LATER + timedelta(days=62)).date().isoformat())
    assert f'id="post-{post_id}"' not in elsewhere.text
    moved_to = (LATER + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    body = {"version": "1", "scheduledAt": moved_to, "timeZone": "UTC"}
    assert client.post(f"/posts/{post_id}/move", body).status_code == 303
    assert stored(fresh_db, post_id)["scheduledAt"] == LATER + timedelta(days=1)
    stale = client.post(f"/posts/{post_id}/move", body)
    assert stale.status_code == 412 and "changed since" in stale.text
    actions = [e["action"] for e in fresh_db["audit"].find({"targets": str(post_id)})]
    assert actions == ["posts.move", "posts.move"]


def test_the_post_page_shows_the_timeline_and_the_permalink(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb-1")
    post_id = add_post(fresh_db, "fb-1", LATER)
    at = utcnow()
    fresh_db["posts"].update_one(
        {"_id": post_id},
        {"$set": {"status": "published", "platformPostId": "111_222", "publishedAt": at}},
    )
    page = admin(web_fn).get(f"/posts/{post_id}")
    assert 'href="https://www.facebook.com/111/posts/222"' in page.text
    assert "The network answered the publish request" in page.text
    assert page.text.index("<strong>created</strong>") < page.text.index(
        "<strong>published</strong>"
    )


def test_static_files_are_served_by_content_hash_with_long_caching(
    web_fn: Served, fresh_db: Database[Any]
) -> None:
    page = admin(web_fn).get("/calendar")
    path = next(p for p in page.text.split('"') if p.startswith("/assets/htmx."))
    answer = requests.get(web_fn.url + path, headers={"Accept-Encoding": "gzip"}, timeout=TIMEOUT)
    assert answer.status_code == 200, (path, answer.text)
    assert "immutable" in answer.headers["Cache-Control"]
    assert answer.headers["Content-Encoding"] == "gzip" and b"htmx" in answer.content
    assert requests.get(web_fn.url + "/assets/htmx.0000.min.js", timeout=TIMEOUT).status_code == 404
