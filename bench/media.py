"""Media benchmark: memory of an upload and of the publish path, and database commands per item.

    python bench/media.py [--upload-mb 200] [--items 5] [--json]

Needs MONGO_URI (`make bench` starts a server). Starts the Cloud Storage emulator and its front
(devstack.storage) and serves the real api function in this process, so a pymongo
CommandListener sees its commands. Figures:

- upload_peak_rss_mb: peak resident memory of `socialsched posts add --media <file>` (remote
  mode, its own process) uploading a file of --upload-mb (goal <= 80: streamed, never held).
- commands_per_media_item: database commands from POST /v1/media to a `ready` item (goal <= 4).
- publish_peak_rss_mb: peak resident memory of a run (its own process) publishing one Mastodon
  post of four 10 MB images from the bucket (goal <= 150).
- check_peak_rss_mb: peak resident memory of the api's `complete` (its own process) checking
  the --upload-mb video: hashed as it streams, only its two edges kept (common.media_reading);
  check_kept_mb is what that check wrote to its temporary directory (memory in a function).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
from pymongo import MongoClient, monitoring

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import mongo_uri, serve_function
from bench.engine import CommandCounter
from common import accounts, apikeys
from common.clock import utcnow
from common.db import ensure_indexes
from devstack import storage as local_storage
from devstack.sandbox import control as sandbox_control
from tests.mastodon_support import connect_mastodon
from tests.media_support import image, video
from tests.meta_support import TOKEN_KEY

ADMIN_KEY = "bench-admin-key-" + "x" * 32
TIMEOUT = 600


def upload(api: str, path: Path, account: str, mime: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    data = path.read_bytes()
    body = {
        "accountIds": [account],
        "mediaType": mime,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    made = requests.post(f"{api}/v1/media", json=body, headers=headers, timeout=TIMEOUT).json()
    requests.put(made["uploadUrl"], data=data, timeout=TIMEOUT)
    done = requests.post(
        f"{api}/v1/media/{made['media']['id']}:complete", headers=headers, timeout=TIMEOUT
    )
    item: dict[str, Any] = done.json()["media"]
    assert item["state"] == "ready", item
    return item


class AuditCounter(monitoring.CommandListener):
    """The api's audit entries, one per request: counted apart from the media work."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert" and event.command.get("insert") == "audit":
            self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def commands_per_item(
    api: str, counter: CommandCounter, audits: AuditCounter, work: Path, items: int
) -> tuple[float, float]:
    """(media commands, audit entries) per item from create to ready, after one warm-up upload
    (the instance's first request creates the indexes)."""
    upload(api, image(work / "warm.jpg", (700, 700)), "bench-ig", "image/jpeg")
    paths = [image(work / f"c{i}.jpg", (800 + i, 800)) for i in range(items)]
    before, audits_before = counter.count, audits.count
    for path in paths:
        upload(api, path, "bench-ig", "image/jpeg")
    audit = (audits.count - audits_before) / items
    return (counter.count - before) / items - audit, audit


def peak_child_rss_mb(command: list[str], env: dict[str, str]) -> float:
    """Peak resident memory of this one child process: its VmHWM (the kernel's high-water
    mark), read until it exits."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
        peak_kib = 0
        while proc.poll() is None:
            peak_kib = max(peak_kib, _high_water_kib(proc.pid))
            time.sleep(0.02)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(err.read()[-2000:])
    return peak_kib / 1024


def _high_water_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:  # it exited between poll() and the read
        pass
    return 0


def upload_rss(api: str, db: Any, work: Path, size_mb: int) -> float:
    clip = video(work / "big.mp4", 10.0, (720, 1280), total_bytes=size_mb * 1024 * 1024)
    key = apikeys.create(db, "bench", ["posts:write", "posts:read"], utcnow()).secret
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO", "MEDIA_"))}
    env.update(SOCIALSCHED_API_URL=api, SOCIALSCHED_API_KEY=key, PYTHONPATH=str(ROOT))
    when = (utcnow() + timedelta(days=7)).isoformat()
    command = [sys.executable, "-m", "common.entrypoints.cli", "posts", "add"]
    command += ["--account", "bench-ig", "--at", when, "--media", str(clip)]
    return peak_child_rss_mb(command, env)


def publish_rss(
    api: str, db: Any, uri: str, db_name: str, work: Path, extra: dict[str, str]
) -> float:
    with sandbox_control.running_mastodon() as mastodon:
        connect_mastodon(db, mastodon, "bench-masto")
        items = [
            upload(
                api,
                image(work / f"p{i}.png", (1830 + i, 1830), "PNG", noise=True),
                "bench-masto",
                "image/png",
            )
            for i in range(4)
        ]
        body = {
            "accountId": "bench-masto",
            "scheduledAt": "now",
            "text": "four photos",
            "media": [{"mediaId": item["id"]} for item in items],
        }
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        requests.post(
            f"{api}/v1/posts", json=body, headers=headers, timeout=TIMEOUT
        ).raise_for_status()
        env = {
            **os.environ,
            **extra,
            "MONGO_URI": uri,
            "MONGO_DB": db_name,
            "PYTHONPATH": str(ROOT),
        }
        env["NETWORK_READ_TIMEOUT_SECONDS"] = "60"
        command = [sys.executable, str(Path(__file__).resolve()), "--publish-child"]
        peak = peak_child_rss_mb(command, env)
        assert len(mastodon.posts()) == 1, "the post was not published"
        return peak


def check_rss(
    db: Any, uri: str, db_name: str, work: Path, extra: dict[str, str]
) -> tuple[float, float]:
    """Peak RSS (MB) of `complete` on a fresh upload of the big video (uploaded here first),
    and the MB its check kept on disk."""
    from common.entrypoints.cli.uploads import describe, put_resumable  # noqa: PLC0415
    from common.operations import media  # noqa: PLC0415
    from common.storage import MediaBucket, storage_config  # noqa: PLC0415

    local = describe(work / "big.mp4")
    settings = _settings({**extra, "MONGO_URI": uri, "MONGO_DB": db_name})
    config = storage_config(settings)
    assert config is not None
    request = media.UploadRequest(("bench-ig",), local.mime, local.size, local.sha256)
    made = media.create_upload(db, MediaBucket(config), request, "bench-check", utcnow())
    assert isinstance(made, media.Upload)
    if made.upload_url is None:  # the CLI's upload of the same bytes: check it anew
        db.media.update_one({"_id": made.item.id}, {"$set": {"state": "uploading"}})
    else:
        put_resumable(made.upload_url, local)
    env = {**os.environ, **extra, "MONGO_URI": uri, "MONGO_DB": db_name, "PYTHONPATH": str(ROOT)}
    env["TMPDIR"] = str(work / "check-tmp")
    Path(env["TMPDIR"]).mkdir(exist_ok=True)
    kept_file = work / "check-kept.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--check-child", made.item.id]
    peak = peak_child_rss_mb([*command, "--kept-file", str(kept_file)], env)
    return peak, json.loads(kept_file.read_text())["keptBytes"] / (1024 * 1024)


def _settings(env: dict[str, str]) -> Any:
    from common.config import load_settings  # noqa: PLC0415

    return load_settings(env)


def check_child(media_id: str, kept_file: Path) -> int:
    """The api's `complete` in this process, reporting the bytes its check kept on disk."""
    import common.media_reading as reading  # noqa: PLC0415
    from common.config import load_settings  # noqa: PLC0415
    from common.db import get_database  # noqa: PLC0415
    from common.operations import media  # noqa: PLC0415
    from common.storage import MediaBucket, storage_config  # noqa: PLC0415

    kept = 0
    original = reading.read_for_check

    def measured(*args: Any) -> Any:
        nonlocal kept
        copy = original(*args)
        if isinstance(copy, reading.LocalCopy):
            kept = copy.path.stat().st_blocks * 512
        return copy

    reading.read_for_check = measured  # type: ignore[assignment]
    settings = load_settings()
    config = storage_config(settings)
    assert config is not None
    done = media.complete_upload(get_database(settings), MediaBucket(config), media_id, utcnow())
    assert not isinstance(done, media.MediaRefused) and done.state == "ready", done
    kept_file.write_text(json.dumps({"keptBytes": kept}))
    return 0


def publish_child() -> int:
    """One run in this process: what the run function does on a tick."""
    from common.config import load_settings  # noqa: PLC0415
    from common.engine import Trigger, execute_once  # noqa: PLC0415
    from common.platforms.registry import default_registry  # noqa: PLC0415

    settings = load_settings()
    execute_once(settings, Trigger("manual"), default_registry(settings))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upload-mb", type=int, default=200)
    parser.add_argument("--items", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--publish-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--check-child", help=argparse.SUPPRESS)
    parser.add_argument("--kept-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish_child:
        return publish_child()
    if args.check_child:
        return check_child(args.check_child, args.kept_file)
    uri = mongo_uri(parser)
    counter, audits = CommandCounter(), AuditCounter()
    monitoring.register(counter)  # before any client exists, so the function's is counted too
    monitoring.register(audits)
    db_name = f"bench_media_{uuid.uuid4().hex[:8]}"
    client: MongoClient[Any] = MongoClient(uri, tz_aware=True)
    db = client[db_name]
    ensure_indexes(db)
    for account_id, platform in (("bench-ig", "instagram"),):
        accounts.create(
            db,
            account_id=account_id,
            platform=platform,
            external_id=account_id,
            name=account_id,
            token_ciphertext="unused",
            token_expires_at=None,
            now=utcnow(),
        )
    with (
        tempfile.TemporaryDirectory() as tmp,
        local_storage.running(Path(tmp) / "key.json") as served,
    ):
        work = Path(tmp)
        extra = {**served.settings(), "TOKEN_ENCRYPTION_KEY": TOKEN_KEY}
        env = {"MONGO_URI": uri, "MONGO_DB": db_name, "ADMIN_SECRET_KEY": ADMIN_KEY, **extra}
        api, _ = serve_function("api", env)
        per_item, audit_per_item = commands_per_item(api, counter, audits, work, args.items)
        publish_mb = publish_rss(api, db, uri, db_name, work, extra)
        upload_mb = upload_rss(api, db, work, args.upload_mb)
        check_mb, kept_mb = check_rss(db, uri, db_name, work, extra)
    client.drop_database(db_name)
    figures = {
        "upload_peak_rss_mb": round(upload_mb, 1),
        "upload_mb": args.upload_mb,
        "commands_per_media_item": round(per_item, 2),
        "audit_entries_per_media_item": round(audit_per_item, 2),
        "publish_peak_rss_mb": round(publish_mb, 1),
        "check_peak_rss_mb": round(check_mb, 1),
        "check_kept_mb": round(kept_mb, 1),
        "goals": {
            "upload_peak_rss_mb": 80,
            "commands_per_media_item": 4,
            "publish_peak_rss_mb": 150,
        },
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            if name != "goals":
                print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
