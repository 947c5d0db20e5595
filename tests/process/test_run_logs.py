"""Every line a run logs carries the request id, the run id and (while one post is worked on)
the post id, including the lines the Graph client writes on the pool's worker threads.

The real run function (functions/run/main.py, real adapters) under functions-framework,
publishing to the sandbox Graph API, with its JSON log lines read from the process's stdout.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pymongo.database import Database

from common.clock import utcnow
from devstack.sandbox.control import Sandbox
from tests import tokens
from tests.conftest import add_post
from tests.functions_fixtures import RUN_SOURCE, Served, function_env, serve
from tests.meta_support import connect, meta_env


@pytest.fixture
def run_fn(mongo_uri: str, fn_db_name: str, fn_workdir: Path, sandbox: Sandbox) -> Iterator[Served]:
    settings = {k: str(v) for k, v in meta_env(sandbox, PUBLISH_WORKERS="4").items()}
    with serve(
        "run_http", RUN_SOURCE, function_env(mongo_uri, fn_db_name, **settings), fn_workdir
    ) as served:
        yield served


def test_every_line_of_a_run_carries_request_run_and_post_ids(
    run_fn: Served, fresh_db: Database[Any], sandbox: Sandbox
) -> None:
    for page in ("page-a", "page-b"):
        connect(fresh_db, sandbox, page)
        sandbox.set_faults(page, server_errors=1)  # the Graph client logs the failed send
        add_post(fresh_db, page, utcnow() - timedelta(minutes=1), text=f"for {page}")
    headers = {"Authorization": f"Bearer {tokens.hs256(tokens.claims())}", "X-Request-ID": "r-42"}
    answer = requests.post(run_fn.url, headers=headers, timeout=30)
    assert answer.status_code == 200
    run_id = answer.json()["result"]["runId"]

    lines = [line for line in run_fn.log_lines() if line.get("runId") == run_id]
    post_ids = {str(doc["_id"]) for doc in fresh_db["posts"].find()}
    graph_lines = [line for line in lines if line["logger"].startswith("common.platforms")]
    assert len(graph_lines) >= 2, [line["message"] for line in lines]
    assert all(line.get("requestId") == "r-42" for line in lines)
    assert {line.get("postId") for line in graph_lines} == post_ids
    assert any(line["message"] == "run finished" for line in lines)
    # Nothing logged during the request escapes the ids.
    request_lines = [line for line in run_fn.log_lines() if line.get("requestId") == "r-42"]
    assert all("runId" in line for line in request_lines if line["message"] != "manual run")
