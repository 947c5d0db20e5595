"""Serve the functions with functions-framework, as real processes on free loopback ports."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import requests
from pymongo import MongoClient
from pymongo.database import Database

from common.db import ensure_indexes
from devstack import cloudrun, cloudtasks
from devstack.processes import free_port, stop, wait_until_listening

ROOT = Path(__file__).resolve().parent.parent
RUN_SOURCE = ROOT / "functions" / "run" / "main.py"
STATUS_SOURCE = ROOT / "functions" / "status" / "main.py"
RECORDING_SOURCE = ROOT / "tests" / "fnhost" / "run_recording.py"
JWT_SECRET = "jwt-secret-for-tests-" + "s" * 32
ADMIN_KEY = "admin-key-for-tests-" + "k" * 32
AUDIENCE = "social-scheduler"
ISSUER = "https://auth.example.test"
ALLOWED_ORIGIN = "https://admin.example.test"
START_TIMEOUT_SECONDS = 30.0
# Settings a function process must never inherit from the test process.
_SETTING_NAMES = ("MONGO_URI", "MONGO_DB", "JWT_SECRET", "ADMIN_SECRET_KEY", "EVENTS_TOPIC")


@dataclass(frozen=True)
class Served:
    url: str
    output: Path
    pid: int

    def resident_kib(self) -> int:
        """VmRSS of the function process and its children (gunicorn serves from a worker)."""
        return sum(_resident_kib(pid) for pid in _process_tree(self.pid))

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines the function wrote to stdout so far."""
        lines = []
        for raw in self.output.read_text().splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(raw))
        return lines


def _process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(p for child in children for p in _process_tree(int(child)))]


def _resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def function_env(mongo_uri: str, db_name: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SETTING_NAMES}
    env.update(
        {
            "MONGO_URI": mongo_uri,
            "MONGO_DB": db_name,
            "MONGO_TIMEOUT_MS": "2000",
            "JWT_SECRET": JWT_SECRET,
            "JWT_AUDIENCE": AUDIENCE,
            "JWT_ISSUER": ISSUER,
            "ADMIN_SECRET_KEY": ADMIN_KEY,
            "CORS_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
            "PRIVATE_ADDRESSES_ALLOWED": "on",  # test media is served by the sandboxes, on loopback
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(settings)
    return env


@contextlib.contextmanager
def serve(
    target: str, source: Path, env: Mapping[str, str], workdir: Path, port: int | None = None
) -> Iterator[Served]:
    """functions-framework serving `target` from `source` on 127.0.0.1 until the block ends,
    on `port` when the caller needs its URL beforehand (a publish function's own task URL)."""
    port = port or free_port()
    output = workdir / f"{target}-{port}.log"
    command = [
        str(Path(sys.executable).with_name("functions-framework")),
        "--target",
        target,
        "--source",
        str(source),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with output.open("w") as out, (workdir / f"{target}-{port}.err").open("w") as err:
        proc = subprocess.Popen(command, env=dict(env), stdout=out, stderr=err, cwd=ROOT)
    try:
        wait_until_listening(proc, port, "functions-framework")
        yield Served(f"http://127.0.0.1:{port}", output, proc.pid)
    finally:
        stop(proc)


@dataclass(frozen=True)
class InvokerCheck:
    """Cloud Run's invoker check on a service: who may call it, with tokens for which audience,
    signed by the Cloud Tasks stand-in at `standin`."""

    standin: str
    invoker: str
    audience: str


def id_claims(audience: str, email: str, /, **overrides: Any) -> dict[str, Any]:
    """The claims of a Google ID token for `email`, valid for an hour from now, overridden."""
    now = int(time.time())
    return {
        "iss": "https://accounts.google.com",
        "aud": audience,
        "email": email,
        "email_verified": True,
        "sub": "1234567890",
        "iat": now,
        "exp": now + 3600,
        **overrides,
    }


def id_token(standin: str, audience: str, email: str, /, **overrides: Any) -> str:
    """A Google-shaped ID token for `email`, signed by the stand-in whose certificates the Cloud
    Run front trusts (as Google signs the tokens of Cloud Tasks and of gcloud), claims
    overridden."""
    claims = id_claims(audience, email, **overrides)
    answer = requests.post(f"{standin}{cloudtasks.SIGN_PATH}", json=claims, timeout=5)
    token: str = answer.json()["token"]
    return token


@contextlib.contextmanager
def serve_fronted(
    target: str, source: Path, env: Mapping[str, str], workdir: Path, port: int, check: InvokerCheck
) -> Iterator[Served]:
    """`serve`, behind the Cloud Run front (devstack/cloudrun.py) listening on `port`: callers
    reach the function only with the invoker's token, which arrives without its signature."""
    with serve(target, source, env, workdir) as served:
        service = cloudrun.Service(target, port, served.url, (check.invoker,), (check.audience,))
        with cloudrun.running([service], check.standin + cloudtasks.CERTS_PATH):
            yield replace(served, url=f"http://127.0.0.1:{port}")


@pytest.fixture(scope="module")
def fn_db_name() -> str:
    return f"fn_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def fn_db(mongo_uri: str, fn_db_name: str) -> Iterator[Database[Any]]:
    """The database the module's function processes use; emptied before each test by fresh_db."""
    client: MongoClient[Any] = MongoClient(mongo_uri, tz_aware=True)
    yield client[fn_db_name]
    client.drop_database(fn_db_name)
    client.close()


@pytest.fixture
def fresh_db(fn_db: Database[Any]) -> Database[Any]:
    for name in fn_db.list_collection_names():
        fn_db.drop_collection(name)
    ensure_indexes(fn_db)
    return fn_db


@pytest.fixture(scope="module")
def fn_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("functions")
