"""Thread benchmark: database commands and network requests per thread part, through the
engine, the real adapters and the sandboxes.

    python bench/threads.py [--threads 100] [--network-threads 12] [--parts 5] [--accounts 4]
                            [--json]

Needs MONGO_URI (`make bench` starts a server). `--threads` threads (`--network-threads` on
each network) of `--parts` posts (the post and its further parts) over `--accounts` accounts,
due now; runs go until every part is published (a run takes released parts in further rounds,
so the claims are shared by the threads in step: 100 threads make 500 parts, as
bench/engine.py's 500 posts). Printed:

  commands_per_thread_part   the scheduler's database commands per part, with a platform that
                             answers at once as bench/engine.py measures plain posts (goal
                             <= 3: begin_send, the outcome and the release of the next part,
                             with the claims shared by the batch)
  commands_per_part_real_adapters  the same through the real adapters and sandboxes, every
                             network at once (Threads also stores its container: +1 a part)
  requests_per_thread_part_<network>   the network's requests per part; its minimum: Threads 2
                             (a reply container, then threads_publish; plus the quota read once
                             per account), Bluesky 1 (createRecord; plus one login per account),
                             Mastodon 1 (POST statuses); Facebook first comments 1 (the post's
                             feed POST, then the comment's POST: 1 per message)
  runs                       execute_once calls it took (the parts chain within a run)
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from pymongo import MongoClient
from pymongo.database import Database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import mongo_uri, report
from bench.engine import CommandCounter, SleepingPublisher
from common import accounts
from common.clock import ScheduledTime, utcnow
from common.config import Settings, load_settings
from common.db import Doc, ensure_indexes
from common.engine import Trigger, execute_once
from common.model import Content, FollowUpKind
from common.platforms.base import Registry
from common.platforms.registry import default_registry
from common.posts import store
from common.tokens import TokenCipher
from devstack.sandbox import control

NETWORKS = ("threads", "bluesky", "mastodon")


def _enrol(
    db: Database[Doc],
    platform: str,
    n_accounts: int,
    cipher: TokenCipher,
    add: Callable[[int], tuple[str, str, str | None]],
) -> list[str]:
    """Accounts in the sandbox (`add` -> external id, secret, service URL) and in MongoDB."""
    ids = []
    for a in range(n_accounts):
        external, secret, service = add(a)
        account_id = f"{platform}-{a}"
        accounts.create(
            db,
            account_id=account_id,
            platform=platform,
            external_id=external,
            name=account_id,
            token_ciphertext=cipher.encrypt(secret),
            token_expires_at=None,
            now=utcnow(),
            service_url=service,
        )
        ids.append(account_id)
    return ids


def _seed(
    db: Database[Doc], platform: str, account_ids: list[str], n_threads: int, n_parts: int
) -> None:
    due = utcnow() - timedelta(seconds=5)
    kind: FollowUpKind = "thread" if platform in NETWORKS else "comment"
    for t in range(n_threads):
        parts = [
            store.NewFollowUp(kind, Content(text=f"{platform} {t} part {p}"))
            for p in range(1, n_parts)
        ]
        store.create(
            db,
            account_id=account_ids[t % len(account_ids)],
            platform=platform,
            content=Content(text=f"{platform} {t} part 0"),
            when=ScheduledTime.utc(due),
            now=utcnow(),
            follow_ups=parts,
        )


def _sandboxes(stack: ExitStack) -> Iterator[object]:
    yield stack.enter_context(control.running())
    yield stack.enter_context(control.running_bluesky())
    yield stack.enter_context(control.running_mastodon())


def _until_published(
    settings: Settings, registry: Registry, db: Database[Doc], counter: CommandCounter, most: int
) -> tuple[int, int]:
    """Runs until no part waits: the runs' own commands (not this loop's counts), and runs."""
    commands = runs = 0
    while db["posts"].count_documents({"status": {"$in": ["scheduled", "waiting"]}}):
        runs += 1
        if runs > most:
            raise SystemExit("parts left unpublished")
        before = counter.count
        execute_once(settings, Trigger("cli"), registry, db=db)
        commands += counter.count - before
    return commands, runs


def _fresh(uri: str) -> tuple[MongoClient[Doc], Database[Doc], CommandCounter]:
    counter = CommandCounter()
    client: MongoClient[Doc] = MongoClient(uri, tz_aware=True, event_listeners=[counter])
    db = client[f"bench_{uuid.uuid4().hex[:8]}"]
    ensure_indexes(db)
    return client, db, counter


def measure_engine(uri: str, n_threads: int, n_parts: int, n_accounts: int) -> dict[str, float]:
    """The scheduler alone, as bench/engine.py measures plain posts: a platform that answers
    at once and touches no database."""
    client, db, counter = _fresh(uri)
    cipher = TokenCipher((Fernet.generate_key().decode(),))
    ids = _enrol(db, "bluesky", n_accounts, cipher, lambda a: (f"did:bench:{a}", "x", None))
    _seed(db, "bluesky", ids, n_threads, n_parts)
    settings = load_settings({"MONGO_URI": uri, "MONGO_DB": db.name})
    registry = Registry([SleepingPublisher("bluesky", 0.0)])
    commands, runs = _until_published(settings, registry, db, counter, 4 * n_parts)
    parts = db["posts"].count_documents({"status": "published"})
    client.drop_database(db.name)
    client.close()
    return {"parts": parts, "runs": runs, "commands_per_thread_part": round(commands / parts, 3)}


def measure_networks(uri: str, n_threads: int, n_parts: int, n_accounts: int) -> dict[str, float]:
    client, db, counter = _fresh(uri)
    key = Fernet.generate_key().decode()
    cipher = TokenCipher((key,))
    with ExitStack() as stack:
        meta, sky, masto = list(_sandboxes(stack))
        assert isinstance(meta, control.Sandbox)
        assert isinstance(sky, control.BlueskySandbox)
        assert isinstance(masto, control.MastodonSandbox)

        def threads_account(a: int) -> tuple[str, str, str | None]:
            meta.add_account(f"th-{a}", "threads", f"th-token-{a}")
            return f"th-{a}", f"th-token-{a}", None

        def page(a: int) -> tuple[str, str, str | None]:
            meta.add_account(f"page-{a}", "page", f"fb-token-{a}")
            return f"page-{a}", f"fb-token-{a}", None

        def bluesky_account(a: int) -> tuple[str, str, str | None]:
            password = f"benc-hpas-swor-d{a:03d}"
            return sky.add_account(f"bench{a}.bsky.test", password), password, sky.url

        def mastodon_account(a: int) -> tuple[str, str, str | None]:
            return masto.add_account(f"bench{a}", f"masto-{a}"), f"masto-{a}", masto.url

        enrolled = {
            "threads": _enrol(db, "threads", n_accounts, cipher, threads_account),
            "bluesky": _enrol(db, "bluesky", n_accounts, cipher, bluesky_account),
            "mastodon": _enrol(db, "mastodon", n_accounts, cipher, mastodon_account),
            "facebook": _enrol(db, "facebook", n_accounts, cipher, page),
        }
        for platform, ids in enrolled.items():
            # Facebook: each post and its first comment (a thread of two, as comments go).
            _seed(db, platform, ids, n_threads, n_parts if platform in NETWORKS else 2)
        settings = load_settings(
            {
                "MONGO_URI": uri,
                "MONGO_DB": db.name,
                "META_GRAPH_URL": meta.url,
                "THREADS_GRAPH_URL": meta.url,
                "TOKEN_ENCRYPTION_KEY": key,
            }
        )
        registry = default_registry(settings)
        meta_before, sky_before, masto_before = (
            meta.requests(),
            sky.total_requests(),
            masto.total_requests(),
        )
        commands, _ = _until_published(settings, registry, db, counter, 4 * n_parts)
        parts = db["posts"].count_documents({"status": "published"})
        meta_after = meta.requests()
        spent = {k: meta_after.get(k, 0) - meta_before.get(k, 0) for k in meta_after}
        threads_requests = sum(v for k, v in spent.items() if "threads" in k)
        fb_requests = sum(v for k, v in spent.items() if "threads" not in k)
        results = {
            # With the real adapters: Threads stores its container before the send (+1).
            "commands_per_part_real_adapters": round(commands / parts, 3),
            "requests_per_thread_part_threads": round(threads_requests / (n_threads * n_parts), 3),
            "requests_per_thread_part_bluesky": round(
                (sky.total_requests() - sky_before) / (n_threads * n_parts), 3
            ),
            "requests_per_thread_part_mastodon": round(
                (masto.total_requests() - masto_before) / (n_threads * n_parts), 3
            ),
            "requests_per_first_comment_facebook": round(fb_requests / (n_threads * 2), 3),
        }
    client.drop_database(db.name)
    client.close()
    return results


GOALS = {
    "commands_per_thread_part": "<= 3",
    "requests_per_thread_part_threads": "2 + quota reads",
    "requests_per_thread_part_bluesky": "1 + logins",
    "requests_per_thread_part_mastodon": "1",
    "requests_per_first_comment_facebook": "1",
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=100)
    parser.add_argument("--network-threads", type=int, default=12)
    parser.add_argument("--parts", type=int, default=5)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    uri = mongo_uri(parser)
    results = {
        **measure_engine(uri, args.threads, args.parts, args.accounts),
        **measure_networks(uri, args.network_threads, args.parts, args.accounts),
    }
    report(results, GOALS, as_json=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
