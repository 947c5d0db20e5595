"""Lateness benchmark: how late posts go out, inline vs Cloud Tasks dispatch.

    python bench/lateness.py [--posts 200] [--accounts 20] [--spread 120] [--tick 20]
                             [--late-posts 12] [--late-every 5] [--late-lead 10] [--late-tick 60]
                             [--json]

Needs MONGO_URI (`make bench` starts a server). For each mode, posts on `accounts` accounts are
scheduled at random seconds over the next `spread` seconds and a tick runs every `tick`
seconds (in this process, as the run function would). Inline, the tick publishes what is due;
with DISPATCH=tasks, the tick creates Cloud Tasks on the devstack stand-in, which delivers each
to a publish function process (functions-framework, the real main.py with the recording
publisher of tests/fnhost). Lateness is publishedAt - scheduledAt; the ratio of the two p95s is
measured in this one run. Then, with tasks, `lateness_p95_created_late_s`: posts created
`late-lead` (10) seconds before they are due, one every `late-every` seconds, with a tick every
`late-tick` (60) seconds: their tasks are created when they are, not at the next tick.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

from pymongo import MongoClient
from pymongo.database import Database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    TASKS_ACCOUNT,
    TASKS_AUDIENCE,
    load_arguments,
    mongo_uri,
    report,
    seed_account,
    seed_load,
    tasks_settings,
)
from common import dispatch
from common.clock import utcnow
from common.config import Settings, load_settings
from common.db import Doc, ensure_indexes
from common.engine import Trigger, execute_once
from common.operations import creating, scheduling
from common.operations.admission import Admission
from common.operations.prompt_tasks import task_starter
from devstack import cloudtasks
from devstack.processes import free_port
from tests.functions_fixtures import ROOT, InvokerCheck, function_env, serve_fronted
from tests.recording import registry_for

PUBLISH_SOURCE = ROOT / "tests" / "fnhost" / "publish_recording.py"


def seed(
    db: Database[Doc], n_posts: int, n_accounts: int, spread: float, rng: random.Random
) -> None:
    now = utcnow()
    dues = [now + timedelta(seconds=5 + rng.uniform(0, spread)) for _ in range(n_posts)]
    seed_load(db, n_accounts, dues, now)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def run_mode(settings: Settings, client: MongoClient[Doc], args: argparse.Namespace) -> float:
    db = client[settings.mongo_db]
    ensure_indexes(db)
    seed(db, args.posts, args.accounts, args.spread, random.Random(11))
    registry = registry_for(db, latency=0.05)
    strategy = dispatch.for_settings(settings)  # None inline; task loading with tasks
    deadline = time.monotonic() + args.spread + 6 * args.tick
    while time.monotonic() < deadline:
        started = time.monotonic()
        trigger = Trigger("tick", uuid.uuid4().hex)
        execute_once(settings, trigger, registry, db=db, dispatch=strategy)
        if db["posts"].count_documents({"status": "published"}) == args.posts:
            break
        time.sleep(max(0.0, args.tick - (time.monotonic() - started)))
    late = [
        (d["publishedAt"] - d["scheduledAt"]).total_seconds()
        for d in db["posts"].find({"status": "published"})
    ]
    if len(late) != args.posts:
        raise SystemExit(f"only {len(late)} of {args.posts} posts were published")
    return p95(late)


def created_late(settings: Settings, client: MongoClient[Doc], args: argparse.Namespace) -> float:
    """Posts created `late_lead` seconds before their due time, one every `late_every`
    seconds, through the scheduling use case (as the API, the CLI and the web app make them),
    while the tick runs every `late_tick` seconds: the p95 of their lateness."""
    db = client[settings.mongo_db]
    seed_account(db, "late", "late", utcnow())
    registry = registry_for(db, latency=0.05)
    strategy = dispatch.for_settings(settings)
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            trigger = Trigger("tick", uuid.uuid4().hex)
            execute_once(settings, trigger, registry, db=db, dispatch=strategy)
            stop.wait(args.late_tick)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    admission = Admission(timedelta(days=1), task_starter(settings))
    made = []
    for i in range(args.late_posts):
        due = (utcnow() + timedelta(seconds=args.late_lead)).isoformat()
        request = scheduling.PostRequest("late", due, text=f"late {i}")
        made.append(creating.schedule_one(db, request, utcnow(), admission))
        time.sleep(args.late_every)
    ids = [m.post_id for m in made if isinstance(m, scheduling.Scheduled)]
    deadline = time.monotonic() + args.late_lead + 3 * args.late_tick
    while db["posts"].count_documents({"_id": {"$in": ids}, "status": "published"}) < len(ids):
        if time.monotonic() > deadline:
            raise SystemExit("the late posts were not all published")
        time.sleep(0.2)
    stop.set()
    ticker.join()
    late = [
        (d["publishedAt"] - d["scheduledAt"]).total_seconds()
        for d in db["posts"].find({"_id": {"$in": ids}})
    ]
    return p95(late)


def main() -> int:
    parser = load_arguments(posts=200, accounts=20)
    parser.add_argument("--spread", type=float, default=120.0)
    parser.add_argument("--tick", type=float, default=20.0)
    parser.add_argument("--late-posts", type=int, default=12)
    parser.add_argument("--late-every", type=float, default=5.0)
    parser.add_argument("--late-lead", type=float, default=10.0)
    parser.add_argument("--late-tick", type=float, default=60.0)
    args = parser.parse_args()
    uri = mongo_uri(parser)
    client: MongoClient[Doc] = MongoClient(uri, tz_aware=True)
    inline_db = f"bench_{uuid.uuid4().hex[:8]}"
    inline = run_mode(load_settings({"MONGO_URI": uri, "MONGO_DB": inline_db}), client, args)
    tasks_db = f"bench_{uuid.uuid4().hex[:8]}"
    port = free_port()
    with cloudtasks.running() as standin, tempfile.TemporaryDirectory() as workdir:
        tasks_env = tasks_settings(standin)
        env = function_env(
            uri,
            tasks_db,
            **tasks_env,
            TASKS_TARGET_URL=f"http://127.0.0.1:{port}/",  # its own: next tasks come back
            RECORDING_LATENCY_SECONDS="0.05",
            THREADS="8",
        )
        check = InvokerCheck(standin, TASKS_ACCOUNT, TASKS_AUDIENCE)
        fronted = serve_fronted("publish", PUBLISH_SOURCE, env, Path(workdir), port, check)
        with fronted as publish:
            settings = load_settings(
                {
                    "MONGO_URI": uri,
                    "MONGO_DB": tasks_db,
                    **tasks_env,
                    "TASKS_TARGET_URL": publish.url,
                }
            )
            tasks = run_mode(settings, client, args)
            late = created_late(settings, client, args)
    for name in (inline_db, tasks_db):
        client.drop_database(name)
    figures = {
        "lateness_p95_inline_s": round(inline, 2),
        "lateness_p95_tasks_s": round(tasks, 2),
        "lateness_ratio": round(tasks / inline, 3) if inline > 0 else None,
        "lateness_p95_created_late_s": round(late, 2),
        "posts": args.posts,
        "accounts": args.accounts,
        "tick_s": args.tick,
    }
    goals = {"lateness_ratio": "<= 0.1", "lateness_p95_created_late_s": "<= 1"}
    report(figures, goals, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
