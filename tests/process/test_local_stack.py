"""`socialsched dev` (what `make run` starts), end to end as a newcomer would use it.

The stack runs its own database with a data file, the sandboxes (Graph API, Bluesky, Mastodon), both
functions under functions-framework and a fast ticker; posts are added with the CLI; each must
appear exactly once in its sandbox and be counted by status; Ctrl-C must leave no process behind.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from devstack.sandbox.control import Sandbox

ROOT = Path(__file__).resolve().parents[2]
BANNER_END = "demo posts due within the next minute"
OUR_POSTS: list[tuple[str, str, list[str]]] = [
    ("demo-page", f"e2e facebook post {i}", []) for i in range(3)
] + [
    ("demo-instagram", "e2e instagram post", ["--media", "{sandbox}media/e2e.jpg"]),
    ("demo-bluesky", "e2e bluesky post", []),
    ("demo-mastodon", "e2e mastodon post", []),
    # Image posts too: the networks that fetch the bytes themselves take the sandbox's media.
    ("demo-bluesky", "e2e bluesky image", ["--media", "{sandbox}media/sky.jpg"]),
    ("demo-mastodon", "e2e mastodon image", ["--media", "{sandbox}media/masto.jpg"]),
    ("demo-threads", "e2e threads post", []),
]
DEMO_POSTS = 6


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _read_banner(proc: subprocess.Popen[str]) -> dict[str, str]:
    """The URLs the stack's banner names; what the stack said instead, if it never printed one
    (a stack of ten processes on a loaded machine takes a while: 5-20 s here when quiet)."""
    assert proc.stdout is not None
    urls: dict[str, str] = {}
    said: list[str] = []
    deadline = time.monotonic() + 240
    for line in proc.stdout:
        said.append(line)
        for name in ("status", "sandbox posts", "bluesky posts", "mastodon posts", "database"):
            match = re.match(rf"\s+{name}\s+(\S+)", line)
            if match:
                urls[name] = match.group(1)
        if BANNER_END in line:
            return urls
        if time.monotonic() > deadline:
            break
    ended = "ended" if proc.poll() is not None else "was still starting after 240 s"
    raise AssertionError(f"the stack {ended} without its banner; it said:\n{''.join(said[-30:])}")


def _cli(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    # What .data/dev.env gives the CLI: the database, and media URLs on loopback allowed.
    env = {**os.environ, "MONGO_URI": database, "PRIVATE_ADDRESSES_ALLOWED": "on"}
    return subprocess.run(
        [sys.executable, "-m", "common.entrypoints.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("dispatch", ["inline", "tasks"])
def test_the_local_stack_publishes_cli_posts_exactly_once_and_stops_cleanly(
    tmp_path: Path, dispatch: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MONGO_URI"}
    env["DISPATCH"] = dispatch
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "common.entrypoints.cli",
            "dev",
            "--tick-seconds",
            "1",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        urls = _read_banner(proc)
        assert set(urls) == {
            "status",
            "sandbox posts",
            "bluesky posts",
            "mastodon posts",
            "database",
        }, urls
        # "now", not a time computed here: on a loaded machine each CLI process can take long
        # enough that a time a few seconds ahead has become the past by the third post.
        due = "now"
        for account, text, media in OUR_POSTS:
            added = _cli(
                urls["database"],
                "posts",
                "add",
                "--account",
                account,
                "--at",
                due,
                "--text",
                text,
                *(m.format(sandbox=urls["sandbox posts"]) for m in media),
            )
            assert added.returncode == 0, added.stderr
        sandboxes = [urls["sandbox posts"], urls["bluesky posts"], urls["mastodon posts"]]
        expected = DEMO_POSTS + len(OUR_POSTS)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            published = [
                post
                for sandbox in sandboxes
                for post in requests.get(f"{sandbox.rstrip('/')}/posts", timeout=10).json()["posts"]
            ]
            if len(published) >= expected:
                break
            time.sleep(1)
        texts = Counter(p.get("text") or p.get("message") or p.get("caption") for p in published)
        for _, text, _ in OUR_POSTS:
            assert texts[text] == 1, texts
        images = {p["text"]: len(p["media"]) for p in published if "image" in str(p.get("text"))}
        assert images == {"e2e bluesky image": 1, "e2e mastodon image": 1}
        assert len(published) == expected
        # The run that published the last post records its figures as it ends; in tasks mode
        # the next tick counts what the tasks published. Either is a tick or two away.
        deadline = time.monotonic() + 30
        while True:
            report = requests.get(urls["status"], timeout=10).json()
            counted = report["scheduler"]["totalPostsPublished"]
            if counted >= expected or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert counted == expected
        assert report["queue"] == {"due": 0, "scheduled": 0, "failed": 0, "unknown": 0}
        children = _descendants(proc.pid)
        # database, three sandboxes, four function servers (+ the tasks stand-in and publish)
        assert len(children) >= (8 if dispatch == "inline" else 10)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    left = [pid for pid in children if _alive(pid)]
    assert left == []
    # The console says what happened to each post, whichever function published it.
    assert proc.stdout is not None
    console = proc.stdout.read()
    outcomes = re.findall(r"post [0-9a-f]{24} \((\w+)\): (\w+)", console)
    assert Counter(outcome for _, outcome in outcomes) == {"published": expected}, console


def test_dev_outside_a_clone_says_to_use_make_run(tmp_path: Path) -> None:
    # An installed package: `common` with no devstack/ beside it.
    shutil.copytree(ROOT / "common", tmp_path / "common", ignore=shutil.ignore_patterns("*.pyc"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "common.entrypoints.cli", "dev"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "from a clone of the repository: run `make run` there" in result.stderr
    assert not (tmp_path / ".data").exists()


def _devstack(data_dir: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "DISPATCH")}
    command = [sys.executable, "-m", "devstack", "--no-demo", "--data-dir", str(data_dir)]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait_for_line(proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        if text in line:
            return
        seen.append(line)
    said = "".join(seen[-30:])
    raise AssertionError(f"the stack ended before printing {text!r}; it said:\n{said}")


@pytest.mark.slow
def test_a_killed_supervisor_leaves_no_process_and_the_next_start_finds_the_data_free(
    tmp_path: Path,
) -> None:
    """SIGKILL `python -m devstack` (an OOM kill, `kill -9`): every child stops with it (the
    database flushes and frees its file), so the next start on the same data file works."""
    first = _devstack(tmp_path / "data")
    try:
        _wait_for_line(first, "(add some: socialsched posts add --help)")
        children = _descendants(first.pid)
        assert len(children) >= 8  # database, three sandboxes, four function servers, the front
        first.kill()
        first.wait(timeout=30)
        deadline = time.monotonic() + 60
        while [pid for pid in children if _alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [pid for pid in children if _alive(pid)] == []
    finally:
        if first.poll() is None:
            first.kill()
    second = _devstack(tmp_path / "data")
    try:
        _wait_for_line(second, "(add some: socialsched posts add --help)")
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(timeout=60)
    assert second.returncode == 0


@pytest.mark.slow
def test_a_killed_socialsched_dev_leaves_no_process_behind(tmp_path: Path) -> None:
    """SIGKILL the `socialsched dev` wrapper itself (it runs `python -m devstack` in a session of
    its own, out of reach of the terminal's signals): the stack stops with it, every child too."""
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "DISPATCH")}
    command = [sys.executable, "-m", "common.entrypoints.cli", "dev", "--no-demo"]
    wrapper = subprocess.Popen(
        [*command, "--data-dir", str(tmp_path / "data")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_line(wrapper, "(add some: socialsched posts add --help)")
        processes = _descendants(wrapper.pid)
        assert len(processes) >= 9  # the stack, its database, sandboxes, functions and front
        wrapper.kill()
        wrapper.wait(timeout=30)
        deadline = time.monotonic() + 60
        while [pid for pid in processes if _alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [pid for pid in processes if _alive(pid)] == []
    finally:
        if wrapper.poll() is None:
            wrapper.kill()


def test_a_start_on_a_locked_data_file_says_who_holds_it_in_one_line(tmp_path: Path) -> None:
    """A stack left running elsewhere holds the H2 file's lock: the start names the process and
    how to free it, instead of H2's "file is locked" traceback."""
    data = tmp_path / "data"
    data.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.lockf(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); sys.stdin.read()",
            str(data / "scheduler.mv"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        started = _devstack(data)
        output, _ = started.communicate(timeout=120)
    finally:
        holder.kill()
        holder.wait()
    assert started.returncode == 1
    (line,) = output.splitlines()
    assert line.startswith(
        f"the local stack did not start: {data / 'scheduler.mv'} is locked by process "
        f"{holder.pid} ({sys.executable} -c import fcntl"
    )
    assert line.endswith(f"stop it (Ctrl-C there, or `kill {holder.pid}`) and start again")


def _free_port_base(count: int) -> int:
    """A base below the ephemeral range with `count` free ports after it."""
    for base in range(21000 + os.getpid() % 400 * 20, 32000, 20):
        try:
            for port in range(base, base + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no free port range")


def _start_at(data_dir: Path, base: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "DISPATCH")}
    command = [
        sys.executable,
        "-m",
        "common.entrypoints.cli",
        "dev",
        "--no-demo",
        "--port-base",
        str(base),
        "--data-dir",
        str(data_dir),
    ]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    urls: dict[str, str] = {}
    for line in proc.stdout:
        match = re.match(r"\s+(status|sandbox posts)\s+(\S+)", line)
        if match:
            urls[match.group(1)] = match.group(2)
        if "posts " in line and "scheduled" in line:  # the banner's last line on --no-demo
            return proc, urls
    raise AssertionError(f"the stack ended with {proc.wait()}")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0


@pytest.mark.slow
def test_a_port_base_keeps_urls_and_sandbox_accounts_across_restarts_and_meta_onboarding_works(
    tmp_path: Path,
) -> None:
    """`make run PORT_BASE=...`: the same URLs after a restart, and the sandbox accounts kept;
    the stack sets the sandbox's Meta app itself, so `accounts connect` through the local api
    needs no META_APP_* at all."""
    data = tmp_path / "data"
    base = _free_port_base(20)
    first, urls = _start_at(data, base)
    try:
        assert {int(u.split(":")[2].split("/")[0]) for u in urls.values()} <= set(
            range(base, base + 20)
        )
        sandbox = Sandbox(urls["sandbox posts"].removesuffix("/_sandbox/"))
        sandbox.add_account("111", "page", "page-token-111", "Bakery")
        sandbox.add_user("short-login-token", ["111"])
        api_env = dict(
            line.split("=", 1) for line in (data / "api.env").read_text().splitlines() if line
        )
        connected = _connect_meta(api_env)
        assert connected.returncode == 0, connected.stderr
        assert "fb-111" in connected.stdout and "added" in connected.stdout
        ran = _remote_cli(api_env, "run")  # the run function, with the local admin API key
        assert ran.returncode == 0 and ran.stdout.startswith("run "), ran.stderr
    finally:
        _stop(first)
    again, urls_again = _start_at(data, base)
    try:
        assert urls_again == urls
        # The sandbox kept its Page and login in .data/: re-authenticating works after it all.
        reconnected = _connect_meta(api_env)
        assert reconnected.returncode == 0, reconnected.stderr
        assert "fb-111" in reconnected.stdout and "added" not in reconnected.stdout
    finally:
        _stop(again)


def _connect_meta(api_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _remote_cli(api_env, "accounts", "connect", stdin="short-login-token\n")


def _remote_cli(
    api_env: dict[str, str], *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """The CLI in remote mode with .data/api.env, no database or Meta settings of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO", "META_"))}
    return subprocess.run(
        [sys.executable, "-m", "common.entrypoints.cli", *args],
        env={**env, **api_env},
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
