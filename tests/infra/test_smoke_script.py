"""scripts/smoke.sh against the real functions served by functions-framework on loopback; for
the tasks mode's checks, a loopback server stands in for publish's internal ingress and a stub
`gcloud` for Cloud Tasks (the real one cannot reach Google from here)."""

from __future__ import annotations

import http.server
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local_http import serving

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "scripts" / "smoke.sh"
FRAMEWORK = Path(sys.executable).parent / "functions-framework"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "functions-framework exited early"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")


@pytest.fixture
def served(mongo_uri: str) -> Iterator[tuple[dict[str, str], str]]:
    """status, run_http and api, each served by its own functions-framework process."""
    admin_key = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "MONGO_URI": mongo_uri,
        "MONGO_DB": f"smoke_{uuid.uuid4().hex[:12]}",
        "ADMIN_SECRET_KEY": admin_key,
        "META_GRAPH_URL": "http://127.0.0.1:9",
    }
    urls: dict[str, str] = {}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, source, target in [
            ("STATUS_URL", "functions/status/main.py", "status"),
            ("RUN_URL", "functions/run/main.py", "run_http"),
            ("API_URL", "functions/api/main.py", "api"),
        ]:
            port = free_port()
            process = subprocess.Popen(
                [
                    str(FRAMEWORK),
                    "--target",
                    target,
                    "--source",
                    source,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            processes.append(process)
            wait_for_port(port, process)
            urls[name] = f"http://127.0.0.1:{port}/"
        yield urls, admin_key
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def run_smoke(
    urls: dict[str, str], admin_key: str, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path or os.environ["PATH"], "ADMIN_KEY": admin_key, **urls}
    return subprocess.run(
        ["bash", str(SMOKE), "http://127.0.0.1:9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_smoke_passes_against_working_functions(served: tuple[dict[str, str], str]) -> None:
    urls, admin_key = served
    result = run_smoke(urls, admin_key)
    assert result.returncode == 0, result.stdout + result.stderr
    # status, the manual run refused and accepted, the api refused and answering.
    assert result.stdout.count("ok   ") == 5


def test_smoke_fails_with_a_wrong_admin_key(served: tuple[dict[str, str], str]) -> None:
    urls, _ = served
    result = run_smoke(urls, secrets.token_urlsafe(32))
    assert result.returncode == 1
    assert "FAIL manual run with the admin key runs: got 401" in result.stderr


def test_smoke_refuses_to_run_without_an_admin_key() -> None:
    result = subprocess.run(
        ["bash", str(SMOKE), "http://127.0.0.1:9"],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "ADMIN_KEY" in result.stderr


def test_smoke_explains_a_status_that_is_not_public(tmp_path: Path) -> None:
    """A 403 from status is Cloud Run IAM refusing an anonymous caller: the script says which
    setting to look at. A loopback server answers 403 the way Cloud Run's front end would."""

    class Forbidden(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(403)
            self.end_headers()
            self.wfile.write(b"Forbidden")

        def do_POST(self) -> None:
            self.do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forbidden)
    with serving(server):
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        result = run_smoke({"STATUS_URL": url, "RUN_URL": url, "API_URL": url}, "k" * 32)
    assert result.returncode == 1
    assert "FAIL status answers: got 403, expected 200" in result.stderr
    assert "status is not public" in result.stderr
    assert 'terraform_data.invoker_check_disabled["status"]' in result.stderr
    assert "the api is not public" in result.stderr


class IngressRefuses(http.server.BaseHTTPRequestHandler):
    """Cloud Run's answer to a call from outside a service whose ingress is internal."""

    def do_POST(self) -> None:
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


# The stub gcloud: logs its calls, and answers `tasks describe` as TASK_STATE says.
GCLOUD_STUB = """\
import json, os, sys
argv = sys.argv[1:]
with open(os.environ["GCLOUD_STUB_LOG"], "a") as log:
    log.write(json.dumps(argv) + "\\n")
if argv[:2] == ["tasks", "create-http-task"]:
    sys.exit(0)
if argv[:2] == ["tasks", "describe"]:
    if os.environ["TASK_STATE"] == "done":
        sys.stderr.write("ERROR: (gcloud.tasks.describe) NOT_FOUND: entity not found\\n")
        sys.exit(1)
    print("7\\tPERMISSION_DENIED")
    sys.exit(0)
if argv[:2] == ["tasks", "delete"]:
    sys.exit(0)
sys.exit(1)
"""


@pytest.fixture
def tasks_mode(
    served: tuple[dict[str, str], str], tmp_path: Path
) -> Iterator[tuple[dict[str, str], str, str, Path]]:
    """The served functions plus what the tasks checks need: PUBLISH_URL behind an internal
    ingress, the queue, the tasks account, and gcloud on PATH."""
    urls, admin_key = served
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), IngressRefuses)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gcloud = bin_dir / "gcloud"
    gcloud.write_text(f"#!{sys.executable} -IS\n{GCLOUD_STUB}")
    gcloud.chmod(0o755)
    log = tmp_path / "gcloud.log"
    log.write_text("")
    publish = f"http://127.0.0.1:{server.server_address[1]}"
    env = {
        **urls,
        "PUBLISH_URL": publish,
        "TASKS_QUEUE": "projects/p/locations/europe-west1/queues/socialsched-publish",
        "TASKS_SERVICE_ACCOUNT": "socialsched-tasks@p.iam.gserviceaccount.com",
        "GCLOUD_STUB_LOG": str(log),
        "TASK_WAIT_SECONDS": "5",
    }
    with serving(server):
        yield env, admin_key, f"{bin_dir}{os.pathsep}{os.environ['PATH']}", log


def test_smoke_sends_a_real_task_shape_to_publish_in_tasks_mode(
    tasks_mode: tuple[dict[str, str], str, str, Path],
) -> None:
    env, admin_key, path, log = tasks_mode
    result = run_smoke({**env, "TASK_STATE": "done"}, admin_key, path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   publish is unreachable from outside, even with a token: 404" in result.stdout
    assert "ok   a Cloud Task with the tasks account's token reaches publish" in result.stdout
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    (create,) = [c for c in calls if c[:2] == ["tasks", "create-http-task"]]
    publish = env["PUBLISH_URL"]
    # The token names the tasks account and publish's own URL as audience, as the run
    # functions' tasks do (common/tasks.py), on the queue Terraform created.
    assert f"--oidc-service-account-email={env['TASKS_SERVICE_ACCOUNT']}" in create
    assert f"--oidc-token-audience={publish}" in create
    assert f"--url={publish}" in create
    assert "--queue=socialsched-publish" in create and "--location=europe-west1" in create
    body = json.loads(next(a for a in create if a.startswith("--body-content=")).split("=", 1)[1])
    assert set(body) == {"postId", "version", "dueAtMs"}


def test_smoke_fails_when_publish_keeps_refusing_the_task(
    tasks_mode: tuple[dict[str, str], str, str, Path],
) -> None:
    env, admin_key, path, log = tasks_mode
    result = run_smoke({**env, "TASK_STATE": "refused"}, admin_key, path)
    assert result.returncode == 1
    assert "FAIL the smoke task is still in the queue after 5 s" in result.stderr
    assert "PERMISSION_DENIED" in result.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c[:2] for c in calls].count(["tasks", "delete"]) == 1
