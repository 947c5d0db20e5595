"""Adapter benchmark against the sandbox Graph API (ratios and per-post cost, not a timed test).

    python bench/adapters.py [--posts N] [--json]

Prints a table; with --json the last line is one JSON object:
  requests_per_fb_text  Graph requests per Facebook text post (goal 1)
  requests_per_ig_image Graph requests per Instagram image, quota reads amortised
                        (goal <= 3 plus the quota checks)
  adapter_overhead_ms   wall time per Facebook text post through adapter, HTTP and sandbox,
                        at zero sandbox latency (loopback)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from bson import ObjectId
from cryptography.fernet import Fernet

# devstack is not installed with the package: run from the clone.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.accounts import Account
from common.config import load_settings
from common.model import Content, Media, Post
from common.platforms.base import Published
from common.platforms.meta.facebook import FacebookPublisher
from common.platforms.meta.graph import GraphClient
from common.platforms.meta.instagram import InstagramPublisher
from common.tokens import TokenCipher
from devstack.sandbox import control


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
        instagram = InstagramPublisher(client, cipher, settings)
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
        image = (Media("https://cdn.example/bench.jpg"),)
        for i in range(n_posts):
            outcome = instagram.publish(make_post("instagram", f"ig {i}", image), ig, ctx)
            assert isinstance(outcome, Published)
        ig_requests = sandbox.total_requests() - before
        client.close()
    return {
        "posts": n_posts,
        "requests_per_fb_text": round(fb_requests / n_posts, 3),
        "requests_per_ig_image": round(ig_requests / n_posts, 3),
        "adapter_overhead_ms": round(fb_seconds / n_posts * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = measure(args.posts)
    print(f"{'metric':<24}{'value':>12}")
    for name, value in results.items():
        print(f"{name:<24}{value:>12}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
