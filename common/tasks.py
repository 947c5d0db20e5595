"""Cloud Tasks: one HTTP task per post at its due time, through the real google-cloud-tasks
client (REST transport). Imported only with DISPATCH=tasks: the client and its protobufs cost
cold-start time that inline installs should not pay (bench/coldstart.py).

The task name is derived from the post id, version and due time, so creating the same task
twice is refused by Cloud Tasks (409 ALREADY_EXISTS), which counts as done. Cloud Tasks forgets
names about an hour after a task ran or was deleted, so the name only spares duplicate work:
MongoDB's lease decides who publishes. Names start with a short hash of the post id: post ids
are ObjectIds, which begin with their creation time, and Google's CreateTask reference warns
that sequential ids or prefixes (a timestamp) raise latency and error rates, recommending a
hashed id or prefix.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import Conflict
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2

from common.config import Settings

CREATE_TIMEOUT_SECONDS = 10.0
NAME_PREFIX_HEX_DIGITS = 8


@dataclass(frozen=True)
class PostTask:
    """What a task carries: which post, at which version, due when (epoch milliseconds, the
    precision MongoDB stores, so the publish function can match the stored due time exactly)."""

    post_id: str
    version: int
    due_at_ms: int

    @classmethod
    def of(cls, post_id: object, version: int, due_at: datetime) -> PostTask:
        return cls(str(post_id), version, round(due_at.timestamp() * 1000))

    @property
    def due_at(self) -> datetime:
        return datetime.fromtimestamp(self.due_at_ms / 1000, UTC)

    @property
    def task_id(self) -> str:
        prefix = hashlib.sha256(self.post_id.encode()).hexdigest()[:NAME_PREFIX_HEX_DIGITS]
        return f"{prefix}-post-{self.post_id}-v{self.version}-t{self.due_at_ms}"

    def body(self) -> bytes:
        return json.dumps(
            {"postId": self.post_id, "version": self.version, "dueAtMs": self.due_at_ms}
        ).encode()

    @classmethod
    def from_body(cls, raw: Any) -> PostTask:
        """Raises ValueError for anything but the body `body()` writes."""
        if not isinstance(raw, dict):
            raise ValueError("the task body must be a JSON object")
        post_id, version, due = raw.get("postId"), raw.get("version"), raw.get("dueAtMs")
        if not isinstance(post_id, str) or len(post_id) != 24:
            raise ValueError("postId must be a 24-character post id")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError("version must be a positive integer")
        if not isinstance(due, int) or isinstance(due, bool) or due < 0:
            raise ValueError("dueAtMs must be a non-negative integer")
        return cls(post_id, version, due)


class TaskQueue:
    """Creates publish tasks on the configured queue."""

    def __init__(self, settings: Settings) -> None:
        if not (settings.tasks_queue and settings.tasks_target_url):
            raise ValueError("DISPATCH=tasks needs TASKS_QUEUE and TASKS_TARGET_URL")
        self._queue = settings.tasks_queue
        self._target = settings.tasks_target_url
        self._oidc = {
            "service_account_email": settings.tasks_service_account,
            "audience": settings.task_audience,
        }
        self._deadline = timedelta(seconds=settings.tasks_dispatch_deadline_seconds)
        self._client = tasks_v2.CloudTasksClient(
            transport="rest",
            client_options=_options(settings.tasks_api_endpoint),
            credentials=_credentials(settings.tasks_api_endpoint),
        )

    def name_of(self, task: PostTask) -> str:
        return f"{self._queue}/tasks/{task.task_id}"

    def enqueue(self, task: PostTask) -> bool:
        """True when created, False when a task of that name exists (or ran within the hour)."""
        request = {
            "parent": self._queue,
            "task": {
                "name": self.name_of(task),
                "schedule_time": task.due_at,
                # Publish's own timeout: Cloud Tasks neither gives up on an attempt that is
                # still working nor waits past the point where Cloud Run has ended it.
                "dispatch_deadline": self._deadline,
                "http_request": {
                    "http_method": tasks_v2.HttpMethod.POST,
                    "url": self._target,
                    "headers": {"Content-Type": "application/json"},
                    "body": task.body(),
                    "oidc_token": self._oidc,
                },
            },
        }
        try:
            self._client.create_task(request=request, timeout=CREATE_TIMEOUT_SECONDS)
        except Conflict:
            # CreateTask answers a repeated name with 409 ALREADY_EXISTS: the task is there.
            return False
        return True


def _options(endpoint: str | None) -> ClientOptions | None:
    return None if endpoint is None else ClientOptions(api_endpoint=endpoint)


def _credentials(endpoint: str | None) -> AnonymousCredentials | None:
    # A plain-HTTP endpoint is a loopback stand-in: never send real credentials over it.
    # Otherwise None: the client finds the function's service account credentials itself.
    if endpoint is not None and endpoint.startswith("http://"):
        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    return None
