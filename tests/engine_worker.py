"""A separate runner process for the multi-process engine tests.

    python -m tests.engine_worker URI DB [--latency S] [--workers N] [--ttl S] [--until-idle]
                                         [--freeze-after-send N | --kill-after-send N]
                                         [--task POST_ID,VERSION,DUE_MS] [--networks]

Prints one JSON line per execute_once result. `--freeze-after-send N` stops the process with
SIGSTOP right after its N-th send (a stalled VM or a long GC pause); `--kill-after-send N`
kills it with SIGKILL (a crashed instance). Both happen after the platform accepted the post and
before the outcome is recorded, the worst moment. `--task` handles one Cloud Task the way the
publish function does (common.dispatch.work.TaskWork) instead of running ticks. `--networks`
publishes through the real adapters (settings from the environment: the sandboxes' URLs and
the token key) instead of the recording publisher; "after the send" is then after the network
answered it.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import signal
import time
import uuid
from collections.abc import Callable

from pymongo import MongoClient
from pymongo.database import Database

from common.clock import utcnow
from common.config import Settings, load_settings
from common.db import Doc
from common.dispatch.work import TaskWork
from common.engine import Trigger, execute_once
from common.events import NoEvents
from common.model import Account, Post
from common.platforms.base import Outcome, PublishContext, Published, Publisher, Registry
from common.platforms.registry import default_registry
from common.tasks import PostTask
from tests.recording import registry_for


@dataclasses.dataclass
class AfterSend:
    """A real adapter that calls `after_send` once the network has answered a send."""

    inner: Publisher
    after_send: Callable[[Post], None]
    platform: str = ""

    def __post_init__(self) -> None:
        self.platform = self.inner.platform

    def publish(self, post: Post, account: Account, ctx: PublishContext) -> Outcome:
        outcome = self.inner.publish(post, account, ctx)
        if isinstance(outcome, Published):
            self.after_send(post)
        return outcome

    def find_published(self, post: Post, account: Account) -> Published | None:
        return self.inner.find_published(post, account)


def networks(settings: Settings, after_send: Callable[[Post], None]) -> Registry:
    real = default_registry(settings)
    found = (real.get(p) for p in ("facebook", "instagram", "threads", "bluesky", "mastodon"))
    return Registry([AfterSend(p, after_send) for p in found if p is not None])


class NoQueue:
    """These tests publish posts that never need a next task; a call would be a bug."""

    def name_of(self, task: PostTask) -> str:
        raise AssertionError(f"unexpected task name for {task}")

    def enqueue(self, task: PostTask) -> bool:
        raise AssertionError(f"unexpected next task {task}")


def as_tasks() -> dict[str, str]:
    """DISPATCH=tasks settings; no task is created in these tests (NoQueue)."""
    return {
        "DISPATCH": "tasks",
        "TASKS_QUEUE": "projects/test/locations/local/queues/publish",
        "TASKS_TARGET_URL": "http://127.0.0.1:1/",
        "TASKS_SERVICE_ACCOUNT": "tasks@test.iam.gserviceaccount.com",
    }


def env_of(settings: Settings) -> dict[str, str]:
    return {
        "MONGO_URI": settings.mongo_uri,
        "MONGO_DB": settings.mongo_db,
        "LOCK_TTL_SECONDS": str(settings.lock_ttl_seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("uri")
    parser.add_argument("db")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--ttl", type=int, default=300)
    parser.add_argument("--until-idle", action="store_true")
    parser.add_argument("--freeze-after-send", type=int, default=0)
    parser.add_argument("--kill-after-send", type=int, default=0)
    parser.add_argument("--task", default=None)
    parser.add_argument("--networks", action="store_true")
    args = parser.parse_args()
    settings = load_settings(
        {
            **(dict(os.environ) if args.networks else {}),
            "MONGO_URI": args.uri,
            "MONGO_DB": args.db,
            "PUBLISH_WORKERS": str(args.workers),
            "LOCK_TTL_SECONDS": str(args.ttl),
            "CLAIM_BATCH_SIZE": "25",
        }
    )
    sends = itertools.count(1)

    def after_send(_post: Post) -> None:
        n = next(sends)
        if n == args.freeze_after_send:
            os.kill(os.getpid(), signal.SIGSTOP)
            # A group stop reaches the sending thread only once another thread has handled
            # it; on a busy machine this thread could otherwise record the outcome first.
            # Sleeping in the kernel lets the stop land here (the sleep is long over when the
            # test sends SIGCONT, so it adds nothing).
            time.sleep(1.0)
        if n == args.kill_after_send:
            os.kill(os.getpid(), signal.SIGKILL)

    db: Database[Doc] = MongoClient(args.uri, tz_aware=True)[args.db]
    if args.networks:
        registry = networks(settings, after_send)
    else:
        registry = registry_for(db, latency=args.latency, after_send=after_send)
    if args.task is not None:
        post_id, version, due_ms = args.task.split(",")
        task = PostTask(post_id, int(version), int(due_ms))
        tasks_settings = load_settings({**as_tasks(), **env_of(settings)})
        work = TaskWork(db, registry, tasks_settings, NoQueue(), NoEvents(), utcnow)
        print(json.dumps(dataclasses.asdict(work.handle(task))), flush=True)
        return
    while True:
        result = execute_once(settings, Trigger("tick", message_id=uuid.uuid4().hex), registry)
        print(json.dumps(result.to_response(), default=str), flush=True)
        idle = db["posts"].count_documents({"status": {"$in": ["scheduled", "publishing"]}}) == 0
        if not args.until_idle or idle:
            break
        if result.skipped:
            time.sleep(0.05)  # another runner holds the lock


if __name__ == "__main__":
    main()
