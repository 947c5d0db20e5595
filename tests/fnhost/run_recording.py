"""functions/run/main.py with the recording publisher in place of the Graph API adapters.

functions-framework serves this file in the tests that need to see what a run published:
the real adapters talk to the Graph API (they are tested against the sandbox elsewhere), so
here every send is a document in `platform_log`, counted by the tests. Apart from the
registry, everything is the real main.py: its entry points, its run service, its settings.
RECORDING_LATENCY_SECONDS slows each send, so concurrent requests overlap with a run.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from common.config import Settings
from common.db import get_database
from common.entrypoints import runner
from common.platforms.base import Registry
from tests.recording import registry_for

_MAIN = Path(__file__).resolve().parents[2] / "functions" / "run" / "main.py"
_spec = importlib.util.spec_from_file_location("run_main", _MAIN)
assert _spec is not None and _spec.loader is not None
run_main = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_main)


def _recording_registry(settings: Settings) -> Registry:
    latency = float(os.environ.get("RECORDING_LATENCY_SECONDS", "0"))
    return registry_for(get_database(settings), latency=latency)


run_main.service = runner.lazy_service(_recording_registry)  # type: ignore[attr-defined]
on_tick = run_main.on_tick
run_http = run_main.run_http
