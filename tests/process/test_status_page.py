"""The status page for people: same figures as the JSON, rendered by a real headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pymongo.database import Database

from common import stats
from common.clock import utcnow
from common.entrypoints import status_page
from common.lock import STATE_ID
from common.status import (
    HealthFigures,
    History,
    PlatformFigures,
    QueueFigures,
    SchedulerFigures,
    StatusReport,
)
from tests.conftest import add_account
from tests.functions_fixtures import STATUS_SOURCE, Served, function_env, serve
from tests.process.test_status import insert_post

TIMEOUT = 30
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def status_fn(mongo_uri: str, fn_db_name: str, fn_workdir: Path) -> Iterator[Served]:
    # Every test here reads its own database state: no report is kept between requests.
    env = function_env(mongo_uri, fn_db_name, STATUS_CACHE_SECONDS="0")
    with serve("status", STATUS_SOURCE, env, fn_workdir) as s:
        yield s


def stalled_scheduler(db: Database[Any]) -> None:
    """Seven minutes without a run, three accounts to re-authenticate, a day of history."""
    now = utcnow()
    add_account(db, "fb-1")
    for name in ("fb-2", "fb-3", "ig-1"):
        add_account(db, name, platform="instagram" if name == "ig-1" else "facebook")
        db["accounts"].update_one({"_id": name}, {"$set": {"status": "needs_reauth"}})
    # The history counts by clock hour: mid-hour times land in the same slot at any minute.
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    for hours_ago, count in ((1, 3), (5, 2)):
        for _ in range(count):
            at = this_hour - timedelta(hours=hours_ago) + timedelta(minutes=30)
            insert_post(db, "published", now - at, publishedAt=at)
            stats.count_published(db, at, at)
    failed_at = this_hour - timedelta(hours=2) + timedelta(minutes=30)
    insert_post(db, "failed", timedelta(hours=2), updatedAt=failed_at)
    stats.count_failed(db, failed_at)
    db["scheduler_state"].insert_one(
        {
            "_id": STATE_ID,
            "lastRunAt": now - timedelta(minutes=7, seconds=5),
            "lastRunDuration": 0.5,
            "lastRunStatus": "ok",
            "totalExecutions": 17,
            "totalPostsPublished": 5,
            "totalPostsFailed": 1,
        }
    )


def report_with(
    *,
    operational: bool,
    last_run_age: float | None,
    needs_reauth: dict[str, int],
    failed: int = 0,
    unknown: int = 0,
    database_available: bool = True,
) -> StatusReport:
    """A report with the figures the plain words read; the rest is a quiet scheduler's."""
    now = utcnow()
    return StatusReport(
        version="test",
        operational=operational,
        database_available=database_available,
        meta_connected=True,
        platforms={name: PlatformFigures(1, n) for name, n in needs_reauth.items()},
        scheduler=SchedulerFigures(now, 0.5, "ok", 1, 0, 0, False, None, None),
        queue=QueueFigures(due=0, scheduled=0, failed=failed, unknown=unknown),
        health=HealthFigures(0.0, last_run_age, None),
        history_24h=History((0,) * 24, (0,) * 24),
        checked_at=now,
    )


def test_the_plain_words_say_what_is_wrong() -> None:
    stalled = report_with(
        operational=False, last_run_age=421.0, needs_reauth={"facebook": 2, "instagram": 1}
    )
    assert status_page.plain_state(stalled.to_dict()) == [
        "no run for 7 minutes",
        "3 accounts need re-authentication (facebook 2; instagram 1)",
    ]
    named = replace(
        stalled,
        platforms={
            "facebook": PlatformFigures(1, 2, ("fb-2", "fb-3")),
            "instagram": PlatformFigures(0, 1, ("ig-1",)),
        },
    )
    assert status_page.plain_state(named.to_dict())[1] == (
        "3 accounts need re-authentication (facebook: fb-2, fb-3; instagram: ig-1)"
    )
    healthy = report_with(operational=True, last_run_age=20.0, needs_reauth={"facebook": 0})
    assert status_page.plain_state(healthy.to_dict()) == ["operational"]
    failing = replace(healthy, queue=replace(healthy.queue, failed=2, unknown=1))
    assert status_page.plain_state(failing.to_dict()) == [
        "operational",
        "1 post in unknown state",
        "2 failed posts",
    ]
    assert status_page.plain_state(replace(stalled, database_available=False).to_dict()) == [
        "database unavailable"
    ]


def test_a_browser_gets_a_self_contained_page_and_other_clients_json(
    status_fn: Served, fresh_db: Database[Any]
) -> None:
    stalled_scheduler(fresh_db)
    page = requests.get(status_fn.url, headers={"Accept": BROWSER}, timeout=TIMEOUT)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Vary"] == "Accept"
    html = page.text.lower()
    for forbidden in ("<script", "src=", "href=", "@import", "url("):
        assert forbidden not in html
    for private in ("confidential launch text", "not-a-real-token", "fb-1", "ig-1", "mongodb://"):
        assert private not in page.text
    assert '<meta http-equiv="refresh" content="30">' in page.text
    plain = requests.get(status_fn.url, timeout=TIMEOUT)
    assert plain.headers["Content-Type"].startswith("application/json")
    history = plain.json()["history24h"]
    # Clock hours, oldest first: the three posts went out four hours after the two.
    three, two = history["published"].index(3), history["published"].index(2)
    assert three - two == 4 and three in (24 - 1 - 1, 24 - 1 - 2)
    assert sum(history["published"]) == 5 and sum(history["failed"]) == 1


def test_an_operational_page_with_accounts_to_reauthenticate_is_a_warning_naming_none() -> None:
    """Public: the page counts them by platform and says where they are named, in the warning
    colour (green is for nothing to do)."""
    reauth = report_with(operational=True, last_run_age=20.0, needs_reauth={"instagram": 1})
    page = status_page.render(reauth)
    assert '<p class="state warn" id="state">' in page
    assert "operational; 1 account needs re-authentication (instagram 1)" in page
    assert "<code>socialsched status</code>" in page
    quiet = report_with(operational=True, last_run_age=20.0, needs_reauth={"instagram": 0})
    assert '<p class="state good" id="state">' in status_page.render(quiet)
    assert "socialsched status" not in status_page.render(quiet)


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium is not installed (make bootstrap installs Debian's package as root)")
    return path


def test_chromium_renders_the_figures_and_the_chart(
    status_fn: Served, fresh_db: Database[Any], tmp_path: Path
) -> None:
    browser = _chromium()
    stalled_scheduler(fresh_db)
    profile = tmp_path / "profile"
    dom = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", status_fn.url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert (
        "no run for 7 minutes; 3 accounts need re-authentication (facebook 2; instagram 1); "
        "1 failed post"
    ) in dom
    assert "<th>runs</th><td>17</td>" in dom
    assert "<th>posts published</th><td>5</td>" in dom
    assert "<th>facebook accounts</th><td>1 connected, 2 need re-auth</td>" in dom
    assert dom.count('<rect class="ok"') == 24 and dom.count('<rect class="bad"') == 24
    assert "<title>2-3 h ago: 1 failed</title>" in dom
    assert "<title>1-2 h ago: 3 published</title>" in dom
    shot = tmp_path / "status.png"
    subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=900,1100",
            status_fn.url,
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
