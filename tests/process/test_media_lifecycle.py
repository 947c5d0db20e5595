"""Media lifecycle: abandoned uploads expire; items no unfinished post uses are deleted after the
retention period (objects and record); items a scheduled post still carries are kept. The daily
Cloud Scheduler job's message makes the run function sweep; a tick never does."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pymongo.database import Database

from common import media_records
from common.clock import utcnow
from common.db import Doc
from common.operations import media
from common.operations.admission import Admission
from common.operations.creating import schedule_one
from common.operations.scheduling import PostRequest
from common.storage import MediaBucket, StorageConfig
from devstack.storage import LocalStorage
from tests.cloudevents_helpers import binary_event
from tests.conftest import add_account
from tests.functions_fixtures import RUN_SOURCE, Served, function_env, serve
from tests.media_support import image

RETENTION = timedelta(days=30)
EXPIRY = timedelta(hours=24)


def bucket_of(served: LocalStorage) -> MediaBucket:
    return MediaBucket(
        StorageConfig(
            served.bucket, served.emulator_url, served.front_url, None, str(served.key_file)
        )
    )


def uploaded(db: Database[Doc], bucket: MediaBucket, path: Path, account: str) -> str:
    data = path.read_bytes()
    request = media.UploadRequest(
        (account,), "image/png", len(data), hashlib.sha256(data).hexdigest()
    )
    made = media.create_upload(db, bucket, request, "test", utcnow())
    assert isinstance(made, media.Upload) and made.upload_url
    requests.put(made.upload_url, data=data, timeout=30)
    done = media.complete_upload(db, bucket, made.item.id, utcnow())
    assert isinstance(done, media_records.MediaItem) and done.state == "ready"
    return done.id


def test_the_sweep_deletes_unused_and_abandoned_media_and_keeps_what_posts_use(
    db: Database[Doc], storage_server: LocalStorage, tmp_path: Path
) -> None:
    bucket = bucket_of(storage_server)
    add_account(db, "ig", "instagram")
    used = uploaded(db, bucket, image(tmp_path / "a.png", (600, 600), "PNG"), "ig")
    unused = uploaded(db, bucket, image(tmp_path / "b.png", (700, 700), "PNG"), "ig")
    later = (utcnow() + timedelta(days=90)).isoformat()
    post = schedule_one(
        db,
        PostRequest("ig", later, media=[{"mediaId": used}], text="kept"),
        utcnow(),
        Admission(timedelta(days=1)),
    )
    assert not hasattr(post, "problems"), post
    data = b"never finished"
    abandoned = media.create_upload(
        db,
        bucket,
        media.UploadRequest(("ig",), "image/png", 100, hashlib.sha256(data).hexdigest()),
        "t",
        utcnow(),
    )
    assert isinstance(abandoned, media.Upload)
    unused_objects = media_records.all_objects(media_records.get(db, unused))  # type: ignore[arg-type]
    assert len(unused_objects) == 2  # the original and Instagram's JPEG

    soon = media.sweep(db, bucket, utcnow(), retention=RETENTION, upload_expiry=EXPIRY)
    assert (soon.expired_uploads, soon.deleted, soon.kept) == (0, 0, 0)
    much_later = utcnow() + RETENTION + timedelta(days=1)
    report = media.sweep(db, bucket, much_later, retention=RETENTION, upload_expiry=EXPIRY)
    assert (report.expired_uploads, report.deleted, report.kept) == (1, 1, 1)
    assert media_records.get(db, unused) is None and media_records.get(db, used) is not None
    assert all(bucket.stat(name) is None for name in unused_objects)
    assert media_records.get(db, abandoned.item.id) is None
    again = media.sweep(db, bucket, much_later, retention=RETENTION, upload_expiry=EXPIRY)
    assert (again.expired_uploads, again.deleted, again.kept) == (0, 0, 0)  # touched: next period


@pytest.fixture(scope="module")
def tick_fn(
    mongo_uri: str, fn_db_name: str, fn_workdir: Path, storage_server: LocalStorage
) -> Iterator[Served]:
    env = function_env(mongo_uri, fn_db_name, **storage_server.settings())
    with serve("on_tick", RUN_SOURCE, env, fn_workdir) as served:
        yield served


def deliver(served: Served, kind: str) -> requests.Response:
    """A Pub/Sub message as Eventarc delivers it, its data as the Cloud Scheduler job sends."""
    headers, body = binary_event()
    event = json.loads(body)
    event["message"]["data"] = base64.b64encode(json.dumps({"kind": kind}).encode()).decode()
    return requests.post(served.url, headers=headers, data=json.dumps(event), timeout=60)


def test_the_daily_sweep_message_expires_an_abandoned_upload_and_a_tick_does_not(
    tick_fn: Served, fresh_db: Database[Any], storage_server: LocalStorage
) -> None:
    bucket = bucket_of(storage_server)
    add_account(fresh_db, "ig", "instagram")
    data = b"never finished"
    request = media.UploadRequest(("ig",), "image/png", 100, hashlib.sha256(data).hexdigest())
    two_days_ago = utcnow() - timedelta(days=2)
    abandoned = media.create_upload(fresh_db, bucket, request, "t", two_days_ago)
    assert isinstance(abandoned, media.Upload)

    assert deliver(tick_fn, "tick").status_code == 200
    assert media_records.get(fresh_db, abandoned.item.id) is not None
    assert deliver(tick_fn, "media-sweep").status_code == 200
    assert media_records.get(fresh_db, abandoned.item.id) is None
    swept = [line for line in tick_fn.output.read_text().splitlines() if "media swept" in line]
    assert len(swept) == 1 and json.loads(swept[0])["expiredUploads"] == 1
