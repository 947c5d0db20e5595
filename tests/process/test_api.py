"""The api function served by functions-framework: scopes, idempotent replays, pagination,
If-Match races, the audit trail and refusals, against the real database server."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from bson import ObjectId
from pymongo.database import Database

from common import accounts, apikeys
from common.clock import utcnow
from common.config import load_settings
from common.model import Content
from common.operations import accounts as account_ops
from common.operations import series_materialise
from common.platforms.base import Login, LoginRefused
from common.platforms.registry import default_registry
from common.posts import store
from common.tokens import TokenCipher
from devstack.sandbox import control as sandbox_control
from devstack.sandbox.control import BlueskySandbox, MastodonSandbox, Sandbox
from tests import tokens
from tests.bluesky_support import app_password_for
from tests.conftest import add_account, add_post
from tests.functions_fixtures import ADMIN_KEY, ROOT, Served, function_env, serve
from tests.mastodon_support import mastodon_token_for
from tests.meta_support import TOKEN_KEY, StubContext, connect, meta_env, publish_due

API_SOURCE = ROOT / "functions" / "api" / "main.py"
TIMEOUT = 30
RATE_LIMIT = 40
APP_SECRET = "app-secret-for-tests"
LATER = (utcnow() + timedelta(days=30)).replace(microsecond=0)


@pytest.fixture(scope="module")
def meta_server() -> Iterator[Sandbox]:
    """A sandbox Graph API that checks the app secret, as Meta does (appsecret_proof on every
    call, client_secret on the token exchange)."""
    with sandbox_control.running(app_secret=APP_SECRET) as server:
        yield server


@pytest.fixture
def meta(meta_server: Sandbox) -> Sandbox:
    meta_server.reset()
    return meta_server


@pytest.fixture(scope="module")
def api_fn(
    mongo_uri: str, fn_db_name: str, fn_workdir: Path, meta_server: Sandbox
) -> Iterator[Served]:
    settings = {k: str(v) for k, v in meta_env(meta_server).items()}
    env = function_env(
        mongo_uri,
        fn_db_name,
        API_RATE_LIMIT_PER_MINUTE=str(RATE_LIMIT),
        META_APP_ID="sandbox-app",
        META_APP_SECRET=APP_SECRET,
        **settings,
    )
    with serve("api", API_SOURCE, env, fn_workdir) as served:
        yield served


def call(
    api: Served,
    method: str,
    path: str,
    credential: str | None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> requests.Response:
    sent = dict(headers or {})
    if credential is not None:
        sent["Authorization"] = f"Bearer {credential}"
    return requests.request(
        method, api.url + path, json=body, headers=sent, params=params, timeout=TIMEOUT
    )


def key(db: Database[Any], *scopes: str, accounts: list[str] | None = None) -> str:
    return apikeys.create(db, "test", scopes, utcnow(), accounts).secret


def post_body(account: str = "fb", text: Any = "hello", **extra: Any) -> dict[str, Any]:
    return {"accountId": account, "scheduledAt": LATER.isoformat(), "text": text, **extra}


def assert_refused(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] and body["requestId"] == response.headers["X-Request-ID"]
    return body


# --- who may do what ------------------------------------------------------------------------


def test_every_route_answers_each_credential_by_its_scopes(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb")
    pid = str(add_post(fresh_db, "fb", LATER))
    reader, writer = key(fresh_db, "posts:read"), key(fresh_db, "posts:write")
    jwt = tokens.hs256(tokens.claims())
    revoked = apikeys.create(fresh_db, "old", ["admin"], utcnow())
    apikeys.revoke(fresh_db, revoked.key.id, utcnow())
    wrong_secret = reader[:-4] + "AAAA"
    routes = [
        ("GET", "/v1/posts", None, "posts:read"),
        ("GET", f"/v1/posts/{pid}", None, "posts:read"),
        ("GET", "/v1/accounts", None, "posts:read"),
        ("POST", "/v1/posts", post_body(), "posts:write"),
        ("POST", f"/v1/posts/{pid}:cancel", None, "posts:write"),
        ("POST", "/v1/posts:reconcile", {"limit": 5}, "posts:write"),
    ]
    for method, path, body, scope in routes:
        for credential in (None, wrong_secret, revoked.secret, "sk_nothing_here"):
            assert_refused(call(api_fn, method, path, credential, body), 401)
        allowed = reader if scope == "posts:read" else writer
        refused = writer if scope == "posts:read" else reader
        assert_refused(call(api_fn, method, path, refused, body), 403)
        assert call(api_fn, method, path, allowed, body).status_code in (200, 201)
    for admin in (jwt, ADMIN_KEY):
        assert call(api_fn, "GET", f"/v1/posts/{pid}", admin).status_code == 200


def test_a_key_limited_to_an_account_sees_and_touches_only_that_account(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "mine")
    add_account(fresh_db, "theirs")
    theirs = str(add_post(fresh_db, "theirs", LATER))
    mine = str(add_post(fresh_db, "mine", LATER))
    limited = key(fresh_db, "posts:read", "posts:write", accounts=["mine"])
    assert_refused(call(api_fn, "POST", "/v1/posts", limited, post_body("theirs")), 403)
    assert call(api_fn, "POST", "/v1/posts", limited, post_body("mine")).status_code == 201
    assert_refused(call(api_fn, "GET", f"/v1/posts/{theirs}", limited), 404)
    assert_refused(call(api_fn, "POST", f"/v1/posts/{theirs}:cancel", limited), 404)
    listed = call(api_fn, "GET", "/v1/posts", limited).json()["posts"]
    assert {p["accountId"] for p in listed} == {"mine"} and mine in {p["id"] for p in listed}
    accounts = call(api_fn, "GET", "/v1/accounts", limited).json()["accounts"]
    assert [a["id"] for a in accounts] == ["mine"]
    untouched = fresh_db["posts"].find_one({"_id": ObjectId(theirs)})
    assert untouched is not None and untouched["status"] == "scheduled"


def test_a_key_over_its_rate_limit_is_told_when_to_come_back(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    reader = key(fresh_db, "posts:read")
    # The window is a clock minute and may turn over during the burst (a new one counts from 1):
    # within two windows, 2 x RATE_LIMIT + 2 requests cannot all be let through.
    answers = []
    for _ in range(2 * RATE_LIMIT + 2):
        answers.append(call(api_fn, "GET", "/v1/accounts", reader))
        if answers[-1].status_code != 200:
            break
    codes = [a.status_code for a in answers]
    assert codes[-1] == 429 and codes.count(200) >= RATE_LIMIT
    limited = answers[-1]
    assert_refused(limited, 429)
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    other = key(fresh_db, "posts:read")
    assert call(api_fn, "GET", "/v1/accounts", other).status_code == 200  # per key


# --- creating posts -------------------------------------------------------------------------


def test_eight_identical_requests_at_once_make_one_post_and_answer_alike(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb")
    writer = key(fresh_db, "posts:write")
    headers = {"Idempotency-Key": "order-1234"}
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: call(api_fn, "POST", "/v1/posts", writer, post_body(), headers),
                range(8),
            )
        )
    assert [a.status_code for a in answers] == [201] * 8
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 7
    assert fresh_db["posts"].count_documents({}) == 1
    other = call(api_fn, "POST", "/v1/posts", writer, post_body(text="other"), headers)
    assert_refused(other, 422)
    assert fresh_db["posts"].count_documents({}) == 1


def test_without_a_key_the_same_post_is_reported_as_already_scheduled(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb")
    writer = key(fresh_db, "posts:write")
    first = call(api_fn, "POST", "/v1/posts", writer, post_body())
    again = call(api_fn, "POST", "/v1/posts", writer, post_body())
    assert first.status_code == 201 and first.json()["alreadyScheduled"] is False
    assert again.status_code == 200 and again.json() == {**first.json(), "alreadyScheduled": True}


def test_a_batch_is_all_or_nothing_and_a_replay_makes_nothing(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb")
    writer = key(fresh_db, "posts:write")
    bad = {
        "posts": [
            post_body(text="fine"),
            post_body("nobody"),
            post_body(scheduledAt="2020-01-01T00:00:00Z"),
        ]
    }
    refused = assert_refused(call(api_fn, "POST", "/v1/posts", writer, bad), 400)
    assert [(p["index"], p["field"]) for p in refused["problems"]] == [
        (1, "accountId"),
        (2, "scheduledAt"),
    ]
    unknown = {"posts": [post_body(), {**post_body(), "colour": "red"}]}
    refused = assert_refused(call(api_fn, "POST", "/v1/posts", writer, unknown), 400)
    assert [(p["index"], p["field"]) for p in refused["problems"]] == [(1, "colour")]
    assert fresh_db["posts"].count_documents({}) == 0
    batch = {"posts": [post_body(text=f"post {i}") for i in range(1000)]}
    headers = {"Idempotency-Key": "batch-1"}
    made = call(api_fn, "POST", "/v1/posts", writer, batch, headers)
    assert made.status_code == 201, made.text
    replay = call(api_fn, "POST", "/v1/posts", writer, batch, headers)
    assert (replay.status_code, replay.json()) == (201, made.json())
    assert fresh_db["posts"].count_documents({"status": "scheduled"}) == 1000
    too_many = {"posts": [post_body(text=f"post {i}") for i in range(1001)]}
    assert_refused(call(api_fn, "POST", "/v1/posts", writer, too_many), 400)


def test_media_urls_are_checked_at_the_door_and_named_by_item(
    api_fn: Served, fresh_db: Database[Any], meta: Sandbox
) -> None:
    add_account(fresh_db, "ig", "instagram")
    writer = key(fresh_db, "posts:write")
    pdf = meta.image_url("menu.jpg", mime="application/pdf")
    gone = f"{meta.url}/_sandbox/nothing/a.jpg"
    single = post_body("ig", media=[{"url": gone}])
    refused = assert_refused(call(api_fn, "POST", "/v1/posts", writer, single), 400)
    assert [(p["index"], p["field"]) for p in refused["problems"]] == [(0, "media[0].url")]
    assert "HTTP 404" in refused["problems"][0]["message"]
    good = post_body("ig", media=[{"url": meta.image_url("a.jpg")}])
    batch = {"posts": [good, post_body("ig", media=[{"url": pdf}])]}
    refused = assert_refused(call(api_fn, "POST", "/v1/posts", writer, batch), 400)
    assert [(p["index"], p["field"]) for p in refused["problems"]] == [(1, "media[0].url")]
    assert "application/pdf" in refused["problems"][0]["message"]
    assert fresh_db["posts"].count_documents({}) == 0
    made = call(api_fn, "POST", "/v1/posts", writer, good)
    assert made.status_code == 201, made.text
    # A series edit from an occurrence on checks the URLs it brings, like every other door.
    start = f"{(utcnow() + timedelta(days=2)).date().isoformat()}T09:00:00"
    weekly = {"accountId": "ig", "start": start, "timeZone": "UTC", "rule": "FREQ=WEEKLY;COUNT=3"}
    series = call(api_fn, "POST", "/v1/series", writer, {**weekly, "media": [{"url": gone}]})
    assert [p["field"] for p in assert_refused(series, 400)["problems"]] == ["media[0].url"]
    weekly["media"] = good["media"]
    sid = call(api_fn, "POST", "/v1/series", writer, weekly).json()["id"]
    brings = {"since": weekly["start"], "media": [{"url": gone}]}
    edit = call(api_fn, "PATCH", f"/v1/series/{sid}", writer, brings)
    assert [p["field"] for p in assert_refused(edit, 400)["problems"]] == ["media[0].url"]
    assert fresh_db["series"].count_documents({}) == 1  # not split


def test_an_idempotency_key_covers_one_body_of_its_caller_single_or_batch(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb")
    add_account(fresh_db, "fb-2")
    writer, other_writer = key(fresh_db, "posts:write"), key(fresh_db, "posts:write")
    keyed = {"Idempotency-Key": "order-9"}
    made = call(api_fn, "POST", "/v1/posts", writer, post_body(), keyed)
    assert made.status_code == 201, made.text
    other_account = call(api_fn, "POST", "/v1/posts", writer, post_body("fb-2"), keyed)
    assert_refused(other_account, 422)
    theirs = call(api_fn, "POST", "/v1/posts", other_writer, post_body("fb-2"), keyed)
    assert theirs.status_code == 201, theirs.text  # another caller's key is another key
    long_key = {"Idempotency-Key": "b" * 198}
    batch = {"posts": [post_body(text=f"item {i}") for i in range(12)]}
    assert call(api_fn, "POST", "/v1/posts", writer, batch, long_key).status_code == 201
    single = call(api_fn, "POST", "/v1/posts", writer, post_body(text="one"), long_key)
    assert_refused(single, 422)
    assert fresh_db["posts"].count_documents({}) == 2 + 12


def test_bad_bodies_are_refused_with_a_reason_and_change_nothing(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb")
    writer = key(fresh_db, "posts:write")
    auth = {"Authorization": f"Bearer {writer}"}
    url = api_fn.url + "/v1/posts"
    cases = [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'{"accountId": "fb"}', "text/plain", 415),
        (b"x" * (2 * 1024 * 1024 + 1), "application/json", 413),
    ]
    for data, kind, status in cases:
        answer = requests.post(
            url, data=data, headers={**auth, "Content-Type": kind}, timeout=TIMEOUT
        )
        assert_refused(answer, status)
    typed = assert_refused(call(api_fn, "POST", "/v1/posts", writer, post_body(text=5)), 400)
    assert typed["problems"][0]["field"] == "text"
    wrong_method = call(api_fn, "DELETE", "/v1/posts", writer)
    assert_refused(wrong_method, 405)
    assert wrong_method.headers["Allow"] == "GET, HEAD, POST"
    assert_refused(call(api_fn, "GET", "/v2/posts", writer), 404)
    assert fresh_db["posts"].count_documents({}) == 0


# --- reading, editing, cancelling ----------------------------------------------------------


def test_paging_over_2500_posts_while_more_arrive_sees_each_once(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb")
    start = utcnow() + timedelta(days=1)
    docs = [
        {
            "accountId": "fb",
            "platform": "facebook",
            "content": {"text": f"p{i}"},
            "scheduledAt": start + timedelta(seconds=i // 3),  # ties in dueAt, broken by _id
            "dueAt": start + timedelta(seconds=i // 3),
            "timeZone": "UTC",
            "status": "scheduled",
            "version": 1,
        }
        for i in range(2500)
    ]
    original = {str(i) for i in fresh_db["posts"].insert_many(docs).inserted_ids}
    stop = threading.Event()

    def keep_adding() -> None:
        n = 0
        while not stop.is_set():
            due = start + timedelta(seconds=(n * 7) % 900)
            add_post(fresh_db, "fb", due, text=f"new {n}")
            n += 1

    adder = threading.Thread(target=keep_adding)
    adder.start()
    seen: list[str] = []
    cursor: str | None = None
    try:
        while True:
            params: dict[str, Any] = {"limit": 250, **({"cursor": cursor} if cursor else {})}
            page = call(api_fn, "GET", "/v1/posts", ADMIN_KEY, params=params).json()
            seen += [p["id"] for p in page["posts"]]
            cursor = page["next"]
            if cursor is None:
                break
    finally:
        stop.set()
        adder.join()
    assert len(seen) == len(set(seen))  # nothing twice
    assert original <= set(seen)  # nothing that was there is skipped


def test_list_filters_and_refuses_what_it_does_not_know(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "a")
    add_account(fresh_db, "b")
    for hours in (1, 2, 3):
        add_post(fresh_db, "a", LATER + timedelta(hours=hours))
    add_post(fresh_db, "b", LATER)
    reader = key(fresh_db, "posts:read")
    window = {
        "accountId": "a",
        "dueAfter": (LATER + timedelta(hours=2)).isoformat(),
        "dueBefore": (LATER + timedelta(hours=4)).isoformat(),
    }
    page = call(api_fn, "GET", "/v1/posts", reader, params={**window, "status": "scheduled"}).json()
    assert len(page["posts"]) == 2 and page["next"] is None
    for bad in ({"colour": "red"}, {"limit": "0"}, {"cursor": "abc"}, {"status": "done"}):
        assert_refused(call(api_fn, "GET", "/v1/posts", reader, params=bad), 400)


def test_if_match_lets_exactly_one_of_two_racing_edits_win(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb")
    writer = key(fresh_db, "posts:read", "posts:write")
    pid = call(api_fn, "POST", "/v1/posts", writer, post_body()).json()["id"]
    etag = call(api_fn, "GET", f"/v1/posts/{pid}", writer).headers["ETag"]
    assert etag == '"1"'
    path = f"/v1/posts/{pid}"

    def edit(text: str) -> requests.Response:
        return call(api_fn, "PATCH", path, writer, {"text": text}, {"If-Match": etag})

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(edit, [f"edit {i}" for i in range(6)]))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 412, 412, 412, 412, 412]
    winner = next(a for a in answers if a.status_code == 200).json()
    stored = fresh_db["posts"].find_one({"_id": ObjectId(pid)})
    assert stored is not None
    assert (stored["version"], stored["content"]["text"]) == (2, winner["content"]["text"])
    assert_refused(call(api_fn, "PATCH", path, writer, {"text": "x"}), 428)
    fresh_db["posts"].update_one(
        {"_id": ObjectId(pid)}, {"$set": {"status": "publishing", "sendStartedAt": utcnow()}}
    )
    begun = call(api_fn, "PATCH", path, writer, {"text": "late"}, {"If-Match": '"2"'})
    assert assert_refused(begun, 409)["status"] == "publishing"


def test_cancel_and_retry_answer_the_post_and_every_write_is_audited(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb")
    writer = key(fresh_db, "posts:write")
    made = call(api_fn, "POST", "/v1/posts", writer, post_body(), {"X-Request-ID": "req-1"})
    pid = made.json()["id"]
    canceled = call(api_fn, "POST", f"/v1/posts/{pid}:cancel", writer)
    assert (canceled.status_code, canceled.json()["status"]) == (200, "canceled")
    assert_refused(call(api_fn, "POST", f"/v1/posts/{pid}:retry", writer), 409)
    assert_refused(call(api_fn, "POST", f"/v1/posts/{ObjectId()}:cancel", writer), 404)
    entries = list(fresh_db["audit"].find().sort([("at", 1), ("_id", 1)]))
    key_id = writer.split("_")[1]
    assert [(e["action"], e["status"]) for e in entries] == [
        ("posts.create", 201),
        ("posts.cancel", 200),
        ("posts.retry", 409),
        ("posts.cancel", 404),
    ]
    assert {e["who"] for e in entries} == {f"key:{key_id}"}
    assert entries[0]["requestId"] == "req-1" and entries[0]["targets"] == [pid]
    assert all(e["expireAt"] > utcnow() + timedelta(days=80) for e in entries)
    assert "hello" not in str(entries)  # never post text


def test_approval_is_refused_for_a_viewer_and_an_editor_and_allowed_for_an_approver(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb")
    viewer, editor = key(fresh_db, "posts:read"), key(fresh_db, "posts:write")
    approver = key(fresh_db, "posts:approve")
    made = call(api_fn, "POST", "/v1/posts", editor, post_body(stage="pending_approval"))
    pid = made.json()["id"]
    assert (made.status_code, call(api_fn, "GET", f"/v1/posts/{pid}", viewer).json()["status"]) == (
        201,
        "pending_approval",
    )
    for refused in (viewer, editor):
        assert_refused(call(api_fn, "POST", f"/v1/posts/{pid}:approve", refused), 403)
    back = call(api_fn, "POST", f"/v1/posts/{pid}:sendBack", approver, {"comment": "a link?"})
    assert (back.json()["status"], back.json()["reviewComment"]) == ("draft", "a link?")
    assert_refused(call(api_fn, "POST", f"/v1/posts/{pid}:sendBack", approver, {}), 400)
    assert_refused(call(api_fn, "POST", f"/v1/posts/{pid}:approve", approver), 409)
    submitted = call(api_fn, "POST", f"/v1/posts/{pid}:submit", editor)
    assert submitted.json()["status"] == "pending_approval"
    approved = call(api_fn, "POST", f"/v1/posts/{pid}:approve", approver)
    assert (approved.status_code, approved.json()["status"]) == (200, "scheduled")
    entries = list(fresh_db["audit"].find({"targets": pid}).sort([("at", 1), ("_id", 1)]))
    assert [(e["action"], e["status"]) for e in entries] == [
        ("posts.create", 201),
        ("posts.send_back", 200),
        ("posts.approve", 409),
        ("posts.submit", 200),
        ("posts.approve", 200),
    ]
    assert "a link?" not in str(entries)  # the comment lives on the post, not in the log


def test_posting_slots_are_set_by_an_account_writer_and_a_queued_post_takes_the_next(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb")
    writer, manager = key(fresh_db, "posts:read", "posts:write"), key(fresh_db, "accounts:write")
    slots = {"timeZone": "America/New_York", "slots": ["mon@09:00", "thu@17:30"]}
    assert_refused(call(api_fn, "POST", "/v1/accounts/fb:setSlots", writer, slots), 403)
    bad = {"timeZone": "America/New_York", "slots": ["monday 9am"]}
    assert_refused(call(api_fn, "POST", "/v1/accounts/fb:setSlots", manager, bad), 400)
    assert_refused(call(api_fn, "POST", "/v1/accounts/nobody:setSlots", manager, slots), 404)
    stored = call(api_fn, "POST", "/v1/accounts/fb:setSlots", manager, slots)
    assert stored.json() == {"timeZone": "America/New_York", "slots": ["mon@09:00", "thu@17:30"]}

    queued = [
        call(api_fn, "POST", "/v1/posts", writer, post_body(text=f"q{n}", scheduledAt="queue"))
        for n in range(2)
    ]
    shown = [call(api_fn, "GET", f"/v1/posts/{q.json()['id']}", writer).json() for q in queued]
    local = [p["localTime"][11:16] for p in shown]
    assert sorted(local) == ["09:00", "17:30"] and shown[0]["scheduledAt"] < shown[1]["scheduledAt"]


def test_a_batch_queues_each_post_in_its_own_next_slot(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb")
    writer, manager = key(fresh_db, "posts:read", "posts:write"), key(fresh_db, "accounts:write")
    slots = {"timeZone": "Europe/Berlin", "slots": ["mon@09:00", "wed@09:00", "fri@09:00"]}
    assert call(api_fn, "POST", "/v1/accounts/fb:setSlots", manager, slots).status_code == 200

    batch = {"posts": [post_body(text=f"b{n}", scheduledAt="queue") for n in range(3)]}
    made = call(api_fn, "POST", "/v1/posts", writer, batch)

    assert made.status_code == 201, made.text
    shown = [
        call(api_fn, "GET", f"/v1/posts/{p['id']}", writer).json() for p in made.json()["posts"]
    ]
    assert len({p["scheduledAt"] for p in shown}) == 3
    assert [p["localTime"][11:16] for p in shown] == ["09:00"] * 3
    assert shown == sorted(shown, key=lambda p: p["scheduledAt"])


def test_a_series_is_made_listed_edited_from_an_occurrence_on_and_ended(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "fb")
    add_account(fresh_db, "other")
    reader, writer = key(fresh_db, "posts:read"), key(fresh_db, "posts:read", "posts:write")
    elsewhere = key(fresh_db, "posts:read", "posts:write", accounts=["other"])
    first = (utcnow() + timedelta(days=2)).date()
    body = {
        "accountId": "fb",
        "start": f"{first.isoformat()}T09:00:00",
        "timeZone": "Europe/Berlin",
        "rule": "FREQ=DAILY;COUNT=10",
        "text": "daily",
    }
    assert_refused(call(api_fn, "POST", "/v1/series", reader, body), 403)
    assert_refused(call(api_fn, "POST", "/v1/series", writer, {**body, "rule": "DAILY"}), 400)
    assert_refused(call(api_fn, "POST", "/v1/series", elsewhere, body), 403)
    made = call(api_fn, "POST", "/v1/series", writer, body)
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    assert made.json()["madeUntil"] == f"{(first + timedelta(days=9)).isoformat()}T09:00:00"
    assert fresh_db["posts"].count_documents({"groupId": f"series:{sid}"}) == 10
    listed = call(api_fn, "GET", "/v1/series", reader, params={"accountId": "fb"}).json()
    assert [s["id"] for s in listed["series"]] == [sid]
    assert call(api_fn, "GET", "/v1/series", elsewhere).json() == {"series": []}
    assert_refused(call(api_fn, "GET", f"/v1/series/{sid}", elsewhere), 404)

    since = f"{(first + timedelta(days=4)).isoformat()}T09:00:00"
    edit = {"since": since, "text": "changed"}
    assert_refused(call(api_fn, "PATCH", f"/v1/series/{sid}", writer, {"since": since}), 400)
    split = call(api_fn, "PATCH", f"/v1/series/{sid}", writer, edit)
    assert split.status_code == 200, split.text
    assert split.json()["since"] == since
    assert call(api_fn, "GET", f"/v1/series/{sid}", reader).json()["editPending"] is True
    series_materialise.materialise_due(fresh_db, utcnow(), max_lateness=timedelta(hours=1))
    series_materialise.materialise_due(fresh_db, utcnow(), max_lateness=timedelta(hours=1))
    live = list(fresh_db["posts"].find({"status": "scheduled"}))
    assert Counter(p["content"]["text"] for p in live) == Counter({"daily": 4, "changed": 6})

    ended = call(api_fn, "POST", f"/v1/series/{sid}:end", writer)
    assert ended.json() == {"seriesId": sid, "canceled": 10}
    assert fresh_db["posts"].count_documents({"status": "scheduled"}) == 0
    audited = [e["action"] for e in fresh_db["audit"].find({"action": {"$regex": "^series"}})]
    assert audited == ["series.create", "series.edit", "series.end"]


def test_an_account_check_asks_meta_about_its_token(
    api_fn: Served, fresh_db: Database[Any], meta: Sandbox
) -> None:
    connect(fresh_db, meta, "page-1")
    manager = key(fresh_db, "accounts:write")
    checked = call(api_fn, "POST", "/v1/accounts/page-1:check", manager)
    assert checked.status_code == 200, checked.text
    assert (checked.json()["accountId"], checked.json()["valid"]) == ("page-1", True)
    assert_refused(call(api_fn, "POST", "/v1/accounts/nobody:check", manager), 404)


def test_connect_stores_a_meta_logins_pages_and_linked_instagram_accounts_encrypted(
    api_fn: Served, fresh_db: Database[Any], meta: Sandbox, fn_db_name: str, mongo_uri: str
) -> None:
    sandbox = meta
    sandbox.add_account("111", "page", "page-token-111", "Bakery")
    sandbox.add_account("222", "page", "page-token-222", "Other")
    sandbox.add_account("333", "instagram", "unused", "bakery_ig", page="111")
    sandbox.add_user("short-user-token", ["111", "222"])
    manager = key(fresh_db, "accounts:write")
    path = "/v1/accounts:connect"
    assert_refused(call(api_fn, "POST", path, manager, {"userToken": "not-a-login"}), 422)
    stranger = {"userToken": "short-user-token", "pages": ["999"]}
    assert_refused(call(api_fn, "POST", path, manager, stranger), 422)
    other_networks_field = {"userToken": "short-user-token", "instance": "https://x.example"}
    assert_refused(call(api_fn, "POST", path, manager, other_networks_field), 400)
    limited = key(fresh_db, "accounts:write", accounts=["fb-111"])
    assert_refused(call(api_fn, "POST", path, limited, {"userToken": "short-user-token"}), 403)
    env = {k: str(v) for k, v in meta_env(sandbox, META_APP_ID="sandbox-app").items()}
    base = {"MONGO_URI": mongo_uri, "MONGO_DB": fn_db_name, **env}
    wrong_secret = load_settings({**base, "META_APP_SECRET": "not-the-app-secret"})
    connector = default_registry(wrong_secret).connector("meta")
    assert connector is not None
    cipher = TokenCipher.from_settings(wrong_secret)
    login = Login("short-user-token")
    refused = account_ops.connect(fresh_db, cipher, connector, login, utcnow())
    assert isinstance(refused, LoginRefused) and not refused.unavailable
    assert "not-the-app-secret" not in refused.reason
    assert fresh_db["accounts"].count_documents({}) == 0

    chosen = {"userToken": "short-user-token", "pages": ["111"]}
    done = call(api_fn, "POST", path, manager, chosen)
    assert done.status_code == 200, done.text
    assert [(a["id"], a["platform"], a["added"]) for a in done.json()["accounts"]] == [
        ("fb-111", "facebook", True),
        ("ig-333", "instagram", True),
    ]
    cipher = TokenCipher((TOKEN_KEY,))
    for account_id in ("fb-111", "ig-333"):
        stored = accounts.get(fresh_db, account_id)
        assert stored is not None and cipher.decrypt(stored.token) == "page-token-111"
    assert "page-token" not in done.text + api_fn.output.read_text()
    again = call(api_fn, "POST", path, manager, chosen)
    assert [a["added"] for a in again.json()["accounts"]] == [False, False]

    # The stored Page token publishes: one run, the real adapter, the sandbox Page.
    settings = load_settings({**base, "META_APP_SECRET": APP_SECRET})
    published = publish_due(fresh_db, settings, "fb-111", Content(text="from a connected Page"))
    assert published["status"] == "published"
    assert [p["text"] for p in sandbox.posts()] == ["from a connected Page"]


def test_reconcile_finds_a_post_that_went_out_and_keeps_one_that_did_not(
    api_fn: Served, fresh_db: Database[Any], meta: Sandbox, fn_db_name: str, mongo_uri: str
) -> None:
    account = connect(fresh_db, meta, "page-1")
    went_out = add_post(fresh_db, "page-1", utcnow(), text="went out")
    never_sent = add_post(fresh_db, "page-1", utcnow(), text="never sent")
    env = {k: str(v) for k, v in meta_env(meta, META_APP_SECRET=APP_SECRET).items()}
    settings = load_settings({"MONGO_URI": mongo_uri, "MONGO_DB": fn_db_name, **env})
    publisher = default_registry(settings).get("facebook")
    assert publisher is not None
    sent = store.get(fresh_db, went_out)
    assert sent is not None
    publisher.publish(sent, account, StubContext())  # its answer was lost: recorded unknown
    fresh_db["posts"].update_many(
        {"_id": {"$in": [went_out, never_sent]}},
        {"$set": {"status": "unknown", "sendStartedAt": utcnow()}},
    )
    writer = key(fresh_db, "posts:write")
    path = "/v1/posts:reconcile"

    assert_refused(call(api_fn, "POST", path, writer, {"limit": 0}), 400)
    assert_refused(call(api_fn, "POST", path, writer, {"limit": 5, "policy": "x"}), 400)
    report = call(api_fn, "POST", path, writer, {"limit": 10})

    assert report.status_code == 200, report.text
    assert report.json() == {
        "checked": 2,
        "published": 1,
        "rescheduled": 0,
        "stillUnknown": 1,
        "errors": 0,
    }
    assert fresh_db["posts"].find_one({"_id": went_out})["status"] == "published"  # type: ignore[index]
    assert fresh_db["posts"].find_one({"_id": never_sent})["status"] == "unknown"  # type: ignore[index]
    assert [p["text"] for p in meta.posts()] == ["went out"]


@pytest.mark.parametrize("token", ["TH\u20ac-long-lived", "TH-long\nlived"])
def test_a_token_no_http_header_can_carry_is_refused_not_a_server_error(
    api_fn: Served, fresh_db: Database[Any], meta: Sandbox, token: str
) -> None:
    """A character HTTP headers do not carry (past Latin-1, a line break): the token cannot
    be sent as the Authorization header, so no network could have issued it."""
    manager = key(fresh_db, "accounts:write")
    login = {"network": "threads", "accessToken": token}
    refused = assert_refused(call(api_fn, "POST", "/v1/accounts:connect", manager, login), 422)
    assert "cannot be sent" in refused["error"]
    assert fresh_db["accounts"].count_documents({}) == 0


def test_a_login_is_judged_by_its_network_and_a_refused_one_stores_nothing(
    api_fn: Served,
    fresh_db: Database[Any],
    bluesky: BlueskySandbox,
    mastodon: MastodonSandbox,
) -> None:
    handle = "carol.bsky.test"
    bluesky.add_account(handle, app_password_for(handle))
    mastodon.add_account("carol", mastodon_token_for("carol"))
    manager = key(fresh_db, "accounts:write")
    path = "/v1/accounts:connect"
    sky = {"network": "bluesky", "accountId": "sky", "handle": handle, "pds": bluesky.url}
    masto = {"network": "mastodon", "accountId": "masto", "instance": mastodon.url}

    main_password = call(api_fn, "POST", path, manager, {**sky, "appPassword": "hunter2hunter2"})
    wrong_token = call(api_fn, "POST", path, manager, {**masto, "accessToken": "not-carols"})
    other_fields = {**masto, "accessToken": "t", "userToken": "t"}
    mixed = assert_refused(call(api_fn, "POST", path, manager, other_fields), 400)

    assert_refused(main_password, 422)
    assert_refused(wrong_token, 422)
    assert [p["field"] for p in mixed["problems"]] == ["userToken"]
    assert fresh_db["accounts"].count_documents({}) == 0
    assert "hunter2" not in main_password.text + api_fn.output.read_text()

    added = call(api_fn, "POST", path, manager, {**sky, "appPassword": app_password_for(handle)})
    assert added.status_code == 200, added.text
    assert added.json()["accounts"] == [
        {
            "id": "sky",
            "platform": "bluesky",
            "externalId": added.json()["accounts"][0]["externalId"],
            "name": handle,
            "added": True,
            "postsReleased": 0,
        }
    ]
    # The same id for another identity is refused, and the account keeps its credential.
    other = {**masto, "accountId": "sky", "accessToken": mastodon_token_for("carol")}
    assert_refused(call(api_fn, "POST", path, manager, other), 422)
    stored = accounts.get(fresh_db, "sky")
    assert stored is not None and stored.platform == "bluesky"


def test_a_post_with_a_thread_and_a_first_comment_shows_them_waiting_and_cancels_them(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    add_account(fresh_db, "sky", platform="bluesky")
    add_account(fresh_db, "fb")
    writer = key(fresh_db, "posts:read", "posts:write")
    body = post_body("sky", "1/3", thread=["2/3", "3/3"], firstComment="sources")

    made = call(api_fn, "POST", "/v1/posts", writer, body)
    refused = call(api_fn, "POST", "/v1/posts", writer, post_body("fb", thread=["2/2"]))
    too_long = call(api_fn, "POST", "/v1/posts", writer, post_body("sky", thread=["x" * 301]))

    assert made.status_code == 201, made.text
    pid = made.json()["id"]
    shown = call(api_fn, "GET", f"/v1/posts/{pid}", writer).json()
    assert [(f["kind"], f["part"], f["status"]) for f in shown["followUps"]] == [
        ("thread", 1, "waiting"),
        ("thread", 2, "waiting"),
        ("comment", 1, "waiting"),
    ]
    part = call(api_fn, "GET", f"/v1/posts/{shown['followUps'][1]['id']}", writer).json()
    assert part["content"]["text"] == "3/3" and part["followUp"]["threadRootId"] == pid
    assert part["followUp"]["parentId"] == shown["followUps"][0]["id"]
    problems = assert_refused(refused, 400)["problems"]
    assert [p["field"] for p in problems] == ["thread"]
    assert [p["field"] for p in assert_refused(too_long, 400)["problems"]] == ["thread[0]"]

    assert call(api_fn, "POST", f"/v1/posts/{pid}:cancel", writer).status_code == 200
    after = call(api_fn, "GET", f"/v1/posts/{pid}", writer).json()["followUps"]
    assert [(f["status"], f["lastError"]["code"]) for f in after] == [
        ("canceled", "parent_canceled")
    ] * 3
