"""A cold instance loads what its first request uses, and no more (bench/coldstart.py measures
what the imports cost).

The run function: recurring posts' use cases (post scheduling, media checks, dateutil) load
when a series is due, cryptography when a token is first opened, and the manual run's
authentication (JWTs, API keys) in the run_http function only. The status function: its report
reads the queue's figures, so it loads neither the claim, the publishing policy nor the
networks' outcome types."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

from pymongo.database import Database

from common.db import Doc
from tests.functions_fixtures import ROOT, function_env

FUNCTIONS = ROOT / "functions"
# Deployed as functions-framework loads it: the framework first, then main.py, then the work.
PREAMBLE = "import json, sys\nimport functions_framework\nimport main\n"
EMPTY_TICK = """
from common.engine import Trigger
from common.entrypoints import runner
summary = runner.execute(main.service.get(), Trigger("tick", "cold-start-1"))
print(json.dumps({"status": summary.status, "modules": sorted(sys.modules)}))
"""
STATUS_REPORT = """
computed, _ = main.service.get().cache.get()
print(json.dumps({"status": computed.code, "modules": sorted(sys.modules)}))
"""
# Modules a tick with nothing due must not load (the other paths load them when they need them).
NOT_ON_AN_EMPTY_TICK = (
    "dateutil",
    "six",
    "cryptography",
    "jwt",
    "common.series",
    "common.operations.series",
    "common.operations.series_materialise",
    "common.operations.scheduling",
    "common.operations.media",
    "common.entrypoints.auth",
    "common.apikeys",
    "common.posts.listing",
)
NOT_FOR_A_STATUS_REPORT = (
    "common.posts.lease",
    "common.posts.listing",
    "common.posts.tasks",
    "common.transitions.policy",
    "common.platforms.base",
)


def loaded_by(function: str, work: str, env: dict[str, str]) -> tuple[object, set[str]]:
    """The outcome of `work` in a fresh interpreter that loaded the function, and its modules."""
    directory = FUNCTIONS / function
    done = subprocess.run(
        [sys.executable, "-c", PREAMBLE + work],
        cwd=directory,
        env={**env, "PYTHONPATH": str(directory)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["status"], set(report["modules"])


def test_an_empty_tick_on_a_cold_instance_loads_no_series_cipher_or_caller_auth_modules(
    mongo_uri: str, db: Database[Doc]
) -> None:
    # A configured token key: the run builds its cipher on every cold start.
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    env = function_env(mongo_uri, db.name, TOKEN_ENCRYPTION_KEY=key)
    outcome, loaded = loaded_by("run", EMPTY_TICK, env)
    assert outcome == "ok"
    assert {"common.engine", "common.tokens", "common.operations.series_due"} <= loaded
    assert sorted(loaded & set(NOT_ON_AN_EMPTY_TICK)) == []


def test_a_status_report_on_a_cold_instance_loads_no_claim_or_publishing_modules(
    mongo_uri: str, db: Database[Doc]
) -> None:
    outcome, loaded = loaded_by("status", STATUS_REPORT, function_env(mongo_uri, db.name))
    assert outcome == 200
    assert {"common.status", "common.posts.figures", "common.posts.queue"} <= loaded
    assert sorted(loaded & set(NOT_FOR_A_STATUS_REPORT)) == []


def test_the_cli_loads_the_databases_use_cases_only_when_it_works_on_the_database() -> None:
    """Remote mode (SOCIALSCHED_API_URL) goes through the api: every command would otherwise
    pay for the direct backend's imports (the engine, the api's answers and their web
    framework) before it sends its first request."""
    work = (
        "import json, sys\n"
        "from common.entrypoints.cli.main import build_parser\n"
        "build_parser().parse_args(['posts', 'list'])\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", work],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "common.entrypoints.cli.main" in loaded
    heavy = ("common.entrypoints.cli.direct", "common.engine", "flask", "functions_framework")
    assert [m for m in heavy if m in loaded] == []
