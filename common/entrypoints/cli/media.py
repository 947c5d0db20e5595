"""`socialsched media sweep`: delete abandoned uploads and media no unfinished post uses."""

from __future__ import annotations

import argparse
from typing import Any

from common.entrypoints.cli.backend import Backend
from common.entrypoints.cli.output import EXIT_OK, command_group, emit


def cmd_sweep(args: argparse.Namespace, backend: Backend) -> int:
    report = backend.sweep_media()
    text = (
        f"expired uploads: {report['expiredUploads']}, deleted: {report['deleted']}, "
        f"still used: {report['kept']}"
    )
    emit(args, report, text)
    return EXIT_OK


def register(sub: Any) -> None:
    media_sub = command_group(sub, "media", "uploaded media")
    sweep = media_sub.add_parser(
        "sweep",
        help="delete uploads never completed (MEDIA_UPLOAD_EXPIRY_HOURS) and media no "
        "unfinished post used for MEDIA_RETENTION_DAYS; at most 100 of each per run",
    )
    sweep.set_defaults(handler=cmd_sweep)
