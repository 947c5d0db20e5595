"""The media bucket through the real google-cloud-storage client against the emulator, and
signed URLs checked by the local front as Cloud Storage checks them."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from common import media_reading
from common.media_probe import probe
from common.media_rules import MediaFacts, MediaProblem
from common.storage import MediaBucket, StorageConfig
from devstack import storage as local_storage
from tests.media_support import video


@pytest.fixture
def bucket(storage_server: local_storage.LocalStorage) -> MediaBucket:
    return MediaBucket(
        StorageConfig(
            bucket=storage_server.bucket,
            emulator_host=storage_server.emulator_url,
            url_endpoint=storage_server.front_url,
            signing_key_file=str(storage_server.key_file),
        )
    )


def _upload(bucket: MediaBucket, name: str, data: bytes) -> None:
    session = bucket.upload_session(name, "image/jpeg", len(data), origin=None)
    half = len(data) // 2
    first = requests.put(
        session,
        data=data[:half],
        headers={"Content-Range": f"bytes 0-{half - 1}/{len(data)}"},
        timeout=30,
    )
    assert first.status_code == 308  # resume incomplete: the session waits for the rest
    rest = requests.put(
        session,
        data=data[half:],
        headers={"Content-Range": f"bytes {half}-{len(data) - 1}/{len(data)}"},
        timeout=30,
    )
    assert rest.status_code in (200, 201)


def test_a_server_created_resumable_session_takes_the_clients_bytes(bucket: MediaBucket) -> None:
    data = os.urandom(600_000)
    _upload(bucket, "uploads/one.bin", data)
    stored = bucket.stat("uploads/one.bin")
    assert stored is not None and stored.size == len(data)
    assert stored.content_type == "image/jpeg"
    pieces = list(bucket.chunks("uploads/one.bin"))
    assert hashlib.sha256(b"".join(pieces)).digest() == hashlib.sha256(data).digest()
    assert bucket.delete("uploads/one.bin") is True
    assert bucket.delete("uploads/one.bin") is False
    assert bucket.stat("uploads/one.bin") is None


def test_a_signed_url_serves_the_object_through_the_front(bucket: MediaBucket) -> None:
    data = os.urandom(4096)
    _upload(bucket, "media/abc/original", data)
    url = bucket.signed_get_url("media/abc/original", timedelta(minutes=5))
    assert url.startswith(served_front(bucket))
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200
    assert answer.content == data


def served_front(bucket: MediaBucket) -> str:
    return bucket._config.url_endpoint  # what the URLs must point at


def _with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_a_tampered_signed_url_is_refused(bucket: MediaBucket) -> None:
    _upload(bucket, "media/t/original", b"secret bytes")
    _upload(bucket, "media/u/original", b"other bytes")
    url = bucket.signed_get_url("media/t/original", timedelta(minutes=5))
    longer = requests.get(_with(url, **{"X-Goog-Expires": "604800"}), timeout=10)
    other_object = requests.get(url.replace("/media/t/", "/media/u/"), timeout=10)
    unsigned = requests.get(url.split("?")[0], timeout=10)
    assert (longer.status_code, other_object.status_code) == (403, 403)
    assert "SignatureDoesNotMatch" in longer.text and "SignatureDoesNotMatch" in other_object.text
    assert unsigned.status_code == 400
    assert b"secret" not in longer.content + other_object.content + unsigned.content


def test_an_expired_signed_url_is_refused(bucket: MediaBucket) -> None:
    _upload(bucket, "media/e/original", b"short-lived")
    url = bucket.signed_get_url("media/e/original", timedelta(seconds=1))
    deadline = int(dict(parse_qsl(urlsplit(url).query))["X-Goog-Expires"])
    time.sleep(deadline + 1.1)  # past the URL's lifetime by the signature's own clock
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 400
    assert "ExpiredToken" in answer.text


def test_a_key_that_is_not_the_accounts_cannot_sign(
    bucket: MediaBucket, storage_server: local_storage.LocalStorage, tmp_path: Path
) -> None:
    _upload(bucket, "media/k/original", b"keyed")
    impostor = MediaBucket(
        StorageConfig(
            bucket=storage_server.bucket,
            emulator_host=storage_server.emulator_url,
            url_endpoint=storage_server.front_url,
            signing_key_file=str(local_storage.signing_key(tmp_path / "other.json")),
        )
    )
    url = impostor.signed_get_url("media/k/original", timedelta(minutes=5))
    assert requests.get(url, timeout=10).status_code == 403


def test_a_video_is_checked_from_its_streamed_hash_and_its_two_edges_only(
    bucket: MediaBucket, tmp_path: Path
) -> None:
    clip = video(tmp_path / "clip.mp4", 4.0, total_bytes=3 * media_reading.VIDEO_EDGE_BYTES)
    data = clip.read_bytes()
    _upload(bucket, "edges", data)
    digest = hashlib.sha256(data).hexdigest()

    copy = media_reading.read_for_check(bucket, "edges", len(data), digest, tmp_path / "copy")

    assert isinstance(copy, media_reading.LocalCopy)
    kept = copy.path.stat().st_blocks * 512  # the sparse copy's allocated bytes
    assert kept <= 2 * media_reading.VIDEO_EDGE_BYTES + 64 * 1024 < len(data)
    facts = probe(copy.path)
    assert isinstance(facts, MediaFacts)
    assert (facts.mime, facts.bytes, facts.duration_seconds, facts.codec) == (
        "video/mp4",
        len(data),
        4.0,
        "h264",
    )
    wrong = media_reading.read_for_check(bucket, "edges", len(data), "0" * 64, tmp_path / "x")
    assert wrong == MediaProblem("sha256", "the bytes uploaded are not the file declared")
