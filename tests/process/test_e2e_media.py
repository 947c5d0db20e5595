"""Media from disk to every network, end to end: a 12 MP HEIC photo, a large PNG and a 50 MB
video named in a CSV file, uploaded by the CLI (remote mode) through the real api process into
the Cloud Storage emulator, scheduled for Instagram, Threads, Bluesky and Mastodon, and published
by a run from the bucket (Meta gets signed URLs that the front verifies; Bluesky and Mastodon
uploads stream through them)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image
from pymongo.database import Database

from common import apikeys
from common.clock import utcnow
from common.engine import Trigger, execute_once
from common.platforms.registry import default_registry
from devstack.sandbox.control import BlueskySandbox, MastodonSandbox, Sandbox
from devstack.storage import LocalStorage
from tests.bluesky_support import bluesky_env, connect_bluesky
from tests.conftest import SettingsFactory
from tests.functions_fixtures import ADMIN_KEY, ROOT, Served, function_env, serve
from tests.mastodon_support import connect_mastodon
from tests.media_support import image, video
from tests.meta_support import connect, meta_env

API_SOURCE = ROOT / "functions" / "api" / "main.py"
TIMEOUT = 120


@pytest.fixture(scope="module")
def api_fn(
    mongo_uri: str, fn_db_name: str, fn_workdir: Path, storage_server: LocalStorage
) -> Iterator[Served]:
    env = function_env(mongo_uri, fn_db_name, **storage_server.settings())
    with serve("api", API_SOURCE, env, fn_workdir) as served:
        yield served


def api(served: Served, method: str, path: str, body: Any = None) -> Any:
    answer = requests.request(
        method,
        served.url + path,
        json=body,
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=TIMEOUT,
    )
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def socialsched(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "common.entrypoints.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def uploaded(served: Served, db: Database[Any], filename: str) -> dict[str, Any]:
    """The item the CLI uploaded from `filename`, as the api shows it."""
    (doc,) = db.media.find({"filename": filename})
    item: dict[str, Any] = api(served, "GET", f"/v1/media/{doc['_id']}")["media"]
    assert item["state"] == "ready", item["problems"]
    return item


def test_uploaded_media_are_published_on_every_network_with_their_converted_copies(
    api_fn: Served,
    fresh_db: Database[Any],
    fn_db_name: str,
    make_settings: SettingsFactory,
    storage_server: LocalStorage,
    sandbox: Sandbox,
    bluesky: BlueskySandbox,
    mastodon: MastodonSandbox,
    tmp_path: Path,
) -> None:
    connect(fresh_db, sandbox, "ig", "instagram")
    connect(fresh_db, sandbox, "threads", "threads")
    connect_bluesky(fresh_db, bluesky, "sky")
    connect_mastodon(fresh_db, mastodon, "masto")
    heic = image(tmp_path / "IMG_0001.HEIC", (4000, 3000), "HEIF", orientation=3, gps=True)
    png = image(tmp_path / "scan.png", (1600, 1200), "PNG", noise=True)
    clip = video(tmp_path / "clip.mp4", 10.0, (720, 1280), total_bytes=50_000_000)

    plan = tmp_path / "plan.csv"
    plan.write_text(  # paths relative to the CSV's folder
        "account,at,text,media\n"
        f"ig,now,a photo,{heic.name}\n"
        f"ig,now,a scan,{png.name}\n"
        f"threads,now,a reel,{clip.name}\n"
        f"sky,now,two,{heic.name} ./{png.name}\n"
        f"masto,now,a video,{clip.name}\n"
    )
    key = apikeys.create(fresh_db, "cli", ["posts:write", "posts:read"], utcnow()).secret
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO", "MEDIA_"))}
    remote = {**base, "SOCIALSCHED_API_URL": api_fn.url, "SOCIALSCHED_API_KEY": key}

    imported = socialsched(remote, "--json", "import", str(plan))

    assert imported.returncode == 0, imported.stderr
    ids = [row["id"] for row in json.loads(imported.stdout)["created"]]
    assert len(ids) == 5 and fresh_db.media.count_documents({}) == 3  # each file once
    photo = uploaded(api_fn, fresh_db, "IMG_0001.HEIC")
    scan = uploaded(api_fn, fresh_db, "scan.png")
    reel = uploaded(api_fn, fresh_db, "clip.mp4")
    assert (photo["accountIds"], reel["accountIds"]) == (["ig", "sky"], ["masto", "threads"])
    assert (photo["mediaType"], photo["width"], photo["height"]) == ("image/heic", 4000, 3000)
    assert photo["variants"]["clean"]["mediaType"] == "image/jpeg"  # HEIC made JPEG, upright
    assert scan["variants"]["instagram"]["mediaType"] == "image/jpeg"
    assert scan["variants"]["bluesky"]["bytes"] <= 2_000_000 < scan["bytes"]
    assert (reel["codec"], reel["bytes"], reel["durationSeconds"]) == ("h264", 50_000_000, 10.0)
    env = {
        **meta_env(sandbox),
        **bluesky_env(bluesky),
        **storage_server.settings(),
        "MONGO_DB": fn_db_name,
        "IG_MAX_WAIT_SECONDS": "5",
        # 50 MB fetched and uploaded on a shared machine: the 1 s test timeouts are too short.
        "META_READ_TIMEOUT_SECONDS": "60",
        "NETWORK_READ_TIMEOUT_SECONDS": "60",
    }
    settings = make_settings(**env)
    execute_once(settings, Trigger("manual"), default_registry(settings), db=fresh_db)

    statuses = {str(d["_id"]): d["status"] for d in fresh_db.posts.find()}
    errors = [d.get("lastError") for d in fresh_db.posts.find()]
    assert [statuses[i] for i in ids] == ["published"] * 5, errors
    meta_posts = {p["text"]: p for p in sandbox.posts()}
    containers = sandbox.containers()
    for text in ("a photo", "a scan"):
        (container,) = meta_posts[text]["media"]
        url = containers[container]["image_url"]
        fetched = requests.get(url, timeout=TIMEOUT)  # as Meta fetches it: signed, verified
        assert fetched.status_code == 200
        with Image.open(io.BytesIO(fetched.content)) as sent:
            assert sent.format == "JPEG" and not sent.getexif().get_ifd(0x8825)
    assert requests.get(url.split("?")[0], timeout=TIMEOUT).status_code == 400  # never public
    (sky_post,) = bluesky.posts()
    assert sky_post["media"] == ["", ""]  # both images stored by the PDS (<= 2,000,000 bytes)
    (masto_post,) = mastodon.posts()
    assert masto_post["media"] == [""]  # the video, streamed from the bucket
