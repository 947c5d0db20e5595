"""The recording publish function (tests/fnhost/publish_recording.py) with every MongoDB
command it sends written down, for bench/fanout.py.

The function runs in its own functions-framework process, so the bench cannot attach a pymongo
listener to it: this module registers one process-wide at import, before the function builds
its client (lazily, at its first request), and appends one line per command
(`<command> <collection>`) to a file named after the process in COMMAND_LOG_DIR. The bench
reads the files after the run.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from pymongo import monitoring

from tests.fnhost.publish_recording import publish


class CommandLog(monitoring.CommandListener):
    def __init__(self, path: Path) -> None:
        self._out = path.open("a", buffering=1)
        self._guard = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        collection = event.command.get(event.command_name)
        where = collection if isinstance(collection, str) else "-"
        with self._guard:
            self._out.write(f"{event.command_name} {where}\n")

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


monitoring.register(CommandLog(Path(os.environ["COMMAND_LOG_DIR"]) / f"{os.getpid()}.log"))

__all__ = ["publish"]
