"""DISPATCH=tasks end to end: the tick creates Cloud Tasks, the stand-in delivers them with OIDC
tokens, the publish function (functions-framework, real main.py with the recording publisher)
publishes each post exactly once, whatever the deliveries.

Real parts: the MongoDB wire-protocol server, the google-cloud-tasks client (REST) against the
devstack Cloud Tasks stand-in, functions-framework processes, google-auth verifying the
stand-in's RS256 signatures. The platform is the recording publisher (tests/recording.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from bson import ObjectId
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2
from pymongo.database import Database

from common import apikeys, dispatch
from common.clock import ScheduledTime, utcnow
from common.config import Settings, load_settings
from common.dispatch.loading import TaskLoading
from common.dispatch.work import EARLY_TOLERANCE_SECONDS
from common.engine import Trigger, execute_once
from common.model import Content
from common.operations import creating, post_actions, scheduling
from common.operations.admission import Admission
from common.operations.prompt_tasks import task_starter
from common.posts import actions, store
from common.tasks import PostTask, TaskQueue
from devstack import cloudtasks
from devstack.processes import free_port
from tests.conftest import add_account, add_post
from tests.functions_fixtures import (
    ROOT,
    InvokerCheck,
    Served,
    function_env,
    id_claims,
    id_token,
    serve,
    serve_fronted,
)
from tests.recording import LOG, most_at_once, registry_for, sends_per_post

PUBLISH_SOURCE = ROOT / "tests" / "fnhost" / "publish_recording.py"
QUEUE = "projects/test-project/locations/europe-west1/queues/publish"
TASKS_ACCOUNT = "tasks@test-project.iam.gserviceaccount.com"
AUDIENCE = "https://publish.test/"
WAIT_SECONDS = 30

DAY = timedelta(days=1)  # MAX_LATENESS_SECONDS by default


@pytest.fixture(scope="module")
def standin() -> Iterator[str]:
    with cloudtasks.running(min_backoff=0.2, max_backoff=1.0) as url:
        yield url


def _tasks_env(standin: str) -> dict[str, str]:
    return {
        "DISPATCH": "tasks",
        "TASKS_QUEUE": QUEUE,
        "TASKS_SERVICE_ACCOUNT": TASKS_ACCOUNT,
        "TASKS_AUDIENCE": AUDIENCE,
        "TASKS_API_ENDPOINT": standin,
        "TASKS_INVOKER_CHECK": "on",
    }


@pytest.fixture(scope="module")
def publish_fn(mongo_uri: str, fn_db_name: str, fn_workdir: Path, standin: str) -> Iterator[Served]:
    port = free_port()
    env = function_env(
        mongo_uri,
        fn_db_name,
        **_tasks_env(standin),
        TASKS_TARGET_URL=f"http://127.0.0.1:{port}/",  # its own: the next tasks come back here
        RECORDING_LATENCY_SECONDS="0.3",
    )
    check = InvokerCheck(standin, TASKS_ACCOUNT, AUDIENCE)
    with serve_fronted("publish", PUBLISH_SOURCE, env, fn_workdir, port, check) as served:
        yield served


@pytest.fixture
def tick_settings(mongo_uri: str, fn_db_name: str, standin: str, publish_fn: Served) -> Settings:
    return load_settings(
        {
            "MONGO_URI": mongo_uri,
            "MONGO_DB": fn_db_name,
            **_tasks_env(standin),
            "TASKS_TARGET_URL": publish_fn.url,
        }
    )


def _wait_for(db: Database[Any], pid: ObjectId, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        doc: dict[str, Any] | None = db["posts"].find_one({"_id": pid})
        if doc is not None and doc["status"] == status:
            return doc
        time.sleep(0.1)
    raise AssertionError(f"post {pid} never became {status}: {doc}")


def _stats(standin: str) -> dict[str, int]:
    return {
        k: int(v) for k, v in requests.get(f"{standin}/_cloudtasks/stats", timeout=5).json().items()
    }


def _client(settings: Settings) -> tasks_v2.CloudTasksClient:
    """A client of its own, for tasks the scheduler would not create."""
    return tasks_v2.CloudTasksClient(
        transport="rest",
        client_options={"api_endpoint": settings.tasks_api_endpoint},
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )


def _tick(settings: Settings, db: Database[Any]) -> None:
    trigger = Trigger("tick", ObjectId().binary.hex())
    strategy = dispatch.for_settings(settings)
    execute_once(settings, trigger, registry_for(db), db=db, dispatch=strategy)


def test_a_post_is_published_by_its_task_once_and_a_second_tick_adds_no_task(
    fresh_db: Database[Any], tick_settings: Settings, standin: str
) -> None:
    add_account(fresh_db, "a")
    pid = add_post(fresh_db, "a", utcnow() + timedelta(seconds=2))
    before = _stats(standin)
    _tick(tick_settings, fresh_db)
    _tick(tick_settings, fresh_db)  # the task is recorded on the post: nothing new
    after = _stats(standin)
    assert after["created"] - before["created"] == 1
    assert after["already_exists"] == before["already_exists"]
    doc = _wait_for(fresh_db, pid, "published")
    assert doc["task"]["name"].startswith(f"{QUEUE}/tasks/")
    assert f"-post-{pid}-v1-t" in doc["task"]["name"]
    assert sends_per_post(fresh_db) == {pid: 1}
    assert fresh_db[LOG].count_documents({}) == 1  # the tick itself published nothing


def test_duplicate_deliveries_of_one_post_send_it_exactly_once(
    fresh_db: Database[Any], tick_settings: Settings
) -> None:
    """Cloud Tasks delivers at least once: five tasks carrying the same post, delivered at the
    same second (distinct names, so the stand-in dispatches all five), make one send."""
    add_account(fresh_db, "a")
    due = utcnow() + timedelta(seconds=1)
    pid = add_post(fresh_db, "a", due)
    post = store.get(fresh_db, pid)
    assert post is not None
    task = PostTask.of(pid, post.version, post.due_at)
    client = _client(tick_settings)
    for copy in range(5):
        client.create_task(
            request={
                "parent": QUEUE,
                "task": {
                    "name": f"{QUEUE}/tasks/{task.task_id}-copy{copy}",
                    "schedule_time": task.due_at,
                    "http_request": {
                        "http_method": tasks_v2.HttpMethod.POST,
                        "url": tick_settings.tasks_target_url,
                        "headers": {"Content-Type": "application/json"},
                        "body": task.body(),
                        "oidc_token": {
                            "service_account_email": TASKS_ACCOUNT,
                            "audience": AUDIENCE,
                        },
                    },
                },
            }
        )
    _wait_for(fresh_db, pid, "published")
    time.sleep(2.0)  # the retried deliveries (503 while the first one sends) find it published
    assert sends_per_post(fresh_db) == {pid: 1}


def test_a_task_delivered_after_a_cancel_is_a_no_op(
    fresh_db: Database[Any], tick_settings: Settings, standin: str
) -> None:
    add_account(fresh_db, "a")
    pid = add_post(fresh_db, "a", utcnow() + timedelta(seconds=2))
    _tick(tick_settings, fresh_db)
    assert actions.cancel(fresh_db, pid, utcnow())
    before = _stats(standin)
    deadline = time.monotonic() + WAIT_SECONDS
    while _stats(standin)["dispatched"] == before["dispatched"] and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    after = _stats(standin)
    assert after["dispatched"] - before["dispatched"] == 1
    assert after["retried"] == before["retried"]  # answered 2xx: Cloud Tasks drops it
    assert sends_per_post(fresh_db) == {}
    assert fresh_db["posts"].find_one({"_id": pid})["status"] == "canceled"  # type: ignore[index]


def test_an_edit_after_enqueueing_publishes_the_new_text_once(
    fresh_db: Database[Any], tick_settings: Settings
) -> None:
    add_account(fresh_db, "a")
    pid = add_post(fresh_db, "a", utcnow() + timedelta(seconds=3), text="old")
    _tick(tick_settings, fresh_db)
    assert actions.edit_content(fresh_db, pid, Content(text="new"), utcnow())
    _tick(tick_settings, fresh_db)  # records version 2: version 1's task hands it the turn
    _wait_for(fresh_db, pid, "published")
    time.sleep(1.0)
    sent = list(fresh_db[LOG].find({"postId": pid}))
    assert [s["text"] for s in sent] == ["new"]


def _signed(standin: str, **overrides: Any) -> str:
    """A token signed by the stand-in (as Google signs Cloud Tasks' tokens), claims overridden."""
    return id_token(standin, AUDIENCE, TASKS_ACCOUNT, **overrides)


def _forged(standin: str) -> str:
    """Right claims, signed by a key the signer never had (under a key id it does have)."""
    (kid,) = requests.get(f"{standin}{cloudtasks.CERTS_PATH}", timeout=5).json()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = id_claims(AUDIENCE, TASKS_ACCOUNT)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _post_task(url: str, authorization: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    body = PostTask.of(ObjectId(), 1, utcnow()).body()
    return requests.post(url, data=body, headers=headers, timeout=10)


def test_the_cloud_run_front_admits_the_tasks_accounts_token_and_publish_accepts_it(
    publish_fn: Served, fresh_db: Database[Any], standin: str
) -> None:
    """The token passes the front, arrives without its signature, and publish takes the task
    (a post that does not exist: nothing to do, 2xx so Cloud Tasks drops it)."""
    answer = _post_task(publish_fn.url, f"Bearer {_signed(standin)}")
    assert answer.status_code == 200, answer.text
    assert fresh_db[LOG].count_documents({}) == 0


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no token", 401),
        ("not a bearer token", 401),
        ("forged", 401),
        ("wrong audience", 401),
        ("expired", 401),
        ("another service account", 403),
    ],
)
def test_the_cloud_run_front_refuses_tokens_cloud_run_refuses(
    publish_fn: Served, fresh_db: Database[Any], standin: str, case: str, status: int
) -> None:
    hour_ago = int(time.time()) - 3600
    authorization = {
        "no token": None,
        "not a bearer token": "Basic dGFza3M6dGFza3M=",
        "forged": f"Bearer {_forged(standin)}",
        "wrong audience": f"Bearer {_signed(standin, aud='https://other.test/')}",
        "expired": f"Bearer {_signed(standin, iat=hour_ago - 60, exp=hour_ago)}",
        "another service account": (
            f"Bearer {_signed(standin, email='other@test-project.iam.gserviceaccount.com')}"
        ),
    }[case]
    answer = _post_task(publish_fn.url, authorization)
    assert answer.status_code == status
    assert "outcome" not in answer.text  # refused by the front: publish never saw it
    assert fresh_db[LOG].count_documents({}) == 0


def test_with_x_serverless_authorization_the_front_checks_that_header_alone(
    publish_fn: Served, fresh_db: Database[Any], standin: str
) -> None:
    """As Cloud Run: when both headers come, only X-Serverless-Authorization is checked, so a
    good token in Authorization does not make up for a bad one there, and a good one there
    lets Authorization (the app's own credential) through to the app, which judges it."""
    body = PostTask.of(ObjectId(), 1, utcnow()).body()
    good, outsider = _signed(standin), _signed(standin, email="other@test.iam.gserviceaccount.com")
    sent = [
        {"X-Serverless-Authorization": f"Bearer {outsider}", "Authorization": f"Bearer {good}"},
        {"X-Serverless-Authorization": "Bearer not-a-token", "Authorization": f"Bearer {good}"},
        {"X-Serverless-Authorization": f"Bearer {good}", "Authorization": "Bearer app-key"},
    ]
    answers = [
        requests.post(
            publish_fn.url, data=body, headers={**h, "Content-Type": "application/json"}, timeout=10
        )
        for h in sent
    ]
    assert [a.status_code for a in answers] == [403, 401, 401]
    assert [a.headers["Content-Type"].startswith("application/json") for a in answers] == [
        False,  # the front's refusal
        False,
        True,  # publish's own: the front let the request through
    ]
    assert fresh_db[LOG].count_documents({}) == 0


def test_an_unreachable_queue_leaves_the_post_for_the_next_tick(
    fresh_db: Database[Any], tick_settings: Settings
) -> None:
    """Cloud Tasks does not answer: the tick records no task and publishes nothing early; the
    post stays `scheduled` for the next tick (and for the sweep once it is overdue)."""
    broken = replace(tick_settings, tasks_api_endpoint="http://127.0.0.1:1")
    add_account(fresh_db, "a")
    pid = add_post(fresh_db, "a", utcnow() + timedelta(minutes=1))
    execute_once(
        broken,
        Trigger("tick", "m-x"),
        registry_for(fresh_db),
        db=fresh_db,
        dispatch=TaskLoading(TaskQueue(broken), broken),
    )
    doc = fresh_db["posts"].find_one({"_id": pid})
    assert doc is not None and doc["status"] == "scheduled" and "task" not in doc


def test_an_overdue_post_is_swept_inline_by_the_tick_and_gets_no_task(
    fresh_db: Database[Any], tick_settings: Settings, standin: str
) -> None:
    """Its task was lost or Cloud Tasks is far behind: past TASKS_SWEEP_AFTER_SECONDS the tick
    publishes it itself, like DISPATCH=inline."""
    add_account(fresh_db, "a")
    pid = add_post(fresh_db, "a", utcnow() - timedelta(minutes=3))
    before = _stats(standin)
    _tick(tick_settings, fresh_db)
    assert _stats(standin)["created"] == before["created"]
    doc = fresh_db["posts"].find_one({"_id": pid})
    assert doc is not None and doc["status"] == "published" and "task" not in doc
    assert sends_per_post(fresh_db) == {pid: 1}


def test_a_tick_while_a_task_publishes_the_same_post_sends_it_once(
    fresh_db: Database[Any], tick_settings: Settings
) -> None:
    add_account(fresh_db, "a")
    pid = add_post(fresh_db, "a", utcnow() + timedelta(seconds=1))
    _tick(tick_settings, fresh_db)
    _wait_for(fresh_db, pid, "publishing")  # the task holds the lease; its send takes 0.3 s
    sweeping = replace(tick_settings, tasks_sweep_after_seconds=0)
    _tick(sweeping, fresh_db)  # even a sweep of everything due leaves a live lease alone
    _wait_for(fresh_db, pid, "published")
    assert sends_per_post(fresh_db) == {pid: 1}


def test_posts_of_one_account_due_in_the_same_second_go_out_one_after_another_in_order(
    fresh_db: Database[Any], tick_settings: Settings, standin: str
) -> None:
    """The loader creates one task per account; each post's task, once done, creates the next
    one's: 3 + 9 tasks, and each account's sends in due order, with no two at once."""
    due = utcnow() + timedelta(seconds=1)
    order: dict[str, list[ObjectId]] = {}
    for account in ("a", "b", "c"):
        add_account(fresh_db, account)
        order[account] = [add_post(fresh_db, account, due, text=f"{account}{i}") for i in range(4)]
    canceled = order["b"][1]  # a canceled post's task still hands the turn on
    assert actions.cancel(fresh_db, canceled, utcnow())
    before = _stats(standin)
    _tick(tick_settings, fresh_db)
    assert _stats(standin)["created"] - before["created"] == 3
    for pid in order["a"] + order["c"] + [order["b"][0], *order["b"][2:]]:
        _wait_for(fresh_db, pid, "published")
    assert _stats(standin)["created"] - before["created"] == 3 + 8  # a canceled post: no task
    log = list(fresh_db[LOG].find().sort("_id", 1))
    for account, pids in order.items():
        sent = [d["postId"] for d in log if d["accountId"] == account]
        assert sent == [p for p in pids if p != canceled]
    assert sends_per_post(fresh_db) == {p: 1 for ps in order.values() for p in ps if p != canceled}


def test_a_task_delivered_before_its_post_is_due_is_told_not_yet_and_publishes_on_time(
    fresh_db: Database[Any], tick_settings: Settings, standin: str
) -> None:
    """Cloud Tasks delivers when it likes; the post's due time is ours: an early delivery is
    answered 503 "not yet", Cloud Tasks delivers again, and the post goes out once, when due."""
    add_account(fresh_db, "a")
    due = utcnow() + timedelta(seconds=3)
    pid = add_post(fresh_db, "a", due)
    post = store.get(fresh_db, pid)
    assert post is not None
    task = PostTask.of(pid, post.version, post.due_at)
    before = _stats(standin)
    _client(tick_settings).create_task(  # no schedule time: delivered at once, 3 s early
        request={
            "parent": QUEUE,
            "task": {
                "name": f"{QUEUE}/tasks/early-{task.task_id}",
                "http_request": {
                    "http_method": tasks_v2.HttpMethod.POST,
                    "url": tick_settings.tasks_target_url,
                    "headers": {"Content-Type": "application/json"},
                    "body": task.body(),
                    "oidc_token": {"service_account_email": TASKS_ACCOUNT, "audience": AUDIENCE},
                },
            },
        }
    )
    doc = _wait_for(fresh_db, pid, "published")
    assert doc["publishedAt"] >= post.due_at - timedelta(seconds=EARLY_TOLERANCE_SECONDS)
    assert _stats(standin)["retried"] - before["retried"] >= 1  # told "not yet" at least once
    assert sends_per_post(fresh_db) == {pid: 1}


def _chain_of_four(db: Database[Any], settings: Settings) -> list[ObjectId]:
    """Account `a`'s four posts due in the same second, loaded as one chain: one task now,
    each post's task creating the next one's."""
    add_account(db, "a")
    due = utcnow() + timedelta(seconds=2)
    pids = [add_post(db, "a", due, text=f"a{i}") for i in range(4)]
    _tick(settings, db)
    return pids


def test_an_edit_in_the_middle_of_an_accounts_chain_keeps_the_chain(
    fresh_db: Database[Any], tick_settings: Settings, standin: str
) -> None:
    """The edited post's new version takes its place (its task under the tick's name), and the
    posts after it still get their tasks from the chain, not from the sweep minutes later."""
    before = _stats(standin)
    pids = _chain_of_four(fresh_db, tick_settings)
    assert actions.edit_content(fresh_db, pids[1], Content(text="a1 edited"), utcnow())
    _tick(tick_settings, fresh_db)  # records version 2 in version 1's place, linked to a2
    for pid in pids:
        _wait_for(fresh_db, pid, "published")  # within WAIT_SECONDS: no sweep ran
    sent = [d["text"] for d in fresh_db[LOG].find().sort("_id", 1)]
    assert sent == ["a0", "a1 edited", "a2", "a3"]
    after = _stats(standin)
    # a0, a1 v1 (a0's link; stale, it hands the turn to v2), a1 v2, a2, a3
    assert after["created"] - before["created"] == 5
    assert sends_per_post(fresh_db) == {pid: 1 for pid in pids}


def test_a_post_moved_out_of_an_accounts_chain_leaves_the_rest_of_the_chain_on_time(
    fresh_db: Database[Any], tick_settings: Settings
) -> None:
    pids = _chain_of_four(fresh_db, tick_settings)
    later = utcnow() + timedelta(seconds=5)
    moved = ScheduledTime(later, "UTC", later.isoformat())
    assert actions.edit_content(fresh_db, pids[1], Content(text="a1 moved"), utcnow(), when=moved)
    _tick(tick_settings, fresh_db)  # a1's new time gets its own task
    for pid in pids:
        _wait_for(fresh_db, pid, "published")  # within WAIT_SECONDS: no sweep ran
    assert sends_per_post(fresh_db) == {pid: 1 for pid in pids}
    moved_doc = fresh_db["posts"].find_one({"_id": pids[1]})
    assert moved_doc is not None and moved_doc["publishedAt"] >= later - timedelta(seconds=1)


def test_a_redelivered_task_of_a_published_post_hands_the_turn_on_once(
    fresh_db: Database[Any], tick_settings: Settings, standin: str
) -> None:
    """Cloud Tasks delivers at least once: a second delivery of a0's task after a0 went out
    is stale, and its hand-over to a1 is the same task name, so nothing is sent twice."""
    pids = _chain_of_four(fresh_db, tick_settings)
    _wait_for(fresh_db, pids[0], "published")
    post = store.get(fresh_db, pids[0])
    assert post is not None
    body = PostTask.of(pids[0], post.version, post.due_at).body()
    token = _signed(standin)
    again = requests.post(
        tick_settings.tasks_target_url or "",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert (again.status_code, again.json()["outcome"]) == (200, "stale")
    for pid in pids:
        _wait_for(fresh_db, pid, "published")
    assert sends_per_post(fresh_db) == {pid: 1 for pid in pids}


def test_a_post_created_or_moved_to_before_the_next_tick_gets_its_task_at_once(
    fresh_db: Database[Any], tick_settings: Settings, standin: str
) -> None:
    """No tick runs here: the posts go out by the tasks their writes created (under the names
    the tick would use, so a tick now finds nothing to do), one after the other."""
    add_account(fresh_db, "a")
    starter = task_starter(tick_settings)
    soon = (utcnow() + timedelta(seconds=2)).isoformat()
    later = (utcnow() + timedelta(minutes=20)).isoformat()
    created = creating.schedule_one(
        fresh_db,
        scheduling.PostRequest("a", soon, text="created soon"),
        utcnow(),
        Admission(DAY, starter),
    )
    far = creating.schedule_one(
        fresh_db,
        scheduling.PostRequest("a", later, text="moved soon"),
        utcnow(),
        Admission(DAY, starter),
    )
    assert isinstance(created, scheduling.Scheduled) and isinstance(far, scheduling.Scheduled)
    before = _stats(standin)
    moved = post_actions.edit_post(
        fresh_db,
        far.post_id,
        post_actions.PostChanges(scheduled_at=soon),
        utcnow(),
        Admission(DAY, starter),
    )
    assert isinstance(moved, post_actions.Done)
    # Due with "created soon", after it: linked after it, not a task beside it.
    assert _stats(standin)["created"] - before["created"] == 0
    for pid in (created.post_id, far.post_id):
        _wait_for(fresh_db, pid, "published")
    assert _stats(standin)["created"] - before["created"] == 1  # from "created soon"'s task
    before_tick = _stats(standin)
    _tick(tick_settings, fresh_db)
    assert _stats(standin)["created"] == before_tick["created"]
    assert sends_per_post(fresh_db) == {created.post_id: 1, far.post_id: 1}


def test_a_post_created_due_with_its_accounts_chain_waits_its_turn_and_none_go_out_at_once(
    fresh_db: Database[Any], tick_settings: Settings, standin: str
) -> None:
    """A post created due soon (its task at once) while its account's chain waits: it is linked
    after the chain's last post due before it, so no two sends of the account overlap."""
    pids = _chain_of_four(fresh_db, tick_settings)
    first = fresh_db["posts"].find_one({"_id": pids[0]})
    assert first is not None
    due = first["dueAt"]
    before = _stats(standin)
    created = creating.schedule_one(
        fresh_db,
        scheduling.PostRequest("a", due.isoformat(), text="created"),
        utcnow(),
        Admission(DAY, task_starter(tick_settings)),
    )
    assert isinstance(created, scheduling.Scheduled)
    assert _stats(standin)["created"] == before["created"]  # no task of its own now
    for pid in [*pids, created.post_id]:
        _wait_for(fresh_db, pid, "published")
    sent = [d["text"] for d in fresh_db[LOG].find().sort("_id", 1)]
    assert sent == ["a0", "a1", "a2", "a3", "created"]
    assert most_at_once(fresh_db, "a") == 1
    assert sends_per_post(fresh_db) == {pid: 1 for pid in [*pids, created.post_id]}


@pytest.fixture(scope="module")
def api_fn(
    mongo_uri: str, fn_db_name: str, fn_workdir: Path, standin: str, publish_fn: Served
) -> Iterator[Served]:
    env = function_env(
        mongo_uri, fn_db_name, **_tasks_env(standin), TASKS_TARGET_URL=publish_fn.url
    )
    with serve("api", ROOT / "functions" / "api" / "main.py", env, fn_workdir) as served:
        yield served


def test_a_csv_import_through_the_api_starts_the_tasks_of_its_rows_due_soon_at_once(
    fresh_db: Database[Any], api_fn: Served, standin: str
) -> None:
    """No tick runs here: the rows due before the next tick go out by the tasks the import
    started (one per account; the account's next rows follow in turn), the later row waits."""
    for account in ("a", "b", "c"):
        add_account(fresh_db, account)
    soon, later = utcnow() + timedelta(seconds=2), utcnow() + timedelta(hours=2)
    rows = [("a", soon, "a0"), ("a", soon, "a1"), ("b", soon, "b0"), ("c", later, "c0")]
    csv = "account,at,text\n" + "".join(f"{a},{at.isoformat()},{t}\n" for a, at, t in rows)
    secret = apikeys.create(fresh_db, "test", ("posts:write",), utcnow()).secret
    before = _stats(standin)
    answer = requests.post(
        f"{api_fn.url}/v1/posts:import",
        json={"csv": csv},
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    a0, a1, b0, c0 = (ObjectId(row["id"]) for row in answer.json()["created"])
    assert _stats(standin)["created"] - before["created"] == 2  # a0 and b0
    for pid in (a0, a1, b0):
        _wait_for(fresh_db, pid, "published")
    assert [d["text"] for d in fresh_db[LOG].find({"accountId": "a"}).sort("_id", 1)] == [
        "a0",
        "a1",
    ]
    assert most_at_once(fresh_db, "a") == 1
    assert sends_per_post(fresh_db) == {a0: 1, a1: 1, b0: 1}
    assert store.get(fresh_db, c0) is not None
