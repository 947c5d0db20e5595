"""Fan-out benchmark: 2,000 posts due at the same second, DISPATCH=tasks, 1 then 4 publish
function processes.

    python bench/fanout.py [--posts 2000] [--accounts 200] [--latency 0.5]
                           [--quiet-posts 20] [--quiet-accounts 4] [--quiet-every 3] [--json]

Needs MONGO_URI (`make bench` starts a server). Each round seeds the posts in a fresh database,
due a few seconds ahead, and runs the tick's real loader (common.dispatch.loading.load_upcoming)
against the devstack Cloud Tasks stand-in: one task per account now, each post's task creating its
account's next one. The loader's target URLs go round-robin over the round's publish
processes, as Cloud Run's front end spreads requests over instances; a process's own tasks
come back to it. Each process is a functions-framework process serving the real
functions/publish/main.py with the recording publisher of tests/fnhost, each send taking
`latency` seconds (the sandbox latency); the time is from the due second until every post is
`published`.

Commands are counted inside the publish processes (bench/fnhost/publish_counting.py registers
a pymongo CommandListener there, one line per command). `platform_log` is the recording
publisher's stand-in for the platform, so its commands are not the scheduler's and are left
out. `commands_per_post_tasks` is the 4-process round's count divided by the posts;
`commands_per_post_tasks_low_traffic` is a third round's, one process and one post every
`quiet-every` seconds over `quiet-accounts` accounts (what most deployments see: every task
finds its instance idle). The breakdown by command and collection is printed too. The ratios
come from this one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from itertools import count
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
    seed_load,
    tasks_settings,
)
from common.clock import utcnow
from common.config import Settings, load_settings
from common.db import Doc, ensure_indexes
from common.dispatch import loading
from common.tasks import PostTask, TaskQueue
from devstack import cloudtasks
from devstack.processes import free_port
from tests.functions_fixtures import ROOT, InvokerCheck, function_env, serve_fronted

COUNTING_SOURCE = ROOT / "bench" / "fnhost" / "publish_counting.py"
THREADS_PER_PROCESS = 8  # requests one instance serves at once (Cloud Run's concurrency)
# Time to load 2,000 tasks before they are due: 15 s on a quiet machine; a round whose loading
# took longer is run again with the next (on a loaded one), since its tasks fired early.
LEADS_SECONDS = (15.0, 30.0, 60.0, 120.0)
RECORDER = "platform_log"


class RoundRobin:
    """An Enqueuer over one TaskQueue per publish process: task i goes to process i mod n."""

    def __init__(self, queues: list[TaskQueue]) -> None:
        self._queues = queues
        self._next = count()

    def name_of(self, task: PostTask) -> str:
        return self._queues[0].name_of(task)  # the name does not depend on the target

    def enqueue(self, task: PostTask) -> bool:
        return self._queues[next(self._next) % len(self._queues)].enqueue(task)


@dataclass(frozen=True)
class Round:
    seconds: float
    commands: Counter[str]


def seed(db: Database[Doc], n_posts: int, n_accounts: int, spacing: float, lead: float) -> None:
    """Posts round-robin over the accounts, the first due `lead` seconds from now and each next
    one `spacing` seconds later (0: all in the same second)."""
    now = utcnow()
    first = now + timedelta(seconds=lead)
    dues = (first + timedelta(seconds=i * spacing) for i in range(n_posts))
    seed_load(db, n_accounts, dues, now)


@contextmanager
def publish_processes(
    env: dict[str, str], n: int, workdir: Path, standin: str
) -> Iterator[list[str]]:
    """Each process's own URL (its Cloud Run front's) is its TASKS_TARGET_URL: the tasks it
    creates (an account's next post, a retry) come back to it, as they go to the one service
    URL on Cloud Run."""
    check = InvokerCheck(standin, TASKS_ACCOUNT, TASKS_AUDIENCE)
    with ExitStack() as stack:
        urls = []
        for port in (free_port() for _ in range(n)):
            own = {**env, "TASKS_TARGET_URL": f"http://127.0.0.1:{port}/"}
            fronted = serve_fronted("publish", COUNTING_SOURCE, own, workdir, port, check)
            urls.append(stack.enter_context(fronted).url)
        yield urls


def read_commands(log_dir: Path) -> Counter[str]:
    commands: Counter[str] = Counter()
    for path in log_dir.glob("*.log"):
        for line in path.read_text().splitlines():
            if not line.endswith(f" {RECORDER}"):
                commands[line] += 1
    return commands


@dataclass(frozen=True)
class Load:
    posts: int
    accounts: int
    spacing: float  # seconds between due times


class LateLoadError(Exception):
    """The tasks were loaded after their posts were due: the round measured nothing."""


def run_round(
    uri: str, client: MongoClient[Doc], n: int, load: Load, args: argparse.Namespace
) -> Round:
    """A round of `load` on `n` publish processes, with the shortest lead its loading fits in.
    Each try has its own Cloud Tasks stand-in: a late try's tasks end with it."""
    for lead in LEADS_SECONDS:
        db_name = f"bench_{uuid.uuid4().hex[:8]}"
        try:
            with cloudtasks.running() as standin:
                return _round(uri, client[db_name], standin, n, load, args, lead)
        except LateLoadError:
            print(f"loading took longer than {lead:.0f} s; again with more", file=sys.stderr)
        finally:
            client.drop_database(db_name)
    raise SystemExit(f"loading took longer than {LEADS_SECONDS[-1]:.0f} s")


def _round(
    uri: str,
    db: Database[Doc],
    standin: str,
    n: int,
    load: Load,
    args: argparse.Namespace,
    lead: float,
) -> Round:
    ensure_indexes(db)
    db_name = db.name
    tasks_env = tasks_settings(standin)
    with tempfile.TemporaryDirectory() as workdir:
        log_dir = Path(workdir) / "commands"
        log_dir.mkdir()
        env = function_env(
            uri,
            db_name,
            **tasks_env,
            RECORDING_LATENCY_SECONDS=str(args.latency),
            THREADS=str(THREADS_PER_PROCESS),
            COMMAND_LOG_DIR=str(log_dir),
        )
        with publish_processes(env, n, Path(workdir), standin) as urls:
            # Seeded once the processes listen: their start must not eat the lead time.
            seed(db, load.posts, load.accounts, load.spacing, lead)
            base = load_settings(
                {"MONGO_URI": uri, "MONGO_DB": db_name, **tasks_env, "TASKS_TARGET_URL": urls[0]}
            )
            seconds = load_and_wait(db, base, urls, load.posts)
        commands = read_commands(log_dir)
    return Round(seconds, commands)


def load_and_wait(db: Database[Doc], base: Settings, urls: list[str], n_posts: int) -> float:
    """The tick's loader, then the time from the due second to the last post published."""
    queues = [TaskQueue(replace(base, tasks_target_url=url)) for url in urls]
    loaded = loading.load_upcoming(db, RoundRobin(queues), base, utcnow(), limit=n_posts)
    if loaded.created + loaded.chained != n_posts:
        raise SystemExit(f"only {loaded.created} + {loaded.chained} of {n_posts} tasks loaded")
    first = db["posts"].find_one({}, sort=[("dueAt", 1)])
    assert first is not None
    wait = (first["dueAt"] - utcnow()).total_seconds()
    if wait <= 0:
        raise LateLoadError
    time.sleep(wait)
    started = time.monotonic()
    while db["posts"].count_documents({"status": "published"}) < n_posts:
        if time.monotonic() - started > 1800:
            raise SystemExit("the posts were not all published within 30 minutes")
        time.sleep(0.2)
    return time.monotonic() - started


def main() -> int:
    parser = load_arguments(posts=2000, accounts=200)
    parser.add_argument("--latency", type=float, default=0.5)
    # Low traffic: one post every few seconds over a few accounts (no overlap).
    parser.add_argument("--quiet-posts", type=int, default=20)
    parser.add_argument("--quiet-accounts", type=int, default=4)
    parser.add_argument("--quiet-every", type=float, default=3.0)
    args = parser.parse_args()
    uri = mongo_uri(parser)
    client: MongoClient[Doc] = MongoClient(uri, tz_aware=True)
    burst = Load(args.posts, args.accounts, 0.0)
    quiet = Load(args.quiet_posts, args.quiet_accounts, args.quiet_every)
    one = run_round(uri, client, 1, burst, args)
    four = run_round(uri, client, 4, burst, args)
    low = run_round(uri, client, 1, quiet, args)
    per_post = sum(four.commands.values()) / args.posts
    figures = {
        "fanout_seconds_1": round(one.seconds, 2),
        "fanout_seconds_4": round(four.seconds, 2),
        "fanout_speedup_4x": round(one.seconds / four.seconds, 3),
        "commands_per_post_tasks": round(per_post, 3),
        "commands_per_post_tasks_low_traffic": round(sum(low.commands.values()) / quiet.posts, 3),
        "posts": args.posts,
        "latency_s": args.latency,
    }
    goals = {
        "fanout_speedup_4x": ">= 3",
        "commands_per_post_tasks": "<= 4",
        "commands_per_post_tasks_low_traffic": "<= 3.2",
    }
    report(figures, goals, as_json=False)  # the JSON line carries the commands too
    print("commands per post, 4 processes:")
    for command, n in four.commands.most_common():
        print(f"  {command:<36}{n / args.posts:>8.3f}")
    print("commands per post, low traffic:")
    for command, n in low.commands.most_common():
        print(f"  {command:<36}{n / quiet.posts:>8.3f}")
    if args.json:
        print(
            json.dumps(
                {
                    **figures,
                    "commands": dict(four.commands),
                    "commands_low_traffic": dict(low.commands),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
