"""`make run` / `socialsched dev`: the whole scheduler on one machine.

Starts, on loopback ports: the MongoDB-compatible server with a data file under .data/ (or uses
MONGO_URI), the sandbox Graph API, the run function (on_tick and run_http) and the status function
under functions-framework, and a ticker that posts Pub/Sub-shaped CloudEvents to on_tick. On the
first start it adds a sandbox Facebook Page and Instagram account and a few demo posts due within
the minute. Ctrl-C stops every process it started.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import requests
from cryptography.fernet import Fernet

from common import accounts, posts
from common.clock import ScheduledTime, utcnow
from common.config import load_settings
from common.db import ensure_indexes, get_database
from common.tokens import TokenCipher
from devstack import dbserver
from devstack.processes import free_port, wait_until_listening
from devstack.sandbox.control import Sandbox

ROOT = Path(__file__).resolve().parent.parent
DEMO_ACCOUNTS = (
    # (account id in our database, platform, sandbox kind, page / IG user id, sandbox token)
    ("demo-page", "facebook", "page", "sandbox-demo-page"),
    ("demo-instagram", "instagram", "instagram", "sandbox-demo-ig"),
)
TICK_EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"


@dataclass(frozen=True)
class Ports:
    database: int
    sandbox: int
    tick: int
    manual: int
    status: int


def local_secrets(data_dir: Path) -> dict[str, str]:
    """Secrets for the local stack: generated once per clone, kept in .data/ (mode 0600).

    They are never defaults: each clone gets random values, and the token key must persist
    because the demo accounts' tokens in the data file are encrypted with it.
    """
    path = data_dir / "local-secrets.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    data_dir.mkdir(parents=True, exist_ok=True)
    values = {
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "JWT_SECRET": secrets.token_urlsafe(48),
        "ADMIN_SECRET_KEY": secrets.token_urlsafe(48),
    }
    path.touch(mode=0o600)
    path.write_text(json.dumps(values, indent=2))
    return values


def write_cli_env(data_dir: Path, values: Mapping[str, str]) -> Path:
    """`.data/dev.env`: what `socialsched` needs to talk to the running stack (mode 0600).

    `set -a; . .data/dev.env; set +a` in another shell, then any `socialsched` command.
    """
    path = data_dir / "dev.env"
    path.touch(mode=0o600)
    path.write_text("".join(f"{name}={value}\n" for name, value in sorted(values.items())))
    return path


class Stack:
    """The processes of the local stack; stop() ends every one of them."""

    def __init__(self, log: IO[str]) -> None:
        self._procs: list[subprocess.Popen[str]] = []
        self._log = log
        self._stopping = threading.Event()

    def start(self, name: str, command: list[str], env: Mapping[str, str]) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=dict(env),
            text=True,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._procs.append(proc)
        threading.Thread(target=self._relay, args=(name, proc), daemon=True).start()
        return proc

    def _relay(self, name: str, proc: subprocess.Popen[str]) -> None:
        """Print one line per run from the function's JSON logs, and every error."""
        assert proc.stdout is not None
        for line in proc.stdout:
            message = _run_line(line) if name == "run" else None
            if message is None:
                message = _error_line(name, line)
            if message is not None:
                print(message, file=self._log, flush=True)

    def adopt(self, proc: subprocess.Popen[str]) -> None:
        self._procs.append(proc)

    def stop(self) -> None:
        self._stopping.set()
        for proc in reversed(self._procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True once stop() was called."""
        return self._stopping.wait(seconds)

    def died(self) -> subprocess.Popen[str] | None:
        return next((p for p in self._procs if p.poll() is not None), None)


def _json(line: str) -> dict[str, Any] | None:
    with contextlib.suppress(ValueError):
        value = json.loads(line)
        if isinstance(value, dict):
            return value
    return None


def _run_line(line: str) -> str | None:
    entry = _json(line)
    if entry is None or entry.get("message") != "run finished":
        return None
    return (
        f"[{time.strftime('%H:%M:%S')}] run {str(entry.get('runId', ''))[:8]} "
        f"({entry.get('trigger')}): {entry.get('published', 0)} published, "
        f"{entry.get('failed', 0)} failed, {entry.get('deferred', 0)} deferred, "
        f"{entry.get('unknown', 0)} unknown in {entry.get('duration', 0)}s"
    )


def _error_line(name: str, line: str) -> str | None:
    entry = _json(line)
    if entry is not None:
        if entry.get("severity") in ("ERROR", "CRITICAL"):
            return f"[{name}] {entry.get('severity')}: {entry.get('message')}"
        return None
    text = line.rstrip()
    return f"[{name}] {text}" if "Error" in text or "Traceback" in text else None


def _function(
    stack: Stack,
    name: str,
    source: str,
    target: str,
    signature: str,
    port: int,
    env: Mapping[str, str],
) -> None:
    command = [
        sys.executable,
        "-m",
        "functions_framework",
        "--source",
        source,
        "--target",
        target,
        "--signature-type",
        signature,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    proc = stack.start(name, command, env)
    wait_until_listening(proc, port, name)


def seed_demo(settings_env: Mapping[str, str], sandbox: Sandbox, first_due_in: float) -> int:
    """Register the demo accounts in the sandbox; on first start add accounts and posts."""
    settings = load_settings(settings_env)
    db = get_database(settings)
    ensure_indexes(db)
    cipher = TokenCipher.from_settings(settings)
    now = utcnow()
    created = 0
    for account_id, platform, kind, external_id in DEMO_ACCOUNTS:
        token = f"{external_id}-token"
        sandbox.add_account(external_id, kind, token, name=f"Demo {platform}")
        if accounts.get(db, account_id) is None:
            accounts.create(
                db,
                account_id=account_id,
                platform=platform,
                external_id=external_id,
                name=f"Demo {platform}",
                token_ciphertext=cipher.encrypt(token),
                token_expires_at=None,
                now=now,
            )
            created += 1
    if created == 0:
        return 0
    demo = [
        ("demo-page", "facebook", posts.Content(text="Hello from the local scheduler!")),
        ("demo-page", "facebook", posts.Content(text="A link post", link="https://example.com/")),
        (
            "demo-instagram",
            "instagram",
            posts.Content(
                text="A sandbox photo", media=(posts.Media("https://example.com/a.jpg"),)
            ),
        ),
    ]
    for i, (account_id, platform, content) in enumerate(demo):
        due = now + timedelta(seconds=first_due_in + 5 * i)
        posts.create(
            db,
            account_id=account_id,
            platform=platform,
            content=content,
            when=ScheduledTime(due, "UTC", due.isoformat()),
            now=now,
        )
    return len(demo)


def tick_event(message_id: str) -> tuple[dict[str, str], bytes]:
    """A Pub/Sub messagePublished CloudEvent in binary content mode, as Eventarc sends it."""
    published = utcnow().isoformat().replace("+00:00", "Z")
    body = {
        "message": {
            "data": base64.b64encode(b'{"source":"local-ticker"}').decode(),
            "messageId": message_id,
            "publishTime": published,
            "attributes": {},
        },
        "subscription": "projects/local/subscriptions/scheduler-tick",
    }
    headers = {
        "Content-Type": "application/json",
        "ce-id": message_id,
        "ce-specversion": "1.0",
        "ce-type": TICK_EVENT_TYPE,
        "ce-source": "//pubsub.googleapis.com/projects/local/topics/scheduler-tick",
        "ce-time": published,
    }
    return headers, json.dumps(body).encode()


def ticker(stack: Stack, tick_url: str, every: float) -> None:
    session = requests.Session()
    while not stack.wait(0):
        headers, body = tick_event(uuid.uuid4().hex)
        with contextlib.suppress(requests.RequestException):
            session.post(tick_url, data=body, headers=headers, timeout=max(every * 5, 300))
        if stack.wait(every):
            return


@contextlib.contextmanager
def _interrupts_stop(stack: Stack) -> Iterator[None]:
    """SIGTERM (and SIGHUP) end the stack as Ctrl-C does."""

    def handler(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        stack.stop()


def run(tick_seconds: float, data_dir: Path, demo: bool = True, out: IO[str] = sys.stdout) -> int:
    stack = Stack(out)
    ports = Ports(*(free_port() for _ in range(5)))
    with _interrupts_stop(stack):
        mongo_uri = os.environ.get("MONGO_URI")
        if not mongo_uri:
            stack.adopt(dbserver.start(ports.database, data_dir / "scheduler.mv"))
            mongo_uri = f"mongodb://127.0.0.1:{ports.database}/"
        sandbox_url = f"http://127.0.0.1:{ports.sandbox}"
        stack_settings = {
            **local_secrets(data_dir),
            "MONGO_URI": mongo_uri,
            "META_GRAPH_URL": sandbox_url,
        }
        cli_env = write_cli_env(data_dir, stack_settings)
        env = {
            **os.environ,
            **stack_settings,
            "TICK_MAX_AGE_SECONDS": "300",
            "PYTHONPATH": str(ROOT),
        }
        proc = stack.start(
            "sandbox", [sys.executable, "-m", "devstack.sandbox", "--port", str(ports.sandbox)], env
        )
        wait_until_listening(proc, ports.sandbox, "sandbox")
        _function(stack, "run", "functions/run/main.py", "on_tick", "cloudevent", ports.tick, env)
        _function(stack, "run-http", "functions/run/main.py", "run_http", "http", ports.manual, env)
        _function(stack, "status", "functions/status/main.py", "status", "http", ports.status, env)
        added = seed_demo(env, Sandbox(sandbox_url), first_due_in=10) if demo else 0
        queue = posts.count_by_status(get_database(load_settings(env)))
        banner = _banner(ports, mongo_uri, tick_seconds, added, queue, data_dir, cli_env)
        print(banner, file=out, flush=True)
        threading.Thread(
            target=ticker,
            args=(stack, f"http://127.0.0.1:{ports.tick}/", tick_seconds),
            daemon=True,
        ).start()
        try:
            return _watch(stack, out)
        except KeyboardInterrupt:
            print("\nstopping the local stack", file=out, flush=True)
    return 0


def _watch(stack: Stack, out: IO[str]) -> int:
    """Until Ctrl-C: if any process of the stack dies, stop the rest and say so."""
    while not stack.wait(1):
        dead = stack.died()
        if dead is not None:
            print(f"a process exited with code {dead.returncode}; stopping", file=out, flush=True)
            return 1
    return 0


def _banner(
    ports: Ports,
    mongo_uri: str,
    tick_seconds: float,
    added: int,
    queue: Mapping[str, int],
    data_dir: Path,
    cli_env: Path,
) -> str:
    database = "MONGO_URI" if os.environ.get("MONGO_URI") else f"{mongo_uri} (data in {data_dir})"
    lines = [
        "Social scheduler running locally. Ctrl-C stops everything.",
        f"  status        http://127.0.0.1:{ports.status}/",
        f"  sandbox posts http://127.0.0.1:{ports.sandbox}/_sandbox/",
        f"  manual run    POST http://127.0.0.1:{ports.manual}/ "
        f"(Authorization: Bearer <ADMIN_SECRET_KEY from {data_dir}/local-secrets.json>)",
        f"  database      {database}",
        f"  ticks         every {tick_seconds:g}s to http://127.0.0.1:{ports.tick}/",
        f"  CLI           set -a; . {cli_env}; set +a; .venv/bin/socialsched status",
    ]
    if added:
        lines.append(f"  added {added} demo posts due within the next minute")
    else:  # a later start: the data file kept everything
        lines.append(
            f"  posts         {queue['scheduled']} scheduled, {queue['published']} published, "
            f"{queue['failed']} failed, {queue['unknown']} unknown "
            "(add some: socialsched posts add --help)"
        )
    return "\n".join(lines)
