"""The public status function cannot be turned into database load: one report per window."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pymongo.database import Database

from common.entrypoints.status_http import ReportCache
from common.status import StatusReport
from tests.functions_fixtures import ROOT, Served, function_env, serve
from tests.process.test_status import populate

COUNTING_SOURCE = ROOT / "tests" / "fnhost" / "status_counting.py"
COMMANDS_PER_REPORT = 1
CACHE_SECONDS = 10


class _FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_report_is_computed_once_per_window_and_then_again() -> None:
    clock, computed = _FakeClock(), []
    report = object()

    def compute() -> tuple[StatusReport, int]:
        computed.append(clock.now)
        return report, 200  # type: ignore[return-value]

    cache = ReportCache(10, compute, clock)
    answers = []
    for step in range(30):  # one request a second for 30 s
        clock.now = 100.0 + step
        answers.append(cache.get())
    assert computed == [100.0, 110.0, 120.0]
    assert [round(age) for _, age in answers[:11]] == [*range(10), 0]
    assert all(a.report is report for a, _ in answers)


def test_a_zero_window_computes_every_time() -> None:
    clock, computed = _FakeClock(), []

    def compute() -> tuple[StatusReport, int]:
        computed.append(clock.now)
        return object(), 200  # type: ignore[return-value]

    cache = ReportCache(0, compute, clock)
    for _ in range(3):
        cache.get()
    assert len(computed) == 3


@pytest.fixture
def counting_status(
    mongo_uri: str, fresh_db: Database[Any], fn_db_name: str, fn_workdir: Path
) -> Iterator[tuple[Served, Path]]:
    command_log = fn_workdir / "status-commands.log"
    command_log.write_text("")
    env = function_env(mongo_uri, fn_db_name, COMMAND_LOG=str(command_log))
    with serve("status", COUNTING_SOURCE, env, fn_workdir) as served:
        yield served, command_log


def test_500_requests_in_10_seconds_cost_one_report_per_window(
    counting_status: tuple[Served, Path], fresh_db: Database[Any]
) -> None:
    served, command_log = counting_status
    populate(fresh_db, last_run_ago=timedelta(seconds=5))
    session = requests.Session()
    started = time.monotonic()
    ages = set()
    for n in range(500):  # one request every 20 ms
        time.sleep(max(0.0, started + n * 0.02 - time.monotonic()))
        response = session.get(served.url, timeout=30)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == f"public, max-age={CACHE_SECONDS}"
        ages.add(int(response.headers["Age"]))
    elapsed = time.monotonic() - started
    commands = command_log.read_text().split()
    reports, rest = divmod(len(commands), COMMANDS_PER_REPORT)
    assert rest == 0, commands
    # A window opens at the first request and every CACHE_SECONDS after it.
    assert 1 <= reports <= 1 + math.ceil(elapsed / CACHE_SECONDS)
    assert max(ages) >= CACHE_SECONDS - 2  # answers came from memory across the window
