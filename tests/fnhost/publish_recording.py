"""functions/publish/main.py with the recording publisher in place of the Graph API adapters.

As tests/fnhost/run_recording.py does for the run function: every send is a document in
`platform_log`, counted by the tests. Everything else is the real main.py: its entry point,
its OIDC verification, its settings and its Cloud Tasks client. RECORDING_LATENCY_SECONDS
slows each send, so deliveries overlap.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from common.config import Settings
from common.db import get_database
from common.entrypoints import publish_http
from common.platforms.base import Registry
from tests.recording import registry_for

_MAIN = Path(__file__).resolve().parents[2] / "functions" / "publish" / "main.py"
_spec = importlib.util.spec_from_file_location("publish_main", _MAIN)
assert _spec is not None and _spec.loader is not None
publish_main = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(publish_main)


def _recording_registry(settings: Settings) -> Registry:
    latency = float(os.environ.get("RECORDING_LATENCY_SECONDS", "0"))
    return registry_for(get_database(settings), latency=latency)


publish_main.service = publish_http.lazy_service(_recording_registry)  # type: ignore[attr-defined]
publish = publish_main.publish
