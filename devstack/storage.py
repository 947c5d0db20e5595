"""Cloud Storage locally: the gcp-storage-emulator process and a front that checks signed URLs.

The emulator (gcp-storage-emulator from PyPI) serves the JSON and upload APIs the real
`google-cloud-storage` client speaks, including server-created resumable sessions; it was chosen
over fake-gcs-server because it installs with pip like the rest of the stack (no Go build). It
ignores signatures, as fake-gcs-server does, so signed GETs go to the front below instead: it
verifies a V4 signature (GOOG4-RSA-SHA256) against the public half of the RSA key that stands in
for the functions' service account, refuses an expired or tampered URL with Cloud Storage's
status and error code, and streams the object from the emulator.

    python -m devstack.storage --port P --front-port F --bucket media --key .data/media-signer.json
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import subprocess
import sys
from binascii import Error as BinasciiError
from binascii import unhexlify
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from common.entrypoints.local_stack import parent_death_signal
from devstack.processes import free_port, stop, wait_until_listening

ALGORITHM = "GOOG4-RSA-SHA256"
MAX_EXPIRES_SECONDS = 7 * 24 * 3600  # V4 signed URLs last at most 7 days
SIGNER_EMAIL = "media-signer@local.iam.gserviceaccount.com"
_CHUNK = 256 * 1024


def emulator_command(port: int, bucket: str, data_dir: Path | None) -> list[str]:
    """The emulator on loopback with the bucket made; on disk under data_dir, else in memory."""
    exe = str(Path(sys.executable).with_name("gcp-storage-emulator"))
    store = ["-d", str(data_dir)] if data_dir else []
    memory = [] if data_dir else ["--in-memory"]
    return [
        exe,
        *store,
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--default-bucket",
        bucket,
        "--quiet",
        *memory,
    ]


def signing_key(path: Path) -> Path:
    """A service-account key file (JSON) standing in for the functions' account; made once."""
    if path.exists():
        return path
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "client_email": SIGNER_EMAIL,
        "private_key": pem,
        "private_key_id": "local",
        "token_uri": "http://127.0.0.1/unused",  # never called: the key signs locally
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(info))
    return path


def _public_key(path: Path) -> rsa.RSAPublicKey:
    info = json.loads(path.read_text())
    key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.public_key()


class RefusedError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def verify(
    public_key: rsa.RSAPublicKey,
    path: str,
    query: Iterable[tuple[str, str]],
    host: str,
    now: datetime,
) -> None:
    """Raise RefusedError unless the query signs a GET of `path` on `host`, unexpired at `now`."""
    params = list(query)
    named = dict(params)
    needed = ("X-Goog-Algorithm", "X-Goog-Credential", "X-Goog-Date", "X-Goog-Expires")
    if any(name not in named for name in (*needed, "X-Goog-SignedHeaders", "X-Goog-Signature")):
        raise RefusedError(
            400, "MissingSecurityHeader", "a signed URL needs every X-Goog- parameter"
        )
    if named["X-Goog-Algorithm"] != ALGORITHM:
        raise RefusedError(400, "InvalidArgument", "unsupported signing algorithm")
    try:
        signed_at = datetime.strptime(named["X-Goog-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(named["X-Goog-Expires"])
        signature = unhexlify(named["X-Goog-Signature"])
    except (ValueError, BinasciiError) as exc:
        raise RefusedError(400, "InvalidArgument", "malformed X-Goog- parameter") from exc
    if not 1 <= expires <= MAX_EXPIRES_SECONDS:
        raise RefusedError(400, "InvalidArgument", "X-Goog-Expires must be 1 to 604800 seconds")
    if now > signed_at + timedelta(seconds=expires):
        raise RefusedError(400, "ExpiredToken", "Invalid argument: the signed URL has expired")
    string_to_sign = _string_to_sign(path, params, host, named)
    try:
        public_key.verify(signature, string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise RefusedError(
            403, "SignatureDoesNotMatch", "the request signature does not match"
        ) from exc


def _string_to_sign(
    path: str, params: list[tuple[str, str]], host: str, named: Mapping[str, str]
) -> str:
    """Cloud Storage's V4 canonical request, hashed into the string that was signed."""
    if named["X-Goog-SignedHeaders"] != "host":
        # The URLs this project signs name only the host; anything else was not ours.
        raise RefusedError(403, "SignatureDoesNotMatch", "unexpected signed headers")
    canonical_query = "&".join(
        f"{_encode(k)}={_encode(v)}" for k, v in sorted(params) if k != "X-Goog-Signature"
    )
    canonical_request = "\n".join(
        [
            "GET",
            quote(path, safe="/~"),
            canonical_query,
            f"host:{host}\n",
            "host",
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = named["X-Goog-Credential"].split("/", 1)[-1]
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    return "\n".join([ALGORITHM, named["X-Goog-Date"], scope, digest])


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


class SignedUrlFront:
    """WSGI: GET /<bucket>/<object>?X-Goog-... verified, then streamed from the emulator."""

    def __init__(self, emulator_url: str, key_file: Path) -> None:
        self._emulator = emulator_url.rstrip("/")
        self._public_key = _public_key(key_file)
        self._http = requests.Session()

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self._serve(request)
        return response(environ, start_response)

    def _serve(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _error(RefusedError(405, "MethodNotAllowed", "only signed GETs are served here"))
        try:
            verify(
                self._public_key,
                request.path,
                request.args.items(multi=True),
                request.host,
                datetime.now(UTC),
            )
        except RefusedError as refused:
            return _error(refused)
        upstream = self._http.get(
            f"{self._emulator}{quote(request.path, safe='/~')}", stream=True, timeout=30
        )
        if upstream.status_code != 200:
            upstream.close()
            return _error(RefusedError(404, "NoSuchKey", "The specified key does not exist."))
        headers = {"Content-Type": upstream.headers.get("Content-Type", "application/octet-stream")}
        if "Content-Length" in upstream.headers:
            headers["Content-Length"] = upstream.headers["Content-Length"]
        body = upstream.iter_content(_CHUNK) if request.method == "GET" else []
        return Response(body, status=200, headers=headers, direct_passthrough=True)


def _error(refused: RefusedError) -> Response:
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{refused.code}</Code><Message>{refused.message}</Message></Error>"
    )
    return Response(body, status=refused.status, content_type="application/xml")


@dataclass(frozen=True)
class LocalStorage:
    """A running emulator and front, and the settings that point the functions at them."""

    emulator_url: str
    front_url: str
    bucket: str
    key_file: Path

    def settings(self) -> dict[str, str]:
        return {
            "MEDIA_BUCKET": self.bucket,
            "STORAGE_EMULATOR_HOST": self.emulator_url,
            "MEDIA_URL_ENDPOINT": self.front_url,
            "MEDIA_SIGNING_KEY_FILE": str(self.key_file),
        }


def start(
    port: int, front_port: int, bucket: str, key_file: Path, data_dir: Path | None = None
) -> subprocess.Popen[str]:
    """The emulator and the front as one process group (stopping it stops both)."""
    command = [
        sys.executable,
        "-m",
        "devstack.storage",
        *("--port", str(port), "--front-port", str(front_port)),
        *("--bucket", bucket, "--key", str(signing_key(key_file))),
        *(("--data-dir", str(data_dir)) if data_dir else ()),
    ]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
        preexec_fn=parent_death_signal(),  # noqa: PLW1509 (a kill of the stack ends it too)
    )
    wait_until_listening(proc, front_port, "storage front")
    return proc


@contextlib.contextmanager
def running(key_file: Path, bucket: str = "media") -> Iterator[LocalStorage]:
    """An in-memory emulator and its front on free loopback ports, for the block."""
    port, front_port = free_port(), free_port()
    proc = start(port, front_port, bucket, key_file)
    try:
        yield LocalStorage(
            f"http://127.0.0.1:{port}", f"http://127.0.0.1:{front_port}", bucket, key_file
        )
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="the emulator's port")
    parser.add_argument("--front-port", type=int, required=True, help="the signed-URL front's")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--key", type=Path, required=True, help="the stand-in signer's key file")
    parser.add_argument("--data-dir", type=Path, help="keep objects here (default: in memory)")
    args = parser.parse_args()
    emulator = subprocess.Popen(
        emulator_command(args.port, args.bucket, args.data_dir),
        preexec_fn=parent_death_signal(),  # noqa: PLW1509 (it ends with the front)
    )
    wait_until_listening(emulator, args.port, "storage emulator")
    front = SignedUrlFront(f"http://127.0.0.1:{args.port}", args.key)
    server = make_server("127.0.0.1", args.front_port, front, threaded=True)
    try:
        server.serve_forever()
    finally:
        emulator.terminate()
        emulator.wait()


if __name__ == "__main__":
    main()
