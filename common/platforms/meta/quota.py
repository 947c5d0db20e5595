"""A Meta publishing quota (Instagram's `content_publishing_limit`, Threads'
`threads_publishing_limit`): read at most once per cache period per account, our own publishes
counted in between, and a post deferred (no attempt spent) once the quota is used up."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.model import Account
from common.platforms.base import Outcome, RateLimited, Retryable
from common.platforms.meta.graph import QUOTA_EXHAUSTED_SECONDS, GraphClient, GraphReply


@dataclass
class _Quota:
    usage: int
    total: int
    fetched_at: float  # monotonic


class PublishingQuota:
    """One adapter's view of its accounts' quotas (shared by its worker threads)."""

    def __init__(
        self,
        client: GraphClient,
        edge: str,
        cache_seconds: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._client = client
        self._edge = edge
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._quotas: dict[str, _Quota] = {}
        self._lock = threading.Lock()

    def blocks(self, account: Account, token: str) -> Outcome | None:
        """RateLimited when the account's quota is used up; an outcome when it cannot be read."""
        with self._lock:
            quota = self._quotas.get(account.id)
        fresh = quota is not None and time.monotonic() - quota.fetched_at < self._cache_seconds
        if quota is None or not fresh:
            fetched = self._fetch(account, token)
            if not isinstance(fetched, _Quota):
                return fetched
            quota = fetched
            with self._lock:
                self._quotas[account.id] = quota
        if quota.usage >= quota.total:
            retry_at = self._clock() + timedelta(seconds=QUOTA_EXHAUSTED_SECONDS)
            return RateLimited(retry_at, f"publishing quota used up ({quota.usage}/{quota.total})")
        return None

    def count_publish(self, account: Account) -> None:
        with self._lock:
            quota = self._quotas.get(account.id)
            if quota is not None:
                quota.usage += 1

    def _fetch(self, account: Account, token: str) -> _Quota | Outcome:
        reply = self._client.call(
            "GET",
            f"{account.external_id}/{self._edge}",
            token,
            {"fields": "quota_usage,config"},
            idempotent=True,
        )
        if not isinstance(reply, GraphReply):
            return reply
        data = reply.body.get("data") or [{}]
        entry = data[0] if isinstance(data[0], dict) else {}
        config = entry.get("config") or {}
        try:
            return _Quota(int(entry["quota_usage"]), int(config["quota_total"]), time.monotonic())
        except (KeyError, TypeError, ValueError):
            return Retryable(f"{self._edge} answer without quota_usage/quota_total")
