"""What the benchmarks share: the database `make bench` starts, seeded accounts, a function
served in this process, and the table of figures each prints."""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pymongo.database import Database
from werkzeug.serving import BaseWSGIServer, make_server

from common import accounts, model
from common.clock import ScheduledTime
from common.db import Doc
from common.posts import store

ROOT = Path(__file__).resolve().parent.parent


def mongo_uri(parser: argparse.ArgumentParser) -> str:
    """MONGO_URI; without it the benchmark stops with its usage (exit status 2)."""
    uri = os.environ.get("MONGO_URI")
    if not uri:
        parser.error("MONGO_URI is required (make bench starts a local server)")
    return uri


# The identity of the Cloud Tasks stand-in's tasks, which the publish function checks (as the
# tasks service account's OIDC token on Cloud Run).
TASKS_ACCOUNT = "tasks@bench.iam.gserviceaccount.com"
TASKS_AUDIENCE = "https://publish.bench/"


def tasks_settings(standin: str) -> dict[str, str]:
    """The settings of dispatch = tasks through the Cloud Tasks stand-in at `standin`."""
    return {
        "DISPATCH": "tasks",
        "TASKS_QUEUE": "projects/bench/locations/local/queues/publish",
        "TASKS_SERVICE_ACCOUNT": TASKS_ACCOUNT,
        "TASKS_AUDIENCE": TASKS_AUDIENCE,
        "TASKS_API_ENDPOINT": standin,
        "TASKS_INVOKER_CHECK": "on",
    }


def load_arguments(posts: int, accounts: int) -> argparse.ArgumentParser:
    """The options of every load benchmark: how many posts over how many accounts, and --json."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=posts)
    parser.add_argument("--accounts", type=int, default=accounts)
    parser.add_argument("--json", action="store_true")
    return parser


def seed_account(db: Database[Doc], account_id: str, external_id: str, now: datetime) -> None:
    """A Facebook account with a placeholder token (the benchmarks' publishers never open it)."""
    accounts.create(
        db,
        account_id=account_id,
        platform="facebook",
        external_id=external_id,
        name=account_id,
        token_ciphertext="x",
        token_expires_at=None,
        now=now,
    )


def seed_load(db: Database[Doc], n_accounts: int, dues: Iterable[datetime], now: datetime) -> None:
    """Facebook accounts acct-0 .. acct-<n-1> (a placeholder token) and one post per due time,
    round-robin over them."""
    for a in range(n_accounts):
        seed_account(db, f"acct-{a}", str(a), now)
    for i, due in enumerate(dues):
        store.create(
            db,
            account_id=f"acct-{i % n_accounts}",
            platform="facebook",
            content=model.Content(text=f"post {i}"),
            when=ScheduledTime.utc(due),
            now=now,
        )


def serve_function(name: str, env: Mapping[str, str]) -> tuple[str, BaseWSGIServer]:
    """functions/<name>/main.py under functions-framework on a free loopback port, in a thread."""
    os.environ.update(env)
    # Imported after the environment is set: the function reads its settings on first use.
    import functions_framework  # noqa: PLC0415

    source = str(ROOT / "functions" / name / "main.py")
    app = functions_framework.create_app(name, source)  # type: ignore[no-untyped-call]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def report(figures: Mapping[str, Any], goals: Mapping[str, str], *, as_json: bool) -> None:
    """The figures as a table with their goals; with `as_json`, one JSON object as the last
    line (what `--json` callers read)."""
    width = max(len(name) for name in figures) + 2
    print(f"{'figure':<{width}}{'value':>12}  goal")
    for name, value in figures.items():
        print(f"{name:<{width}}{value!s:>12}  {goals.get(name, '')}")
    if as_json:
        print(json.dumps(figures))
