"""Media from disk to every network, end to end: a 12 MP HEIC photo, a large PNG and a 50 MB
video uploaded through the real api process into the Cloud Storage emulator, scheduled for
Instagram, Threads, Bluesky and Mastodon, and published by a run from the bucket (Meta gets
signed URLs that the front verifies; Bluesky and Mastodon uploads stream through them)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image
from pymongo.database import Database

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


def upload(served: Served, path: Path, accounts: list[str], mime: str) -> dict[str, Any]:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    body = {"accountIds": accounts, "mediaType": mime, "size": path.stat().st_size}
    created = api(served, "POST", "/v1/media", {**body, "sha256": digest})
    with path.open("rb") as data:
        put = requests.put(created["uploadUrl"], data=data, timeout=TIMEOUT)
    assert put.status_code in (200, 201)
    done = api(served, "POST", f"/v1/media/{created['media']['id']}:complete")
    item: dict[str, Any] = done["media"]
    assert item["state"] == "ready", item["problems"]
    return item


def schedule(served: Served, account: str, media: list[dict[str, str]], text: str) -> str:
    body = {"accountId": account, "scheduledAt": "now", "text": text, "media": media}
    made: dict[str, Any] = api(served, "POST", "/v1/posts", body)
    return str(made["id"])


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

    photo = upload(api_fn, heic, ["ig", "sky"], "image/heic")
    scan = upload(api_fn, png, ["ig", "sky"], "image/png")
    reel = upload(api_fn, clip, ["threads", "masto"], "video/mp4")
    assert (photo["mediaType"], photo["width"], photo["height"]) == ("image/heic", 4000, 3000)
    assert photo["variants"]["clean"]["mediaType"] == "image/jpeg"  # HEIC made JPEG, upright
    assert scan["variants"]["instagram"]["mediaType"] == "image/jpeg"
    assert scan["variants"]["bluesky"]["bytes"] <= 2_000_000 < scan["bytes"]
    assert (reel["codec"], reel["bytes"], reel["durationSeconds"]) == ("h264", 50_000_000, 10.0)

    ids = [
        schedule(api_fn, "ig", [{"mediaId": photo["id"]}], "a photo"),
        schedule(api_fn, "ig", [{"mediaId": scan["id"]}], "a scan"),
        schedule(api_fn, "threads", [{"mediaId": reel["id"]}], "a reel"),
        schedule(
            api_fn, "sky", [{"mediaId": photo["id"], "alt": "p"}, {"mediaId": scan["id"]}], "two"
        ),
        schedule(api_fn, "masto", [{"mediaId": reel["id"], "alt": "moving"}], "a video"),
    ]
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
    assert sky_post["media"] == ["p", ""]  # both images stored by the PDS (<= 2,000,000 bytes)
    (masto_post,) = mastodon.posts()
    assert masto_post["media"] == ["moving"]  # the video, streamed from the bucket
