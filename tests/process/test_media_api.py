"""Uploads through the real api process and the Cloud Storage emulator: the client PUTs its bytes
to the session the api created, `complete` checks them by content; posts take the item by id."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pymongo.database import Database

from common import accounts, apikeys
from common.clock import utcnow
from common.media_rules import MastodonInstanceLimits
from devstack.storage import LocalStorage
from tests.conftest import add_account
from tests.functions_fixtures import ADMIN_KEY, ROOT, Served, function_env, serve
from tests.media_support import image

API_SOURCE = ROOT / "functions" / "api" / "main.py"
TIMEOUT = 60
LATER = (utcnow() + timedelta(days=30)).replace(microsecond=0)


@pytest.fixture(scope="module")
def api_fn(
    mongo_uri: str, fn_db_name: str, fn_workdir: Path, storage_server: LocalStorage
) -> Iterator[Served]:
    env = function_env(mongo_uri, fn_db_name, **storage_server.settings())
    with serve("api", API_SOURCE, env, fn_workdir) as served:
        yield served


def call(api: Served, method: str, path: str, body: Any = None, key: str = ADMIN_KEY) -> Any:
    return requests.request(
        method,
        api.url + path,
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=TIMEOUT,
    )


def start(api: Served, path: Path, accounts: list[str], key: str = ADMIN_KEY) -> Any:
    data = path.read_bytes()
    body = {
        "accountIds": accounts,
        "mediaType": "image/jpeg",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "filename": path.name,
    }
    return call(api, "POST", "/v1/media", body, key)


def upload(api: Served, path: Path, accounts: list[str]) -> dict[str, Any]:
    """create, PUT, complete: the item as `complete` answers it."""
    created = start(api, path, accounts)
    assert created.status_code == 201, created.text
    put = requests.put(created.json()["uploadUrl"], data=path.read_bytes(), timeout=TIMEOUT)
    assert put.status_code in (200, 201)
    media_id = created.json()["media"]["id"]
    done = call(api, "POST", f"/v1/media/{media_id}:complete")
    assert done.status_code == 200, done.text
    item: dict[str, Any] = done.json()["media"]
    return item


def test_an_uploaded_jpeg_is_ready_and_the_same_bytes_are_stored_once(
    api_fn: Served, fresh_db: Database[Any], tmp_path: Path
) -> None:
    add_account(fresh_db, "ig", "instagram")
    photo = image(tmp_path / "p.jpg", (1080, 1080))
    item = upload(api_fn, photo, ["ig"])
    assert (item["state"], item["mediaType"], item["width"], item["height"]) == (
        "ready",
        "image/jpeg",
        1080,
        1080,
    )
    assert item["problems"] == [] and item["variants"] == {}
    again = start(api_fn, photo, ["ig"])
    assert again.status_code == 200
    assert again.json()["uploadUrl"] is None
    assert again.json()["media"]["id"] == item["id"]
    assert fresh_db.media.count_documents({}) == 1


def test_completing_before_the_bytes_arrived_is_refused_and_can_be_retried(
    api_fn: Served, fresh_db: Database[Any], tmp_path: Path
) -> None:
    add_account(fresh_db, "fb", "facebook")
    photo = image(tmp_path / "p.jpg", (800, 600))
    created = start(api_fn, photo, ["fb"]).json()
    early = call(api_fn, "POST", f"/v1/media/{created['media']['id']}:complete")
    assert early.status_code == 409
    assert "PUT" in early.json()["error"]
    requests.put(created["uploadUrl"], data=photo.read_bytes(), timeout=TIMEOUT)
    late = call(api_fn, "POST", f"/v1/media/{created['media']['id']}:complete")
    assert late.json()["media"]["state"] == "ready"


def test_a_pdf_declared_as_a_jpeg_is_rejected_by_its_content(
    api_fn: Served, fresh_db: Database[Any], tmp_path: Path
) -> None:
    add_account(fresh_db, "ig", "instagram")
    pdf = tmp_path / "photo.jpg"
    pdf.write_bytes(b"%PDF-1.7\n" + b"0" * 5000)
    item = upload(api_fn, pdf, ["ig"])
    assert item["state"] == "rejected"
    assert [p["rule"] for p in item["problems"]] == ["type"]
    assert "application/pdf" in item["problems"][0]["message"]


def test_a_png_for_instagram_gets_a_jpeg_copy_and_an_exif_photo_a_clean_one(
    api_fn: Served, fresh_db: Database[Any], tmp_path: Path
) -> None:
    add_account(fresh_db, "ig", "instagram")
    add_account(fresh_db, "bsky", "bluesky")
    png = upload(api_fn, image(tmp_path / "p.png", (1000, 1000), "PNG"), ["ig", "bsky"])
    assert png["state"] == "ready"
    assert set(png["variants"]) == {"instagram"}
    assert png["variants"]["instagram"]["mediaType"] == "image/jpeg"
    turned = upload(
        api_fn, image(tmp_path / "t.jpg", (1200, 1000), orientation=6, gps=True), ["ig"]
    )
    assert (turned["width"], turned["height"]) == (1000, 1200)
    assert set(turned["variants"]) == {"clean"}


def test_each_network_rule_refuses_the_upload_and_is_named(
    api_fn: Served, fresh_db: Database[Any], tmp_path: Path
) -> None:
    add_account(fresh_db, "ig", "instagram")
    add_account(fresh_db, "masto", "mastodon")
    tall = upload(api_fn, image(tmp_path / "tall.jpg", (600, 1200)), ["ig", "masto"])
    assert tall["state"] == "rejected"
    assert [p["rule"] for p in tall["problems"]] == ["aspectRatio"]
    assert tall["problems"][0]["message"].startswith("Instagram takes images")


def test_a_mastodon_instances_own_limits_judge_the_upload_and_the_post(
    api_fn: Served, fresh_db: Database[Any], tmp_path: Path
) -> None:
    add_account(fresh_db, "masto", "mastodon")
    add_account(fresh_db, "roomy", "mastodon")
    strict = MastodonInstanceLimits(
        max_characters=500,
        max_media_attachments=4,
        image_size_limit=100_000,
        video_size_limit=1_000_000,
        description_limit=10,
        supported_mime_types=frozenset({"image/jpeg", "image/png"}),
        read_at=utcnow(),
    )
    noisy = image(tmp_path / "noisy.png", (400, 400), "PNG", noise=True)  # about 480 kB
    earlier = upload(api_fn, noisy, ["masto"])  # judged by the defaults (16 MiB): ready
    assert earlier["state"] == "ready"
    accounts.set_instance_limits(fresh_db, "masto", strict, utcnow())  # read at a check
    again = image(tmp_path / "noisy2.png", (401, 400), "PNG", noise=True)
    big = upload(api_fn, again, ["masto"])
    assert big["state"] == "rejected"
    assert [p["rule"] for p in big["problems"]] == ["size"]
    assert "at most 100,000 bytes" in big["problems"][0]["message"]
    assert upload(api_fn, again, ["roomy"])["state"] == "ready"  # another instance: defaults

    body = {
        "accountId": "masto",
        "scheduledAt": LATER.isoformat(),
        "text": "an item the instance now refuses",
        "media": [{"mediaId": earlier["id"], "alt": "ten chars."}],
    }
    refused = call(api_fn, "POST", "/v1/posts", body)
    assert refused.status_code == 400
    assert [(p["field"], p["message"].split(":")[0]) for p in refused.json()["problems"]] == [
        ("media[0]", "size")
    ]
    long_alt = {**body, "media": [{"mediaId": earlier["id"], "alt": "eleven char"}]}
    problems = call(api_fn, "POST", "/v1/posts", long_alt).json()["problems"]
    assert [(p["field"], p["message"]) for p in problems] == [
        ("media", "Mastodon alt text is limited to 10 characters on this instance")
    ]


def test_posts_take_uploaded_items_by_id_and_name_the_failing_item(
    api_fn: Served, fresh_db: Database[Any], tmp_path: Path
) -> None:
    add_account(fresh_db, "bsky", "bluesky")
    add_account(fresh_db, "other", "bluesky")
    item = upload(api_fn, image(tmp_path / "p.jpg", (800, 800)), ["bsky"])
    body = {
        "accountId": "bsky",
        "scheduledAt": LATER.isoformat(),
        "text": "with a photo",
        "media": [{"mediaId": item["id"], "alt": "a gradient"}],
    }
    made = call(api_fn, "POST", "/v1/posts", body)
    assert made.status_code == 201, made.text
    shown = call(api_fn, "GET", f"/v1/posts/{made.json()['id']}").json()
    assert shown["content"]["media"] == [
        {"mediaId": item["id"], "type": "image", "alt": "a gradient"}
    ]
    elsewhere = call(api_fn, "POST", "/v1/posts", {**body, "accountId": "other"})
    assert elsewhere.status_code == 400
    problems = elsewhere.json()["problems"]
    assert [p["field"] for p in problems] == ["media[0]"]
    too_long = {**body, "media": [{"mediaId": item["id"], "alt": "x" * 2001}]}
    refused = call(api_fn, "POST", "/v1/posts", too_long).json()["problems"]
    assert [(p["field"], p["message"].split(":")[0]) for p in refused] == [("media[0]", "altText")]


def test_a_key_limited_to_other_accounts_neither_uploads_nor_sees_the_item(
    api_fn: Served, fresh_db: Database[Any], tmp_path: Path
) -> None:
    add_account(fresh_db, "fb", "facebook")
    add_account(fresh_db, "fb2", "facebook")
    limited = apikeys.create(fresh_db, "t", ["posts:write", "posts:read"], utcnow(), ["fb2"])
    photo = image(tmp_path / "p.jpg", (800, 600))
    assert start(api_fn, photo, ["fb"], limited.secret).status_code == 403
    item = upload(api_fn, photo, ["fb"])
    assert call(api_fn, "GET", f"/v1/media/{item['id']}", key=limited.secret).status_code == 404
    assert call(api_fn, "GET", f"/v1/media/{item['id']}").json()["media"]["id"] == item["id"]


def socialsched(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "common.entrypoints.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_uploads_a_local_file_then_schedules_it_by_id_remotely_and_directly(
    api_fn: Served,
    fresh_db: Database[Any],
    fn_db_name: str,
    mongo_uri: str,
    storage_server: LocalStorage,
    tmp_path: Path,
) -> None:
    add_account(fresh_db, "ig", "instagram")
    key = apikeys.create(fresh_db, "cli", ["posts:write", "posts:read"], utcnow()).secret
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO", "MEDIA_"))}
    remote = {**base, "SOCIALSCHED_API_URL": api_fn.url, "SOCIALSCHED_API_KEY": key}
    local = {**base, "MONGO_URI": mongo_uri, "MONGO_DB": fn_db_name, **storage_server.settings()}
    when = LATER.isoformat()
    for mode, env, size in (("remote", remote, (900, 900)), ("direct", local, (800, 800))):
        png = image(tmp_path / f"{mode}.png", size, "PNG")
        added = socialsched(
            env, "posts", "add", "--account", "ig", "--at", when, "--media", str(png)
        )
        assert added.returncode == 0, added.stderr
    stored = [d["content"]["media"][0] for d in fresh_db.posts.find({"accountId": "ig"})]
    assert len(stored) == 2 and all(m["object"].endswith("/instagram") for m in stored)
    assert fresh_db.media.count_documents({"state": "ready"}) == 2
    pdf = tmp_path / "flyer.jpg"
    pdf.write_bytes(b"%PDF-1.7\n" + b"0" * 100)
    refused = socialsched(
        remote, "posts", "add", "--account", "ig", "--at", when, "--media", str(pdf)
    )
    assert refused.returncode == 2
    assert "flyer.jpg" in refused.stderr and "application/pdf" in refused.stderr


def test_a_csv_import_uploads_its_local_files_once_each_in_both_modes(
    api_fn: Served,
    fresh_db: Database[Any],
    fn_db_name: str,
    mongo_uri: str,
    storage_server: LocalStorage,
    tmp_path: Path,
) -> None:
    add_account(fresh_db, "ig", "instagram")
    add_account(fresh_db, "fb", "facebook")
    key = apikeys.create(fresh_db, "cli", ["posts:write", "posts:read"], utcnow()).secret
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO", "MEDIA_"))}
    remote = {**base, "SOCIALSCHED_API_URL": api_fn.url, "SOCIALSCHED_API_KEY": key}
    local = {**base, "MONGO_URI": mongo_uri, "MONGO_DB": fn_db_name, **storage_server.settings()}
    folder = tmp_path / "plan"
    (folder / "pics").mkdir(parents=True)
    image(folder / "a.png", (900, 900), "PNG")
    image(folder / "pics" / "b.jpg", (800, 800))
    same_as_a = folder / "pics" / "copy-of-a.png"
    same_as_a.write_bytes((folder / "a.png").read_bytes())
    at = [(LATER + timedelta(minutes=m)).isoformat() for m in range(3)]
    plan = folder / "plan.csv"
    plan.write_text(
        "account,at,text,media\n"
        f"ig,{at[0]},one,a.png\n"
        f"ig,{at[1]},two,a.png pics/b.jpg\n"
        f"fb,{at[2]},three,pics/copy-of-a.png\n"
    )

    done = socialsched(remote, "--json", "import", str(plan))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["imported"] == 3
    # a.png (and its copy) once, for both accounts that use it; b.jpg once.
    scopes = sorted(d["accountIds"] for d in fresh_db.media.find({"state": "ready"}))
    assert scopes == [["fb", "ig"], ["ig"]]
    carried = {d["content"]["text"]: d["content"]["media"] for d in fresh_db.posts.find()}
    assert [len(carried[t]) for t in ("one", "two", "three")] == [1, 2, 1]
    again = socialsched(local, "--json", "import", str(plan))  # the same file, directly
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["imported"] == 0
    assert fresh_db.media.count_documents({}) == 2 and fresh_db.posts.count_documents({}) == 3


def test_a_missing_file_in_a_csv_is_a_row_problem_before_anything_is_uploaded(
    api_fn: Served, fresh_db: Database[Any], tmp_path: Path
) -> None:
    add_account(fresh_db, "ig", "instagram")
    key = apikeys.create(fresh_db, "cli", ["posts:write", "posts:read"], utcnow()).secret
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO", "MEDIA_"))}
    remote = {**base, "SOCIALSCHED_API_URL": api_fn.url, "SOCIALSCHED_API_KEY": key}
    image(tmp_path / "here.png", (900, 900), "PNG")
    (tmp_path / "notes.txt").write_text("not a picture")
    plan = tmp_path / "plan.csv"
    plan.write_text(
        "account,at,text,media\n"
        f"ig,{LATER.isoformat()},one,here.png\n"
        f"ig,{LATER.isoformat()},two,gone.png\n"
        "\n"
        f"ig,{LATER.isoformat()},three,notes.txt\n"
    )
    refused = socialsched(remote, "import", str(plan))
    assert refused.returncode == 2
    assert "line 3: media: gone.png: no such file" in refused.stderr
    assert "line 5: media: notes.txt: not an image or a video" in refused.stderr
    assert fresh_db.media.count_documents({}) == 0 and fresh_db.posts.count_documents({}) == 0
