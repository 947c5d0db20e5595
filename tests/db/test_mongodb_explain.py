"""On a real MongoDB: the tick's and the status report's reads use indexes, and the documents
they examine are bounded by the due and open posts, not by the collection.

Opt-in: `MONGO_URI=mongodb://... make test-mongodb`. The local MongoDB-compatible server has no
`explain` and ignores secondary indexes, so under `make test` these tests skip with that
reason; tests/db/test_query_shapes.py checks the same commands against db.INDEXES there.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure

from common import status
from common.clock import utcnow
from common.config import Settings
from common.db import Doc
from common.engine import Trigger, execute_once
from tests.conftest import add_account
from tests.explain_plans import docs_examined, plan_problems
from tests.query_shapes import CommandRecorder
from tests.recording import LOG, registry_for

FINISHED, FUTURE, DUE = 3000, 1000, 5
READS = ("find", "aggregate", "count")
_SESSION_FIELDS = {"$db", "lsid", "$clusterTime", "$readPreference", "txnNumber"}


@pytest.fixture
def explainable(db: Database[Doc]) -> Database[Doc]:
    try:
        db.command("explain", {"find": "posts", "filter": {}}, verbosity="executionStats")
    except OperationFailure as exc:
        pytest.skip(
            "needs MONGO_URI pointing at a real MongoDB (make test-mongodb): the local server "
            f"has no explain and ignores secondary indexes ({exc.code})"
        )
    return db


def _seed(db: Database[Doc]) -> None:
    now = utcnow()
    add_account(db, "a")
    base = {"accountId": "a", "platform": "facebook", "content": {"text": "x", "media": []}}

    def post(status_: str, due: Any, **extra: Any) -> Doc:
        return {
            **base,
            "status": status_,
            "scheduledAt": due,
            "dueAt": due,
            "version": 1,
            "attempts": 0,
            "remote": {},
            **extra,
        }

    day_ago = now - timedelta(days=1)
    db["posts"].insert_many(
        [
            post("published", day_ago, publishedAt=day_ago, finishedAt=day_ago)
            for _ in range(FINISHED)
        ]
        + [post("scheduled", now + timedelta(minutes=i + 1)) for i in range(FUTURE)]
        + [post("scheduled", now - timedelta(seconds=i + 1)) for i in range(DUE)]
    )


@pytest.fixture
def recorder(mongo_uri: str) -> Iterator[tuple[MongoClient[Doc], CommandRecorder]]:
    recording = CommandRecorder()
    client: MongoClient[Doc] = MongoClient(mongo_uri, tz_aware=True, event_listeners=[recording])
    yield client, recording
    client.close()


def _explain(db: Database[Doc], command: Doc) -> Doc:
    plain = {k: v for k, v in command.items() if k not in _SESSION_FIELDS}
    return db.command("explain", plain, verbosity="executionStats")


def test_tick_and_status_reads_scan_indexes_and_examine_only_what_is_due_or_open(
    explainable: Database[Doc],
    settings: Settings,
    recorder: tuple[MongoClient[Doc], CommandRecorder],
) -> None:
    db = explainable
    _seed(db)
    client, recording = recorder
    listened = client[db.name]
    execute_once(settings, Trigger("tick", "m-1"), registry_for(db), db=listened)
    status.report(settings, listened, utcnow())
    reads = [c for c in recording.commands if next(iter(c)) in READS and c[next(iter(c))] != LOG]
    assert reads
    open_posts = FUTURE  # after the tick, the due posts are published
    for command in reads:
        plan = _explain(db, command)
        # The status report's reads are $lookups of its one command: each must show its scans.
        assert plan_problems(command, plan, f"{db.name}.{command[next(iter(command))]}") == []
        examined = docs_examined(plan)
        assert examined is not None and examined <= open_posts + DUE, (command, examined)
        assert examined < FINISHED, command
