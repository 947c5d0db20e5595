"""Screenshots of the web app's pages for docs/ (`make screenshots`), so they stay current.

    python -m devstack.screenshots [--out docs]

Needs MONGO_URI (`make screenshots` starts a server) and Chromium (scripts/ensure-chromium.sh).
Serves the web function under functions-framework on loopback with a throw-away database of
five accounts and a month of posts in every state, signs in as an admin session, and saves
one PNG per page with headless Chromium (Playwright).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database

from common import accounts, audit, model
from common.clock import ScheduledTime, utcnow
from common.db import Doc, ensure_indexes
from common.operations import series as series_ops
from common.operations.scheduling import PostRequest
from common.posts import store
from devstack.processes import free_port, stop, wait_until_listening

ROOT = Path(__file__).resolve().parent.parent
PAGES = {
    "web-calendar-month.png": "/calendar",
    "web-calendar-week.png": "/calendar?view=week",
    "web-compose.png": "/compose",
    "web-post.png": "/posts/{published}",
    "web-post-unknown.png": "/posts/{unknown}",
    "web-approvals.png": "/approvals",
    "web-series.png": "/series",
    "web-accounts.png": "/accounts",
    "web-status.png": "/status",
}
UNUSABLE = "(screenshots: nothing is ever sent)"
TEXTS = (
    "Spring sale starts Monday: 20% off everything",
    "Behind the scenes at the workshop",
    "Our opening hours over the holidays",
    "New in: the linen collection",
    "Thank you for 10,000 followers!",
)


def seed(db: Database[Doc]) -> dict[str, str]:
    """Five accounts and three weeks of posts around today; the ids of two posts to show."""
    ensure_indexes(db)
    now = utcnow()
    names = [
        ("fb-shop", "facebook", "Corner Shop"),
        ("ig-shop", "instagram", "Corner Shop (Instagram)"),
        ("threads-shop", "threads", "@cornershop"),
        ("bsky-shop", "bluesky", "cornershop.bsky.social"),
        ("masto-shop", "mastodon", "cornershop@mastodon.social"),
    ]
    for account_id, platform, name in names:
        accounts.create(
            db,
            account_id=account_id,
            platform=platform,
            external_id=account_id,
            name=name,
            token_ciphertext=UNUSABLE,
            token_expires_at=now + timedelta(days=5) if platform == "threads" else None,
            now=now,
        )
    made: list[ObjectId] = []
    for n in range(24):
        account_id, platform, _ = names[n % len(names)]
        due = (now + timedelta(days=n - 9, hours=(n * 5) % 9)).replace(minute=0, second=0)
        text = TEXTS[n % len(TEXTS)]
        media = (model.Media("https://example.com/linen.jpg", alt="Linen shirts"),)
        content = model.Content(text=text, media=media if platform == "instagram" else ())
        made.append(
            store.create(
                db,
                account_id=account_id,
                platform=platform,
                content=content,
                when=ScheduledTime.utc(due),
                now=now - timedelta(days=12),
                group_id=f"g{n // 5}",
            )
        )
    _plan(db, made, now)
    return _settle_past(db, made, now)


def _plan(db: Database[Doc], made: list[ObjectId], now: Any) -> None:
    """Two future posts await approval (one sent back before), and one weekly series."""
    future = [p for p in made if (db["posts"].find_one({"_id": p}) or {})["dueAt"] > now]
    for post_id in future[-2:]:
        db["posts"].update_one({"_id": post_id}, {"$set": {"status": "pending_approval"}})
    start = (now + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    template = PostRequest(
        account_id="fb-shop",
        scheduled_at=start.replace(tzinfo=None).isoformat(),
        time_zone="Europe/Berlin",
        text="Friday special: fresh bread from the oven at nine",
    )
    series_ops.create_series(db, template, "FREQ=WEEKLY;BYDAY=FR", now)


def _settle_past(db: Database[Doc], made: list[ObjectId], now: Any) -> dict[str, str]:
    """Past posts published (one failed, one unknown), as runs would have left them."""
    shown: dict[str, str] = {}
    for post_id in made:
        doc = db["posts"].find_one({"_id": post_id})
        assert doc is not None
        if doc["dueAt"] > now:
            continue
        at = doc["dueAt"] + timedelta(seconds=2)
        if "failed" not in shown:
            error = {"code": "permanent", "message": "(#100) The image is too small", "at": at}
            db["posts"].update_one(
                {"_id": post_id}, {"$set": {"status": "failed", "lastError": error}}
            )
            shown["failed"] = str(post_id)
        elif "unknown" not in shown:
            error = {"code": "ambiguous", "message": "timed out after the send", "at": at}
            db["posts"].update_one(
                {"_id": post_id},
                {"$set": {"status": "unknown", "lastError": error, "sendStartedAt": at}},
            )
            shown["unknown"] = str(post_id)
        else:
            remote = f"{doc['accountId']}_{100000 + len(shown)}"
            if doc["platform"] == "bluesky":
                remote = f"at://did:plc:cornershop/app.bsky.feed.post/3k{len(shown)}"
            db["posts"].update_one(
                {"_id": post_id},
                {
                    "$set": {
                        "status": "published",
                        "platformPostId": remote,
                        "publishedAt": at,
                        "sendStartedAt": at,
                        "establishedBy": "answer",
                        "attempts": 1,
                    }
                },
            )
            shown.setdefault("published", str(post_id))
            shown[f"p{len(shown)}"] = str(post_id)
    moved = audit.Entry("member:ana@example.com", "posts.move", [shown["published"]], "r1", 200)
    audit.record(db, moved, now - timedelta(days=10), 90)
    return shown


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.screenshots")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    mongo_uri = os.environ.get("MONGO_URI")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not mongo_uri or not chromium:
        print("needs MONGO_URI and chromium (make screenshots provides both)", file=sys.stderr)
        return 2
    db_name = f"screens_{uuid.uuid4().hex[:8]}"
    client: MongoClient[Doc] = MongoClient(mongo_uri, tz_aware=True)
    try:
        shown = seed(client[db_name])
        _shoot(mongo_uri, db_name, shown, chromium, args.out)
    finally:
        client.drop_database(db_name)
        client.close()
    return 0


def _shoot(mongo_uri: str, db_name: str, shown: dict[str, str], chromium: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    port = free_port()
    key = secrets.token_urlsafe(32)  # this run's admin key: signs the browser in
    env = {
        **os.environ,
        "MONGO_URI": mongo_uri,
        "MONGO_DB": db_name,
        "ADMIN_SECRET_KEY": key,
        "PYTHONPATH": str(ROOT),
    }
    command = [
        sys.executable,
        "-m",
        "functions_framework",
        "--source",
        str(ROOT / "functions" / "web" / "main.py"),
        "--target",
        "web",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_listening(proc, port, "web")
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(base + "/signin")
            page.screenshot(path=str(out / "web-signin.png"))
            page.fill("#key", key)
            page.click("button[type=submit]")
            page.wait_for_url("**/calendar")
            for name, path in PAGES.items():
                page.goto(base + path.format(**shown))
                if path == "/compose":
                    page.check("input[value=fb-shop]")
                    page.check("input[value=bsky-shop]")
                    page.fill("#text", TEXTS[0] + " — see you there!")
                    counted = re.compile(r"bluesky: [1-9]")
                    page.locator("#counters li", has_text=counted).wait_for()
                    shown_text = page.locator("#preview article[data-platform=bluesky] .shown")
                    shown_text.filter(has_text="see you there").wait_for()
                page.screenshot(path=str(out / name), full_page=True)
                print(f"wrote {out / name}")
            browser.close()
    finally:
        stop(proc)


if __name__ == "__main__":
    sys.exit(main())
