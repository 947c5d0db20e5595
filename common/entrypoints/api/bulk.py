"""The posts collection's bulk routes: a CSV import, the reconcile of unknown posts."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from flask import Response

from common import bulk_import
from common.entrypoints import api_answers, api_body, web
from common.entrypoints.api.call import Call, RouteHandler, read_body, token_key
from common.entrypoints.api.shapes.bulk import ImportRequest, ReconcileRequest
from common.operations import csv_import, reconcile

RECONCILE_DEFAULT = 100


def import_posts(call: Call) -> Response:
    """A CSV file in one request: every row checked before anything is stored (the CLI's
    `import`, remotely, with the same answers and problems as on the database)."""
    asked = api_body.parse(ImportRequest, read_body(call.request))
    try:
        rows, _ = bulk_import.read(io.StringIO(asked.csv, newline=""))
        named = {row.cells.get("account", "") for row in rows}
        forbidden = sorted(a for a in named if a and not call.caller.may_use(a))
        if forbidden:
            raise web.HttpError(
                403, f"This credential may not post for {', '.join(forbidden)}"[:200]
            )
        result = csv_import.import_csv(
            call.db,
            io.StringIO(asked.csv, newline=""),
            call.now,
            call.service.admission,
            owner=call.caller.who,
            default_time_zone=asked.time_zone,
            allow_late=asked.allow_late,
        )
    except csv.Error as exc:
        raise web.HttpError(400, f"csv is not a readable CSV file: {exc}"[:200]) from exc
    if isinstance(result, csv_import.ImportRefused):
        raise api_body.rows_error(result)
    changed = [str(r.post_id) for r in (*result.created, *result.updated)]
    call.audit("posts.import", changed, 200)
    return web.json_response(api_answers.import_json(result), 200, call.rid)


def reconcile_posts(call: Call) -> Response:
    """Look for unknown posts on their networks (the CLI's `posts reconcile`, remotely)."""
    asked = api_body.parse(ReconcileRequest, read_body(call.request))
    limit = asked.limit if asked.limit is not None else RECONCILE_DEFAULT
    service = call.service
    with token_key():
        registry = service.registry
        report = reconcile.reconcile_unknown(
            call.db, service.settings, registry, call.now, limit=limit
        )
    call.audit("posts.reconcile", [], 200)
    return web.json_response(api_answers.reconcile_json(report), 200, call.rid)


HANDLERS: Mapping[str, RouteHandler] = {
    "import_posts": import_posts,
    "reconcile_posts": reconcile_posts,
}
