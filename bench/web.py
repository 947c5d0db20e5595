"""Web app benchmark: what a first calendar load costs (a benchmark, not a timed test).

    python bench/web.py [--json] [--repeats N]

Figures (goals in brackets):
  first_load_kib          bytes a browser transfers for its first month view: the page and
                          every asset it names (gzip, as browsers ask), with 500 posts in the
                          month                                                         [<= 150]
  month_view_commands     database commands the month view costs, 10,000 posts stored and
                          500 in the month (each index-served: tests/db/test_query_shapes) [<= 4]
  web_import_ratio        import time of functions/web/main.py in a fresh interpreter over
                          that of functions/status/main.py                               [<= 1.5]

Needs MONGO_URI (`make bench` starts a server). The real web function (functions-framework's
create_app) is served in this process on loopback, so a pymongo CommandListener sees every
command it sends. With --json the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from pymongo import MongoClient, monitoring

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import mongo_uri, report, serve_function
from bench.coldstart import FUNCTION, import_medians
from bench.engine import CommandCounter
from common import web_sessions
from common.clock import utcnow
from common.db import ensure_indexes

STORED, IN_MONTH, ACCOUNTS = 10_000, 500, 5
MONTH = datetime(2027, 3, 1, tzinfo=UTC)
_ASSET = re.compile(r'(?:src|href)="(/assets/[^"]+)"')


def seed(client: MongoClient[Any], db_name: str) -> None:
    """10,000 posts over two years, 500 of them in March 2027, on five accounts."""
    db = client[db_name]
    ensure_indexes(db)
    now = utcnow()
    db["accounts"].insert_many(
        [
            {"_id": f"a{i}", "platform": "facebook", "externalId": f"{i}", "name": f"Page {i}"}
            for i in range(ACCOUNTS)
        ]
    )
    docs = []
    for n in range(STORED):
        if n < IN_MONTH:
            due = MONTH + timedelta(minutes=n * 89)  # spread over the month's 31 days
        else:
            due = MONTH + timedelta(days=40 + (n % 700))
        docs.append(
            {
                "accountId": f"a{n % ACCOUNTS}",
                "platform": "facebook",
                "content": {
                    "text": f"Post number {n}: our spring offer, see the link",
                    "media": [],
                },
                "scheduledAt": due,
                "timeZone": "UTC",
                "dueAt": due,
                "status": "scheduled",
                "version": 1,
                "createdAt": now,
                "updatedAt": now,
            }
        )
    db["posts"].insert_many(docs)


def transferred(url: str, headers: dict[str, str]) -> int:
    """Bytes on the wire for one GET (the body as sent, compressed or not)."""
    with requests.get(url, headers=headers, stream=True, timeout=30) as answer:
        answer.raise_for_status()
        return len(answer.raw.read(decode_content=False))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    uri = mongo_uri(parser)
    db_name = f"bench_web_{uuid.uuid4().hex[:8]}"
    client: MongoClient[Any] = MongoClient(uri, tz_aware=True)
    counter = CommandCounter()
    monitoring.register(counter)  # every client made after this, the function's included
    try:
        seed(client, db_name)
        token, _ = web_sessions.start(
            client[db_name], "admin_key", "admin", utcnow(), timedelta(hours=1)
        )
        env = {"MONGO_URI": uri, "MONGO_DB": db_name, "PYTHONPATH": str(ROOT)}
        url, server = serve_function("web", env)
        headers = {
            "Cookie": f"__Host-session={token}",
            "Accept": "text/html",
            "Accept-Encoding": "gzip, deflate, br",
        }
        month = f"{url}/calendar?at={MONTH.date()}"
        transferred(month, headers)  # the instance's first request builds it: not counted
        counter.count = 0
        page_bytes = transferred(month, headers)
        commands = counter.count
        page = requests.get(month, headers=headers, timeout=30).text
        shown = page.count('class="chip ')
        asset_bytes = sum(transferred(url + path, headers) for path in _ASSET.findall(page))
        server.shutdown()
    finally:
        client.drop_database(db_name)
        client.close()
    functions = {name: (FUNCTION, ROOT / "functions" / name) for name in ("web", "status")}
    medians = import_medians(functions, args.repeats)
    web, status_import = medians["web"], medians["status"]
    figures = {
        "first_load_kib": round((page_bytes + asset_bytes) / 1024, 1),
        "page_kib": round(page_bytes / 1024, 1),
        "assets_kib": round(asset_bytes / 1024, 1),
        "posts_shown": shown,
        "month_view_commands": commands,
        "web_import_ratio": round(web / status_import, 3),
    }
    goals = {
        "first_load_kib": "<= 150",
        "month_view_commands": "<= 4",
        "web_import_ratio": "<= 1.5",
    }
    report(figures, goals, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
