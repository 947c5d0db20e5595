"""Cold-start and status cost of the functions (a benchmark, not a timed test).

    python bench/coldstart.py [--json] [--repeats N] [--requests N]

Figures (goals in brackets):
  run_import_ratio     import time of functions/run/main.py in a fresh interpreter over that of
                       functions_framework + pymongo + requests alone                      [<= 1.3]
  status_import_ratio  the same for functions/status/main.py                               [<= 1.3]
  api_import_ratio     the same for functions/api/main.py (it reads and writes the declared
                       API shapes, common/entrypoints/api/shapes/)
  status_commands      database commands one status report costs                           [<= 3]
  status_p95_ms        95th percentile latency of GET on the status function under
                       functions-framework against the local database server (MONGO_URI)

Needs MONGO_URI (`make bench` starts a server). With --json the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
from pymongo import MongoClient, monitoring

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import report
from common import lock, status
from common.clock import utcnow
from common.config import load_settings
from common.run_summary import RunSummary
from devstack.processes import free_port

BASELINE = "import functions_framework, pymongo, requests"
# As deployed: functions-framework has loaded itself before it imports main.py.
FUNCTION = f"{BASELINE}; import main"
# CPU time of the import: on this shared machine wall time mostly measures the neighbours, and
# a function instance has its CPU to itself while it starts.
TIMER = "import sys, time; sys.path.insert(0, {path!r}); t = time.process_time(); {stmt}; " + (
    "print(time.process_time() - t)"
)


def import_medians(imports: dict[str, tuple[str, Path]], repeats: int) -> dict[str, float]:
    """Median wall time of each import statement in fresh interpreters (its dir on sys.path),
    the imports taking turns so that a change in the machine's load hits them alike.

    With compiled bytecode, as deployed: the functions buildpack runs `python -m compileall` on
    the source at build time, and pip compiles the dependencies. The pycs go to a fresh folder
    (PYTHONPYCACHEPREFIX), so neither PYTHONDONTWRITEBYTECODE nor stale pycs in the tree change
    the figure; a first, untimed round writes them."""
    samples: dict[str, list[float]] = {name: [] for name in imports}
    with tempfile.TemporaryDirectory(prefix="coldstart-pyc-") as pycache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = pycache
        for round_ in range(repeats + 1):
            for name, (statement, path) in imports.items():
                code = TIMER.format(path=str(path), stmt=statement)
                out = subprocess.run(
                    [sys.executable, "-c", code],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=path,
                    env=env,
                )
                if round_:
                    samples[name].append(float(out.stdout.strip()))
    return {name: statistics.median(values) for name, values in samples.items()}


class _Counter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


def seed(client: MongoClient[Any], db_name: str, posts: int) -> None:
    """A realistic queue: accounts and posts in every state the report counts, and the state
    document every run leaves (a deployment's first tick writes it)."""
    db = client[db_name]
    now = utcnow()
    held = lock.acquire(db, "bench-run", now, timedelta(minutes=5))
    assert isinstance(held, lock.LockHandle)
    held.release(RunSummary("bench-run", "tick", finished_at=now))
    db["accounts"].insert_many(
        [{"_id": f"a{i}", "platform": "facebook", "status": "active"} for i in range(3)]
    )
    statuses = ["scheduled", "published", "failed", "unknown"]
    db["posts"].insert_many(
        [
            {
                "accountId": f"a{i % 3}",
                "platform": "facebook",
                "status": statuses[i % 4],
                "scheduledAt": now - timedelta(minutes=i),
                "dueAt": now - timedelta(minutes=i - 100),
                "publishedAt": now - timedelta(minutes=i) + timedelta(seconds=30),
            }
            for i in range(posts)
        ]
    )


def status_commands(mongo_uri: str, db_name: str) -> int:
    counter = _Counter()
    client: MongoClient[Any] = MongoClient(mongo_uri, tz_aware=True, event_listeners=[counter])
    try:
        client.admin.command("ping")
        counter.count = 0
        settings = load_settings({"MONGO_URI": mongo_uri, "MONGO_DB": db_name})
        status.report(settings, client[db_name], utcnow())
        return counter.count
    finally:
        client.close()


def status_p95_ms(mongo_uri: str, db_name: str, n_requests: int) -> float:
    port = free_port()
    env = {**os.environ, "MONGO_URI": mongo_uri, "MONGO_DB": db_name}
    command = [
        str(Path(sys.executable).with_name("functions-framework")),
        "--target=status",
        f"--source={ROOT / 'functions' / 'status' / 'main.py'}",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    try:
        _wait_for(port)
        url = f"http://127.0.0.1:{port}/"
        with requests.Session() as session:
            session.get(url, timeout=30).raise_for_status()  # warm: first request connects
            samples = []
            for _ in range(n_requests):
                started = time.perf_counter()
                session.get(url, timeout=30).raise_for_status()
                samples.append((time.perf_counter() - started) * 1000)
        return statistics.quantiles(samples, n=20)[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the status function did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--repeats", type=int, default=7, help="fresh interpreters per import")
    parser.add_argument("--requests", type=int, default=200, help="status requests timed")
    parser.add_argument("--posts", type=int, default=2000, help="posts seeded for status")
    args = parser.parse_args()
    mongo_uri = os.environ.get("MONGO_URI")
    if not mongo_uri:
        parser.error("MONGO_URI is required (make bench starts a local server)")

    functions = ROOT / "functions"
    medians = import_medians(
        {
            "baseline": (BASELINE, ROOT),
            "run": (FUNCTION, functions / "run"),
            "status": (FUNCTION, functions / "status"),
            "api": (FUNCTION, functions / "api"),
        },
        args.repeats,
    )
    baseline, run = medians["baseline"], medians["run"]
    status_import, api_import = medians["status"], medians["api"]
    db_name = f"bench_{uuid.uuid4().hex[:8]}"
    client: MongoClient[Any] = MongoClient(mongo_uri, tz_aware=True)
    try:
        seed(client, db_name, args.posts)
        commands = status_commands(mongo_uri, db_name)
        p95 = status_p95_ms(mongo_uri, db_name, args.requests)
    finally:
        client.drop_database(db_name)
        client.close()

    figures = {
        "baseline_import_ms": round(baseline * 1000, 1),
        "run_import_ms": round(run * 1000, 1),
        "status_import_ms": round(status_import * 1000, 1),
        "run_import_ratio": round(run / baseline, 3),
        "status_import_ratio": round(status_import / baseline, 3),
        "api_import_ms": round(api_import * 1000, 1),
        "api_import_ratio": round(api_import / baseline, 3),
        "status_commands": commands,
        "status_p95_ms": round(p95, 1),
    }
    goals = {
        "run_import_ratio": "<= 1.3",
        "status_import_ratio": "<= 1.3",
        "status_commands": "<= 3",
    }
    report(figures, goals, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
