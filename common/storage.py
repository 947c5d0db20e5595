"""Cloud Storage: the media bucket (resumable upload sessions, streaming reads, V4 signed GETs).

The only module that talks to Cloud Storage. Upload sessions are created here, server-side, so a
client streams its bytes straight to the bucket without Google credentials of its own. Signed
URLs are signed through the IAM `signBlob` API with the function's own service account (a
function has no key file); the local stack signs with an RSA key standing in for that account,
and its front verifies the signatures as Cloud Storage does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from common.config import Settings

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

GOOGLE_STORAGE_ENDPOINT = "https://storage.googleapis.com"
# Reads come in pieces of this size: a large object never sits in memory whole.
READ_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StorageConfig:
    """The part of Settings the bucket needs."""

    bucket: str
    emulator_host: str | None = None  # the local stack's emulator; None: Google
    url_endpoint: str = GOOGLE_STORAGE_ENDPOINT  # where signed URLs point
    signing_account: str | None = None  # signBlob as this account (production)
    signing_key_file: str | None = field(default=None, repr=False)  # the local stand-in's key


@dataclass(frozen=True)
class StoredObject:
    name: str
    size: int
    content_type: str


class MediaBucket:
    """The deployment's media bucket."""

    def __init__(self, config: StorageConfig) -> None:
        self._config = config
        self._bucket: Bucket = _client(config).bucket(config.bucket)
        self._credentials: Any = None  # the function's own, for signBlob; refreshed when stale

    def upload_session(self, name: str, content_type: str, size: int, origin: str | None) -> str:
        """A resumable upload session URL for exactly `size` bytes; the client PUTs to it.

        `origin` (the web app's) lets a browser upload across origins (the bucket's CORS rule)."""
        blob = self._bucket.blob(name)
        url: str = blob.create_resumable_upload_session(
            content_type=content_type, size=size, origin=origin
        )
        return url

    def stat(self, name: str) -> StoredObject | None:
        blob = self._bucket.get_blob(name)
        if blob is None:
            return None
        return StoredObject(name, int(blob.size or 0), str(blob.content_type or ""))

    def chunks(self, name: str) -> Iterator[bytes]:
        """The object's bytes, a piece at a time."""
        with self._bucket.blob(name).open("rb", chunk_size=READ_CHUNK_BYTES) as reader:
            while piece := reader.read(READ_CHUNK_BYTES):
                yield piece

    def read_range(self, name: str, start: int, length: int) -> bytes:
        """Up to `length` bytes from `start` (fewer at the end): one ranged read."""
        blob = self._bucket.blob(name)
        data: bytes = blob.download_as_bytes(start=start, end=start + length - 1)
        return data

    def download_to(self, name: str, target: IO[bytes]) -> None:
        for piece in self.chunks(name):
            target.write(piece)

    def put_file(self, name: str, path: Path, content_type: str) -> None:
        self._bucket.blob(name).upload_from_filename(str(path), content_type=content_type)

    def delete(self, name: str) -> bool:
        """False when the object was already gone (a repeated sweep)."""
        from google.api_core.exceptions import NotFound  # noqa: PLC0415 (lazy, as the client)

        try:
            self._bucket.blob(name).delete()
        except NotFound:
            return False
        return True

    def signed_get_url(self, name: str, ttl: timedelta) -> str:
        """A V4 signed GET URL valid for `ttl` from now (at most 7 days, Google's limit)."""
        blob = self._bucket.blob(name)
        url: str = blob.generate_signed_url(
            version="v4",
            method="GET",
            expiration=ttl,
            api_access_endpoint=self._config.url_endpoint,
            **self._signing(),
        )
        return url

    def _signing(self) -> dict[str, Any]:
        """With the stand-in's key locally, else through IAM signBlob as the function's own
        service account (MEDIA_SIGNING_ACCOUNT, or the account the credentials belong to)."""
        config = self._config
        if config.signing_key_file:
            return {"credentials": _key_credentials(config.signing_key_file)}
        import google.auth  # noqa: PLC0415
        import google.auth.transport.requests  # noqa: PLC0415

        if self._credentials is None:
            self._credentials, _ = google.auth.default()
        if not self._credentials.valid:
            self._credentials.refresh(google.auth.transport.requests.Request())
        # Compute credentials learn their account's email on the first refresh.
        email = config.signing_account or getattr(self._credentials, "service_account_email", "")
        if not email or email == "default":
            raise StorageConfigError("MEDIA_SIGNING_ACCOUNT is needed to sign media URLs")
        return {"service_account_email": email, "access_token": self._credentials.token}


def _client(config: StorageConfig) -> Any:
    # Imported here: only the functions that handle media pay for the client's import.
    from google.cloud import storage  # noqa: PLC0415

    if config.emulator_host:
        from google.auth.credentials import AnonymousCredentials  # noqa: PLC0415

        return storage.Client(
            project="local",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": config.emulator_host},
        )
    return storage.Client()


def _key_credentials(path: str) -> Any:
    from google.oauth2 import service_account  # noqa: PLC0415

    return service_account.Credentials.from_service_account_file(path)  # type: ignore[no-untyped-call]


class StorageConfigError(RuntimeError):
    """The deployment cannot sign media URLs (no account configured)."""


def storage_config(settings: Settings) -> StorageConfig | None:
    """None when the deployment has no media bucket (media uploads are then refused)."""
    if not settings.media_bucket:
        return None
    return StorageConfig(
        bucket=settings.media_bucket,
        emulator_host=settings.storage_emulator_host,
        url_endpoint=settings.media_url_endpoint,
        signing_account=settings.media_signing_account,
        signing_key_file=settings.media_signing_key_file,
    )
