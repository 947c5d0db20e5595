"""run_http: an authenticated manual run (`POST {"dryRun": bool, "limit": int}`), its result out.
The CLI's `run` in remote mode calls it with an admin API key."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Request, Response
from pymongo.database import Database

from common import audit
from common.clock import utcnow
from common.config import Settings
from common.db import Doc, get_database
from common.engine import Trigger
from common.entrypoints import auth, web
from common.entrypoints.instance import Lazy
from common.entrypoints.runner import RunService, execute
from common.entrypoints.serve import serve

log = logging.getLogger(__name__)

METHODS = ("OPTIONS", "POST")
MAX_BODY_BYTES = 4096
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    limit: int | None = None


def parse_run_options(body: Mapping[str, Any] | None) -> RunOptions:
    """`{"dryRun": bool, "limit": int}`, both optional; anything else is a 400."""
    if body is None:
        return RunOptions()
    unknown = sorted(set(body) - {"dryRun", "limit"})
    if unknown:
        raise web.HttpError(400, f"Unknown field(s): {', '.join(unknown)}"[:120])
    dry_run = body.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise web.HttpError(400, "dryRun must be a boolean")
    limit = body.get("limit")
    if "limit" in body and not (
        isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= MAX_LIMIT
    ):
        raise web.HttpError(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    return RunOptions(dry_run=dry_run, limit=limit)


def manual_run(request: Request, service: Lazy[RunService]) -> Response:
    return serve(request, _manual_run, service)


def _manual_run(request: Request, rid: str, service: RunService) -> Response:
    cors = web.cors_headers(request, service.settings, METHODS)
    if request.method == "OPTIONS":
        return web.preflight(request, cors, METHODS, rid)
    if request.method != "POST":
        raise web.HttpError(405, "Method not allowed", {"Allow": ", ".join(METHODS), **cors})
    db = get_database(service.settings)
    who = _admin(request, service.settings, db, cors)
    options = parse_run_options(web.read_json_object(request, MAX_BODY_BYTES))
    log.info("manual run", extra={"auth": who, "dryRun": options.dry_run})
    trigger = Trigger("manual", limit=options.limit, dry_run=options.dry_run)
    result = execute(service, trigger)
    # In the audit trail as the api's admin actions are: who ran the scheduler, under which request.
    entry = audit.Entry(who, "scheduler.run", ["dryRun"] if options.dry_run else [], rid, 200)
    audit.record(db, entry, utcnow(), service.settings.audit_retention_days)
    body = {"success": True, "result": result.to_response()}
    return web.json_response(body, 200, rid, headers=cors)


def _admin(request: Request, settings: Settings, db: Database[Doc], cors: Mapping[str, str]) -> str:
    """Who asks, if an admin: an admin JWT, the admin key, or an API key with the `admin` scope
    not limited to accounts (the CLI's `run` in remote mode). Only an API key costs a read."""
    try:
        caller = auth.authenticate_caller(
            request.headers.get("Authorization"), settings, db, utcnow()
        )
    except (auth.AuthError, auth.RateLimitedError) as exc:
        raise auth.refusal(exc, cors) from exc
    refused = caller.refusal_for("admin", "run the scheduler")
    if refused is not None:
        raise web.HttpError(403, refused, cors)
    return caller.who
