"""API benchmark: database commands per created post (batches, single creates, and single
creates into the account's next free posting slot) and latency.

    python bench/api.py [--singles 200] [--batches 4] [--json]

Needs MONGO_URI (`make bench` starts a server). The real api function (functions/api/main.py,
built by functions-framework's create_app) is served in this process on loopback, so a pymongo
CommandListener sees every command it sends. Counts are measured in this one run; the
milliseconds are for the record only (a shared machine makes them noisy).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import time as clock_time
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
from pymongo import MongoClient, monitoring

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import mongo_uri, report, seed_account, serve_function
from bench.engine import CommandCounter
from common import accounts, apikeys
from common.clock import utcnow
from common.db import ensure_indexes
from common.slots import Schedule, Slot

BATCH = 500


def post_body(i: int, when: str) -> dict[str, Any]:
    return {"accountId": "bench", "scheduledAt": when, "text": f"post {i}"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    uri = mongo_uri(parser)
    counter = CommandCounter()
    monitoring.register(counter)  # before any client exists, so the function's is counted too
    db_name = f"bench_api_{uuid.uuid4().hex[:8]}"
    client: MongoClient[Any] = MongoClient(uri, tz_aware=True)
    db = client[db_name]
    ensure_indexes(db)
    seed_account(db, "bench", "1", utcnow())
    seed_account(db, "queued", "2", utcnow())
    hourly = tuple(Slot(day, clock_time(hour)) for day in range(7) for hour in range(24))
    accounts.set_slots(db, "queued", Schedule("UTC", hourly), utcnow())
    key = apikeys.create(db, "bench", ["posts:write"], utcnow()).secret
    env = {"MONGO_URI": uri, "MONGO_DB": db_name, "API_RATE_LIMIT_PER_MINUTE": "1000000"}
    url, server = serve_function("api", env)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    when = (utcnow() + timedelta(days=1)).isoformat()
    try:
        # Warm-up: the first request builds the service (settings, indexes, the client).
        session.post(f"{url}/v1/posts", json=post_body(-1, when), timeout=30).raise_for_status()
        singles, latencies = _singles(session, url, when, args.singles, counter)
        per_batch_post = _batches(session, url, when, args.batches, counter)
        queued = _queued(session, url, args.singles, counter)
    finally:
        server.shutdown()
        client.drop_database(db_name)
    figures = {
        "commands_per_created_post": round(per_batch_post, 4),
        "commands_per_single_create": round(singles, 2),
        "commands_per_queued_create": round(queued, 2),
        "api_p95_ms_create": round(statistics.quantiles(latencies, n=20)[-1], 1),
        "singles": args.singles,
        "batch_size": BATCH,
        "batches": args.batches,
    }
    goals = {
        "commands_per_created_post": "<= 0.02",
        "commands_per_single_create": "<= 4",
        "commands_per_queued_create": "<= 5",
    }
    report(figures, goals, as_json=args.json)
    return 0


def _singles(
    session: requests.Session, url: str, when: str, n: int, counter: CommandCounter
) -> tuple[float, list[float]]:
    """Single creates, each with an Idempotency-Key (the costlier path)."""
    start = counter.count
    latencies = []
    for i in range(n):
        began = time.perf_counter()
        answer = session.post(
            f"{url}/v1/posts",
            json=post_body(i, when),
            headers={"Idempotency-Key": f"single-{i}"},
            timeout=30,
        )
        latencies.append((time.perf_counter() - began) * 1000)
        if answer.status_code != 201:
            raise SystemExit(f"create failed: {answer.status_code} {answer.text}")
    return (counter.count - start) / n, latencies


def _queued(session: requests.Session, url: str, n: int, counter: CommandCounter) -> float:
    """Single creates into the account's next free slot (hourly slots), each with a key."""
    start = counter.count
    for i in range(n):
        body = {"accountId": "queued", "scheduledAt": "queue", "text": f"queued {i}"}
        answer = session.post(
            f"{url}/v1/posts", json=body, headers={"Idempotency-Key": f"queued-{i}"}, timeout=30
        )
        if answer.status_code != 201:
            raise SystemExit(f"queued create failed: {answer.status_code} {answer.text}")
    return (counter.count - start) / n


def _batches(
    session: requests.Session, url: str, when: str, n: int, counter: CommandCounter
) -> float:
    start = counter.count
    for b in range(n):
        body = {"posts": [post_body(100_000 + b * BATCH + i, when) for i in range(BATCH)]}
        answer = session.post(
            f"{url}/v1/posts", json=body, headers={"Idempotency-Key": f"batch-{b}"}, timeout=60
        )
        if answer.status_code != 201:
            raise SystemExit(f"batch failed: {answer.status_code} {answer.text[:300]}")
    return (counter.count - start) / (n * BATCH)


if __name__ == "__main__":
    sys.exit(main())
