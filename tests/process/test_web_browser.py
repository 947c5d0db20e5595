"""The web app in a real browser: Playwright drives Debian's Chromium (scripts/ensure-chromium.sh
installs it; without it these tests skip, saying so) against the web function, the database
server and the sandbox Graph API. Keyboard first: the composer and the calendar are used
without a pointer, and dragging is checked where a pointer exists."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pymongo.database import Database

from common import accounts
from common.clock import ScheduledTime, utcnow
from common.config import load_settings
from common.engine import Trigger, execute_once
from common.model import Content
from common.platforms.registry import default_registry
from common.posts import store
from devstack import storage_cors
from devstack.sandbox.control import BlueskySandbox, MastodonSandbox, Sandbox
from devstack.storage import LocalStorage
from tests.functions_fixtures import ADMIN_KEY, Served, serve
from tests.mastodon_support import connect_mastodon, mastodon_env
from tests.meta_support import StubContext, connect, image, meta_env, publish_due
from tests.web_support import WEB_SOURCE, stored, web_env

playwright = pytest.importorskip("playwright.sync_api")
META_APP, META_SECRET = "1234", "app-secret"
THREADS_APP, THREADS_SECRET = "th-app-9", "th-secret"
TIMEOUT_MS = 15_000


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium is not installed (make bootstrap installs Debian's package as root)")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def site(
    mongo_uri: str,
    fn_db_name: str,
    fn_workdir: Path,
    sandbox_server: Sandbox,
    storage_server: LocalStorage,
) -> Iterator[Served]:
    settings = {k: str(v) for k, v in meta_env(sandbox_server).items()}
    with storage_cors.running(storage_server.emulator_url) as uploads_front:
        # The browser PUTs to the session URLs, so they lead to the front that answers CORS.
        media = {**storage_server.settings(), "STORAGE_EMULATOR_HOST": uploads_front}
        env = web_env(
            mongo_uri,
            fn_db_name,
            META_APP_ID=META_APP,
            META_APP_SECRET=META_SECRET,
            META_DIALOG_URL=sandbox_server.url,
            THREADS_AUTHORIZE_URL=sandbox_server.url,
            THREADS_APP_ID=THREADS_APP,
            THREADS_APP_SECRET=THREADS_SECRET,
            **settings,
            **media,
        )
        with serve("web", WEB_SOURCE, env, fn_workdir) as served:
            yield served


@pytest.fixture
def page(browser: Any, site: Served) -> Iterator[Any]:
    context = browser.new_context(base_url=site.url)
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(page: Any) -> None:
    page.goto("/calendar")
    assert page.url.endswith("/signin")
    page.fill("#key", ADMIN_KEY)
    page.keyboard.press("Enter")
    page.wait_for_url("**/calendar")


def test_compose_by_keyboard_see_it_move_it_publish_it_and_read_its_proof(
    page: Any, fresh_db: Database[Any], sandbox: Sandbox, mongo_uri: str, fn_db_name: str
) -> None:
    connect(fresh_db, sandbox, "page-1")
    connect(fresh_db, sandbox, "page-2")
    sign_in(page)
    page.goto("/compose")
    when = (utcnow() + timedelta(days=2)).replace(hour=9, minute=30)
    page.focus("input[value=page-1]")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # page-2 too: one group of two posts
    page.fill("#text", "Hello from the browser")
    page.locator("#counters li[data-platform=facebook]").filter(
        has_text="facebook: 22 / 63206 characters"
    ).wait_for()
    page.locator("#preview article[data-platform=facebook] .shown").filter(
        has_text="Hello from the browser"
    ).wait_for()
    page.fill("#scheduledAt", when.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#timeZone", "UTC")
    page.focus("#schedule")
    page.keyboard.press("Enter")
    page.wait_for_url("**/calendar")
    made = list(fresh_db["posts"].find().sort("accountId", 1))
    assert [p["accountId"] for p in made] == ["page-1", "page-2"]
    first = made[0]["_id"]
    page.goto(f"/calendar?at={when.date()}")
    chip = page.locator(f"#post-{first}")
    assert "Hello from the browser" in chip.inner_text()
    cell = page.locator(f"td[data-day='{when.date()}']")
    assert cell.locator(f"#post-{first}").count() == 1
    chip.focus()
    with page.expect_navigation():
        page.keyboard.press("Alt+ArrowRight")
    moved = stored(fresh_db, first)
    assert moved["scheduledAt"] == when.replace(second=0, microsecond=0) + timedelta(days=1)
    assert moved["version"] == 2
    # Publish the other one now, and let one run send it to the sandbox.
    page.goto(f"/posts/{made[1]['_id']}")
    page.fill("#move-form input[name=scheduledAt]", utcnow().strftime("%Y-%m-%dT%H:%M"))
    page.click("#move-form button")
    settings = load_settings(
        {"MONGO_URI": mongo_uri, "MONGO_DB": fn_db_name, **meta_env(sandbox)}  # type: ignore[dict-item]
    )
    execute_once(settings, Trigger("cli"), default_registry(settings), db=fresh_db)
    page.goto(f"/posts/{made[1]['_id']}")
    assert page.inner_text("#status") == "published"
    assert (
        page.locator("#permalink a")
        .get_attribute("href")
        .startswith("https://www.facebook.com/page-2/posts/")
    )
    timeline = page.inner_text("#timeline")
    assert timeline.index("created") < timeline.index("moved") < timeline.index("published")


def test_a_draft_goes_through_approval_in_the_browser(
    page: Any, fresh_db: Database[Any], sandbox: Sandbox
) -> None:
    connect(fresh_db, sandbox, "page-1")
    sign_in(page)  # the admin key: an admin approves too
    page.goto("/compose")
    when = (utcnow() + timedelta(days=5)).replace(hour=10, minute=0)
    page.check("input[value=page-1]")
    page.fill("#text", "Needs a second look")
    page.fill("#scheduledAt", when.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#timeZone", "UTC")
    page.focus("#draft")
    page.keyboard.press("Enter")
    page.wait_for_url("**/posts/*")
    assert page.inner_text("#status") == "draft"
    page.click("#submit")
    assert page.inner_text("#status") == "awaiting approval"
    post_id = stored(fresh_db)["_id"]
    page.goto("/approvals")
    page.fill(f"#comment-{post_id}", "Name the shop")
    page.click(f"#send-back-{post_id}")
    page.wait_for_url("**/approvals")
    assert "Nothing waits for approval." in page.inner_text("#approvals")
    page.goto(f"/posts/{post_id}")
    assert page.inner_text("#review-comment") == "Name the shop"
    page.click("#submit")
    page.click(f"#approve-{post_id}")
    assert page.inner_text("#status") == "scheduled"
    timeline = page.inner_text("#timeline")
    assert timeline.count("submitted for approval") == 2
    assert timeline.index("sent back to draft") < timeline.index("approved")
    page.goto(f"/calendar?at={when.date()}")
    assert "scheduled" in page.inner_text(f"#post-{post_id}")


def test_instagram_and_threads_permalinks_are_read_kept_and_lead_to_the_post(
    page: Any, fresh_db: Database[Any], sandbox: Sandbox, mongo_uri: str, fn_db_name: str
) -> None:
    connect(fresh_db, sandbox, "ig-1", "instagram")
    connect(fresh_db, sandbox, "th-1", "threads")
    settings = load_settings(
        {"MONGO_URI": mongo_uri, "MONGO_DB": fn_db_name, **meta_env(sandbox)}  # type: ignore[dict-item]
    )
    photo = Content(text="Fresh bread at seven", media=(image(sandbox),))
    published = [
        publish_due(fresh_db, settings, "ig-1", photo, platform="instagram"),
        publish_due(fresh_db, settings, "th-1", Content(text="Doors open"), platform="threads"),
    ]
    sign_in(page)
    for post, text in zip(published, ("Fresh bread at seven", "Doors open"), strict=True):
        assert post["status"] == "published"
        page.goto(f"/posts/{post['_id']}")
        assert "no permalink stored" in page.inner_text("#permalink")
        page.click("#read-permalink")
        link = page.locator("#permalink a").get_attribute("href")
        assert link == f"{sandbox.url}/_sandbox/p/{post['platformPostId']}"
        assert stored(fresh_db, post["_id"])["permalink"] == link
        page.click("#permalink a")
        page.wait_for_url(link)
        assert text in page.inner_text("body")
    asked = [e["status"] for e in fresh_db["audit"].find({"action": "posts.permalink"})]
    assert asked == [200, 200]


def test_a_post_dragged_to_another_day_moves_there(
    page: Any, fresh_db: Database[Any], sandbox: Sandbox
) -> None:
    connect(fresh_db, sandbox, "page-1")
    sign_in(page)
    page.goto("/compose")
    when = (utcnow() + timedelta(days=40)).replace(day=10, hour=8, minute=0)
    page.check("input[value=page-1]")
    page.fill("#text", "Drag me")
    page.fill("#scheduledAt", when.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#timeZone", "UTC")
    page.click("#schedule")
    post = stored(fresh_db)
    page.goto(f"/calendar?at={when.date()}")
    target = when.date() + timedelta(days=3)
    with page.expect_navigation():
        page.drag_and_drop(f"#post-{post['_id']}", f"td[data-day='{target}']")
    assert stored(fresh_db)["scheduledAt"].date() == target


def test_look_again_finds_an_unknown_post_and_says_how_it_knows(
    page: Any, fresh_db: Database[Any], sandbox: Sandbox, mongo_uri: str, fn_db_name: str
) -> None:
    connect(fresh_db, sandbox, "page-1")
    now = utcnow()
    post_id = store.create(
        fresh_db,
        account_id="page-1",
        platform="facebook",
        content=Content(text="went out, answered too late"),
        when=ScheduledTime(now, "UTC", now.isoformat()),
        now=now,
    )
    fresh_db["posts"].update_one(
        {"_id": post_id},
        {
            "$set": {
                "status": "unknown",
                "sendStartedAt": now,
                "lastError": {"code": "ambiguous", "message": "timed out", "at": now},
            }
        },
    )
    settings = load_settings(
        {"MONGO_URI": mongo_uri, "MONGO_DB": fn_db_name, **meta_env(sandbox)}  # type: ignore[dict-item]
    )
    publisher = default_registry(settings).get("facebook")
    assert publisher is not None
    sandbox.set_faults("page-1", timeouts=1, timeout_seconds=1.5)
    sent = store.get(fresh_db, post_id)
    assert sent is not None
    publisher.publish(sent, accounts.get(fresh_db, "page-1"), StubContext())  # type: ignore[arg-type]
    sign_in(page)
    page.goto(f"/posts/{post_id}")
    assert page.inner_text("#status") == "unknown: look again"
    page.click("#look")
    assert page.inner_text("#looked") == "Found on the network: it is published."
    assert page.inner_text("#status") == "published"
    assert "read-back" in page.inner_text("#established")
    assert [p["text"] for p in sandbox.posts()] == ["went out, answered too late"]


def test_one_account_of_each_network_is_connected_through_its_own_sign_in_page(
    page: Any,
    site: Served,
    fresh_db: Database[Any],
    sandbox: Sandbox,
    mastodon: MastodonSandbox,
    bluesky: BlueskySandbox,
) -> None:
    sandbox.add_account("page-9", "page", "page-9-token", name="Corner Shop")
    sandbox.add_user("short-user-token", ["page-9"])
    sandbox.add_app(META_APP, META_SECRET, [f"{site.url}/accounts/oauth/meta/callback"])
    sandbox.add_account("3199", "threads", "threads-long-token", name="cornershop")
    threads_back = f"{site.url}/accounts/oauth/threads/callback"
    sandbox.add_app(THREADS_APP, THREADS_SECRET, [threads_back], kind="threads")
    mastodon.add_account("corner", "masto-token-for-corner")
    app_password = "abcd-efgh-ijkl-mnop"
    bluesky.add_account("corner.bsky.test", app_password)
    sign_in(page)
    page.goto("/accounts")

    def through(form: str, person: str, **fields: str) -> None:
        for name, value in fields.items():
            page.fill(f"#{form} input[name={name}]", value)
        page.click(f"#{form} button")
        page.click("#continue")  # leaving for the network's own page
        page.click(f"#as-{person}")
        page.wait_for_url("**/accounts/oauth/*/callback?*")

    through("oauth-meta", "short-user-token")
    assert "Corner Shop (facebook, fb-page-9): connected" in page.inner_text("#connected")
    through("oauth-threads", "3199", accountId="th-corner")
    assert "cornershop (threads, th-corner): connected" in page.inner_text("#connected")
    through("oauth-mastodon", "corner", server=mastodon.url)
    assert "(mastodon, masto-127.0.0.1-" in page.inner_text("#connected")
    page.goto("/accounts")

    def with_password(**fields: str) -> None:
        for name, value in fields.items():
            page.fill(f"#connect-bluesky input[name={name}]", value)
        page.click("#connect-bluesky button")

    with_password(handle="corner.bsky.test", secret="my-main-password")
    assert "never use the main password" in page.inner_text("#refused-bluesky")
    with_password(handle="corner.bsky.test", secret=app_password, server=bluesky.url)
    stored = {a["platform"]: a["_id"] for a in fresh_db["accounts"].find()}
    assert set(stored) == {"facebook", "threads", "mastodon", "bluesky"}
    rows = page.inner_text("table.rows")
    assert all(account_id in rows for account_id in stored.values())
    for doc in fresh_db["accounts"].find():
        assert doc["token"] not in ("short-user-token", app_password, "threads-long-token")
    actions = [e["action"] for e in fresh_db["audit"].find({"action": "accounts.connect"})]
    assert actions == ["accounts.connect"] * 5


def test_an_image_uploaded_from_the_browser_goes_with_the_post(
    page: Any, fresh_db: Database[Any], sandbox: Sandbox, tmp_path: Path
) -> None:
    connect(fresh_db, sandbox, "page-1")
    photo = tmp_path / "shop.jpg"
    Image.new("RGB", (800, 600), (200, 120, 40)).save(photo, "JPEG")
    sign_in(page)
    page.goto("/compose")
    page.check("input[value=page-1]")
    page.fill("#text", "Our new shop front")
    page.set_input_files("#file0", str(photo))
    page.locator("#upload0", has_text="Ready: shop.jpg (image)").wait_for()
    when = utcnow() + timedelta(days=1)
    page.fill("#scheduledAt", when.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#timeZone", "UTC")
    page.click("#schedule")
    page.wait_for_url("**/posts/*")
    item = fresh_db["media"].find_one()
    assert item is not None and item["state"] == "ready"
    assert stored(fresh_db)["content"]["media"][0]["mediaId"] == str(item["_id"])
    assert sorted(
        e["action"] for e in fresh_db["audit"].find({"action": {"$regex": "^media"}})
    ) == [
        "media.complete",
        "media.create",
    ]


def test_a_thread_with_a_first_comment_is_composed_waits_under_its_post_and_goes_out_in_order(
    page: Any, fresh_db: Database[Any], mastodon: MastodonSandbox, mongo_uri: str, fn_db_name: str
) -> None:
    connect_mastodon(fresh_db, mastodon, "corner")
    parts = ["Mon to Fri: 8 to 18", "Saturday: 9 to 13", "Sunday: closed", "Holidays: see the door"]
    sign_in(page)
    page.goto("/compose")
    page.check("input[value=corner]")
    page.fill("#text", "Our opening hours, a thread")
    page.fill("#firstComment", "Questions? Ask below")
    for n, part in enumerate(parts[:3]):  # the boxes the page offers without JavaScript
        page.fill(f"#thread{n}", part)
    page.locator("#counters-thread2 li[data-platform=mastodon]").filter(
        has_text=f"mastodon: {len(parts[2])} / 500 characters"
    ).wait_for()
    page.focus("#add-part")
    page.keyboard.press("Enter")  # a fourth box, focused, with its own counter
    page.keyboard.type(parts[3])
    page.locator("#counters-thread3 li[data-platform=mastodon]").filter(
        has_text=f"mastodon: {len(parts[3])} / 500 characters"
    ).wait_for()
    when = (utcnow() + timedelta(days=2)).replace(hour=9, minute=30)
    page.fill("#scheduledAt", when.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#timeZone", "UTC")
    page.click("#schedule")
    page.wait_for_url("**/posts/*")
    parent = fresh_db["posts"].find_one({"parentId": {"$exists": False}})
    assert parent is not None and parent["status"] == "scheduled"
    below = list(fresh_db["posts"].find({"followUp": "thread"}).sort("part", 1))
    assert [(p["part"], p["content"]["text"], p["status"]) for p in below] == [
        (n + 1, part, "waiting") for n, part in enumerate(parts)
    ]
    assert [p["parentId"] for p in below] == [parent["_id"]] + [p["_id"] for p in below[:-1]]
    comment = fresh_db["posts"].find_one({"followUp": "comment"})
    assert comment is not None and comment["status"] == "waiting"
    assert comment["parentId"] == parent["_id"]
    waits = "waits for the part before it"
    listed = [f"Thread part {n}: {waits}" for n in range(1, 5)] + [f"First comment: {waits}"]
    assert page.inner_text("#follow-ups").splitlines() == listed
    # Due now: one run sends the post, then each part in order, and the comment.
    page.fill("#move-form input[name=scheduledAt]", utcnow().strftime("%Y-%m-%dT%H:%M"))
    page.click("#move-form button")
    settings = load_settings(
        {"MONGO_URI": mongo_uri, "MONGO_DB": fn_db_name, **mastodon_env()}  # type: ignore[dict-item]
    )
    execute_once(settings, Trigger("cli"), default_registry(settings), db=fresh_db)
    sent = [p["text"] for p in mastodon.posts()]
    # The comment answers the post itself: it goes out once the post is, beside part 1.
    assert sent.count("Questions? Ask below") == 1
    assert [t for t in sent if t != "Questions? Ask below"] == [
        "Our opening hours, a thread",
        *parts,
    ]
    page.goto(f"/posts/{parent['_id']}")
    links = page.locator("#follow-ups li a[rel=noopener]")
    assert links.count() == 5
    out = {
        p["_id"]: p["platformPostId"]
        for p in fresh_db["posts"].find({"parentId": {"$exists": True}})
    }
    for n, follow_up in enumerate([*below, comment]):
        assert links.nth(n).get_attribute("href") == (
            f"{mastodon.url}/@corner/{out[follow_up['_id']]}"
        )
    assert page.inner_text("#follow-ups").count("published") == 5
