"""A cold run instance loads what a tick with nothing due uses, and no more: recurring posts'
use cases (post scheduling, media checks, dateutil) load when a series is due, cryptography
when a token is first opened, and the manual run's authentication (JWTs, API keys) in the
run_http function only. bench/coldstart.py measures what the imports cost."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

from pymongo.database import Database

from common.db import Doc
from tests.functions_fixtures import ROOT, function_env

RUN_DIR = ROOT / "functions" / "run"
# Deployed as functions-framework loads it: the framework first, then main.py, then a tick.
EMPTY_TICK = """
import json, sys
import functions_framework
import main
from common.engine import Trigger
from common.entrypoints import runner
summary = runner.execute(main.service.get(), Trigger("tick", "cold-start-1"))
print(json.dumps({"status": summary.status, "modules": sorted(sys.modules)}))
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
)


def test_an_empty_tick_on_a_cold_instance_loads_no_series_cipher_or_caller_auth_modules(
    mongo_uri: str, db: Database[Doc]
) -> None:
    # A configured token key: the run builds its cipher on every cold start.
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    env = function_env(mongo_uri, db.name, TOKEN_ENCRYPTION_KEY=key)
    env["PYTHONPATH"] = str(RUN_DIR)
    done = subprocess.run(
        [sys.executable, "-c", EMPTY_TICK],
        cwd=RUN_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == "ok"
    loaded = set(report["modules"])
    assert {"common.engine", "common.tokens", "common.operations.series_due"} <= loaded
    assert sorted(loaded & set(NOT_ON_AN_EMPTY_TICK)) == []
