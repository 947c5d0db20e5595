"""What a function keeps for its instance's life: the service built on the first request.

Apart from `serve` (which wraps handlers in Flask) so that code which only builds a service, the
run's wiring used by the CLI on the database and by the benchmarks, loads no web framework."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from common.config import Settings


class Service(Protocol):
    """What a function builds once per instance; its settings name the project for traces."""

    @property
    def settings(self) -> Settings: ...


S = TypeVar("S", bound=Service)


class Lazy(Generic[S]):
    """Built on the first request and kept for the instance's life (Cloud Functions reuses warm
    instances); a build that fails (bad configuration) is tried again by the next request."""

    def __init__(self, build: Callable[[], S]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: S | None = None

    def get(self) -> S:
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value

    def built(self) -> S | None:
        """The service if a request built it already; never builds."""
        return self._value
