"""Each task carries publish's timeout as its dispatch deadline (TASKS_DISPATCH_DEADLINE_SECONDS,
set by Terraform), and the Cloud Tasks stand-in refuses what Cloud Tasks refuses: a deadline
outside 15 s to 30 min for an HTTP target."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from bson import ObjectId

from common.clock import utcnow
from common.config import ConfigError, load_settings
from common.tasks import PostTask, TaskQueue
from devstack import cloudtasks

QUEUE = "projects/test-project/locations/europe-west1/queues/publish"


@pytest.fixture(scope="module")
def standin() -> Iterator[str]:
    with cloudtasks.running() as url:
        yield url


def _settings(standin: str, **extra: str) -> dict[str, str]:
    return {
        "MONGO_URI": "mongodb://127.0.0.1:1/",
        "DISPATCH": "tasks",
        "TASKS_QUEUE": QUEUE,
        "TASKS_TARGET_URL": "http://127.0.0.1:9/",
        "TASKS_SERVICE_ACCOUNT": "tasks@test-project.iam.gserviceaccount.com",
        "TASKS_API_ENDPOINT": standin,
        **extra,
    }


def test_a_task_carries_the_configured_dispatch_deadline(standin: str) -> None:
    queue = TaskQueue(load_settings(_settings(standin, TASKS_DISPATCH_DEADLINE_SECONDS="300")))
    # Due in an hour: created, not dispatched while the test looks at it.
    task = PostTask.of(ObjectId(), 1, utcnow() + timedelta(hours=1))
    assert queue.enqueue(task) is True
    stored = requests.get(f"{standin}/v2/{queue.name_of(task)}", timeout=5).json()
    assert stored["dispatchDeadline"] == "300s"


def test_the_default_is_cloud_tasks_own_ten_minutes(standin: str) -> None:
    queue = TaskQueue(load_settings(_settings(standin)))
    task = PostTask.of(ObjectId(), 1, utcnow() + timedelta(hours=1))
    assert queue.enqueue(task) is True
    stored = requests.get(f"{standin}/v2/{queue.name_of(task)}", timeout=5).json()
    assert stored["dispatchDeadline"] == "600s"


@pytest.mark.parametrize("deadline", ["14s", "1801s", "600", 600])
def test_the_stand_in_refuses_a_deadline_cloud_tasks_refuses(
    standin: str, deadline: object
) -> None:
    body = {
        "task": {
            "httpRequest": {"url": "http://127.0.0.1:9/", "httpMethod": "POST"},
            "dispatchDeadline": deadline,
        }
    }
    answer = requests.post(f"{standin}/v2/{QUEUE}/tasks", json=body, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_a_deadline_over_thirty_minutes_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="TASKS_DISPATCH_DEADLINE_SECONDS is at most 1800"):
        load_settings(
            {"MONGO_URI": "mongodb://127.0.0.1:1/", "TASKS_DISPATCH_DEADLINE_SECONDS": "1801"}
        )
