"""A Cloud Tasks stand-in speaking the REST surface google-cloud-tasks uses (transport="rest").

    python -m devstack.cloudtasks --port 8123 [--min-backoff 0.5 --max-backoff 8 --max-attempts 10]

There is no Cloud Tasks emulator to be had here, so this follows Google's documented shapes:
CreateTask (`POST /v2/{parent}/tasks`, body `{"task": {...}}`; a name used before answers HTTP
409 with `{"error": {"code": 409, "status": "ALREADY_EXISTS", ...}}`), GetTask and DeleteTask
(`/v2/{name}`, 404 `NOT_FOUND`). A task is dispatched at its `scheduleTime` as an HTTP request
to `httpRequest.url` with its body and an `Authorization: Bearer` OIDC token signed by this
process (RS256, `iss` https://accounts.google.com, `aud`, `email`, `email_verified`), waiting
for the answer up to the task's `dispatchDeadline` (15 s to 30 min, as Cloud Tasks allows for
HTTP targets; 10 minutes when unset); any answer but 2xx is retried with doubling backoff. Its
signing certificates are served at `/_cloudtasks/certs` in the shape of Google's v1 certs
document, so the Cloud Run front (devstack/cloudrun.py) verifies them as Cloud Run does, only
against this URL; `POST /_cloudtasks/sign` signs any claims with the same key (tests of refused
tokens). A `dispatchDeadline` outside that range is refused with 400 INVALID_ARGUMENT.
Development only.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import heapq
import itertools
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from werkzeug.wrappers import Request, Response

from devstack.loopback import serve_until_interrupted
from devstack.processes import free_port, listening

ISSUER = "https://accounts.google.com"
CERTS_PATH = "/_cloudtasks/certs"
SIGN_PATH = "/_cloudtasks/sign"
TOMBSTONE_SECONDS = 3600  # Cloud Tasks refuses a name for about an hour after the task ended


@dataclass(order=True)
class _Pending:
    ready_at: float
    seq: int
    name: str = field(compare=False)


# Cloud Tasks' dispatch deadline for HTTP targets: default, least and most.
DEFAULT_DEADLINE_SECONDS = 600.0
MIN_DEADLINE_SECONDS = 15.0
MAX_DEADLINE_SECONDS = 1800.0


@dataclass
class _Task:
    name: str
    http: dict[str, Any]
    schedule_time: str
    create_time: str
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    dispatch_count: int = 0
    response_count: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "httpRequest": self.http,
            "scheduleTime": self.schedule_time,
            "createTime": self.create_time,
            "dispatchDeadline": f"{self.deadline_seconds:g}s",
            "dispatchCount": self.dispatch_count,
            "responseCount": self.response_count,
            "view": "BASIC",
        }


def _error(code: int, status: str, message: str) -> Response:
    body = {"error": {"code": code, "message": message, "status": status}}
    return Response(json.dumps(body), code, content_type="application/json")


def _rfc3339(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat().replace("+00:00", "Z")


def _deadline(raw: object) -> float | None:
    """A `dispatchDeadline` as JSON carries it (a Duration, "600s"); None when out of range or
    not a duration."""
    if raw is None:
        return DEFAULT_DEADLINE_SECONDS
    if not isinstance(raw, str) or not raw.endswith("s"):
        return None
    try:
        seconds = float(raw[:-1])
    except ValueError:
        return None
    return seconds if MIN_DEADLINE_SECONDS <= seconds <= MAX_DEADLINE_SECONDS else None


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class _Signer:
    """An RSA key with a self-signed certificate: signs OIDC-shaped tokens, publishes its cert."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cloudtasks-stand-in")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()

    def token(self, audience: str, email: str) -> str:
        """An ID token with the claims Google puts in the ones Cloud Tasks sends."""
        now = int(time.time())
        subject = str(uuid.uuid5(uuid.NAMESPACE_DNS, email).int)[:21]  # the account's unique id
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "azp": subject,
            "email": email,
            "email_verified": True,
            "sub": subject,
            "iat": now,
            "exp": now + 3600,
        }
        return self.sign(claims)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


class CloudTasksStandIn:
    """The WSGI app and its dispatcher thread."""

    def __init__(self, min_backoff: float, max_backoff: float, max_attempts: int) -> None:
        self.min_backoff, self.max_backoff, self.max_attempts = (
            min_backoff,
            max_backoff,
            max_attempts,
        )
        self.signer = _Signer()
        self.tasks: dict[str, _Task] = {}
        self.ended: dict[str, float] = {}  # name -> when it ran or was deleted
        self.pending: list[_Pending] = []
        self.seq = itertools.count()
        self.guard = threading.Condition()
        self.http = requests.Session()
        self.pool = ThreadPoolExecutor(max_workers=64)
        self.counts = {"created": 0, "already_exists": 0, "dispatched": 0, "retried": 0}
        threading.Thread(target=self._dispatch_loop, daemon=True).start()

    # --- REST --------------------------------------------------------------------------------

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        return self._route(Request(environ))(environ, start_response)

    def _route(self, request: Request) -> Response:
        path = request.path
        if path == CERTS_PATH:
            return Response(json.dumps({self.signer.kid: self.signer.cert_pem}), 200)
        if path == SIGN_PATH:
            return self._sign(request)
        if path == "/_cloudtasks/stats":
            with self.guard:
                return Response(json.dumps({**self.counts, "queued": len(self.tasks)}), 200)
        if not path.startswith("/v2/projects/"):
            return _error(404, "NOT_FOUND", f"no such path: {path}")
        resource = path[len("/v2/") :]
        if request.method == "POST" and resource.endswith("/tasks"):
            return self._create(resource[: -len("/tasks")], request)
        if "/tasks/" in resource and request.method == "GET":
            return self._get(resource)
        if "/tasks/" in resource and request.method == "DELETE":
            return self._delete(resource)
        return _error(404, "NOT_FOUND", f"no method for {request.method} {path}")

    def _create(self, parent: str, request: Request) -> Response:
        try:
            task = (request.get_json(force=True) or {})["task"]
            http = dict(task["httpRequest"])
            url = http["url"]
        except (KeyError, TypeError, ValueError):
            return _error(400, "INVALID_ARGUMENT", "task.httpRequest.url is required")
        if not isinstance(url, str) or not url.startswith("http://127.0.0.1"):
            return _error(400, "INVALID_ARGUMENT", "the stand-in dispatches to loopback only")
        deadline = _deadline(task.get("dispatchDeadline"))
        if deadline is None:
            return _error(400, "INVALID_ARGUMENT", "dispatchDeadline must be between 15s and 1800s")
        name = task.get("name") or f"{parent}/tasks/{uuid.uuid4().int}"
        if not name.startswith(parent + "/tasks/"):
            return _error(400, "INVALID_ARGUMENT", "task name must be in the parent queue")
        now = time.time()
        schedule = task.get("scheduleTime") or _rfc3339(now)
        with self.guard:
            ended = self.ended.get(name)
            if name in self.tasks or (ended is not None and now - ended < TOMBSTONE_SECONDS):
                self.counts["already_exists"] += 1
                return _error(409, "ALREADY_EXISTS", "Requested entity already exists")
            created = _Task(name, http, schedule, _rfc3339(now), deadline)
            self.tasks[name] = created
            heapq.heappush(self.pending, _Pending(_epoch(schedule), next(self.seq), name))
            self.counts["created"] += 1
            self.guard.notify()
        return Response(json.dumps(created.to_json()), 200, content_type="application/json")

    def _sign(self, request: Request) -> Response:
        """Development control: any claims signed with this signer's key (for tests of the
        tokens Cloud Run refuses: expired, another audience, another account)."""
        if request.method != "POST":
            return Response("", 405, headers={"Allow": "POST"})
        claims = request.get_json(force=True, silent=True)
        if not isinstance(claims, dict):
            return _error(400, "INVALID_ARGUMENT", "the body must be a JSON object of claims")
        return Response(json.dumps({"token": self.signer.sign(claims)}), 200)

    def _get(self, name: str) -> Response:
        with self.guard:
            task = self.tasks.get(name)
        if task is None:
            return _error(404, "NOT_FOUND", "Requested entity was not found.")
        return Response(json.dumps(task.to_json()), 200, content_type="application/json")

    def _delete(self, name: str) -> Response:
        with self.guard:
            if self.tasks.pop(name, None) is None:
                return _error(404, "NOT_FOUND", "Requested entity was not found.")
            self.ended[name] = time.time()
        return Response("{}", 200, content_type="application/json")

    # --- dispatch ----------------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        while True:
            with self.guard:
                while not self.pending or self.pending[0].ready_at > time.time():
                    wait = self.pending[0].ready_at - time.time() if self.pending else None
                    self.guard.wait(timeout=wait)
                item = heapq.heappop(self.pending)
                task = self.tasks.get(item.name)
                if task is None:
                    continue  # deleted
                task.dispatch_count += 1
                self.counts["dispatched"] += 1
            self.pool.submit(self._attempt, task)

    def _attempt(self, task: _Task) -> None:
        http = task.http
        oidc = http.get("oidcToken") or {}
        headers = dict(http.get("headers") or {})
        headers["User-Agent"] = "Google-Cloud-Tasks"
        headers["X-CloudTasks-TaskName"] = task.name.rsplit("/", 1)[-1]
        headers["X-CloudTasks-TaskRetryCount"] = str(task.dispatch_count - 1)
        if oidc:
            audience = oidc.get("audience") or http["url"]
            email = oidc.get("serviceAccountEmail", "")
            headers["Authorization"] = f"Bearer {self.signer.token(audience, email)}"
        body = base64.b64decode(http.get("body", "") or "")
        try:
            answer = self.http.post(
                http["url"], data=body, headers=headers, timeout=task.deadline_seconds
            )
            succeeded = 200 <= answer.status_code < 300
        except requests.RequestException:
            succeeded = False
        with self.guard:
            task.response_count += 1
            if succeeded or task.dispatch_count >= self.max_attempts:
                self.tasks.pop(task.name, None)
                self.ended[task.name] = time.time()
                return
            backoff = min(self.max_backoff, self.min_backoff * 2 ** (task.dispatch_count - 1))
            self.counts["retried"] += 1
            heapq.heappush(self.pending, _Pending(time.time() + backoff, next(self.seq), task.name))
            self.guard.notify()


@contextlib.contextmanager
def running(
    min_backoff: float = 0.2, max_backoff: float = 2.0, max_attempts: int = 20
) -> Iterator[str]:
    """A stand-in process on a free loopback port; yields its base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "devstack.cloudtasks",
        "--port",
        str(port),
        "--min-backoff",
        str(min_backoff),
        "--max-backoff",
        str(max_backoff),
        "--max-attempts",
        str(max_attempts),
    ]
    with listening(command, port, "cloudtasks") as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.cloudtasks")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--min-backoff", type=float, default=0.5)
    parser.add_argument("--max-backoff", type=float, default=8.0)
    parser.add_argument("--max-attempts", type=int, default=10)
    args = parser.parse_args()
    app = CloudTasksStandIn(args.min_backoff, args.max_backoff, args.max_attempts)
    serve_until_interrupted(app, args.port, "cloudtasks: stand-in")


if __name__ == "__main__":
    main()
