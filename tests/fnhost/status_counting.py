"""functions/status/main.py with every database command it sends written to COMMAND_LOG.

The status function keeps its report in memory between requests; to count what a flood of
requests costs the database, this host registers a pymongo command listener before the
function builds its client and appends one line per command to a file the test reads. Apart
from that listener, everything is the real main.py.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

from pymongo import monitoring

_HANDSHAKES = {"isMaster", "hello", "ping", "endSessions"}


class _CommandLog(monitoring.CommandListener):
    def __init__(self, path: str) -> None:
        self._path = path
        self._guard = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in _HANDSHAKES:
            return
        with self._guard, open(self._path, "a") as log:
            log.write(f"{event.command_name}\n")

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


monitoring.register(_CommandLog(os.environ["COMMAND_LOG"]))

_MAIN = Path(__file__).resolve().parents[2] / "functions" / "status" / "main.py"
_spec = importlib.util.spec_from_file_location("status_main", _MAIN)
assert _spec is not None and _spec.loader is not None
status_main = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(status_main)

status = status_main.status
