"""`make run` / `socialsched dev` (`python -m devstack`): the whole scheduler on one machine.

Starts, on loopback ports: the MongoDB-compatible server with a data file under .data/ (or uses
MONGO_URI), the sandboxes, the functions (run's on_tick and run_http, status, api, and with
DISPATCH=tasks the Cloud Tasks stand-in and publish) under functions-framework behind a Cloud Run
front (devstack/cloudrun.py), and a ticker that posts Pub/Sub-shaped CloudEvents to on_tick. On the
first start it adds a sandbox Facebook Page and Instagram account and a few demo posts due within
the minute. Ctrl-C stops every process it started.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO

from cryptography.fernet import Fernet
from pymongo.database import Database

from common import apikeys, members
from common.clock import utcnow
from common.config import load_settings
from common.db import Doc, ensure_indexes, get_database
from common.entrypoints.webapp import oidc
from devstack import cloudrun, cloudtasks, dbserver, storage, storage_cors
from devstack.demo import DemoSandboxes, seed_demo
from devstack.oidc import control as oidc_control
from devstack.post_counts import count_by_status
from devstack.processes import free_port, wait_until_listening
from devstack.sandbox.control import BlueskySandbox, MastodonSandbox, Sandbox
from devstack.supervisor import Supervisor, stopped_on_exit
from devstack.ticker import tick_every

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Ports:
    database: int
    sandbox: int
    bluesky: int
    mastodon: int
    tick: int
    manual: int
    status: int
    api: int
    tasks: int
    publish: int
    web: int
    oidc: int
    storage: int
    storage_front: int
    storage_uploads: int


LOCAL_META_APP = "sandbox-app"
LOCAL_THREADS_APP = "sandbox-threads-app"
# DISPATCH=tasks make run: the Cloud Tasks stand-in delivers each post to the publish function.
LOCAL_QUEUE = "projects/local/locations/local/queues/publish"
LOCAL_TASKS_ACCOUNT = "tasks@local.iam.gserviceaccount.com"


def tasks_settings(ports: Ports) -> dict[str, str]:
    standin = f"http://127.0.0.1:{ports.tasks}"
    return {
        "DISPATCH": "tasks",
        "TASKS_QUEUE": LOCAL_QUEUE,
        "TASKS_TARGET_URL": f"http://127.0.0.1:{ports.publish}/",
        "TASKS_SERVICE_ACCOUNT": LOCAL_TASKS_ACCOUNT,
        "TASKS_API_ENDPOINT": standin,
        "TASKS_INVOKER_CHECK": "on",  # the Cloud Run front checks the tokens (cloudrun.py)
    }


def local_secrets(data_dir: Path) -> dict[str, str]:
    """Secrets for the local stack: generated once per clone, kept in .data/ (mode 0600).

    They are never defaults: each clone gets random values, and the token key must persist
    because the demo accounts' tokens in the data file are encrypted with it.
    """
    path = data_dir / "local-secrets.json"
    values: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    made: dict[str, Callable[[], str]] = {
        "TOKEN_ENCRYPTION_KEY": lambda: Fernet.generate_key().decode(),
        "JWT_SECRET": lambda: secrets.token_urlsafe(48),
        "ADMIN_SECRET_KEY": lambda: secrets.token_urlsafe(48),
        # The web app's client of the stand-in OpenID provider (a clone made before it has none).
        "OIDC_CLIENT_SECRET": lambda: secrets.token_urlsafe(32),
        # The Meta app's secret for the token exchange of onboarding (the sandbox's app).
        "META_APP_SECRET": lambda: secrets.token_urlsafe(32),
        # The Threads app's secret for the web app's code exchange (the sandbox's app).
        "THREADS_APP_SECRET": lambda: secrets.token_urlsafe(32),
    }
    missing = {name: make() for name, make in made.items() if name not in values}
    if missing:
        values.update(missing)
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(values, indent=2))
    return values


def write_cli_env(data_dir: Path, values: Mapping[str, str]) -> Path:
    """`.data/dev.env`: what `socialsched` needs to talk to the running stack (mode 0600).

    `set -a; . .data/dev.env; set +a` in another shell, then any `socialsched` command.
    """
    path = data_dir / "dev.env"
    path.touch(mode=0o600)
    path.write_text("".join(f"{name}={value}\n" for name, value in sorted(values.items())))
    return path


def local_api_key(db: Database[Doc], data_dir: Path) -> str:
    """An admin API key for the local api function, made once per clone (kept in .data/)."""
    path = data_dir / "local-api-key"
    if path.exists():
        return path.read_text().strip()
    ensure_indexes(db)
    made = apikeys.create(db, "make run (local)", ["admin"], utcnow())
    path.touch(mode=0o600)
    path.write_text(made.secret)
    return made.secret


def write_api_env(data_dir: Path, ports: Ports, key: str) -> Path:
    """`.data/api.env`: the CLI in remote mode against the local api, status and run functions
    (mode 0600)."""
    path = data_dir / "api.env"
    path.touch(mode=0o600)
    path.write_text(
        f"SOCIALSCHED_API_URL={_url(ports.api)}\nSOCIALSCHED_API_KEY={key}\n"
        f"SOCIALSCHED_STATUS_URL={_url(ports.status)}/\nSOCIALSCHED_RUN_URL={_url(ports.manual)}/\n"
    )
    return path


def _function(
    stack: Supervisor,
    name: str,
    source: str,
    target: str,
    signature: str,
    port: int,
    env: Mapping[str, str],
) -> None:
    command = [
        sys.executable,
        "-m",
        "functions_framework",
        "--source",
        source,
        "--target",
        target,
        "--signature-type",
        signature,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    proc = stack.start(name, command, env)
    wait_until_listening(proc, port, name)


def _start_storage(stack: Supervisor, ports: Ports, data_dir: Path) -> dict[str, str]:
    """The Cloud Storage emulator (objects kept under .data/storage) and its signed-URL front."""
    key = data_dir / "media-signer.json"
    stack.adopt(
        storage.start(ports.storage, ports.storage_front, "media", key, data_dir / "storage")
    )
    served = storage.LocalStorage(_url(ports.storage), _url(ports.storage_front), "media", key)
    # Upload sessions lead to the front that answers browsers' CORS as Cloud Storage does (the
    # web app's composer PUTs from the page); it passes everything else through.
    uploads = storage_cors.command(ports.storage_uploads, _url(ports.storage))
    wait_until_listening(
        stack.start("storage-cors", uploads, os.environ),
        ports.storage_uploads,
        "storage CORS front",
    )
    return {**served.settings(), "STORAGE_EMULATOR_HOST": _url(ports.storage_uploads)}


def stack_ports(base: int | None) -> Ports:
    """Free ports (a new set at each start), or base, base+1, ... so that URLs kept elsewhere
    (accounts connected with a sandbox's URL, a browser's bookmarks) stay right after a restart."""
    count = len(fields(Ports))
    if base is None:
        return Ports(*(free_port() for _ in range(count)))
    return Ports(*range(base, base + count))


def run(
    tick_seconds: float,
    data_dir: Path,
    demo: bool = True,
    out: IO[str] = sys.stdout,
    port_base: int | None = None,
) -> int:
    stack = Supervisor(ROOT, out)
    ports = stack_ports(port_base)
    with_tasks = os.environ.get("DISPATCH", "inline") == "tasks"
    with stopped_on_exit(stack):
        mongo_uri = os.environ.get("MONGO_URI")
        if not mongo_uri:
            stack.adopt(dbserver.start(ports.database, data_dir / "scheduler.mv"))
            mongo_uri = f"mongodb://127.0.0.1:{ports.database}/"
        sandbox_url = f"http://127.0.0.1:{ports.sandbox}"
        stack_settings = {
            **_start_storage(stack, ports, data_dir),
            **local_secrets(data_dir),
            **web_settings(ports),
            "MONGO_URI": mongo_uri,
            "META_GRAPH_URL": sandbox_url,
            # The sandbox's app (its debug_token answers with this id): onboarding works at once.
            "META_APP_ID": LOCAL_META_APP,
            **(tasks_settings(ports) if with_tasks else {}),
            "THREADS_GRAPH_URL": sandbox_url,  # the Meta sandbox serves Threads' host too
            # The web app's browser connect: the sandbox's Login dialog and authorization window.
            "META_DIALOG_URL": sandbox_url,
            "THREADS_AUTHORIZE_URL": sandbox_url,
            "THREADS_APP_ID": LOCAL_THREADS_APP,
            # The sandboxes serve media on loopback: media URLs checked at the door may name it.
            "PRIVATE_ADDRESSES_ALLOWED": "on",
        }
        cli_env = write_cli_env(data_dir, stack_settings)
        env = {
            **os.environ,
            **stack_settings,
            "TICK_MAX_AGE_SECONDS": "300",
            "PYTHONPATH": str(ROOT),
        }
        sandbox_command = [sys.executable, "-m", "devstack.sandbox", "--port", str(ports.sandbox)]
        proc = stack.start("sandbox", [*sandbox_command, *_kept(data_dir, "meta")], env)
        wait_until_listening(proc, ports.sandbox, "sandbox")
        _register_apps(Sandbox(sandbox_url), env, ports)
        bluesky_command = [sys.executable, "-m", "devstack.bluesky", "--port", str(ports.bluesky)]
        bluesky_command += _kept(data_dir, "bluesky")
        proc = stack.start("bluesky", bluesky_command, env)
        wait_until_listening(proc, ports.bluesky, "bluesky")
        mastodon_command = [
            sys.executable,
            "-m",
            "devstack.mastodon",
            "--port",
            str(ports.mastodon),
            *_kept(data_dir, "mastodon"),
        ]
        proc = stack.start("mastodon", mastodon_command, env)
        wait_until_listening(proc, ports.mastodon, "mastodon")
        _start_oidc(stack, ports, env)
        if with_tasks:
            command = [sys.executable, "-m", "devstack.cloudtasks", "--port", str(ports.tasks)]
            wait_until_listening(stack.start("cloudtasks", command, env), ports.tasks, "cloudtasks")
        _start_functions(stack, ports, env, with_tasks)
        sandboxes = DemoSandboxes(
            Sandbox(sandbox_url),
            BlueskySandbox(_url(ports.bluesky)),
            MastodonSandbox(_url(ports.mastodon)),
        )
        added = seed_demo(env, sandboxes, first_due_in=10) if demo else 0
        db = get_database(load_settings(env))
        if not members.list_all(db):
            members.put(db, LOCAL_MEMBER, "admin", "make run", utcnow())
        queue = count_by_status(db)
        api_env = write_api_env(data_dir, ports, local_api_key(db, data_dir))
        banner = _banner(ports, mongo_uri, tick_seconds, added, queue, data_dir, cli_env, api_env)
        try:
            print(banner, file=out, flush=True)
            threading.Thread(
                target=tick_every,
                args=(f"http://127.0.0.1:{ports.tick}/", tick_seconds, stack.stopping),
                daemon=True,
            ).start()
            return _watch(stack, out)
        except KeyboardInterrupt:
            print("\nstopping the local stack", file=out, flush=True)
    return 0


# name, source, target, signature type, and the port its Cloud Run front listens on.
def _functions(ports: Ports, with_tasks: bool) -> list[tuple[str, str, str, str, int]]:
    listed = [
        ("run", "functions/run/main.py", "on_tick", "cloudevent", ports.tick),
        ("run-http", "functions/run/main.py", "run_http", "http", ports.manual),
        ("status", "functions/status/main.py", "status", "http", ports.status),
        ("api", "functions/api/main.py", "api", "http", ports.api),
        ("web", "functions/web/main.py", "web", "http", ports.web),
    ]
    if with_tasks:
        listed.append(("publish", "functions/publish/main.py", "publish", "http", ports.publish))
    return listed


def _start_functions(
    stack: Supervisor, ports: Ports, env: Mapping[str, str], with_tasks: bool
) -> None:
    """Each function on a port of its own behind the Cloud Run front, which checks the invoker
    of publish (only the tasks account) as Cloud Run does and lets the public ones through."""
    services = []
    for name, source, target, signature, public in _functions(ports, with_tasks):
        port = free_port()
        _function(stack, name, source, target, signature, port, env)
        invokers = (LOCAL_TASKS_ACCOUNT,) if name == "publish" else ()
        audiences = (_url(public), _url(public) + "/") if invokers else ()
        services.append(cloudrun.Service(name, public, _url(port), invokers, audiences))
    certs_url = f"{_url(ports.tasks)}{cloudtasks.CERTS_PATH}"
    front = stack.start("cloudrun", cloudrun.command(services, certs_url), env)
    for service in services:
        wait_until_listening(front, service.port, f"cloudrun front of {service.name}")


# The web app signs its members in through a stand-in OpenID provider (devstack/oidc).
LOCAL_OIDC_CLIENT = "local-web"
LOCAL_MEMBER = "you@local.test"


def web_settings(ports: Ports) -> dict[str, str]:
    return {
        "WEB_BASE_URL": _url(ports.web),
        "OIDC_ISSUER": _url(ports.oidc),
        "OIDC_CLIENT_ID": LOCAL_OIDC_CLIENT,
    }


def _start_oidc(stack: Supervisor, ports: Ports, env: Mapping[str, str]) -> None:
    callback = f"{_url(ports.web)}{oidc.CALLBACK_PATH}"
    # env carries the client's secret as OIDC_CLIENT_SECRET (oidc_control.SECRET_VARIABLE).
    command = oidc_control.command(ports.oidc, LOCAL_OIDC_CLIENT, callback)
    wait_until_listening(stack.start("oidc", command, env), ports.oidc, "oidc")


def _register_apps(sandbox: Sandbox, env: Mapping[str, str], ports: Ports) -> None:
    """The Meta and Threads apps on the sandbox, with the web app's exact redirect URIs (as an
    operator registers them on developers.facebook.com)."""
    web = _url(ports.web)
    meta_back, threads_back = (
        f"{web}/accounts/oauth/meta/callback",
        f"{web}/accounts/oauth/threads/callback",
    )
    sandbox.add_app(LOCAL_META_APP, env["META_APP_SECRET"], [meta_back])
    sandbox.add_app(LOCAL_THREADS_APP, env["THREADS_APP_SECRET"], [threads_back], kind="threads")


def _kept(data_dir: Path, network: str) -> list[str]:
    """The sandbox keeps the accounts created on it in .data/ (devstack/journal.py)."""
    return ["--state-file", str(data_dir / f"sandbox-{network}.jsonl")]


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _watch(stack: Supervisor, out: IO[str]) -> int:
    """Until Ctrl-C: if any process of the stack dies, stop the rest and say so."""
    while not stack.wait(1):
        dead = stack.died()
        if dead is not None:
            print(f"a process exited with code {dead.returncode}; stopping", file=out, flush=True)
            return 1
    return 0


def _dispatch_line(ports: Ports) -> str:
    if os.environ.get("DISPATCH", "inline") != "tasks":
        return "inline (the run publishes; DISPATCH=tasks make run uses Cloud Tasks)"
    return (
        f"tasks: Cloud Tasks stand-in http://127.0.0.1:{ports.tasks}/ delivers to the publish "
        f"function http://127.0.0.1:{ports.publish}/"
    )


def _banner(
    ports: Ports,
    mongo_uri: str,
    tick_seconds: float,
    added: int,
    queue: Mapping[str, int],
    data_dir: Path,
    cli_env: Path,
    api_env: Path,
) -> str:
    database = "MONGO_URI" if os.environ.get("MONGO_URI") else f"{mongo_uri} (data in {data_dir})"
    lines = [
        "Social scheduler running locally. Ctrl-C stops everything.",
        f"  status        http://127.0.0.1:{ports.status}/",
        f"  sandbox posts http://127.0.0.1:{ports.sandbox}/_sandbox/",
        f"  bluesky posts http://127.0.0.1:{ports.bluesky}/_sandbox/",
        f"  mastodon posts http://127.0.0.1:{ports.mastodon}/_sandbox/",
        f"  manual run    POST http://127.0.0.1:{ports.manual}/ "
        f"(Authorization: Bearer <ADMIN_SECRET_KEY from {data_dir}/local-secrets.json>)",
        f"  database      {database}",
        f"  ticks         every {tick_seconds:g}s to http://127.0.0.1:{ports.tick}/",
        f"  api           http://127.0.0.1:{ports.api}/v1/posts "
        f"(Authorization: Bearer <the key in {data_dir}/local-api-key>)",
        f"  web app       http://127.0.0.1:{ports.web}/ (Sign in with Google as {LOCAL_MEMBER} "
        "through the stand-in provider, or with ADMIN_SECRET_KEY from "
        f"{data_dir}/local-secrets.json)",
        f"  media         Cloud Storage emulator http://127.0.0.1:{ports.storage}/ (objects in "
        f"{data_dir}/storage), signed URLs checked at http://127.0.0.1:{ports.storage_front}/",
        f"  dispatch      {_dispatch_line(ports)}",
        f"  CLI           set -a; . {cli_env}; set +a; .venv/bin/socialsched status",
        f"  CLI via api   env -u MONGO_URI -u TOKEN_ENCRYPTION_KEY $(cat {api_env}) "
        ".venv/bin/socialsched posts list",
    ]
    if added:
        lines.append(f"  added {added} demo posts due within the next minute")
    else:  # a later start: the data file kept everything
        lines.append(
            f"  posts         {queue['scheduled']} scheduled, {queue['published']} published, "
            f"{queue['failed']} failed, {queue['unknown']} unknown "
            "(add some: socialsched posts add --help)"
        )
    return "\n".join(lines)
