"""Engine benchmark: database commands per tick and per post, parallel speedup, memory.

    python bench/engine.py [--posts 2000] [--accounts 100] [--latency 0.05] [--json]

Needs MONGO_URI (`make bench` starts a server). Prints a table; with --json, one JSON object as
the last line. Every figure is a ratio or a count measured in this one run, so it holds on a
noisy machine; the seconds printed beside them are for context only.
"""

from __future__ import annotations

import resource
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pymongo import MongoClient, monitoring
from pymongo.database import Database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import load_arguments, mongo_uri, report, seed_load
from common.clock import utcnow
from common.config import Settings, load_settings
from common.db import Doc, ensure_indexes
from common.engine import Trigger, execute_once
from common.entrypoints.runner import run_steps
from common.model import Account, Post
from common.platforms.base import Outcome, PublishContext, Published, Registry, Withdrawn

HANDSHAKES = {"isMaster", "hello", "ping", "endSessions", "saslStart", "saslContinue"}


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in HANDSHAKES:
            self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@dataclass
class SleepingPublisher:
    """A platform that takes `latency` seconds per post and touches no database."""

    platform: str
    latency: float

    def publish(self, post: Post, account: Account, ctx: PublishContext) -> Outcome:
        if not ctx.begin_send():
            return Withdrawn("changed")
        time.sleep(self.latency)
        return Published(f"bench_{post.id}")

    def find_published(self, post: Post, account: Account) -> Published | None:
        return None


def seed(db: Database[Doc], n_posts: int, n_accounts: int) -> None:
    now = utcnow()
    due = now - timedelta(minutes=1)
    seed_load(db, n_accounts, [due] * n_posts, now)


def seed_history(db: Database[Doc], finished: int, future: int) -> None:
    """What a mature install stores: posts published long ago and a queue far ahead."""
    now = utcnow()
    content: Doc = {"text": "stored", "link": None, "media": []}

    def doc(status: str, due: datetime, **extra: object) -> Doc:
        return {
            "accountId": "acct-0",
            "platform": "facebook",
            "content": content,
            "scheduledAt": due,
            "dueAt": due,
            "status": status,
            "version": 1,
            "attempts": 1 if status == "published" else 0,
            "remote": {},
            **extra,
        }

    batch: list[Doc] = []
    for i in range(finished + future):
        if i < finished:
            at = now - timedelta(days=30, seconds=i)
            batch.append(doc("published", at, publishedAt=at, finishedAt=at))
        else:
            batch.append(doc("scheduled", now + timedelta(hours=1, seconds=i)))
        if len(batch) == 5000:
            db["posts"].insert_many(batch)
            batch = []
    if batch:
        db["posts"].insert_many(batch)


def empty_tick_with_history(uri: str, finished: int, future: int) -> int:
    """Commands of a tick with nothing due while `finished` + `future` posts are stored."""
    settings, client, counter, name = fresh_db(uri)
    seed(client[name], 0, 1)
    seed_history(client[name], finished, future)
    counter.count = 0
    execute_once(
        settings,
        Trigger("tick", "bench-1"),
        Registry([]),
        db=client[name],
        steps=run_steps(settings),
    )
    commands = counter.count
    client.drop_database(name)
    client.close()
    return commands


def fresh_db(uri: str) -> tuple[Settings, MongoClient[Doc], CommandCounter, str]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    counter = CommandCounter()
    client: MongoClient[Doc] = MongoClient(uri, tz_aware=True, event_listeners=[counter])
    ensure_indexes(client[name])
    return load_settings({"MONGO_URI": uri, "MONGO_DB": name}), client, counter, name


def timed_run(
    uri: str, n_posts: int, n_accounts: int, latency: float, workers: int | None
) -> tuple[float, int, int]:
    """Seconds for one run over n_posts, the commands it issued, and posts published."""
    settings, client, counter, name = fresh_db(uri)
    if workers is not None:
        settings = load_settings(
            {"MONGO_URI": uri, "MONGO_DB": name, "PUBLISH_WORKERS": str(workers)}
        )
    seed(client[name], n_posts, n_accounts)
    registry = Registry([SleepingPublisher("facebook", latency)])
    counter.count = 0
    started = time.perf_counter()
    result = execute_once(
        settings, Trigger("cli"), registry, db=client[name], steps=run_steps(settings)
    )
    elapsed = time.perf_counter() - started
    commands = counter.count
    client.drop_database(name)
    client.close()
    return elapsed, commands, result.counts.published


def main() -> int:
    parser = load_arguments(posts=2000, accounts=100)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    uri = mongo_uri(parser)

    _, empty_commands, _ = timed_run(uri, 0, 1, 0.0, None)
    stored_empty_commands = empty_tick_with_history(uri, 100_000, 10_000)
    _, post_commands, published = timed_run(uri, 500, 50, 0.0, None)
    per_post = post_commands / max(published, 1)

    default_workers = load_settings({"MONGO_URI": uri}).publish_workers
    parallel_s, _, parallel_n = timed_run(uri, args.posts, args.accounts, args.latency, None)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sequential_s, _, sequential_n = timed_run(uri, args.posts, args.accounts, args.latency, 1)
    per_account = -(-args.posts // args.accounts)

    def floor_for(latency: float) -> float:
        return float(max(args.posts * latency / default_workers, per_account * latency))

    floor = floor_for(args.latency)
    # The same run with a slower platform: the database's share of the time shrinks, which
    # separates the engine's scheduling from the test server's cost per command.
    slow_latency = args.latency * 4
    slow_s, _, _ = timed_run(uri, args.posts, args.accounts, slow_latency, None)
    figures = {
        "commands_per_empty_tick": empty_commands,
        "commands_per_empty_tick_110k_stored": stored_empty_commands,
        "commands_per_post": round(per_post, 3),
        "speedup_vs_sequential": round(sequential_s / parallel_s, 2),
        "floor_ratio": round(parallel_s / floor, 3),
        "floor_ratio_4x_latency": round(slow_s / floor_for(slow_latency), 3),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "posts": args.posts,
        "accounts": args.accounts,
        "latency_s": args.latency,
        "workers": default_workers,
        "parallel_s": round(parallel_s, 2),
        "sequential_s": round(sequential_s, 2),
        "all_published": parallel_n == sequential_n == args.posts and published == 500,
    }
    goals = {
        # 5 for the run itself, 1 for the series due for materialising (an indexed query).
        "commands_per_empty_tick": "<= 6",
        "commands_per_empty_tick_110k_stored": "<= 6 (each on an index)",
        "commands_per_post": "<= 2",
        "speedup_vs_sequential": ">= 20",
        "floor_ratio": "<= 1.5",
        "peak_rss_mb": "<= 150",
    }
    report(figures, goals, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
