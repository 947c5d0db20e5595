"""Adapter benchmark against the sandboxes (ratios and per-post cost, not a timed test).

    python bench/adapters.py [--posts N] [--json]

Prints a table; with --json the last line is one JSON object:
  requests_per_fb_text  Graph requests per Facebook text post (goal 1)
  requests_per_ig_image Graph requests per Instagram image, quota reads amortised
                        (goal <= 3 plus the quota checks)
  adapter_overhead_ms   wall time per Facebook text post through adapter, HTTP and sandbox,
                        at zero sandbox latency (loopback)
  requests_per_bluesky_text  XRPC requests per Bluesky text post, the one login amortised
                        over the run (goal 1)
  bluesky_logins        createSession calls for all the Bluesky posts (goal 1)
  requests_per_mastodon_text  REST requests per Mastodon text post (goal 1)
  requests_per_threads_text   Graph requests per Threads text post, the quota read
                        amortised over the posts (goal <= 2 plus the quota reads; a
                        container's status is read once before publishing)
  threads_quota_reads   threads_publishing_limit reads for all the Threads posts
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from bson import ObjectId
from cryptography.fernet import Fernet

# devstack is not installed with the package: run from the clone.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import report
from common.clock import utcnow
from common.config import Settings, load_settings
from common.model import Account, Content, Media, Post
from common.platforms.base import Published, Publisher
from common.platforms.bluesky.publisher import BlueskyPublisher
from common.platforms.bluesky.sessions import SessionKeeper
from common.platforms.bluesky.xrpc import XrpcClient
from common.platforms.mastodon.client import MastodonClient
from common.platforms.mastodon.publisher import MastodonPublisher
from common.platforms.media_fetch import MediaFetcher
from common.platforms.meta.containers import ContainerPublisher
from common.platforms.meta.facebook import FacebookPublisher
from common.platforms.meta.graph import GraphClient
from common.platforms.meta.instagram import INSTAGRAM
from common.platforms.registry import threads_client
from common.platforms.threads.publisher import THREADS
from common.tokens import TokenCipher
from devstack.sandbox import control

# The sandboxes' test secrets (placeholders, as in tests).
BLUESKY_PASSWORD = "benc-hpas-swor-d000"  # noqa: S105
MASTODON_TOKEN = "masto-bench-token"  # noqa: S105


class BenchContext:
    """A PublishContext without a database: the bench measures the adapters, not the engine."""

    def record_remote(self, remote: Mapping[str, str]) -> bool:
        return True

    def begin_send(self, remote: Mapping[str, str] | None = None) -> bool:
        return True

    def seconds_left(self) -> float:
        return 60.0


def make_post(platform: str, text: str, media: tuple[Media, ...] = ()) -> Post:
    now = datetime.now(UTC)
    return Post(
        id=ObjectId(),
        account_id=f"{platform}-bench",
        platform=platform,
        content=Content(text=text, media=media),
        scheduled_at=now,
        time_zone="UTC",
        due_at=now,
        status="publishing",
        version=1,
    )


def measure(n_posts: int) -> dict[str, float]:
    key = Fernet.generate_key().decode()
    cipher = TokenCipher((key,))
    with control.running() as sandbox:
        settings = load_settings(
            {
                "MONGO_URI": "mongodb://127.0.0.1:1/",  # unused: no database in this bench
                "META_GRAPH_URL": sandbox.url,
                "THREADS_GRAPH_URL": sandbox.url,
                "TOKEN_ENCRYPTION_KEY": key,
                "IG_POLL_INTERVAL_SECONDS": "0.05",
            }
        )
        client = GraphClient(settings)
        sandbox.add_account("page-bench", "page", "fb-token")
        sandbox.add_account("ig-bench", "instagram", "ig-token")
        sandbox.set_faults("ig-bench", quota_total=n_posts + 1)
        page = Account("page-bench", "facebook", "page-bench", "bench", cipher.encrypt("fb-token"))
        ig = Account("ig-bench", "instagram", "ig-bench", "bench", cipher.encrypt("ig-token"))
        facebook = FacebookPublisher(client, cipher)
        instagram = ContainerPublisher(INSTAGRAM, client, cipher, settings)
        ctx = BenchContext()

        facebook.publish(make_post("facebook", "warm-up"), page, ctx)  # connection set-up
        before = sandbox.total_requests()
        started = time.perf_counter()
        for i in range(n_posts):
            assert isinstance(
                facebook.publish(make_post("facebook", f"fb {i}"), page, ctx), Published
            )
        fb_seconds = time.perf_counter() - started
        fb_requests = sandbox.total_requests() - before

        before = sandbox.total_requests()
        image = (Media(sandbox.image_url("bench.jpg")),)  # the sandbox fetches it, as Meta does
        for i in range(n_posts):
            outcome = instagram.publish(make_post("instagram", f"ig {i}", image), ig, ctx)
            assert isinstance(outcome, Published)
        ig_requests = sandbox.total_requests() - before
        threads = measure_threads(sandbox, settings, cipher, n_posts)
        client.close()
    return {
        "posts": n_posts,
        "requests_per_fb_text": round(fb_requests / n_posts, 3),
        "requests_per_ig_image": round(ig_requests / n_posts, 3),
        "adapter_overhead_ms": round(fb_seconds / n_posts * 1000, 3),
        **threads,
        **measure_bluesky(n_posts, key),
        **measure_mastodon(n_posts, key),
    }


def measure_threads(
    sandbox: control.Sandbox, settings: Settings, cipher: TokenCipher, n_posts: int
) -> dict[str, float]:
    sandbox.add_account("th-bench", "threads", "th-token")
    sandbox.set_faults("th-bench", quota_total=n_posts + 1)
    account = Account("th-bench", "threads", "th-bench", "bench", cipher.encrypt("th-token"))
    client = threads_client(settings)
    publisher = ContainerPublisher(THREADS, client, cipher, settings)
    before = sandbox.requests()
    for i in range(n_posts):
        outcome = publisher.publish(make_post("threads", f"th {i}"), account, BenchContext())
        assert isinstance(outcome, Published)
    after = sandbox.requests()
    client.close()
    spent = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    return {
        "requests_per_threads_text": round(sum(spent.values()) / n_posts, 3),
        "threads_quota_reads": spent.get("GET threads_publishing_limit", 0),
    }


def measure_bluesky(n_posts: int, key: str) -> dict[str, float]:
    """From a cold start (no session kept): the first post logs in, the others reuse it."""
    cipher, settings = TokenCipher((key,)), _without_database(key)
    with control.running_bluesky() as sandbox, closing(XrpcClient(settings)) as client:
        did = sandbox.add_account("bench.bsky.test", BLUESKY_PASSWORD)
        secret = cipher.encrypt(BLUESKY_PASSWORD)
        account = Account("bsky-bench", "bluesky", did, "bench", secret, service_url=sandbox.url)
        sessions = SessionKeeper(client, cipher, lambda _id, _ciphertext: None, utcnow)
        _publish_texts(BlueskyPublisher(client, sessions, MediaFetcher(settings)), account, n_posts)
        counts = sandbox.requests()
    return {
        "requests_per_bluesky_text": round(sum(counts.values()) / n_posts, 3),
        "bluesky_logins": counts.get("POST com.atproto.server.createSession", 0),
    }


def measure_mastodon(n_posts: int, key: str) -> dict[str, float]:
    cipher, settings = TokenCipher((key,)), _without_database(key)
    with control.running_mastodon() as sandbox, closing(MastodonClient(settings)) as client:
        remote_id = sandbox.add_account("bench", MASTODON_TOKEN)
        secret = cipher.encrypt(MASTODON_TOKEN)
        account = Account(
            "masto-bench", "mastodon", remote_id, "bench", secret, service_url=sandbox.url
        )
        _publish_texts(MastodonPublisher(client, cipher, MediaFetcher(settings)), account, n_posts)
        total = sandbox.total_requests()
    return {"requests_per_mastodon_text": round(total / n_posts, 3)}


def _without_database(key: str) -> Settings:
    return load_settings({"MONGO_URI": "mongodb://127.0.0.1:1/", "TOKEN_ENCRYPTION_KEY": key})


def _publish_texts(publisher: Publisher, account: Account, n_posts: int) -> None:
    """`n_posts` text posts to `account`, each of which must be published."""
    ctx = BenchContext()
    for i in range(n_posts):
        post = make_post(account.platform, f"{account.platform} {i}")
        assert isinstance(publisher.publish(post, account, ctx), Published)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = measure(args.posts)
    report(results, {}, as_json=args.json)


if __name__ == "__main__":
    main()
