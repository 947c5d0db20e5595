"""scripts/smoke.sh against the real functions served by functions-framework on loopback."""

from __future__ import annotations

import http.server
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    """status and run_http served under /<prefix>-status and /<prefix>-run-http style URLs."""
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


def run_smoke(urls: dict[str, str], admin_key: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "ADMIN_KEY": admin_key, **urls}
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
    assert result.stdout.count("ok   ") == 3


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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        result = run_smoke({"STATUS_URL": url, "RUN_URL": url}, "k" * 32)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert "FAIL status answers: got 403, expected 200" in result.stderr
    assert "status is not public" in result.stderr
    assert "terraform_data.status_invoker_check_disabled[0]" in result.stderr
