"""A bounded thread pool that runs each key's items in order, never two of one key at once.

The engine keys posts by account: an account's posts go out in the order they were due, and
different accounts publish in parallel.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
log = logging.getLogger(__name__)


class KeyedWorkPool(Generic[K, T]):
    def __init__(self, workers: int, handle: Callable[[T], None]) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="publish")
        self._handle = handle
        # Each item runs in a copy of its submitter's context, so log lines keep the run's ids.
        self._queues: dict[K, deque[tuple[contextvars.Context, T]]] = {}
        self._waiting = 0  # submitted, not yet started
        self._unfinished = 0  # submitted, not yet finished
        self._changed = threading.Condition()

    def submit(self, key: K, item: T) -> None:
        with self._changed:
            self._waiting += 1
            self._unfinished += 1
            entry = (contextvars.copy_context(), item)
            queue = self._queues.get(key)
            if queue is not None:  # a drain for this key is running and will pick it up
                queue.append(entry)
                return
            self._queues[key] = deque([entry])
        self._executor.submit(self._drain, key)

    def _drain(self, key: K) -> None:
        while True:
            with self._changed:
                queue = self._queues[key]
                if not queue:
                    del self._queues[key]
                    return
                context, item = queue.popleft()
                self._waiting -= 1
            try:
                context.run(self._handle, item)
            except Exception:
                # The handler reports its own failures; this only keeps the key's queue going.
                log.exception("publish worker failed")
            finally:
                with self._changed:
                    self._unfinished -= 1
                    self._changed.notify_all()

    def wait(self, timeout: float, until_waiting_below: int = 1) -> bool:
        """Block until fewer than `until_waiting_below` items wait (0 = all finished) or timeout.

        Returns True when the condition holds.
        """

        def ready() -> bool:
            if until_waiting_below <= 0:
                return self._unfinished == 0
            return self._waiting < until_waiting_below

        with self._changed:
            return self._changed.wait_for(ready, timeout)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)
